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

from sim.config import CHURN_REASONS
from sim.kernels import (
    CHUNK,
    COMPILED,
    all_fit,
    chunked,
    close_up,
    kernel,
    listed_in_room,
    n_chunks,
    prange,
    shows,
    uniform_at,
)
from sim.population import flag_of


def service_hazard(c, sat: np.ndarray) -> np.ndarray:
    """Service-reason hazard at satisfaction ``sat`` (``c``: the churn config)."""
    gap = np.clip((c.sat_service_threshold - sat) / max(c.sat_service_threshold, 1e-9), 0.0, 1.0)
    return c.rate_service_max * gap ** c.rel_service_shape


def price_level(c, econ) -> float:
    """The market's price pressure on churn: competitors x our price index ^ elasticity."""
    return c.rel_competitor_pressure * econ.rel_price_index ** c.rel_price_elasticity


def price_hazard(c, econ, seg_sensitivity: np.ndarray, sat: np.ndarray,
                 own_sensitivity: np.ndarray | None = None) -> np.ndarray:
    """Price-reason hazard for customers of these segment (and own) price sensitivities."""
    price = c.rate_price * price_level(c, econ) * seg_sensitivity
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


def stay_weights(cfg, pop, sat: np.ndarray, seg: np.ndarray, offset: float, power: float) -> np.ndarray:
    """churn_hazard(cfg, pop, sat - offset, seg) ** -power for a 2-D ``sat`` (customers x
    candidates) and 1-D ``seg``: the weights that settle the starting base (CXModel._expected_stay)."""
    if not COMPILED:
        return churn_hazard(cfg, pop, sat - offset, seg[:, None]) ** -power
    c = cfg.churn
    out = np.empty(sat.shape, order="F" if sat.flags.f_contiguous else "C")
    _stay_weights_kernel(sat, seg, float(offset), float(power), float(c.sat_service_threshold),
                         float(max(c.sat_service_threshold, 1e-9)), float(c.rate_service_max),
                         float(c.rel_service_shape), float(c.rate_price * price_level(c, cfg.economics)),
                         pop.seg_price_sensitivity, float(c.rel_price_sat_slope), float(c.rate_other), out)
    return out


def contract_multiplier(pop, act: np.ndarray) -> np.ndarray:
    """Each customer's contract barrier this month: 1 month to month; inside a term the in-term
    multiplier, in the term's last month (tenure+1 a multiple of the term) the renewal one."""
    ct = pop.contract[act]
    term = pop.contract_term[ct]
    renewal = (term > 0) & ((pop.tenure_months[act] + 1) % np.maximum(term, 1) == 0)
    inside = np.where(renewal, pop.contract_rel_at_renewal[ct], pop.contract_rel_in_term[ct])
    return np.where(term > 0, inside, 1.0)


# leavers a chunk of customers has room for, on average (sim.kernels.room_per_chunk): above any
# month's churn seen here (1-3% a month), and a month beyond it reruns the kernel with room for all
_LEAVERS_SHARE = 1 / 16


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
        sat = pop.satisfaction[act].astype(np.float64)
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
        flags = pop.adoption[act]
        for b in self.barrier_behaviours:
            barrier = barrier * np.where(flag_of(flags, b), self.rel_churn[b], 1.0)
        if pop.contract_names:
            barrier = barrier * contract_multiplier(pop, act)
        return service, price, other, barrier

    def after_failed_recovery(self, model, act: np.ndarray, month: int) -> np.ndarray:
        """True for customers still inside the raised-hazard window of a failed recovery."""
        failed = model.pop.recovery_failed_month[act]
        return (failed >= 0) & (month - failed < self.complaints.dur_failed_recovery_months)

    def step(self, model, ms) -> None:
        if not COMPILED:
            return self.step_numpy(model, ms)
        c, pop, act = self.cfg, model.pop, ms.act
        products = pop.products[act]
        per_products = np.power(c.rel_per_extra_product, np.arange(products.max(initial=1) + 1) - 1.0)
        has_contracts = bool(pop.contract_names)

        def leavers(per_chunk, room):
            rows, reason, after_failure = (np.empty(room, dtype=np.int64), np.empty(room, dtype=np.int8),
                                           np.empty(room, dtype=np.bool_))
            n_left = self._leavers(model, ms, per_products, has_contracts, per_chunk, rows, reason, after_failure)
            return None if n_left < 0 else (rows[:n_left], reason[:n_left], after_failure[:n_left])

        rows, reason, after_failure = listed_in_room(_LEAVERS_SHARE, len(act), leavers)
        pop.remove(act[rows], ms.month, reason)
        self._record(ms, reason, int(np.count_nonzero(after_failure)))

    def _leavers(self, model, ms, per_products, has_contracts, per_chunk, rows, reason, after_failure) -> int:
        """_churn_kernel on this month's customers: how many left (their rows, reasons and whether
        after a failed recovery, in the arrays given), or -1 if a chunk's list did not fit."""
        c, pop, streams, act = self.cfg, model.pop, model.streams, ms.act
        return _churn_kernel(
            act, pop.uid, pop.satisfaction, pop.segment, pop.products, pop.tenure_months, pop.adoption,
            pop.rel_price_sensitivity, pop.recovery_failed_month, pop.contract,
            float(c.sat_service_threshold), float(max(c.sat_service_threshold, 1e-9)), float(c.rate_service_max),
            float(c.rel_service_shape), float(c.rate_price * price_level(c, self.econ)), pop.seg_price_sensitivity,
            float(c.rel_price_sat_slope), float(c.rate_other), per_products, float(c.dur_tenure_full_years),
            float(1.0 - c.rel_tenure_full), float(c.rel_churn_new), float(c.dur_new_fade_months),
            self.barrier_behaviours.astype(np.int64), self.rel_churn, has_contracts,
            pop.contract_term if has_contracts else np.zeros(1, dtype=np.int64),
            pop.contract_rel_in_term if has_contracts else np.ones(1),
            pop.contract_rel_at_renewal if has_contracts else np.ones(1),
            int(ms.month), int(self.complaints.dur_failed_recovery_months),
            float(self.complaints.rel_churn_failed_recovery),
            np.uint64(streams.key("churn.event", ms.month)), np.uint64(streams.key("churn.reason", ms.month)),
            per_chunk, rows, reason, after_failure)

    def _record(self, ms, reason: np.ndarray, after_failed_recovery: int) -> None:
        k = ms.kpis
        k["new_churn"] = len(reason)
        for code, name in enumerate(CHURN_REASONS):
            k[f"new_churn_{name}"] = int(np.count_nonzero(reason == code))
        k["churn_rate"] = len(reason) / ms.n_act if ms.n_act else 0.0
        k["new_churn_after_failed_recovery"] = after_failed_recovery

    def step_numpy(self, model, ms) -> None:
        """The reference the kernel must match."""
        pop, act = model.pop, ms.act
        service, price, other, barrier = self.hazards(model, act)
        raw = service + price + other
        after_failure = self.after_failed_recovery(model, act, ms.month)
        if after_failure.any():
            barrier = np.where(after_failure, barrier * self.complaints.rel_churn_failed_recovery, barrier)
        prob = -np.expm1(-raw * barrier)
        u = pop.uniform("churn.event", ms.month, act)
        leaves = u < prob
        rows = np.flatnonzero(leaves)
        u_reason = pop.uniform("churn.reason", ms.month, act[rows]) * raw[rows]
        reason = np.where(u_reason < service[rows], 0, np.where(u_reason < service[rows] + price[rows], 1, 2))
        pop.remove(act[rows], ms.month, reason.astype(np.int8))
        self._record(ms, reason, int(np.count_nonzero(after_failure[rows])))


@chunked
def _churn_kernel(act, uid, satisfaction, segment, products, tenure_months, adopted, own_price_sensitivity,
                  recovery_failed_month, contract, threshold, threshold_safe, rate_service_max, service_shape,
                  price_base, seg_price_sensitivity, price_sat_slope, rate_other, per_products,
                  tenure_full_years, tenure_relief, rel_churn_new, new_fade_months, barrier_behaviours,
                  rel_churn, has_contracts, contract_term, contract_in_term, contract_at_renewal, month,
                  failed_recovery_months, rel_failed_recovery, key_event, key_reason,
                  per_chunk, rows, reason, after_failure):
    """The hazards of Churn.hazards and the draws of Churn.step_numpy, one customer at a time;
    fills rows/reason/after_failure for the leavers and returns how many left, or -1 if a chunk's
    ``per_chunk`` entries did not hold its leavers.

    Most customers stay, and their uniform shows it before any exp or pow is taken: P(leave) =
    1 - exp(-x) <= x, and x has a cheap upper bound (the service gap's power, the price tilt and
    the new-customer factor at their largest). Only customers whose uniform falls below the bound get the exact
    hazard, computed as the reference computes it. Chunks of customers run on several cores, each
    listing its leavers in its own ``per_chunk`` entries of the outputs; the lists are joined in
    chunk order.
    """
    tilt_max = max(np.exp(-price_sat_slope * (0.0 - 7.0)), np.exp(-price_sat_slope * (10.0 - 7.0)))
    new_max = max(rel_churn_new, 1.0)
    zero_gap_service = rate_service_max * 0.0 ** service_shape
    # the bound's barrier: each byte of the adoption flags' part of the behaviours' product, tabled
    # once, and tenure as a product (both within a few ulps of the exact hazard's, far inside the
    # bound's 1e-9 slack; a fifth of the kernel's time went on them)
    n_bytes = adopted.itemsize
    barrier_of_byte = np.ones((n_bytes, 256))
    for b in barrier_behaviours:
        for value in range(256):
            if shows(value, b % 8):
                barrier_of_byte[b // 8, value] *= rel_churn[b]
    per_tenure_month = 1.0 / (12.0 * tenure_full_years)
    n = act.shape[0]
    left_in = np.zeros(n_chunks(n), dtype=np.int64)  # leavers of each chunk (-1: did not fit)
    for c in prange(n_chunks(n)):
        start = c * per_chunk
        n_left = start
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            slot = act[i]
            u = uniform_at(key_event, uid[slot])
            sat = satisfaction[slot]
            gap = min(max((threshold - sat) / threshold_safe, 0.0), 1.0)
            # gap is in [0, 1], so gap^shape <= gap for shapes of 1 or more, and <= 1 below that
            if gap > 0.0:
                service_bound = rate_service_max * (gap if service_shape >= 1.0 else 1.0)
            else:
                service_bound = zero_gap_service
            price_untilted = price_base * seg_price_sensitivity[segment[slot]]
            price_untilted = price_untilted * own_price_sensitivity[slot]
            tenure = tenure_months[slot]
            cheap_barrier = per_products[products[slot]] * (1.0 - tenure_relief * min(tenure * per_tenure_month, 1.0))
            flags = np.int64(adopted[slot])
            for byte in range(n_bytes):
                cheap_barrier = cheap_barrier * barrier_of_byte[byte, (flags >> (8 * byte)) & 255]
            ct = contract[slot] if has_contracts else 0
            term = contract_term[ct] if has_contracts else 0
            renewal = term > 0 and (tenure + 1) % term == 0
            if term > 0:
                cheap_barrier = cheap_barrier * (contract_at_renewal[ct] if renewal else contract_in_term[ct])
            failed = recovery_failed_month[slot]
            after = failed >= 0 and month - failed < failed_recovery_months
            bound = (service_bound + price_untilted * (tilt_max if price_sat_slope != 0.0 else 1.0) + rate_other) \
                * cheap_barrier * new_max * (rel_failed_recovery if after else 1.0)
            if not u < bound * (1.0 + 1e-9):
                continue
            # the exact hazard, in the reference's order of operations
            service = rate_service_max * gap ** service_shape if gap > 0.0 else zero_gap_service
            price = price_untilted
            if price_sat_slope != 0.0:
                price = price * np.exp(-price_sat_slope * (sat - 7.0))
            barrier = per_products[products[slot]]
            barrier = barrier * (1.0 - tenure_relief * min(tenure / 12.0 / tenure_full_years, 1.0))
            if rel_churn_new != 1.0:
                barrier = barrier * (1.0 + (rel_churn_new - 1.0) * np.exp(-tenure / new_fade_months))
            for b in barrier_behaviours:
                if shows(adopted[slot], b):
                    barrier = barrier * rel_churn[b]
            if term > 0:
                barrier = barrier * (contract_at_renewal[ct] if renewal else contract_in_term[ct])
            raw = service + price + rate_other
            if after:
                barrier = barrier * rel_failed_recovery
            if u < -np.expm1(-raw * barrier):
                if n_left == start + per_chunk:
                    n_left = start - 1  # the sign that it did not fit
                    break
                u_reason = uniform_at(key_reason, uid[slot]) * raw
                rows[n_left] = i
                reason[n_left] = 0 if u_reason < service else (1 if u_reason < service + price else 2)
                after_failure[n_left] = after
                n_left += 1
        left_in[c] = n_left - start
    if not all_fit(left_in):
        return -1
    close_up(left_in, per_chunk, reason)
    close_up(left_in, per_chunk, after_failure)
    return close_up(left_in, per_chunk, rows)


@kernel
def _stay_weights_kernel(sat, segment, offset, power, threshold, threshold_safe, rate_service_max, service_shape,
                         price_base, seg_price_sensitivity, price_sat_slope, rate_other, out):
    """stay_weights's reference (churn_hazard, then the power) one element at a time."""
    for k in range(sat.shape[1]):  # a candidate (a column: the arrays are column-major) at a time
        for i in range(sat.shape[0]):
            x = sat[i, k] - offset
            gap = min(max((threshold - x) / threshold_safe, 0.0), 1.0)
            price = price_base * seg_price_sensitivity[segment[i]]
            if price_sat_slope != 0.0:
                price = price * np.exp(-price_sat_slope * (x - 7.0))
            hazard = rate_service_max * gap ** service_shape + price + rate_other + 1e-12
            out[i, k] = hazard ** -power
