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

import functools
from collections.abc import Callable

import numpy as np
from scipy.special import betaincinv

from sim import kernels
from sim.config import CHURN_REASONS, MAX_BEHAVIOURS, RunConfig  # noqa: F401  (CHURN_REASONS: read from here too)
from sim.kernels import (
    CHUNK,
    COMPILED,
    chunked,
    close_up,
    inline,
    kernel,
    n_chunks,
    normal_at,
    poisson_at,
    prange,
    uniform_at,
)
from sim.rng import Streams, normal_icdf, poisson_icdf

# The starting base's dispositions: a segment's normal weighted by expected stay, tabulated in this
# many cells of equal probability under the normal (a piecewise-constant density in that scale, so
# the weight's change across a cell, under 0.2% at presets, is the only approximation)
_STAY_CELLS = 4096
# the streams _draw_kernel reads, in the order of its ``keys`` (each population.<name>)
_TRAITS = ("sat_sensitivity", "price_sensitivity", "complaint")
_DRAWN = ("segment", "abuser", "products", "affinity", "satisfaction", *(f"trait.{t}" for t in _TRAITS),
          "tenure", "contract")
# Compact when this share of the rows are churned customers (and at least _COMPACT_MIN_ROWS of them):
# rows then stay within 1/0.9 of the active base, and at about 1% churn a month compaction runs about
# once a year (about 120 ms at a million customers, ties included). Results do not depend on either figure
# (tests/unit/test_compaction.py).
COMPACT_INACTIVE_SHARE = 0.1
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
    "uid": np.uint32,  # the customer's permanent number, what their draws are keyed by (64-bit past 2**32)
    "active": np.bool_,
    "segment": np.int16,
    "is_abuser": np.bool_,
    "referred": np.bool_,
    "products": np.int16,
    # Scores on the 0-10 scale and affinity in [0, 1] are held in 32 bits (steps of 1e-6 at most,
    # far below any effect the model has) and computed in 64: stages read them as float64 and
    # round once on the store, kernels and their numpy references alike
    "digital_affinity": np.float32,
    "satisfaction": np.float32,
    "expectation": np.float32,
    "sat_baseline": np.float32,  # the customer's own disposition: where satisfaction drifts back to
    "tenure_months": np.int32,
    # months on the model's clock: 16 bits hold sim.config.MAX_YEARS of them
    "join_month": np.int16,
    "churn_month": np.int16,
    "churn_reason": np.int8,
    "contract": np.int8,  # index into cfg.contracts (0 when there are none)
    "recovery_failed_month": np.int16,  # month of the last failed complaint recovery (-1 none)
    # the customer's own multipliers around the segment means (mean 1; sim.config SegmentConfig cv_*)
    "rel_sat_sensitivity": np.float32,
    "rel_price_sensitivity": np.float32,
    "rel_complaint": np.float32,
}


_UID32_MAX = int(np.iinfo(np.uint32).max)  # customers' numbers widen to 64 bits past it (np.iinfo: 16 us a call)


def adoption_dtype(n_behaviours: int) -> type:
    """The narrowest unsigned integer with a bit for each behaviour: a customer's adoption flags
    (bit b set: shows behaviour b), a byte for up to 8 behaviours where a bool each took 8."""
    for dtype in (np.uint8, np.uint16, np.uint32, np.uint64):
        if n_behaviours <= 8 * np.dtype(dtype).itemsize:
            return dtype
    raise ValueError(f"{n_behaviours} behaviours: at most {MAX_BEHAVIOURS} fit a customer's adoption flags")


def flag_of(bits: np.ndarray, b: int) -> np.ndarray:
    """Behaviour b's flag, as a bool, of each of adoption flags ``bits``."""
    return (bits & bits.dtype.type(1 << b)) != 0


def unpacked(bits: np.ndarray, n_behaviours: int) -> np.ndarray:
    """Adoption flags ``bits`` (any shape) as bools, one per behaviour along a new last axis."""
    return (bits[..., None] >> np.arange(n_behaviours, dtype=bits.dtype)) & 1 == 1


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
    """The segment's affinity quantiles at _AFFINITY_KNOTS (read-only: shared by every model)."""
    return _affinity_table(float(mean))


@functools.lru_cache(maxsize=256)
def _affinity_table(mean: float) -> np.ndarray:
    # 2,049 Beta quantiles cost 3-4 ms: once a process per mean, not at every model build and refresh
    table = betaincinv(4 * mean, 4 * (1 - mean), _AFFINITY_KNOTS)
    table.flags.writeable = False
    return table


def _guide(table: np.ndarray) -> tuple[np.ndarray, float]:
    """A guide to an ascending ``table``: for each of twice its length in equal buckets from
    table[0] to table[-1], the last index at or below the bucket's start, and buckets per unit.
    With it _last_at_or_below finds an index in a step or two; a binary search's unpredictable
    branches cost 50-60 ns a customer here."""
    n_buckets = 2 * len(table)
    span = float(table[-1] - table[0])
    scale = n_buckets / span if span > 0 else 0.0
    starts = table[0] + np.arange(n_buckets) * (span / n_buckets)
    return (np.searchsorted(table, starts, side="right") - 1).astype(np.int32), scale


_KNOTS_GUIDE = _guide(_AFFINITY_KNOTS)
# the stay table's stand-in for customers who join after the start (the kernel never reads it):
# table, weights, guide and scale, built once rather than at every month's acquisition
_NO_STAY = (np.zeros((1, 2)), np.ones((1, 1)), *(np.array([part]) for part in _guide(np.zeros(2))))


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
        self.adopted = np.zeros(0, dtype=adoption_dtype(len(self.behaviour_names)))  # flags, as ``adoption``
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
        self._affinity_tables_2d = np.array(self._affinity_tables)
        # np.interp's slopes, so the kernel interpolates with the reference's arithmetic
        self._affinity_slopes = np.diff(self._affinity_tables_2d, axis=1) / np.diff(_AFFINITY_KNOTS)
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
        self.seg_cv = {k: np.array([getattr(s, f"cv_{k}") for s in segs]) for k in _TRAITS}
        # the lognormal traits' (sd, half variance) per segment, as _draw_kernel reads them
        s2 = {trait: np.log1p(cv ** 2) for trait, cv in self.seg_cv.items()}
        self._trait_params = np.array([[np.sqrt(s2[t]), 0.5 * s2[t]] for t in _TRAITS])

    def __getattr__(self, name: str) -> np.ndarray:
        # columns read as attributes (pop.satisfaction) but are views of the first n_slots rows
        cols = self.__dict__.get("cols")
        if cols is not None and name in cols:
            return cols[name][: self.__dict__["n_slots"]]
        raise AttributeError(name)

    @property
    def adoption(self) -> np.ndarray:
        """Each slot's adoption flags (adoption_dtype): bit b set when the customer shows behaviour b."""
        return self.adopted[: self.n_slots]

    def shows(self, b: int, slots: np.ndarray) -> np.ndarray:
        """Whether the customers at ``slots`` show behaviour b (bool)."""
        return flag_of(self.adopted[slots], b)

    def adopt(self, b: int, slots: np.ndarray) -> None:
        """The customers at ``slots`` (distinct) show behaviour b from now on."""
        self.adopted[slots] |= self.adopted.dtype.type(1 << b)

    def shows_matrix(self, slots: np.ndarray | slice = slice(None)) -> np.ndarray:
        """(len(slots), n_behaviours) bool: the behaviours each customer at ``slots`` shows."""
        return unpacked(self.adoption[slots], len(self.behaviour_names))

    def active_slots(self) -> np.ndarray:
        return np.flatnonzero(self.active)

    def _grow(self, n_needed: int) -> None:
        if n_needed <= self._capacity:
            return
        # From the first fill, room for the rows compaction lets accumulate (1 / (1 - its share)) and
        # a few months' joiners, so a settled base never copies its columns; a growing one grows by
        # a quarter at a time.
        cap = max(int((1 / (1 - COMPACT_INACTIVE_SHARE) + 0.04) * n_needed), int(self._capacity * 1.25) + 1024)
        for k, arr in self.cols.items():
            self.cols[k] = _grown(arr, self.n_slots, cap)
        self.adopted = _grown(self.adopted, self.n_slots, cap)
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
        uids = np.arange(self.n_ever, self.n_ever + n_new, dtype=np.int64)
        self.n_ever += n_new
        rows = slice(start, self.n_slots)
        c = self.cols
        if self.n_ever > _UID32_MAX and c["uid"].dtype == np.uint32:
            c["uid"] = c["uid"].astype(np.int64)
        c["uid"][rows] = uids
        c["active"][rows] = True
        c["referred"][rows] = False if referred is None else referred
        c["expectation"][rows] = self.cfg.satisfaction.sat_expectation_initial
        c["join_month"][rows] = month
        c["churn_month"][rows] = -1
        c["churn_reason"][rows] = -1
        c["recovery_failed_month"][rows] = -1
        behaviours = self.cfg.adoption.behaviours
        # one uniform decides both: shows it at joining below p0, can ever show it below the
        # ceiling, so adopters are always among the eligible (p0 <= p_ceiling)
        p0 = np.array([b.p_initial if month < 0 or b.p_join is None else b.p_join
                       for b in (behaviours[name] for name in self.behaviour_names)], dtype=np.float64)
        stay = self._stay_table(stay_weight) if month < 0 and stay_weight is not None else None
        if COMPILED and kernels.NDTRI_COMPILED:
            self._draw_compiled(rows, uids, month, stay, p0)
        else:
            self._draw_numpy(rows, uids, month, stay, p0)
        return slots

    def _draw_numpy(self, rows: slice, uids: np.ndarray, month: int, stay, p0: np.ndarray) -> None:
        """The new customers' drawn attributes (the reference _draw_compiled must match)."""
        s, c = self.streams, self.cols

        def u(name: str) -> np.ndarray:
            return s.uniform(f"population.{name}", month, uids)

        seg = np.searchsorted(self._seg_share_cdf, u("segment"), side="right").astype(np.int16)
        seg = np.minimum(seg, len(self.segment_names) - 1)
        c["segment"][rows] = seg
        c["is_abuser"][rows] = u("abuser") < self.cfg.population.p_abuser
        c["products"][rows] = 1 + poisson_icdf(u("products"), self.seg_products_mean[seg] - 1.0)
        u_affinity = u("affinity")
        affinity = c["digital_affinity"][rows]
        for k, table in enumerate(self._affinity_tables):
            mine = np.flatnonzero(seg == k)
            affinity[mine] = affinity_quantile(self.seg_affinity[k], u_affinity[mine], table)
        if stay is not None:
            z = self._settled_normal(u("satisfaction"), seg, *stay)
        else:
            z = normal_icdf(u("satisfaction"))
        c["satisfaction"][rows] = np.clip(self.seg_sat_mean[seg] + self.seg_sat_sd[seg] * z, 0.0, 10.0)
        c["sat_baseline"][rows] = c["satisfaction"][rows]
        if self._contract_cdf is not None:  # drawn only when contracts exist: other runs keep their numbers
            ct = np.searchsorted(self._contract_cdf, u("contract"), side="right")
            c["contract"][rows] = np.minimum(ct, len(self.contract_names) - 1)
        for trait, cv in self.seg_cv.items():
            # lognormal with mean 1 and the segment's coefficient of variation (1 when cv = 0)
            s2 = np.log1p(cv[seg] ** 2)
            c[f"rel_{trait}"][rows] = np.exp(np.sqrt(s2) * normal_icdf(u(f"trait.{trait}")) - 0.5 * s2)
        if month < 0:
            years = -np.log1p(-u("tenure")) * self.seg_tenure_years[seg]
            c["tenure_months"][rows] = (12 * years).astype(np.int32)
        else:
            c["tenure_months"][rows] = 0
        flags = self.adopted[rows]
        flags[:] = 0
        for j, name in enumerate(self.behaviour_names):
            flags[self.eligibility_uniform(name, rows) < p0[j]] |= flags.dtype.type(1 << j)

    def _draw_compiled(self, rows: slice, uids: np.ndarray, month: int, stay, p0: np.ndarray) -> None:
        """_draw_numpy in one pass per customer (_draw_kernel), the Beta tails left to scipy."""
        s, c = self.streams, self.cols
        keys = np.array([s.key(f"population.{name}", month) for name in _DRAWN], dtype=np.uint64)
        lam = self.seg_products_mean - 1.0
        traits = self._trait_params  # (trait, sd | half variance, segment)
        has_contracts = self._contract_cdf is not None
        if stay is None:
            stay_cdf, stay_w, stay_guide, stay_scale = _NO_STAY
        else:
            stay_cdf, stay_w = stay
            stay_guides = [_guide(row) for row in stay_cdf]
            stay_guide = np.array([g for g, _ in stay_guides])
            stay_scale = np.array([scale for _, scale in stay_guides])
        tails = np.empty(rows.stop - rows.start, dtype=np.int64)
        n_tails = _draw_kernel(
            uids, keys, self._seg_share_cdf, lam, np.exp(-lam), float(self.cfg.population.p_abuser),
            _AFFINITY_KNOTS, *_KNOTS_GUIDE, self._affinity_tables_2d, self._affinity_slopes, _AFFINITY_TAIL,
            self.seg_sat_mean, self.seg_sat_sd, stay is not None, stay_cdf, stay_w, stay_guide, stay_scale, traits,
            month < 0, self.seg_tenure_years, has_contracts,
            self._contract_cdf if has_contracts else np.ones(1),
            np.array([self.eligibility_key(name) for name in self.behaviour_names], dtype=np.uint64), p0,
            c["segment"][rows], c["is_abuser"][rows], c["products"][rows], c["digital_affinity"][rows],
            c["satisfaction"][rows], c["sat_baseline"][rows], c["rel_sat_sensitivity"][rows],
            c["rel_price_sensitivity"][rows], c["rel_complaint"][rows], c["tenure_months"][rows],
            c["contract"][rows], self.adopted[rows], tails)
        if n_tails:  # the 2% of affinity draws where the quantile is steepest: exact
            tails = tails[:n_tails]
            u_tails = s.uniform("population.affinity", month, uids[tails])
            seg = c["segment"][rows][tails]
            affinity = c["digital_affinity"][rows]
            for k, mean in enumerate(self.seg_affinity):
                mine = np.flatnonzero(seg == k)
                if mine.size:  # a month's few joiners leave most segments without a tail draw
                    affinity[tails[mine]] = betaincinv(4 * mean, 4 * (1 - mean), u_tails[mine])

    def _stay_table(self, stay_weight) -> tuple[np.ndarray, np.ndarray]:
        """Per segment, the expected-stay weight of each of _STAY_CELLS cells of equal probability
        under the segment's normal, and their running sum (a row per segment)."""
        cells = _STAY_CELLS
        z_mid = normal_icdf((np.arange(cells) + 0.5) / cells)
        n_seg = len(self.segment_names)
        w = np.empty((n_seg, cells))
        for k in range(n_seg):
            disposition = np.clip(self.seg_sat_mean[k] + self.seg_sat_sd[k] * z_mid, 0.0, 10.0)
            w[k] = stay_weight(disposition[:, None], np.full(cells, k, dtype=np.int16))[:, 0]
        cdf = np.zeros((n_seg, cells + 1))
        np.cumsum(w, axis=1, out=cdf[:, 1:])
        return cdf, w

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

    @staticmethod
    def _settled_normal(u: np.ndarray, seg: np.ndarray, cdf: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Standard normal scores of dispositions drawn in proportion to joiners x expected stay.

        A joiner's disposition is mean + sd x z with z standard normal; the settled base holds it
        with density phi(z) x stay weight, drawn here by inverting that distribution's CDF at one
        uniform a customer. In the scale q = Phi(z) the density is the weight itself, held
        constant over each of _STAY_CELLS cells (_stay_table's ``w``, ``cdf`` its running sum).
        """
        cells = w.shape[1]
        q = np.empty(len(u))
        for k in range(w.shape[0]):
            mine = np.flatnonzero(seg == k)
            target = u[mine] * cdf[k, -1]
            cell = np.minimum(np.searchsorted(cdf[k], target, side="right") - 1, cells - 1)
            within = np.clip((target - cdf[k, cell]) / w[k, cell], 0.0, 1.0)
            q[mine] = (cell + within) / cells
        return normal_icdf(q)

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

    def compact(self, beside: Callable[[np.ndarray], None] | None = None) -> np.ndarray:
        """Move churned customers' records to ``history`` and close up the active rows in order.

        Returns the renumbering: new slot of each old slot, -1 for those moved out. Order is kept,
        so passes over the active customers meet them (and add their figures) in the same order.
        ``beside(renumbering)``, when given, runs while the rows close up on a second thread when
        the compiled stages may use two and there are PARALLEL_MIN_ROWS rows or more (the ties
        following the rows, say: other arrays, in compiled code that releases the interpreter lock),
        else first.
        """
        n = self.n_slots
        keep = self.active.copy()
        gone = np.flatnonzero(~keep)
        chunk = {k: self.cols[k][gone].copy() for k in HISTORY_COLUMNS}
        chunk["adopted"] = self.adopted[gone]  # the flags, as in the rows
        self.history.append(chunk)
        renumber = np.full(n, -1, dtype=np.int32 if n < 2**31 else np.int64)
        if COMPILED:  # one pass, without lists of the kept slots and their new places (15 B a slot)
            n_kept = _renumbering_kernel(keep, renumber)
        else:
            kept = np.flatnonzero(keep)
            renumber[kept] = np.arange(len(kept))
            n_kept = len(kept)

        def close_up() -> None:
            for arr in (*self.cols.values(), self.adopted):
                if COMPILED:  # in place in one streaming pass: a gather costs 5 ms a column at 1M
                    _close_up_kernel(arr[:n], keep)
                else:
                    arr[:n_kept] = arr[kept]  # a gather, then the store: safe in place

        if (beside is not None and COMPILED and n >= kernels.PARALLEL_MIN_ROWS
                and kernels.numba.get_num_threads() > 1):
            # the rows close up on the second thread, which allocates nothing there: memory a thread
            # allocates comes from a heap of its own, kept after it is freed (8 B an agent more at 1M)
            closing = kernels.Beside(close_up)
            try:
                beside(renumber)
            finally:
                closing.result()  # the rows closed up, or what stopped them raised
        else:
            if beside is not None:
                beside(renumber)
            close_up()
        self.n_slots = n_kept
        return renumber

    def records(self) -> dict[str, np.ndarray]:
        """Every customer ever created, in uid order: HISTORY_COLUMNS, ``active`` and ``adopted``
        (their rows now and the compacted history together)."""
        n, past = self.n_slots, self.history
        parts = [*past, {**{k: self.cols[k][:n] for k in HISTORY_COLUMNS}, "adopted": self.adopted[:n]}]
        out = {k: np.concatenate([p[k] for p in parts]) for k in (*HISTORY_COLUMNS, "adopted")}
        out["adopted"] = unpacked(out["adopted"], len(self.behaviour_names))
        out["uid"] = out["uid"].astype(np.int64)  # whatever width the rows held them in
        out["active"] = np.concatenate([np.zeros(sum(len(p["uid"]) for p in past), dtype=bool), self.active])
        order = np.argsort(out["uid"], kind="stable")
        return {k: v[order] for k, v in out.items()}


def _grown(arr: np.ndarray, n_used: int, cap: int) -> np.ndarray:
    out = np.zeros(cap, dtype=arr.dtype)
    out[:n_used] = arr[:n_used]
    return out


@kernel
def _renumbering_kernel(keep, new_slot):
    """Each slot's place once the rows where ``keep`` holds close up in order (``new_slot`` comes
    filled with -1, which the others keep); returns how many are kept."""
    kept = 0
    for i in range(keep.shape[0]):
        if keep[i]:
            new_slot[i] = kept
            kept += 1
    return kept


@kernel
def _close_up_kernel(rows, keep):
    """The rows where ``keep`` holds moved, in order, to the front of ``rows``."""
    kept = 0
    for i in range(keep.shape[0]):
        if keep[i]:
            rows[kept] = rows[i]
            kept += 1


@chunked
def _age_kernel(act, active, tenure_months):
    """Population.age, in chunks on several cores (each customer's own row: nothing to join)."""
    n = act.shape[0]
    for c in prange(n_chunks(n)):
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            slot = act[i]
            if active[slot]:
                tenure_months[slot] += 1


@inline
def _last_at_or_below(table, guide, scale, x):
    """The last index j with table[j] <= x (table ascending, table[0] <= x): searchsorted's
    side="right" minus one, from the guide's bucket (exact whatever the guide's rounding)."""
    b = min(max(int((x - table[0]) * scale), 0), guide.shape[0] - 1)
    j = guide[b]
    while j + 1 < table.shape[0] and table[j + 1] <= x:
        j += 1
    while j > 0 and table[j] > x:
        j -= 1
    return j


@chunked
def _draw_kernel(uid, keys, seg_cdf, products_lam, products_p0, p_abuser, knots, knots_guide, knots_scale,
                 affinity_table, affinity_slope, affinity_tail, sat_mean, sat_sd, settled, stay_cdf, stay_w,
                 stay_guide, stay_scale, traits, starting, tenure_years,
                 has_contracts, contract_cdf, eligibility_keys, p0, segment, is_abuser, products, affinity,
                 satisfaction, sat_baseline, rel_sat, rel_price, rel_complaint, tenure_months, contract, adopted,
                 tails):
    """Population._draw_numpy, a customer at a time; returns how many affinity draws fell in the
    Beta's tails (their rows in ``tails``, in order, for the caller's exact quantile). Chunks of
    customers run on several cores, each listing its tail rows from its own first row on."""
    n_seg = seg_cdf.shape[0]
    cells = stay_w.shape[1]
    last_knot = knots.shape[0] - 1
    n = uid.shape[0]
    listed = np.zeros(n_chunks(n), dtype=np.int64)
    for c in prange(n_chunks(n)):
        n_tails = c * CHUNK
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            who = uid[i]
            u = uniform_at(keys[0], who)
            k = 0
            while k < n_seg and seg_cdf[k] <= u:
                k += 1
            k = min(k, n_seg - 1)
            segment[i] = k
            is_abuser[i] = uniform_at(keys[1], who) < p_abuser
            products[i] = 1 + poisson_at(uniform_at(keys[2], who), products_lam[k], products_p0[k])
            u = uniform_at(keys[3], who)
            if u < affinity_tail or u > 1.0 - affinity_tail:
                tails[n_tails] = i
                n_tails += 1
            elif u >= knots[last_knot]:
                affinity[i] = affinity_table[k, last_knot]
            else:
                j = _last_at_or_below(knots, knots_guide, knots_scale, u)
                affinity[i] = affinity_table[k, j] if u == knots[j] else \
                    affinity_slope[k, j] * (u - knots[j]) + affinity_table[k, j]
            u = uniform_at(keys[4], who)
            if settled:
                target = u * stay_cdf[k, cells]
                cell = min(_last_at_or_below(stay_cdf[k], stay_guide[k], stay_scale[k], target), cells - 1)
                within = min(max((target - stay_cdf[k, cell]) / stay_w[k, cell], 0.0), 1.0)
                u = (cell + within) / cells
            sat = min(max(sat_mean[k] + sat_sd[k] * normal_at(u), 0.0), 10.0)
            satisfaction[i] = sat
            sat_baseline[i] = sat
            rel_sat[i] = np.exp(traits[0, 0, k] * normal_at(uniform_at(keys[5], who)) - traits[0, 1, k])
            rel_price[i] = np.exp(traits[1, 0, k] * normal_at(uniform_at(keys[6], who)) - traits[1, 1, k])
            rel_complaint[i] = np.exp(traits[2, 0, k] * normal_at(uniform_at(keys[7], who)) - traits[2, 1, k])
            if starting:
                years = -np.log1p(-uniform_at(keys[8], who)) * tenure_years[k]
                tenure_months[i] = np.int32(12 * years)
            else:
                tenure_months[i] = 0
            if has_contracts:
                u = uniform_at(keys[9], who)
                ct = 0
                while ct < contract_cdf.shape[0] and contract_cdf[ct] <= u:
                    ct += 1
                contract[i] = min(ct, contract_cdf.shape[0] - 1)
            flags = 0
            for b in range(p0.shape[0]):
                if uniform_at(eligibility_keys[b], who) < p0[b]:
                    flags |= 1 << b
            adopted[i] = flags
        listed[c] = n_tails - c * CHUNK
    return close_up(listed, CHUNK, tails)
