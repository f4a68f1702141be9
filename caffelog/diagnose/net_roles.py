"""What each layer of the train net is, from the net table: so rules judge a layer by its kind.

BatchNorm's blobs are running statistics (their diffs are 0 by design), frozen layers
(`lr_mult: 0`) print no [Backward] lines, in-place layers and Caffe's inserted Split layers
print their input's blob again, and the classifier feeding SoftmaxWithLoss tells K, the number
of classes, whose ln K is the loss of a net that learns nothing.
"""
from __future__ import annotations

import json
import math
from functools import cached_property

import pandas as pd

from caffelog.diagnose.values import as_float, as_list, filler
from caffelog.tables.net_facts import softmax_classes

STATISTICS_ONLY = {"BatchNorm"}  # param blobs are running means/variances, never a gradient's
class NetRoles:
    """Roles of the train net's layers; `param_layers`/`backward_layers` are the layers the log
    printed forward param data / backward param diffs for (the log is the truth where the net
    dump is missing)."""

    def __init__(self, net: pd.DataFrame, param_layers: set[str], backward_layers: set[str]):
        self.net = net
        self.param_layers = param_layers
        self.backward_layers = backward_layers
        self.types: dict[str, str] = dict(zip(net["layer"], net["type"].fillna("")))

    def params(self, layer: str) -> dict:
        row = self.net[(self.net["layer"] == layer).to_numpy()]
        text = row["params"].iloc[0] if len(row) else None
        return json.loads(text) if text else {}

    @cached_property
    def frozen(self) -> list[str]:
        """Layers with weights that do not train: every param spec has lr_mult 0, or the log
        prints their weights but no gradient while other layers have gradients."""
        out = []
        for layer in self.net["layer"]:
            specs = [p for p in as_list(self.params(layer).get("param")) if isinstance(p, dict)]
            zero_lr = bool(specs) and all(as_float(p.get("lr_mult"), 1.0) == 0 for p in specs)
            silent = (layer in self.param_layers and layer not in self.backward_layers
                      and bool(self.backward_layers))
            if zero_lr or silent:
                out.append(str(layer))
        return out

    def negative_bias(self, layer: str) -> str | None:
        """The value of a constant bias_filler below 0 (as printed), which starts ReLUs dead."""
        bias = filler(self.params(layer), "bias_filler")
        return str(bias.get("value")) if bias.get("type") == "constant" and as_float(bias.get("value")) < 0 else None

    def statistics_only(self, layer: str) -> bool:
        return self.types.get(layer) in STATISTICS_ONLY

    @cached_property
    def producer(self) -> dict[str, str]:
        """blob -> the layer that first wrote it (in-place layers write it again)."""
        out: dict[str, str] = {}
        for layer, tops in zip(self.net["layer"], self.net["tops"]):
            for top in tops if isinstance(tops, (list, tuple)) else []:
                out.setdefault(str(top), str(layer))
        return out

    @cached_property
    def root(self) -> dict[str, str]:
        """layer -> the layer whose blob it prints: itself, or for an in-place layer the
        blob's first writer, for a Split layer the root of its input."""
        out: dict[str, str] = {}
        for layer, kind, bottoms, tops in zip(self.net["layer"], self.net["type"], self.net["bottoms"],
                                              self.net["tops"]):
            layer, bottoms, tops = str(layer), list(bottoms or []), list(tops or [])
            if kind == "Split" and bottoms:
                source = self.producer.get(bottoms[0], layer)
            elif tops and tops == bottoms[:len(tops)]:
                source = self.producer.get(tops[0], layer)
            else:
                source = layer
            out[layer] = out.get(source, source) if source != layer else layer
        return out

    def aliases_of(self, layer: str) -> list[str]:
        """The other layers printing the same blob as `layer` (in-place and Split layers)."""
        root = self.root.get(layer, layer)
        return [name for name, r in self.root.items() if r == root and name != layer]

    def feeder(self, layer: str, last: bool = False) -> str | None:
        """The layer that computed this layer's first input blob: its first writer (the layer
        with the weights and bias), or with last=True the in-place layer that wrote it last."""
        row = self.net[(self.net["layer"] == layer).to_numpy()]
        if not len(row) or not len(row["bottoms"].iloc[0]):
            return None
        blob = row["bottoms"].iloc[0][0]
        index = row["index"].iloc[0]
        writes = self.net["tops"].map(lambda t: blob in t).to_numpy()
        writers = self.net[writes & (self.net["index"] < index).to_numpy()]
        writers = writers[writers["layer"] != layer]
        return str(writers["layer"].iloc[-1 if last else 0]) if len(writers) else None

    @cached_property
    def classes(self) -> int | None:
        """K of the one SoftmaxWithLoss (see tables/net_facts.py)."""
        return softmax_classes(self.net)

    @property
    def chance_loss(self) -> float | None:
        return math.log(self.classes) if self.classes else None
