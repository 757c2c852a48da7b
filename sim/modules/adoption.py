"""Adoption of the "perfect customer" behaviours (Bass-style diffusion gated by trust).

Monthly hazard for a customer not yet showing behaviour b:
    h = rel_incentive * (p + q * F) * exp(slope * (satisfaction - 7)),   zero below the
    permission threshold (a smart meter or load-control device needs a good relationship),
where F is the share of the customer's active ties who show b (mixing="network") or the share
of all active customers (mixing="global", the fully mixed limit in which the expected adoption
curve is Bass's). Adoption is absorbing: nobody gives up autopay in this model.

Speed: the tie counts behind F (active ties, and active ties showing each behaviour) are kept
by sim.network.TieCounts from what changed since last month, and hazards are computed only for
customers who could adopt (not yet showing b, at or above the threshold). Each customer's draw
is still their own slot's uniform, so results are identical to computing everything for everyone.
"""

from __future__ import annotations

import numpy as np

from sim.network import TieCounts


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
        self._ties: TieCounts | None = None

    def tie_counts(self, model) -> np.ndarray:
        """(1 + n_behaviours, n_slots) int32: per slot, active ties, then active ties showing b."""
        pop, graph = model.pop, model.graph
        if self._ties is None or self._ties.graph is not graph:
            self._ties = TieCounts(graph, 1 + len(self.names))
            self._counted_active = np.empty(0, dtype=np.int64)
        # An inactive slot's state is all-False, so only slots active now or at the last update
        # can have changed: list those and the update never touches the churned majority.
        may_change = pop.active.copy()
        may_change[self._counted_active] = True
        slots = np.flatnonzero(may_change)
        active = pop.active[slots]
        state = np.empty((len(slots), 1 + len(self.names)), dtype=np.bool_)
        state[:, 0] = active
        np.logical_and(pop.adoption[slots], active[:, None], out=state[:, 1:])
        self._counted_active = slots[active]
        return self._ties.update(state, slots)

    def _share(self, model, act: np.ndarray, b: int, counts: np.ndarray | None) -> np.ndarray | float:
        """Share of the reference group of customers ``act`` showing behaviour b."""
        if counts is None:  # global mixing: everyone active at the start of the month
            return float(model.pop.adoption[act, b].mean()) if len(act) else 0.0
        n_ties = counts[0, act]
        n_adopted = counts[1 + b, act]
        share = np.zeros(len(act))
        np.divide(n_adopted, n_ties, out=share, where=n_ties > 0)  # no active ties: share 0
        return share

    def imitation_share(self, model, act: np.ndarray) -> np.ndarray:
        """(n_act, n_behaviours) share of each customer's reference group showing each behaviour."""
        counts = None if self.mixing == "global" else self.tie_counts(model)
        out = np.zeros((len(act), len(self.names)))
        for b in range(len(self.names)):
            out[:, b] = self._share(model, act, b, counts)
        return out

    def step(self, model, ms) -> None:
        pop, streams = model.pop, model.streams
        act = ms.act
        if len(self.names) == 0 or len(act) == 0:
            return
        sat = pop.satisfaction[act]
        adopted = pop.adoption[act]
        counts = None
        if self.mixing != "global" and self.q.any():
            counts = self.tie_counts(model)
        for b, name in enumerate(self.names):
            # only customers who could adopt: not yet showing b and not gated out by trust
            rows = np.flatnonzero(~adopted[:, b] & ~(sat < self.threshold[b]))
            slots = act[rows]
            base = self.p[b]
            if self.q[b] != 0:
                base = base + self.q[b] * self._share(model, act if counts is None else slots, b, counts)
            hazard = self.incentive[b] * np.broadcast_to(base, rows.shape)
            if self.slope[b] != 0:
                hazard = hazard * np.exp((sat[rows] - 7.0) * self.slope[b])
            prob = -np.expm1(-hazard)
            u = streams.uniform(f"adoption.{name}", ms.month, slots)
            new = slots[u < prob]
            pop.adopted[new, b] = True
            ms.kpis[f"new_adopt_{name}"] = int(new.size)
