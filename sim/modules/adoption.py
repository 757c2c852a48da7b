"""Adoption of the "perfect customer" behaviours (Bass-style diffusion gated by trust).

Monthly hazard for a customer not yet showing behaviour b:
    h = rel_incentive * (p + q * F) * exp(slope * (satisfaction - 7)),   zero below the
    permission threshold (a smart meter or load-control device needs a good relationship),
where F is the share of the customer's active ties who show b (mixing="network") or the share
of all active customers (mixing="global", the fully mixed limit in which the expected adoption
curve is Bass's). Adoption is absorbing: nobody gives up autopay in this model.
"""

from __future__ import annotations

import numpy as np


class Adoption:
    name = "adoption"

    def __init__(self, model):
        cfg = model.cfg.adoption
        self.names = model.pop.behaviour_names
        bs = [cfg.behaviours[n] for n in self.names]
        self.p = np.array([b.rate_innovation for b in bs])
        self.q = np.array([b.rate_imitation for b in bs])
        self.incentive = np.array([b.rel_incentive for b in bs])
        self.threshold = np.array([b.sat_threshold for b in bs])
        self.slope = np.array([b.rel_sat_slope for b in bs])
        self.mixing = cfg.mixing

    def imitation_share(self, model, act: np.ndarray) -> np.ndarray:
        """(n_act, n_behaviours) share of each customer's reference group showing each behaviour."""
        pop = model.pop
        adopted_active = pop.adoption & pop.active[:, None]
        if self.mixing == "global":
            share = adopted_active[act].mean(axis=0) if len(act) else np.zeros(len(self.names))
            return np.broadcast_to(share, (len(act), len(self.names)))
        ties = model.graph.neighbour_sum(np.column_stack([pop.active, adopted_active]).astype(np.float64))
        ties = ties[act]
        with np.errstate(invalid="ignore", divide="ignore"):
            share = ties[:, 1:] / ties[:, :1]
        return np.nan_to_num(share, nan=0.0)

    def step(self, model, ms) -> None:
        pop, streams = model.pop, model.streams
        act = ms.act
        if len(self.names) == 0 or len(act) == 0:
            return
        sat = pop.satisfaction[act]
        adopted = pop.adoption[act]
        share = self.imitation_share(model, act) if self.q.any() else 0.0
        hazard = self.incentive * (self.p + self.q * share)
        if self.slope.any():
            hazard = hazard * np.exp(np.outer(sat - 7.0, self.slope))
        hazard = np.where(sat[:, None] < self.threshold, 0.0, hazard)
        prob = -np.expm1(-hazard)
        for b, name in enumerate(self.names):
            u = streams.uniform(f"adoption.{name}", ms.month, act)
            new = (u < prob[:, b]) & ~adopted[:, b]
            pop.adopted[act[new], b] = True
            ms.kpis[f"new_adopt_{name}"] = int(new.sum())
