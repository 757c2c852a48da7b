"""Needs arise: per customer and need type, a Poisson count each month.

Rate = base rate x segment multiplier x abuser multiplier x behaviour multipliers (e-billing
and autopay remove most billing and payment needs) x process-failure index for need types
that are process failures (domain.md: most failures are process, not people, failures) x what
root-cause elimination of documented complaints has removed so far.
"""

from __future__ import annotations

import numpy as np

from sim.kernels import COMPILED, kernel, poisson_at, uniform_at
from sim.rng import poisson_icdf


class Needs:
    name = "needs"

    def __init__(self, model):
        self.names = list(model.cfg.needs.types)
        # lowered over the run by root-cause elimination of documented complaints
        self.rel_root_cause = np.ones(len(self.names))
        self.refresh(model)

    def refresh(self, model) -> None:
        """Re-read parameters (programmes change them between months)."""
        cfg = model.cfg
        types = [cfg.needs.types[n] for n in self.names]
        self.rate = np.array([t.rate for t in types])
        self.is_failure = np.array([t.is_process_failure for t in types])
        behaviours = [cfg.adoption.behaviours[b] for b in model.pop.behaviour_names]
        # (behaviour, need) pairs that change a rate; most pairs do not, so keep the list short
        self.effects = [
            [(b, beh.rel_need[need]) for b, beh in enumerate(behaviours)
             if need in beh.rel_need and beh.rel_need[need] != 1.0]
            for need in self.names
        ]
        # the same list flattened for the kernel: need j's pairs are effect_[behaviour|rel][start[j]:start[j+1]]
        self.effect_start = np.cumsum([0] + [len(e) for e in self.effects]).astype(np.int64)
        self.effect_behaviour = np.array([b for e in self.effects for b, _ in e], dtype=np.int64)
        self.effect_rel = np.array([r for e in self.effects for _, r in e], dtype=np.float64)

    def rate_factors(self, cfg) -> np.ndarray:
        """Per need type, the rate before customer multipliers: base x root causes x process failure."""
        rel_failure = cfg.needs.rel_process_failure
        return np.array([self.rate[j] * self.rel_root_cause[j] * (rel_failure if self.is_failure[j] else 1.0)
                         for j in range(len(self.names))], dtype=np.float64)

    def step(self, model, ms) -> None:
        if not COMPILED:
            return self.step_numpy(model, ms)
        cfg, pop = model.cfg, model.pop
        keys = np.array([model.streams.key(f"needs.{name}", ms.month) for name in self.names], dtype=np.uint64)
        totals = np.zeros(len(self.names), dtype=np.int64)
        _needs_kernel(ms.act, pop.segment, pop.is_abuser, pop.adoption, pop.seg_need_rate,
                      float(cfg.population.rel_need_rate_abuser), self.rate_factors(cfg), self.effect_start,
                      self.effect_behaviour, self.effect_rel, keys, ms.needs, totals)
        for j, name in enumerate(self.names):
            ms.kpis[f"needs_{name}"] = int(totals[j])

    def step_numpy(self, model, ms) -> None:
        """The reference the kernel must match."""
        cfg, pop, act = model.cfg, model.pop, ms.act
        base = pop.seg_need_rate[pop.segment[act]]
        base = base * np.where(pop.is_abuser[act], cfg.population.rel_need_rate_abuser, 1.0)
        adopted = pop.adoption[act]
        factors = self.rate_factors(cfg)
        for j, name in enumerate(self.names):
            lam = base * factors[j]
            for b, rel in self.effects[j]:
                lam[adopted[:, b]] *= rel
            u = model.streams.uniform(f"needs.{name}", ms.month, act)
            # most customers draw zero (u below P(0)); invert the CDF only for the rest
            rows = np.flatnonzero(u >= np.exp(-lam))
            counts = poisson_icdf(u[rows], lam[rows])
            ms.needs[rows, j] = counts
            ms.kpis[f"needs_{name}"] = int(counts.sum())


@kernel
def _needs_kernel(act, segment, is_abuser, adopted, seg_rate, rel_abuser, factors, effect_start,
                  effect_behaviour, effect_rel, keys, needs, totals):
    for i in range(act.shape[0]):
        slot = act[i]
        base = seg_rate[segment[slot]] * (rel_abuser if is_abuser[slot] else 1.0)
        for j in range(factors.shape[0]):
            lam = base * factors[j]
            for e in range(effect_start[j], effect_start[j + 1]):
                if adopted[slot, effect_behaviour[e]]:
                    lam *= effect_rel[e]
            count = poisson_at(uniform_at(keys[j], slot), lam)
            needs[i, j] = count
            totals[j] += count
