"""A CX programme: timing, ramp, costs and effects on named parameters.

Each month, before any stage runs, every parameter that some programme touches is recomputed
from its baseline value by applying the programmes' effects, each scaled by its ramp:
    set:      v <- v + r * (value - v)
    multiply: v <- v * (1 + r * (value - 1))
    add:      v <- v + r * value
with r in [0, 1] rising linearly over ``dur_ramp_months`` from ``start_month`` and 0 after
``end_month``. Recomputing from the baseline (not from last month's value) makes a programme's
effect independent of how long others have run and lets an ended programme leave cleanly.

Effects compose in a fixed order that does not depend on how a scenario lists its programmes:
sets first, then multiplies, then adds, and within each by programme name. So the same
programmes in any order are the same scenario (one config hash, one result); two programmes
that both ``set`` one key would be ambiguous and are refused by validation.

A programme with ``target_segments`` does not touch the shared config: its (multiplicative)
effects on behaviours' incentives go into a segment x behaviour matrix that adoption applies
customer by customer, and its per-customer costs count only the customers it targets.
"""

from __future__ import annotations

import copy

import numpy as np

from sim.config import InterventionConfig, RunConfig
from sim.params import get_param, set_param

OP_ORDER = {"set": 0, "multiply": 1, "add": 2}


class Intervention:
    def __init__(self, name: str, cfg: InterventionConfig):
        self.name = name
        self.cfg = cfg

    def ramp(self, month: int) -> float:
        c = self.cfg
        if month < c.start_month or (c.end_month >= 0 and month > c.end_month):
            return 0.0
        if c.dur_ramp_months <= 0:
            return 1.0
        return min(1.0, (month - c.start_month + 1) / c.dur_ramp_months)

    def running(self, month: int) -> bool:
        c = self.cfg
        return month >= c.start_month and (c.end_month < 0 or month <= c.end_month)

    @property
    def targeted(self) -> bool:
        return bool(self.cfg.target_segments)

    def apply(self, values: dict[str, float], month: int) -> None:
        """Move ``values`` by all of this programme's effects this month, in the composition order."""
        for _, eff in ordered_effects([self]):
            self.apply_effect(eff, values, month)

    def apply_effect(self, eff, values: dict[str, float], month: int) -> None:
        """Move ``values`` (param -> current value) by one of this programme's effects this month."""
        r = self.ramp(month)
        if r == 0.0:
            return
        v = values[eff.param]
        if eff.op == "set":
            values[eff.param] = v + r * (eff.value - v)
        elif eff.op == "add":
            values[eff.param] = v + r * eff.value
        else:
            values[eff.param] = v * (1.0 + r * (eff.value - 1.0))

    def spend(self, model, ms) -> float:
        """USD this programme costs the firm in the month of ``ms``.

        Fixed amounts are the firm's dollars; per-customer amounts are paid for every real
        customer reached, i.e. for each reached agent times the customers it stands for.
        """
        c, month = self.cfg, ms.run_month
        if not self.running(month):
            return 0.0
        reached = ms.n_act
        if self.targeted and c.cost_per_customer_month:
            reached = int(np.isin(model.pop.segment[ms.act], self.segment_codes(model)).sum())
        cost = c.cost_per_month + c.cost_per_customer_month * reached * model.customers_per_agent
        if month == c.start_month:
            cost += c.cost_one_off
        return cost

    def segment_codes(self, model) -> np.ndarray:
        names = model.pop.segment_names
        return np.array([names.index(s) for s in self.cfg.target_segments], dtype=np.int16)


def ordered_effects(items: list[Intervention]) -> list[tuple[Intervention, object]]:
    """Every shared-config effect, in the composition order (module docstring)."""
    pairs = [(iv, eff) for iv in items if not iv.targeted for eff in iv.cfg.effects]
    return sorted(pairs, key=lambda pair: (OP_ORDER.get(pair[1].op, 3), pair[0].name))


def touched_params(cfg: RunConfig) -> list[str]:
    seen: dict[str, None] = {}
    for iv in cfg.interventions.values():
        if iv.target_segments:
            continue
        for eff in iv.effects:
            seen.setdefault(eff.param)
    return list(seen)


def at_full_effect(cfg: RunConfig) -> RunConfig:
    """A copy of ``cfg`` with every programme at full effect at once (for validation)."""
    full = copy.deepcopy(cfg)
    values = {p: get_param(cfg, p) for p in touched_params(cfg)}
    always = []
    for name, iv in cfg.interventions.items():
        iv = copy.deepcopy(iv)
        iv.start_month, iv.end_month, iv.dur_ramp_months = 0, -1, 0.0
        always.append(Intervention(name, iv))
    for iv, eff in ordered_effects(always):  # segment-targeted ones move no shared parameter
        iv.apply_effect(eff, values, 0)
    for p, v in values.items():
        set_param(full, p, v)
    full.interventions = {}
    return full


class Programmes:
    """All programmes of a run, applied to the live config month by month."""

    def __init__(self, cfg: RunConfig):
        from sim.interventions.registry import KINDS

        self.items = [KINDS[iv.kind](name, iv) for name, iv in cfg.interventions.items()]
        self.effects = ordered_effects(self.items)
        self.params = touched_params(cfg)
        self.baseline = {p: get_param(cfg, p) for p in self.params}
        self.current = dict(self.baseline)
        self.segments = list(cfg.population.segments)
        self.behaviours = list(cfg.adoption.behaviours)
        self.targeted = sorted((iv for iv in self.items if iv.targeted), key=lambda iv: iv.name)  # order-free
        # (segment, behaviour) incentive multipliers of segment-targeted programmes
        self.segment_incentive = np.ones((len(self.segments), len(self.behaviours)))

    def _segment_incentive(self, month: int) -> np.ndarray:
        rel = np.ones_like(self.segment_incentive)
        for iv in self.targeted:
            r = iv.ramp(month)
            rows = [self.segments.index(s) for s in iv.cfg.target_segments]
            for eff in iv.cfg.effects:
                b = self.behaviours.index(eff.param.split(".")[2])
                rel[rows, b] *= 1.0 + r * (eff.value - 1.0)
        return rel

    def apply(self, cfg: RunConfig, month: int) -> bool:
        """Set this month's parameter values on ``cfg``; True if any value changed."""
        values = dict(self.baseline)
        for iv, eff in self.effects:
            iv.apply_effect(eff, values, month)
        if self.targeted:
            self.segment_incentive = self._segment_incentive(month)
        changed = values != self.current
        if changed:
            for p, v in values.items():
                set_param(cfg, p, round(v) if isinstance(self.baseline[p], int) else v)
            self.current = values
        return changed
