"""Churn: a monthly hazard with three named causes, lowered by switching barriers.

    h = (service + price + other) * barrier
    service = rate_service_max * ((threshold - sat) / threshold)^shape   below the threshold
    price   = rate_price * competitor pressure * price_index^elasticity * price sensitivity
              * exp(-price_sat_slope * (sat - 7))   (satisfied customers shop around less)
    other   = rate_other   (moving house, closure: outside the firm's CX)
    barrier = per_extra_product^(products-1) * tenure factor * behaviour multipliers (autopay)

A churner's reason is drawn in proportion to the three causes, so the price/service split of
defections is an output rather than an assumption. Leavers are billed and served for the month
and leave at its end. A failed complaint recovery multiplies the hazard for a few months
(complaint-driven churn, counted separately).
"""

from __future__ import annotations

import numpy as np

from sim.population import CHURN_REASONS


def service_hazard(c, sat: np.ndarray) -> np.ndarray:
    """Service-reason hazard at satisfaction ``sat`` (``c``: the churn config)."""
    gap = np.clip((c.sat_service_threshold - sat) / max(c.sat_service_threshold, 1e-9), 0.0, 1.0)
    return c.rate_service_max * gap ** c.rel_service_shape


def price_hazard(c, econ, seg_sensitivity: np.ndarray, sat: np.ndarray,
                 own_sensitivity: np.ndarray | None = None) -> np.ndarray:
    """Price-reason hazard for customers of these segment (and own) price sensitivities."""
    price_level = c.rel_competitor_pressure * econ.rel_price_index ** c.rel_price_elasticity
    price = c.rate_price * price_level * seg_sensitivity
    if own_sensitivity is not None:
        price = price * own_sensitivity
    if c.rel_price_sat_slope:
        price = price * np.exp(-c.rel_price_sat_slope * (sat - 7.0))
    return price


def churn_hazard(cfg, pop, sat: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Raw monthly hazard (service + price + other, before barriers) at satisfaction ``sat``."""
    c = cfg.churn
    price = price_hazard(c, cfg.economics, pop.seg_price_sensitivity[seg], sat)
    return service_hazard(c, sat) + price + c.rate_other + 1e-12


def contract_multiplier(pop, act: np.ndarray) -> np.ndarray:
    """Each customer's contract barrier this month: 1 month to month; inside a term the in-term
    multiplier, in the term's last month (tenure+1 a multiple of the term) the renewal one."""
    ct = pop.contract[act]
    term = pop.contract_term[ct]
    renewal = (term > 0) & ((pop.tenure_months[act] + 1) % np.maximum(term, 1) == 0)
    inside = np.where(renewal, pop.contract_rel_at_renewal[ct], pop.contract_rel_in_term[ct])
    return np.where(term > 0, inside, 1.0)


class Churn:
    name = "churn"

    def __init__(self, model):
        self.cfg = model.cfg.churn
        self.econ = model.cfg.economics
        self.complaints = model.cfg.complaints
        self.refresh(model)

    def refresh(self, model) -> None:
        """Re-read behaviour barriers (programmes change them between months)."""
        bs = [model.cfg.adoption.behaviours[n] for n in model.pop.behaviour_names]
        self.rel_churn = np.array([b.rel_churn for b in bs])
        self.barrier_behaviours = np.flatnonzero(self.rel_churn != 1.0)

    def hazards(self, model, act: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per-customer (service, price, other) hazards and the barrier multiplier."""
        c, pop = self.cfg, model.pop
        sat = pop.satisfaction[act]
        service = service_hazard(c, sat)
        price = price_hazard(c, self.econ, pop.seg_price_sensitivity[pop.segment[act]], sat,
                             pop.rel_price_sensitivity[act])
        other = np.full(len(act), c.rate_other)
        products = pop.products[act]
        # products are small integers: one power per distinct count, not per customer
        barrier = np.power(c.rel_per_extra_product, np.arange(products.max(initial=1) + 1) - 1.0)[products]
        tenure_years = pop.tenure_months[act] / 12.0
        progress = np.minimum(tenure_years / c.dur_tenure_full_years, 1.0)
        barrier = barrier * (1.0 - (1.0 - c.rel_tenure_full) * progress)
        if c.rel_churn_new != 1.0:
            barrier = barrier * (1.0 + (c.rel_churn_new - 1.0) * np.exp(-pop.tenure_months[act] / c.dur_new_fade_months))
        adopted = pop.adoption[act]
        for b in self.barrier_behaviours:
            barrier = barrier * np.where(adopted[:, b], self.rel_churn[b], 1.0)
        if pop.contract_names:
            barrier = barrier * contract_multiplier(pop, act)
        return service, price, other, barrier

    def after_failed_recovery(self, model, act: np.ndarray, month: int) -> np.ndarray:
        """True for customers still inside the raised-hazard window of a failed recovery."""
        failed = model.pop.recovery_failed_month[act]
        return (failed >= 0) & (month - failed < self.complaints.dur_failed_recovery_months)

    def step(self, model, ms) -> None:
        pop, streams, act = model.pop, model.streams, ms.act
        service, price, other, barrier = self.hazards(model, act)
        raw = service + price + other
        after_failure = self.after_failed_recovery(model, act, ms.month)
        if after_failure.any():
            barrier = np.where(after_failure, barrier * self.complaints.rel_churn_failed_recovery, barrier)
        prob = -np.expm1(-raw * barrier)
        u = streams.uniform("churn.event", ms.month, act)
        leaves = u < prob
        rows = np.flatnonzero(leaves)
        u_reason = streams.uniform("churn.reason", ms.month, act[rows]) * raw[rows]
        reason = np.where(u_reason < service[rows], 0, np.where(u_reason < service[rows] + price[rows], 1, 2))
        pop.remove(act[rows], ms.month, reason.astype(np.int8))
        k = ms.kpis
        k["new_churn"] = len(rows)
        for code, name in enumerate(CHURN_REASONS):
            k[f"new_churn_{name}"] = int(np.count_nonzero(reason == code))
        k["churn_rate"] = len(rows) / ms.n_act if ms.n_act else 0.0
        k["new_churn_after_failed_recovery"] = int(np.count_nonzero(after_failure[rows]))
