"""Needs arise: per customer and need type, a Poisson count each month.

Rate = base rate x segment multiplier x abuser multiplier x behaviour multipliers (e-billing
and autopay remove most billing and payment needs) x process-failure index for need types
that are process failures (domain.md: most failures are process, not people, failures) x what
root-cause elimination of documented complaints has removed so far.
"""

from __future__ import annotations

import numpy as np

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

    def step(self, model, ms) -> None:
        cfg, pop, act = model.cfg, model.pop, ms.act
        base = pop.seg_need_rate[pop.segment[act]]
        base = base * np.where(pop.is_abuser[act], cfg.population.rel_need_rate_abuser, 1.0)
        adopted = pop.adoption[act]
        rel_failure = cfg.needs.rel_process_failure
        for j, name in enumerate(self.names):
            lam = base * (self.rate[j] * self.rel_root_cause[j] * (rel_failure if self.is_failure[j] else 1.0))
            for b, rel in self.effects[j]:
                lam[adopted[:, b]] *= rel
            u = model.streams.uniform(f"needs.{name}", ms.month, act)
            # most customers draw zero (u below P(0)); invert the CDF only for the rest
            rows = np.flatnonzero(u >= np.exp(-lam))
            counts = poisson_icdf(u[rows], lam[rows])
            ms.needs[rows, j] = counts
            ms.kpis[f"needs_{name}"] = int(counts.sum())
