"""Customers as columns: one row (a slot) per customer, never one Python object per customer.

Every customer has a permanent number, ``uid``: the k-th customer ever created has uid k in
every scenario, and every per-customer draw is keyed by it (sim.rng), so scenarios stay paired
however their bases differ. A slot is where the customer's row is now. New customers are
appended; churned customers stay as inactive rows until there are enough of them to compact
(``compact``): then their records move to a small history table (what sim.customers needs) and
the active rows close up, in order, so a run's memory and its passes over the rows do not grow
with the years. Arrays grow geometrically, so appending a month's new customers is amortised O(new).
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaincinv

from sim.config import CHURN_REASONS, RunConfig  # noqa: F401  (CHURN_REASONS: read from here too)
from sim.kernels import COMPILED, kernel
from sim.rng import Streams, normal_icdf, poisson_icdf

_CANDIDATES = 8  # joiner draws per starting customer when weighting dispositions by expected stay
_SURVIVOR_BLOCK = 1 << 16  # customers weighed at once (any size gives the same numbers)
# Compact when this share of the rows are churned customers (and at least _COMPACT_MIN_ROWS of them):
# rows then stay within 4/3 of the active base, and at about 1% churn a month compaction runs every
# two years or so. Results do not depend on either figure (tests/unit/test_compaction.py).
COMPACT_INACTIVE_SHARE = 0.25
COMPACT_MIN_ROWS = 4096
# what a churned customer's record keeps once compacted (sim.customers.customer_records reads them)
HISTORY_COLUMNS = ("uid", "segment", "join_month", "churn_month", "tenure_months", "churn_reason", "contract")
# Digital affinity is a Beta quantile. A table per segment (2,049 knots on [0.01, 0.99], closest
# together near the ends, where the quantile bends most) read by linear interpolation, and the
# exact quantile for the 2% of draws in the tails where it is steepest, stay within 1e-6 of the
# exact quantile everywhere (tests/unit/test_population_draws.py) at a twentieth of its cost
# (2.2 s of a 1M-customer build).
_AFFINITY_TAIL = 0.01
_AFFINITY_KNOTS = _AFFINITY_TAIL + (1 - 2 * _AFFINITY_TAIL) * np.sin(0.5 * np.pi * np.linspace(0.0, 1.0, 2049)) ** 2

# column name -> dtype; every column has one entry per slot
_COLUMNS = {
    "uid": np.int64,  # the customer's permanent number: what their draws are keyed by
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
        self.n_ever = 0  # customers ever created: the next customer's uid
        self._capacity = 0
        self.cols: dict[str, np.ndarray] = {k: np.empty(0, dtype=t) for k, t in _COLUMNS.items()}
        self.adopted = np.zeros((0, len(self.behaviour_names)), dtype=np.bool_)
        # churned customers' records moved out of the rows by compact(), in chunks
        self.history: list[dict[str, np.ndarray]] = []

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
        # a month adds ~1%: a quarter lasts years (from the first fill: the first month's joiners
        # need no copy of every column)
        cap = max(int(1.25 * n_needed), int(self._capacity * 1.25) + 1024)
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

        Draws come from streams indexed by uid, so the k-th customer ever created gets the
        same attributes in every scenario that creates at least k customers.
        """
        start = self.n_slots
        self._grow(start + n_new)
        self.n_slots = start + n_new
        slots = np.arange(start, self.n_slots)
        if n_new == 0:
            return slots
        s = self.streams
        uids = np.arange(self.n_ever, self.n_ever + n_new, dtype=np.int64)
        self.n_ever += n_new
        self.cols["uid"][slots] = uids

        def u(name: str) -> np.ndarray:
            return s.uniform(f"population.{name}", month, uids)

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
                sat[block] = self._survivors(sat[block], seg[block], uids[block], month, stay_weight)
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

    def uniform(self, name: str, month: int, slots: np.ndarray) -> np.ndarray:
        """The customers at ``slots``' uniforms of stream ``name`` in ``month`` (keyed by their uids)."""
        return self.streams.uniform(name, month, self.uid[slots])

    def eligibility_uniform(self, behaviour: str, slots: np.ndarray) -> np.ndarray:
        """The customer's fixed uniform for behaviour b: eligible below p_ceiling, adopted at join below p0."""
        return self.streams.uniform_of_key(self.eligibility_key(behaviour), self.uid[slots])

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

    def _survivors(self, first: np.ndarray, seg: np.ndarray, uids: np.ndarray, month: int,
                   stay_weight) -> np.ndarray:
        """Dispositions weighted by expected stay: pick one of _CANDIDATES joiner draws per customer."""

        def u(name: str) -> np.ndarray:
            return self.streams.uniform(f"population.{name}", month, uids)

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

    def wants_compacting(self) -> bool:
        """Enough rows are churned customers to be worth closing up (COMPACT_INACTIVE_SHARE)."""
        inactive = self.n_slots - int(np.count_nonzero(self.active))
        return inactive >= max(COMPACT_MIN_ROWS, COMPACT_INACTIVE_SHARE * self.n_slots)

    def compact(self) -> np.ndarray:
        """Move churned customers' records to ``history`` and close up the active rows in order.

        Returns the renumbering: new slot of each old slot, -1 for those moved out. Order is kept,
        so passes over the active customers meet them (and add their figures) in the same order.
        """
        n = self.n_slots
        keep = self.active.copy()
        gone = np.flatnonzero(~keep)
        chunk = {k: self.cols[k][gone].copy() for k in HISTORY_COLUMNS}
        chunk["adopted_bits"] = np.packbits(self.adopted[gone], axis=1)  # a byte per 8 behaviours
        self.history.append(chunk)
        renumber = np.full(n, -1, dtype=np.int64)
        kept = np.flatnonzero(keep)
        renumber[kept] = np.arange(len(kept))
        for k, arr in self.cols.items():
            arr[: len(kept)] = arr[kept]  # a gather, then the store: safe in place
        self.adopted[: len(kept)] = self.adopted[kept]
        self.n_slots = len(kept)
        return renumber

    def records(self) -> dict[str, np.ndarray]:
        """Every customer ever created, in uid order: HISTORY_COLUMNS, ``active`` and ``adopted``
        (their rows now and the compacted history together)."""
        n, n_b = self.n_slots, self.adopted.shape[1]
        past = [{**{k: h[k] for k in HISTORY_COLUMNS},
                 "adopted": np.unpackbits(h["adopted_bits"], axis=1, count=n_b).astype(bool)} for h in self.history]
        parts = [*past, {**{k: self.cols[k][:n] for k in HISTORY_COLUMNS}, "adopted": self.adopted[:n]}]
        out = {k: np.concatenate([p[k] for p in parts]) for k in (*HISTORY_COLUMNS, "adopted")}
        out["active"] = np.concatenate([np.zeros(sum(len(p["uid"]) for p in past), dtype=bool), self.active])
        order = np.argsort(out["uid"], kind="stable")
        return {k: v[order] for k, v in out.items()}


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
