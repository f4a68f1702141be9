"""Causes, not symptoms: findings that share a root cause grouped under one headline.

Each rule proposes the cause its finding points to (`Finding.cause`): it knows whether an lr
step came before, whether a dead ReLU was fed a negative bias. Findings of symptom rules (a
zero gradient, a loss at chance, an estimated update ratio) join a primary cause when one fits
and stand alone otherwise. A reader gets one paragraph per cause, with the first iteration and
line, the layers involved and the settings to change.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from caffelog.diagnose.context import Context
from caffelog.diagnose.findings import SEVERITY_RANK, Finding
from caffelog.diagnose.rule import layer_span
from caffelog.diagnose.values import fmt_value

# symptom rule -> the causes it may join, in order of preference
SYMPTOMS: dict[str, tuple[str, ...]] = {
    "zero-gradient": ("dead-init", "lr-increase", "dead-units", "weight-decay", "saturation"),
    "vanishing": ("weight-decay", "saturation", "dead-init", "dead-units", "lr-increase"),
    "loss-at-chance": ("lr-increase", "dead-init", "dead-units", "saturation", "weight-decay", "divergence",
                       "numerical-fault"),
    "loss-plateau": ("no-learning", "lr-increase", "dead-init", "dead-units", "saturation", "weight-decay",
                     "divergence", "loss-at-chance"),
    "update-ratio": (),  # joins the cause of another finding on the same layer
}


@dataclass
class Cause:
    """One root cause: its findings (indices into the diagnosis' findings) and what to change."""

    id: str
    severity: str
    headline: str
    iteration: int | None
    line: int | None
    layers: list[str]
    settings: list[str]
    advice: str
    findings: list[int] = field(default_factory=list)
    time: float | None = None  # seconds since the segment began, at `line`

    def to_dict(self) -> dict:
        return {"id": self.id, "severity": self.severity, "headline": self.headline,
                "iteration": self.iteration, "line": self.line, "time": self.time, "layers": self.layers,
                "settings": self.settings, "advice": self.advice, "findings": self.findings}


def group(findings: list[Finding], ctx: Context) -> list[Cause]:
    """Give every finding a cause id (set on it) and return the causes, worst and earliest first."""
    members: dict[str, list[int]] = {}
    for i, f in enumerate(findings):
        if f.rule not in SYMPTOMS:
            members.setdefault(f.cause or f.rule, []).append(i)
    for i, f in enumerate(findings):
        if f.rule in SYMPTOMS:
            home = _home(f, findings, members)
            members.setdefault(home or f.cause or f.rule, []).append(i)
    causes = []
    for cause_id, indices in members.items():
        for i in indices:
            findings[i].cause = cause_id
        causes.append(_cause(cause_id, sorted(indices), findings, ctx))
    return sorted(causes, key=lambda c: (SEVERITY_RANK[c.severity], c.line if c.line is not None else 1 << 62))


def _home(f: Finding, findings: list[Finding], members: dict[str, list[int]]) -> str | None:
    """The primary cause a symptom joins, if any fits."""
    if f.rule == "update-ratio":
        for cause_id, indices in members.items():
            if f.layer and any(findings[i].layer == f.layer for i in indices):
                return cause_id
        return None
    for cause_id in SYMPTOMS[f.rule]:
        if cause_id in members:
            return cause_id
    return None


def _cause(cause_id: str, indices: list[int], findings: list[Finding], ctx: Context) -> Cause:
    group_ = [findings[i] for i in indices]
    lead = _lead(cause_id, group_)
    first = min((f for f in group_ if f.line is not None), key=lambda f: f.line or 0, default=lead)
    layers = _layers(group_, ctx)
    primary = [f for f in group_ if f.rule not in SYMPTOMS] or group_
    settings = list(dict.fromkeys(s for f in [lead, *primary] for s in f.settings))
    iteration, line, time = first.iteration, first.line, first.time
    rise = ctx.schedule.rise_before(lead.segment or 0, lead.iteration) if cause_id == "lr-increase" else None
    if rise is not None:  # the cause starts at the step, whatever showed it first
        iteration, line, time = rise.iteration, rise.line, rise.time
    return Cause(cause_id, min((f.severity for f in group_), key=SEVERITY_RANK.__getitem__),
                 _headline(cause_id, lead, group_, layers, ctx), iteration, line, layers,
                 settings, lead.advice, indices, time)


LEADS = ("non-finite", "dead-activation", "weight-collapse", "tanh-saturation", "loss-at-chance", "exploding",
         "loss-divergence", "softmax-underflow", "overfitting")


def _lead(cause_id: str, group_: list[Finding]) -> Finding:
    """The finding whose words and advice speak for the cause."""
    for rule in LEADS:
        hits = [f for f in group_ if f.rule == rule]
        if hits:
            return hits[0]
    return group_[0]


def _in_net_order(names: list[str], ctx: Context) -> list[str]:
    order = {name: i for i, name in enumerate(ctx.layer_order)}
    return sorted(names, key=lambda n: order.get(n, len(order)))


def _layers(group_: list[Finding], ctx: Context) -> list[str]:
    return _in_net_order(list(dict.fromkeys(str(f.layer) for f in group_ if f.layer)), ctx)


def _of(group_: list[Finding], rule: str, ctx: Context) -> list[str]:
    """The layers of one rule's findings, in net order."""
    return _in_net_order([str(f.layer) for f in group_ if f.rule == rule and f.layer], ctx)


def by_start(findings: list[Finding]) -> str:
    """'relu2, relu3 from iteration 310; relu1 from iteration 590': layers grouped by when
    their findings start, in log order."""
    starts: dict[object, list[str]] = {}
    for f in sorted(findings, key=lambda f: f.line if f.line is not None else 1 << 62):
        if f.layer:
            starts.setdefault(f.iteration, []).append(str(f.layer))
    return "; ".join(f"{layer_span(names)} from iteration {it}" for it, names in starts.items())


def _headline(cause_id: str, lead: Finding, group_: list[Finding], layers: list[str], ctx: Context) -> str:
    """One sentence: what went wrong, from when, and what set it off."""
    rules = {f.rule for f in group_}
    if cause_id in ("divergence", "lr-increase"):
        rise = ctx.schedule.rise_before(lead.segment or 0, lead.iteration)
        trigger = (ctx.schedule.describe(rise) if cause_id == "lr-increase" and rise else
                   f"the lr is too high (base_lr {ctx.knob('base_lr')}, lr_policy {ctx.knob('lr_policy', 'fixed')})")
        if "non-finite" in rules:
            nf = next(f for f in group_ if f.rule == "non-finite")
            what = (f"the run diverged to {fmt_value(nf.value or 0)} at iteration {nf.iteration} "
                    f"({nf.layer or 'solver'}, line {nf.line})")
        elif "dead-activation" in rules:
            what = f"units died ({by_start([f for f in group_ if f.rule == 'dead-activation'])})"
        elif "exploding" in rules:
            what = f"values exploded ({layer_span(_of(group_, 'exploding', ctx)) or 'All-net-params'})"
        else:
            what = "the loss diverged"
        extra = "; the loss went back to chance" if "loss-at-chance" in rules else ""
        return f"{trigger}; then {what}{extra}"
    if cause_id == "numerical-fault":
        return f"a numerical fault, not divergence: {lead.message.removeprefix('first non-finite value: ')}"
    if cause_id in ("dead-init", "dead-units"):
        dead = _of(group_, "dead-activation", ctx)
        why = lead.advice.split(":")[0] if cause_id == "dead-init" else "dead units"
        tail = "; the loss stays at chance" if "loss-at-chance" in rules else ""
        return (f"{layer_span(dead)} dead from iteration {lead.iteration} ({why}): "
                f"no gradient reaches the layers below{tail}")
    if cause_id == "saturation":
        sat, van = _of(group_, "tanh-saturation", ctx), _of(group_, "vanishing", ctx)
        tail = f", so {layer_span(van)} barely learn" if van else ""
        chance = "; the loss stays at chance" if "loss-at-chance" in rules else ""
        return f"saturated {layer_span(sat)} (tanh at +-1){tail}{chance}"
    if cause_id == "weight-decay":
        shrunk = layer_span(_of(group_, 'weight-collapse', ctx))
        return (f"weight_decay {ctx.knob('weight_decay')} shrinks the weights of {shrunk} "
                "to nothing" + ("; the loss stays at chance" if "loss-at-chance" in rules else ""))
    if cause_id == "no-learning":
        return (f"{lead.message.split(':')[0]} while the gradients look ordinary: the inputs carry no "
                "information about the labels, or nothing trains")
    if len(group_) > 1 and layers:
        return f"{lead.rule} in {layer_span(layers)}: {lead.message}"
    return lead.message
