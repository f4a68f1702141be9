"""What rules share: views of a window of the tables (Window), facts gathered over the whole
log (Facts), and what the net and solver settings say (Context), each computed once."""
from __future__ import annotations

import json
from functools import cached_property

import numpy as np
import pandas as pd

from caffelog.diagnose.accumulate import layer_codes
from caffelog.diagnose.net_roles import NetRoles
from caffelog.diagnose.schedule import LrSchedule
from caffelog.diagnose.values import last_value
from caffelog.tables.net_facts import train_net


class Window:
    """A stretch of the blobs, scalars and totals tables holding whole iterations, with the
    views of it that several rules share, each computed once."""

    def __init__(self, blobs: pd.DataFrame, scalars: pd.DataFrame, totals: pd.DataFrame):
        self.blobs, self.scalars, self.totals = blobs, scalars, totals

    @cached_property
    def _train_mask(self) -> np.ndarray:
        b = self.blobs
        return ((b["phase"] == "train") & (b["direction"] != "update")).to_numpy()

    def train_where(self, mask: np.ndarray | None = None, **equal: str) -> pd.DataFrame:
        """The train forward/backward rows where each named column equals its value and `mask`
        (over the window's blobs) holds: a copy of only the rows a rule looks at."""
        b = self.blobs
        keep = self._train_mask.copy()
        for column, value in equal.items():
            keep &= (b[column] == value).to_numpy()
        if mask is not None:
            keep &= mask
        return b[keep]

    @cached_property
    def values(self) -> np.ndarray:
        return self.blobs["value"].to_numpy()

    @cached_property
    def forward_tops(self) -> pd.DataFrame:
        return self.train_where(direction="forward", role="top")

    @cached_property
    def backward_params(self) -> pd.DataFrame:
        return self.train_where(direction="backward", role="param")

    @cached_property
    def weight_diffs(self) -> pd.DataFrame:
        """Backward diff of each learnable layer's first param blob (the weights), per pass."""
        p = self.backward_params
        return p[(p["blob"] == "0").to_numpy()]

    @cached_property
    def forward_params(self) -> pd.DataFrame:
        return self.train_where(direction="forward", role="param")

    @cached_property
    def weight_data(self) -> pd.DataFrame:
        """Forward data of each layer's first param blob (named params print their name)."""
        p = self.forward_params
        return p.groupby(["segment", "iteration", "batch", "layer"], observed=True, sort=False).head(1)

    @cached_property
    def loss(self) -> pd.DataFrame:
        """The solver's train loss (the `Iteration N ..., loss =` lines)."""
        s = self.scalars
        return s[((s["source"] == "iteration") & (s["name"] == "loss")).to_numpy()]

    @cached_property
    def lr(self) -> pd.Series:
        return self._per_iteration("lr")

    @cached_property
    def clip_scale(self) -> pd.Series:
        """The factor clip_gradients scaled the gradient by, where it did."""
        return self._per_iteration("clip_scale")

    def _per_iteration(self, name: str) -> pd.Series:
        s = self.scalars
        rows = s[(s["name"] == name).to_numpy()]
        return rows.drop_duplicates(["segment", "iteration"], keep="last").set_index(
            ["segment", "iteration"])["value"]


class Facts:
    """What the checks need to know about the whole log: the train layers in order of first
    appearance, which print weights and gradients, and the short series of the solver lines
    (train loss, lr steps, test outputs, and the lr where it changes: ~40 bytes per displayed
    iteration, 60 MB for a 10 GB log)."""

    SERIES = ("loss", "lr", "steps", "tests")
    # what each series keeps: a 10 GB log has 1.5 M displayed iterations, each a loss and an lr row
    _TIMED = ["segment", "iteration", "line", "time", "value"]
    COLUMNS = {"loss": _TIMED, "lr": _TIMED, "steps": _TIMED,
               "tests": [*_TIMED, "name", "test_net", "weighted"]}
    GLUE_EVERY = 32  # windows of a series kept apart before they are glued into one frame

    def __init__(self) -> None:
        self.train_layers: dict[str, None] = {}
        self.weight_layers: set[str] = set()
        self.param_layers: set[str] = set()  # forward param data printed
        self.backward_layers: set[str] = set()  # backward param diffs printed
        self._series: dict[str, list[pd.DataFrame]] = {name: [] for name in self.SERIES}
        self._lr_last: tuple[int, float] = (-1, float("nan"))  # the last lr row seen: segment, value

    def observe(self, w: Window) -> None:
        self.train_layers.update(dict.fromkeys(_layers_in_order(w.blobs["layer"], w._train_mask)))
        self.weight_layers.update(_layers_in_order(w.weight_diffs["layer"]))
        self.backward_layers.update(_layers_in_order(w.backward_params["layer"]))
        self.param_layers.update(_layers_in_order(w.forward_params["layer"]))
        s = w.scalars
        for name, rows in (("loss", w.loss), ("lr", s[(s["name"] == "lr").to_numpy()]),
                           ("steps", s[(s["name"] == "lr_step").to_numpy()]),
                           ("tests", s[((s["phase"] == "test") & (s["source"] == "output")).to_numpy()])):
            if name == "lr":
                rows = self._lr_stretch_ends(rows)
            if len(rows):
                parts = self._series[name]
                parts.append(rows[self.COLUMNS[name]])
                if len(parts) >= self.GLUE_EVERY:  # one frame, not hundreds: and the final glue
                    self._series[name] = [pd.concat(parts, ignore_index=True)]  # never holds 2 copies

    def _lr_stretch_ends(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The first and last lr row of each stretch of one lr (per segment), and the window's
        last: the schedule reads the lr as a step function between its prints, and a 10 GB log
        prints 1.5 M lr lines, nearly all repeats."""
        if not len(rows):
            return rows
        segment, value = rows["segment"].to_numpy(), rows["value"].to_numpy("float64")
        last_segment, last_value = self._lr_last
        starts = (segment != np.r_[last_segment, segment[:-1]]) | ~(value == np.r_[last_value, value[:-1]])
        self._lr_last = (int(segment[-1]), float(value[-1]))
        return rows[starts | np.r_[starts[1:], True]]

    def series(self, name: str) -> pd.DataFrame:
        """One of SERIES as one frame (glued once, until the next window)."""
        parts = self._series[name]
        if len(parts) > 1:
            self._series[name] = parts = [pd.concat(parts, ignore_index=True)]
        if not parts:
            empty = {"segment": pd.Series(dtype="int32"), "iteration": pd.Series(dtype="Int64"),
                     "line": pd.Series(dtype="int64"), "time": pd.Series(dtype="float64"),
                     "value": pd.Series(dtype="float64"), "name": pd.Series(dtype="object"),
                     "test_net": pd.Series(dtype="Int64"), "weighted": pd.Series(dtype="float64")}
            return pd.DataFrame({column: empty[column] for column in self.COLUMNS[name]})
        return parts[0]

    @property
    def loss(self) -> pd.DataFrame:
        return self.series("loss")


def _layers_in_order(layer: pd.Series, mask: np.ndarray | None = None) -> list[str]:
    """The distinct layer names of a layer column (where mask holds), in order of first appearance."""
    codes, names = layer_codes(layer)
    codes = pd.unique(codes if mask is None else codes[mask])
    return [str(names[c]) for c in codes if c >= 0]


class Context:
    """What every check may read once the log is read: the net, the solver settings and the
    Facts gathered from the windows."""

    def __init__(self, net: pd.DataFrame, solver: dict | None, facts: Facts):
        self.net_table = net
        self.solver = solver or {}
        self.facts = facts

    @cached_property
    def net(self) -> pd.DataFrame:
        return train_net(self.net_table)

    @cached_property
    def layer_types(self) -> dict[str, str]:
        return dict(zip(self.net["layer"], self.net["type"].fillna("")))

    def layer_params(self, layer: str) -> dict:
        row = self.net[self.net["layer"] == layer]
        return json.loads(row["params"].iloc[0]) if len(row) and row["params"].iloc[0] else {}

    @cached_property
    def layer_order(self) -> list[str]:
        order = list(self.net["layer"]) or []
        seen = set(order)
        return order + [name for name in self.facts.train_layers if name not in seen]

    @cached_property
    def learnable(self) -> list[str]:
        """Learnable layers in net order: those with param diffs in the backward pass."""
        return [name for name in self.layer_order if name in self.facts.weight_layers]

    @property
    def loss(self) -> pd.DataFrame:
        return self.facts.loss

    @property
    def solver_type(self) -> str:
        return str(self.knob("type") or self.knob("solver_type") or "SGD")

    def knob(self, name: str, default=None):
        """A solver setting as printed; a field repeated in a damaged dump gives its last value."""
        return last_value(self.solver.get(name), default)

    @cached_property
    def schedule(self) -> LrSchedule:
        return LrSchedule(self.facts.series("lr"), self.facts.series("steps"), self.solver)

    @cached_property
    def roles(self) -> NetRoles:
        return NetRoles(self.net, self.facts.param_layers, self.facts.backward_layers)

    @property
    def tests(self) -> pd.DataFrame:
        """Test net outputs (accuracy, loss, ...) of every test."""
        return self.facts.series("tests")

    def lr_words(self, segment: int = 0, iteration=None) -> str:
        """The lr in force, as advice quotes it: 'base_lr is 20 with lr_policy fixed', or the
        step that raised it."""
        rise = self.schedule.rise_before(segment, iteration)
        if rise is not None:
            return self.schedule.describe(rise)
        lr = self.knob("base_lr")
        return f"base_lr is {lr} with lr_policy {self.knob('lr_policy', 'fixed')}" if lr is not None else "the lr"

    def clip_words(self) -> str:
        """What to do with clip_gradients, as advice says it."""
        clip = self.knob("clip_gradients")
        return f"clip_gradients is {clip}: lower it" if clip else "set clip_gradients (e.g. 10)"

    def divergence_cause(self, segment: int = 0, iteration=None) -> str:
        """'lr-increase' when an lr step raised the lr before `iteration`, else 'divergence'."""
        return "lr-increase" if self.schedule.rise_before(segment, iteration) is not None else "divergence"

    def step_settings(self, segment: int = 0, iteration=None) -> list[str]:
        """The solver fields that set the size of a step: the lr in force, and clip_gradients."""
        return [*self.lr_settings(segment, iteration), "clip_gradients"]

    def lr_settings(self, segment: int = 0, iteration=None) -> list[str]:
        """The solver fields behind the lr in force: base_lr, or the schedule that raised it."""
        if self.schedule.rise_before(segment, iteration) is not None:
            return self.schedule.settings()
        return ["base_lr"]
