"""Customers as columns: one slot per customer ever, never one Python object per customer.

A slot is a customer's permanent index; churned customers keep theirs (inactive) so histories
and referral ties stay valid, and new customers are appended without renumbering anyone.
Arrays grow geometrically so appending a month's new customers is amortised O(new).
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaincinv

from sim.config import CHURN_REASONS, RunConfig  # noqa: F401  (CHURN_REASONS: read from here too)
from sim.kernels import COMPILED, kernel
from sim.rng import Streams, normal_icdf, poisson_icdf

_CANDIDATES = 8  # joiner draws per starting customer when weighting dispositions by expected stay
_SURVIVOR_BLOCK = 1 << 16  # customers weighed at once (any size gives the same numbers)
# Digital affinity is a Beta quantile. A table per segment (2,049 knots on [0.01, 0.99], closest
# together near the ends, where the quantile bends most) read by linear interpolation, and the
# exact quantile for the 2% of draws in the tails where it is steepest, stay within 1e-6 of the
# exact quantile everywhere (tests/unit/test_population_draws.py) at a twentieth of its cost
# (2.2 s of a 1M-customer build).
_AFFINITY_TAIL = 0.01
_AFFINITY_KNOTS = _AFFINITY_TAIL + (1 - 2 * _AFFINITY_TAIL) * np.sin(0.5 * np.pi * np.linspace(0.0, 1.0, 2049)) ** 2

# column name -> dtype; every column has one entry per slot
_COLUMNS = {
    "active": np.bool_,
    "segment": np.int16,
    "is_abuser": np.bool_,
    "referred": np.bool_,
    "products": np.int16,
    "digital_affinity": np.float64,
    "satisfaction": np.float64,
    "expectation": np.float64,
    "sat_baseline": np.float64,  # the customer's own disposition: where satisfaction drifts back to
    "tenure_months": np.int32,
    "join_month": np.int32,
    "churn_month": np.int32,
    "churn_reason": np.int8,
    "contract": np.int8,  # index into cfg.contracts (0 when there are none)
    "recovery_failed_month": np.int32,  # month of the last failed complaint recovery (-1 none)
    # the customer's own multipliers around the segment means (mean 1; sim.config SegmentConfig cv_*)
    "rel_sat_sensitivity": np.float32,
    "rel_price_sensitivity": np.float32,
    "rel_complaint": np.float32,
}


def affinity_quantile(mean: float, u: np.ndarray, table: np.ndarray | None = None) -> np.ndarray:
    """Digital affinity at uniforms ``u`` for a segment of mean affinity ``mean``.

    Beta(4a, 4(1-a)) has mean a, keeps every affinity inside [0, 1] and is as spread as a
    segment's mix of digital and offline customers (sd 0.22 at a = 0.5). ``table`` is
    affinity_table(mean), when it is at hand.
    """
    if table is None:
        table = affinity_table(mean)
    out = np.interp(u, _AFFINITY_KNOTS, table)
    tails = np.flatnonzero((u < _AFFINITY_TAIL) | (u > 1 - _AFFINITY_TAIL))
    out[tails] = betaincinv(4 * mean, 4 * (1 - mean), u[tails])
    return out


def affinity_table(mean: float) -> np.ndarray:
    """The segment's affinity quantiles at _AFFINITY_KNOTS."""
    return betaincinv(4 * mean, 4 * (1 - mean), _AFFINITY_KNOTS)


class Population:
    """Columnar customer state plus the draws that create customers."""

    def __init__(self, cfg: RunConfig, streams: Streams):
        self.cfg = cfg
        self.streams = streams
        self.segment_names = list(cfg.population.segments)
        self.behaviour_names = list(cfg.adoption.behaviours)
        self._eligibility_keys: dict[str, int] = {}
        self.refresh()
        self.n_slots = 0
        self._capacity = 0
        self.cols: dict[str, np.ndarray] = {k: np.empty(0, dtype=t) for k, t in _COLUMNS.items()}
        self.adopted = np.zeros((0, len(self.behaviour_names)), dtype=np.bool_)

    def refresh(self) -> None:
        """Re-read the segment figures (programmes such as a price change move them)."""
        segs = [self.cfg.population.segments[s] for s in self.segment_names]
        self._seg_share_cdf = np.cumsum([s.share for s in segs])
        self._seg_share_cdf[-1] = 1.0
        self.seg_products_mean = np.array([s.products_mean for s in segs])
        self.seg_revenue_year = np.array([s.revenue_per_product_year for s in segs])
        self.seg_product_cost_year = np.array([s.cost_per_product_year for s in segs])
        self.seg_price_sensitivity = np.array([s.rel_price_sensitivity for s in segs])
        self.seg_need_rate = np.array([s.rel_need_rate for s in segs])
        self.seg_affinity = np.array([s.digital_affinity for s in segs])
        self._affinity_tables = [affinity_table(a) for a in self.seg_affinity]
        self.seg_sat_mean = np.array([s.sat_mean for s in segs])
        self.seg_sat_sd = np.array([s.sat_sd for s in segs])
        self.seg_tenure_years = np.array([s.dur_tenure_mean_years for s in segs])
        self.seg_complaint = np.array([s.rel_complaint for s in segs])
        cts = list(self.cfg.contracts.values())
        self.contract_names = [ct.label or name for name, ct in self.cfg.contracts.items()]
        self._contract_cdf = np.cumsum([ct.share for ct in cts]) if cts else None
        self.contract_term = np.array([ct.dur_term_months for ct in cts], dtype=np.int64)
        self.contract_rel_in_term = np.array([ct.rel_churn_in_term for ct in cts])
        self.contract_rel_at_renewal = np.array([ct.rel_churn_at_renewal for ct in cts])
        self.seg_cv = {k: np.array([getattr(s, f"cv_{k}") for s in segs])
                       for k in ("sat_sensitivity", "price_sensitivity", "complaint")}

    def __getattr__(self, name: str) -> np.ndarray:
        # columns read as attributes (pop.satisfaction) but are views of the first n_slots rows
        cols = self.__dict__.get("cols")
        if cols is not None and name in cols:
            return cols[name][: self.__dict__["n_slots"]]
        raise AttributeError(name)

    @property
    def adoption(self) -> np.ndarray:
        """(n_slots, n_behaviours) bool: behaviours each customer shows."""
        return self.adopted[: self.n_slots]

    def active_slots(self) -> np.ndarray:
        return np.flatnonzero(self.active)

    def _grow(self, n_needed: int) -> None:
        if n_needed <= self._capacity:
            return
        cap = max(n_needed, int(self._capacity * 1.25) + 1024)  # a month adds ~1%: a quarter lasts years
        for k, arr in self.cols.items():
            new = np.zeros(cap, dtype=arr.dtype)
            new[: self.n_slots] = arr[: self.n_slots]
            self.cols[k] = new
        adopted = np.zeros((cap, self.adopted.shape[1]), dtype=np.bool_)
        adopted[: self.n_slots] = self.adopted[: self.n_slots]
        self.adopted = adopted
        self._capacity = cap

    def add(self, n_new: int, month: int, referred: np.ndarray | None = None,
            stay_weight=None) -> np.ndarray:
        """Append ``n_new`` customers drawn from the segment mix; returns their slots.

        ``stay_weight(sat, seg)`` (initial base only) is proportional to how long a customer of that
        disposition stays: a settled base holds each disposition in proportion to joiners x expected
        stay, so the starting base is drawn that way rather than as fresh joiners (who would be
        thinned by churn for a decade before the base settled).

        Draws come from streams indexed by slot, so the k-th customer ever created gets the
        same attributes in every scenario that creates at least k customers.
        """
        start = self.n_slots
        self._grow(start + n_new)
        self.n_slots = start + n_new
        slots = np.arange(start, self.n_slots)
        if n_new == 0:
            return slots
        s = self.streams

        def u(name: str) -> np.ndarray:
            return s.uniform(f"population.{name}", month, slots)

        seg = np.searchsorted(self._seg_share_cdf, u("segment"), side="right").astype(np.int16)
        seg = np.minimum(seg, len(self.segment_names) - 1)
        c = self.cols
        c["active"][slots] = True
        c["segment"][slots] = seg
        c["is_abuser"][slots] = u("abuser") < self.cfg.population.p_abuser
        c["referred"][slots] = False if referred is None else referred
        c["products"][slots] = 1 + poisson_icdf(u("products"), self.seg_products_mean[seg] - 1.0)
        u_affinity = u("affinity")
        affinity = c["digital_affinity"]
        for k, table in enumerate(self._affinity_tables):
            mine = np.flatnonzero(seg == k)
            affinity[slots[mine]] = affinity_quantile(self.seg_affinity[k], u_affinity[mine], table)
        sat = self.seg_sat_mean[seg] + self.seg_sat_sd[seg] * normal_icdf(u("satisfaction"))
        if month < 0 and stay_weight is not None:
            for lo in range(0, n_new, _SURVIVOR_BLOCK):  # in blocks: 8 candidates a customer are 128 bytes of temporaries
                block = slice(lo, lo + _SURVIVOR_BLOCK)
                sat[block] = self._survivors(sat[block], seg[block], slots[block], month, stay_weight)
        c["satisfaction"][slots] = np.clip(sat, 0.0, 10.0)
        c["sat_baseline"][slots] = c["satisfaction"][slots]
        c["expectation"][slots] = self.cfg.satisfaction.sat_expectation_initial
        c["join_month"][slots] = month
        c["churn_month"][slots] = -1
        c["churn_reason"][slots] = -1
        c["recovery_failed_month"][slots] = -1
        if self._contract_cdf is not None:  # drawn only when contracts exist: other runs keep their numbers
            ct = np.searchsorted(self._contract_cdf, u("contract"), side="right")
            c["contract"][slots] = np.minimum(ct, len(self.contract_names) - 1)
        for trait, cv in self.seg_cv.items():
            # lognormal with mean 1 and the segment's coefficient of variation (1 when cv = 0)
            s2 = np.log1p(cv[seg] ** 2)
            c[f"rel_{trait}"][slots] = np.exp(np.sqrt(s2) * normal_icdf(u(f"trait.{trait}")) - 0.5 * s2)
        if month < 0:
            years = -np.log1p(-u("tenure")) * self.seg_tenure_years[seg]
            c["tenure_months"][slots] = (12 * years).astype(np.int32)
        else:
            c["tenure_months"][slots] = 0
        behaviours = self.cfg.adoption.behaviours
        for j, name in enumerate(self.behaviour_names):
            b = behaviours[name]
            p0 = b.p_initial if month < 0 or b.p_join is None else b.p_join
            # one uniform decides both: shows it at joining below p0, can ever show it below the
            # ceiling, so adopters are always among the eligible (p0 <= p_ceiling)
            self.adopted[slots, j] = self.eligibility_uniform(name, slots) < p0
        return slots

    def eligibility_uniform(self, behaviour: str, slots: np.ndarray) -> np.ndarray:
        """The customer's fixed uniform for behaviour b: eligible below p_ceiling, adopted at join below p0."""
        return self.streams.uniform_of_key(self.eligibility_key(behaviour), slots)

    def eligibility_key(self, behaviour: str) -> int:
        """The stream key of eligibility_uniform, for kernels that draw it themselves (the same
        for the whole run: hashed once)."""
        key = self._eligibility_keys.get(behaviour)
        if key is None:
            key = self._eligibility_keys[behaviour] = self.streams.key(*self._eligibility_stream(behaviour))
        return key

    @staticmethod
    def _eligibility_stream(behaviour: str) -> tuple[str, int]:
        return f"population.eligible.{behaviour}", -1  # drawn once for life: the set-up month

    def _survivors(self, first: np.ndarray, seg: np.ndarray, slots: np.ndarray, month: int,
                   stay_weight) -> np.ndarray:
        """Dispositions weighted by expected stay: pick one of _CANDIDATES joiner draws per customer."""

        def u(name: str) -> np.ndarray:
            return self.streams.uniform(f"population.{name}", month, slots)

        cands = np.empty((len(first), _CANDIDATES), order="F")  # filled a column at a time
        cands[:, 0] = first
        mean, sd = self.seg_sat_mean[seg], self.seg_sat_sd[seg]
        for k in range(1, _CANDIDATES):
            cands[:, k] = mean + sd * normal_icdf(u(f"satisfaction.{k}"))
        np.clip(cands, 0.0, 10.0, out=cands)
        w = stay_weight(cands, seg)
        u_pick = u("satisfaction.pick")
        if COMPILED:
            return _pick_kernel(cands, w, u_pick)
        cum = np.cumsum(w, axis=1)
        pick = np.minimum((u_pick[:, None] * cum[:, -1:] >= cum).sum(axis=1), _CANDIDATES - 1)
        return cands[np.arange(len(first)), pick]

    def age(self, act: np.ndarray) -> None:
        """A month older: tenure + 1 for those of ``act`` still active."""
        if COMPILED:
            _age_kernel(act, self.active, self.tenure_months)
            return
        stayed = act[self.active[act]]
        self.tenure_months[stayed] += 1

    def remove(self, slots: np.ndarray, month: int, reasons: np.ndarray) -> None:
        self.cols["active"][slots] = False
        self.cols["churn_month"][slots] = month
        self.cols["churn_reason"][slots] = reasons


@kernel
def _pick_kernel(cands, weights, u_pick):
    """Population._survivors's pick, row by row: the candidate where u x total weight falls."""
    out = np.empty(cands.shape[0])
    last = cands.shape[1] - 1
    for i in range(cands.shape[0]):
        total = 0.0
        for k in range(cands.shape[1]):
            total += weights[i, k]
        target = u_pick[i] * total
        cum = 0.0
        pick = 0
        for k in range(cands.shape[1]):
            cum += weights[i, k]
            if target >= cum:
                pick += 1
        out[i] = cands[i, min(pick, last)]
    return out


@kernel
def _age_kernel(act, active, tenure_months):
    for slot in act:
        if active[slot]:
            tenure_months[slot] += 1
