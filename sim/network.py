"""Referral ties between customers.

Why compressed rows: the questions asked every month are "how many of each customer's ties are
active / adopters / speaking detractors", about a few customers each (who might adopt this month,
which detractors speak), so each reads just their rows: about 1 ms over 100k customers, against
about 1.8 s walking a Mesa NetworkGrid. Each tie is stored once: in the rows (the "base", one
entry per direction), or, if it came since they were last folded, in short (src, dst) arrays that
every query scans too. A month's newcomers then rebuild nothing; the recent ties are folded into
the rows, in place, once they pass a tenth of them (_REFOLD_SHARE). The graph costs about 10
bytes a tie: an edge list beside the rows would double that.

Why Watts-Strogatz: the config exposes two knobs, mean degree and clustering, and a rewired ring
lattice is the simplest generator in which both can be set independently, with short paths
arriving as soon as a few edges are rewired.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import scipy.sparse as sp

from sim import kernels
from sim.kernels import chunked, inline, kernel, n_chunks, prange, shows

_INDEX = np.int64  # slot indices handed out
_INT32_MAX = np.iinfo(np.int32).max
# neighbour_sum counts a boolean vector from its True slots' ties when at most this share is True
_SPARSE_SHARE = 0.125
# Ties added since the base was last folded are scanned by every query; past this share of the
# base they are folded into it. A fold moves every row up in place (about 75 ms at 4M ties), a scan
# of the recent ties costs every month, so a tenth balances the two at a million customers.
_REFOLD_SHARE = 0.1
# each slot a query asks about walks all its ties (9 ms for 17,000 slots at 1M): chunks of far
# fewer slots than a customer stage's
TIE_CHUNK = 1024
# closure_probability's estimate counts only the joiner's own triangles; later joiners' random ties
# dilute them a little, so the share is raised by this much (measured: utility's 0.30 held at
# 0.296-0.300 over 15 years, telecom's 0.295-0.316, a clustering of 0.1 at 0.10; 1.0 settled 10% low)
_CLOSURE_CALIBRATION = 1.05
_DRAW_BLOCK = 1 << 18  # lattice edges whose rewiring uniforms are drawn at once


def _stored_dtype(n: int) -> type:
    """Index type for stored ties: 32-bit while slots fit, which halves the graph's memory."""
    return np.int32 if n <= _INT32_MAX else np.int64


def _as_mean_degree(mean_degree: int) -> int:
    try:
        k = operator.index(mean_degree)
    except TypeError:
        k = None
    if k is None or k < 2 or k % 2:
        raise ValueError(f"mean_degree must be an even integer >= 2, got {mean_degree!r}")
    return k


def max_clustering(mean_degree: int) -> float:
    """Clustering of the ring lattice with mean_degree/2 neighbours each side: 3(k-2)/(4(k-1))."""
    k = _as_mean_degree(mean_degree)
    return 3.0 * (k - 2) / (4.0 * (k - 1))


def watts_strogatz_edges(
    n: int, mean_degree: int, clustering: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Undirected Watts-Strogatz edges over nodes 0..n-1, each stored once as (src, dst).

    The rewiring probability p inverts C(p) ~= C(0)(1-p)^3 (Barrat & Weigt 2000). Rewired far ends
    go to a uniform node; self-loops are dropped and the rare duplicate edge is kept. For
    n <= mean_degree the result is the complete graph before rewiring.
    """
    k = _as_mean_degree(mean_degree)
    c0 = max_clustering(k)
    if not 0.0 <= clustering <= c0:
        raise ValueError(
            f"clustering must be in [0, {c0:.6g}] for mean_degree={k}, got {clustering!r}"
        )
    n = operator.index(n)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    # Zero clustering means a plain random graph; at k=2 (where C(0)=0) it is the only choice,
    # and a random graph is more useful there than a bare ring.
    p = 1.0 if clustering == 0 else 1.0 - (clustering / c0) ** (1.0 / 3.0)

    half = k // 2
    # Cap the offsets so a small ring does not reach the same neighbour from both sides.
    n_off = min(half, (n - 1) // 2) if n > 0 else 0
    antipodes = n >= 2 and n % 2 == 0 and half >= n // 2
    if kernels.COMPILED:
        m = n * n_off + (n // 2 if antipodes else 0)
        # the reference's draws in its order: a uniform per lattice edge, then the rewired ends
        rewire = np.empty(m, dtype=np.bool_)
        for lo in range(0, m, _DRAW_BLOCK):  # in blocks: the same numbers without m doubles at once
            rewire[lo : lo + _DRAW_BLOCK] = rng.random(min(_DRAW_BLOCK, m - lo)) < p
        far = rng.integers(0, n, size=int(np.count_nonzero(rewire)), dtype=_INDEX)
        stored = _stored_dtype(n)
        src, dst = np.empty(m, dtype=stored), np.empty(m, dtype=stored)
        kept = _ring_kernel(n, n_off, antipodes, rewire, far, src, dst)
        return src[:kept], dst[:kept]
    nodes = np.arange(n, dtype=_INDEX)
    src = np.tile(nodes, n_off)
    dst = src + np.repeat(np.arange(1, n_off + 1, dtype=_INDEX), n)
    dst[dst >= n] -= n
    if antipodes:
        # Offset n/2 pairs each node with its antipode; take each such pair once.
        src = np.concatenate([src, nodes[: n // 2]])
        dst = np.concatenate([dst, nodes[: n // 2] + n // 2])

    rewire = rng.random(src.size) < p
    dst[rewire] = rng.integers(0, n, size=int(rewire.sum()), dtype=_INDEX)
    keep = src != dst
    return src[keep], dst[keep]


class TieGraph:
    """Undirected referral ties: every tie is held once, either in the "base" (compressed rows of
    the symmetric adjacency, one entry per tie direction) or among the ties added since the base
    was last folded ("recent", in the order they came).

    Self-ties are dropped on insertion (nobody is their own referral tie). Repeated ties are
    kept and counted with multiplicity by adjacency(), neighbour_sum() and degree().
    """

    def __init__(self, n_slots: int, src: np.ndarray, dst: np.ndarray):
        n_slots = operator.index(n_slots)
        if n_slots < 0:
            raise ValueError(f"n_slots must be >= 0, got {n_slots}")
        self._n = n_slots
        # The base: rows 0.._n_base-1, each row's entries in the order its ties were added, in
        # arrays with room to spare, so a fold moves rows up in place rather than building a
        # second copy of the graph (a copy would be a fifth of a run's peak memory).
        self._n_base = 0
        self._m_base = 0  # ties in the base
        self._indptr = np.zeros(1, dtype=np.int32)
        self._indices = np.empty(0, dtype=_stored_dtype(n_slots))
        self._src = np.empty(0, dtype=_stored_dtype(n_slots))  # recent ties, first _m_recent used
        self._dst = np.empty(0, dtype=_stored_dtype(n_slots))
        self._m_recent = 0
        self._csr: sp.csr_matrix | None = None  # adjacency(), cached
        self._base: sp.csr_matrix | None = None  # the base as a scipy matrix (numpy paths), cached
        self._recent: sp.csr_matrix | None = None  # the recent ties as one (neighbour_sum's matrix path)
        self._scratch_arrays: dict[str, np.ndarray] = {}
        # the starting ties go straight into the base: no recent copy of the whole graph on the way
        self._fold(*self._checked(src, dst))

    @property
    def n_slots(self) -> int:
        return self._n

    @property
    def n_edges(self) -> int:
        """Undirected edge count (each tie once)."""
        return self._m_base + self._m_recent

    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        """Every tie once as read-only (src, dst) arrays (int32 while every slot fits, else int64):
        the base's, from the lower slot to the higher, in slot order, then the recent ones as added."""
        rows, cols = self._entry_rows(), self._indices[: 2 * self._m_base]
        once = rows < cols  # a tie (a, b) is in row a and in row b: take it from the lower
        src = np.concatenate([rows[once], self._src[: self._m_recent]])
        dst = np.concatenate([cols[once], self._dst[: self._m_recent]])
        src.flags.writeable = False
        dst.flags.writeable = False
        return src, dst

    def add_nodes(self, n_new: int) -> None:
        """Append ``n_new`` slots with no ties."""
        n_new = operator.index(n_new)
        if n_new < 0:
            raise ValueError(f"n_new must be >= 0, got {n_new}")
        if n_new:
            self._n += n_new
            self._csr = None
            self._recent = None

    def renumber(self, new_slot: np.ndarray) -> None:
        """Slots closed up (Population.compact): slot s becomes new_slot[s], and ties at a slot
        whose new_slot is -1 go with it. The surviving ties keep their order and multiplicity."""
        new_slot = np.asarray(new_slot)
        if new_slot.shape != (self._n,):
            raise ValueError(f"new_slot must have shape ({self._n},), got {new_slot.shape}")
        n_kept = int(np.count_nonzero(new_slot >= 0))
        indptr, indices, m_recent = self._indptr, self._indices, self._m_recent
        if kernels.COMPILED:  # in place, in one pass each: no temporaries the size of the graph
            n_base, entries = _renumber_rows_kernel(indptr, indices, self._n_base, new_slot)
            self._m_recent = _renumber_kernel(self._src, self._dst, m_recent, new_slot)
        else:
            rows, cols = self._entry_rows(), indices[: 2 * self._m_base]
            keep = (new_slot[rows] >= 0) & (new_slot[cols] >= 0)
            entries = int(np.count_nonzero(keep))
            n_base = int(np.count_nonzero(new_slot[: self._n_base] >= 0))
            indices[:entries] = new_slot[cols[keep]]
            indptr[1 : n_base + 1] = np.cumsum(np.bincount(new_slot[rows[keep]], minlength=n_base))
            src, dst = new_slot[self._src[:m_recent]], new_slot[self._dst[:m_recent]]
            keep = (src >= 0) & (dst >= 0)
            self._m_recent = int(np.count_nonzero(keep))
            self._src[: self._m_recent] = src[keep]  # a gather, then the store: safe in place
            self._dst[: self._m_recent] = dst[keep]
        self._n_base, self._m_base, self._n = int(n_base), int(entries) // 2, n_kept
        self._csr = self._base = self._recent = None
        self._fold()  # as a fresh build would stand: every tie in the base

    def _checked(self, src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ties as given, once their ends are known to be slots; self-ties are left in (the
        kernels drop them as they copy) or dropped here when the kernels are not used."""
        src = np.asarray(src)
        dst = np.asarray(dst)
        if src.ndim != 1 or src.shape != dst.shape:
            raise ValueError(
                f"src and dst must be 1-D of equal length, got {src.shape} and {dst.shape}"
            )
        if src.size == 0:
            return src.astype(self._src.dtype), dst.astype(self._src.dtype)
        if not (np.issubdtype(src.dtype, np.integer) and np.issubdtype(dst.dtype, np.integer)):
            raise ValueError(
                f"src and dst must be integer slot indices, got {src.dtype} and {dst.dtype}"
            )
        # ends out of range leave the kernels aside: the numpy path below says which range it got
        if kernels.COMPILED and bool(_within_kernel(src, dst, self._n)):
            return src, dst
        lo, hi = min(src.min(), dst.min()), max(src.max(), dst.max())
        if lo < 0 or hi >= self._n:
            raise ValueError(f"edge ends must be slots in [0, {self._n}), got range [{lo}, {hi}]")
        keep = src != dst
        return src[keep], dst[keep]

    def add_edges(self, src: np.ndarray, dst: np.ndarray) -> None:
        """Append undirected ties (src[i], dst[i]); both ends must be existing slots."""
        src, dst = self._checked(src, dst)
        if src.size == 0:
            return
        m_new = self._m_recent + src.size  # with self-ties still in, when compiled: an upper bound
        stored = _stored_dtype(self._n)
        if m_new > self._src.size or self._src.dtype != stored:
            # Grow geometrically: ties arrive every month, and re-copying them each time would make
            # a run quadratic in its ties. By a quarter, not double: they are folded into the base
            # once they pass a tenth of it. One array at a time: old and new of only one coexist.
            cap = max(int(1.25 * m_new), int(1.25 * self._src.size), 1024)
            self._src = _grown(self._src, self._m_recent, cap, stored)
            self._dst = _grown(self._dst, self._m_recent, cap, stored)
        if kernels.COMPILED:  # self-ties dropped as the edges are copied in: one pass, no mask
            m_new = _append_kernel(src, dst, self._src, self._dst, self._m_recent)
        else:
            self._src[self._m_recent : m_new] = src
            self._dst[self._m_recent : m_new] = dst
        self._m_recent = m_new
        self._csr = None
        self._recent = None

    def _fold(self, src: np.ndarray | None = None, dst: np.ndarray | None = None) -> None:
        """Merge ties (src, dst), by default the recent ones, into the base, which then covers every
        slot: each row keeps its entries and gains the new ones after them, in their order (what a
        counting sort of all ties in the order they came gives)."""
        if src is None:
            src, dst = self._src[: self._m_recent], self._dst[: self._m_recent]
        n, used = self._n, 2 * self._m_base
        entries = used + 2 * src.size  # an upper bound while self-ties are still in
        pointer, index = _stored_dtype(max(entries, n)), _stored_dtype(n)
        if self._indices.size < entries or self._indices.dtype != index:
            # room for a year or two of joiners' ties (churned customers' ties go at compaction)
            self._indices = _grown(self._indices, used, int(1.25 * entries), index)
        if self._indptr.size < n + 1 or self._indptr.dtype != pointer:
            self._indptr = _grown(self._indptr, self._n_base + 1, int(1.25 * (n + 1)) + 1, pointer)
        indptr, indices = self._indptr, self._indices
        if kernels.COMPILED and used == 0:  # the starting graph: every row is empty, rows in parallel
            added = _first_fold_kernel(src, dst, n, kernels.numba.get_num_threads(), indptr, indices,
                                       np.zeros(n + 1, dtype=pointer))
        elif kernels.COMPILED:
            added = _fold_kernel(indptr, indices, self._n_base, n, src, dst, np.zeros(n + 1, dtype=pointer))
        else:
            keep = src != dst
            src, dst = src[keep], dst[keep]
            added = src.size
            rows = np.concatenate([self._entry_rows(), np.column_stack([src, dst]).ravel()])
            cols = np.concatenate([indices[:used], np.column_stack([dst, src]).ravel()])
            order = np.argsort(rows, kind="stable")  # the base's entries stay first in their rows
            indices[: used + 2 * added] = cols[order]
            indptr[0] = 0
            indptr[1 : n + 1] = np.cumsum(np.bincount(rows, minlength=n))
        self._m_base += int(added)
        self._n_base = n
        self._m_recent = 0
        self._base = self._recent = None

    def _refresh_base(self) -> None:
        # the recent ties are scanned by every query: fold them in once they pass a share of the base
        if self._m_recent > _REFOLD_SHARE * max(self._m_base, 1):
            self._fold()

    def _base_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """The base's row pointers and columns (views: valid until the next fold or renumber)."""
        return self._indptr[: self._n_base + 1], self._indices[: 2 * self._m_base]

    def _recent_ties(self) -> tuple[np.ndarray, np.ndarray]:
        return self._src[: self._m_recent], self._dst[: self._m_recent]

    def _entry_rows(self) -> np.ndarray:
        """The row of each of the base's entries (what its row pointers say, spelt out)."""
        return np.repeat(np.arange(self._n_base, dtype=self._indices.dtype), np.diff(self._indptr[: self._n_base + 1]))

    def _symmetric(self, src: np.ndarray, dst: np.ndarray, dtype) -> sp.csr_matrix:
        """The n_slots x n_slots matrix of ties (src, dst) in both directions, each of weight 1."""
        index = _stored_dtype(max(self._n, 2 * src.size))
        rows = np.concatenate([src, dst]).astype(index)
        cols = np.concatenate([dst, src]).astype(index)
        return sp.coo_matrix((np.ones(rows.size, dtype=dtype), (rows, cols)), shape=(self._n, self._n)).tocsr()

    @contextmanager
    def _positions(self, slots: np.ndarray) -> Iterator[np.ndarray]:
        """A scratch array of n_slots holding i at slots[i] and -1 elsewhere, for the block's queries."""
        where = self._scratch("where", _stored_dtype(self._n), -1)
        where[slots] = np.arange(len(slots))
        try:
            yield where
        finally:
            where[slots] = -1  # as it was: the next query sets only its own slots

    def adjacency(self) -> sp.csr_matrix:
        """Symmetric n_slots x n_slots float64 CSR matrix; repeated ties are summed."""
        if self._csr is None:
            self._csr = self._symmetric(*self.edges(), np.float64)
            self._csr.sum_duplicates()  # one entry per pair, its weight the tie count
        return self._csr

    def _base_matrix(self) -> sp.csr_matrix:
        """The base as a float32 scipy matrix (the numpy paths' products and row reads)."""
        self._refresh_base()
        if self._base is None:
            indptr, indices = self._base_rows()
            # float32 counts are exact up to 2**24 ties and halve the memory traffic
            self._base = sp.csr_matrix((np.ones(len(indices), dtype=np.float32), indices.copy(), indptr.copy()),
                                       shape=(self._n_base, self._n_base))
        return self._base

    def _refresh_split(self) -> None:
        self._refresh_base()
        if self._recent is None:
            self._recent = self._symmetric(*self._recent_ties(), np.float32)

    def neighbour_sum(self, values: np.ndarray) -> np.ndarray:
        """A @ values for values of shape (n_slots,) or (n_slots, m); booleans count as 0/1.

        Computed in float32 (exact for counts below 2**24); returns float64. A boolean vector
        with few True entries (speaking detractors, say) is counted from those slots' ties
        alone, in exact integers, which gives the same numbers without touching the graph.
        """
        values = np.asarray(values)
        if values.ndim not in (1, 2) or values.shape[0] != self._n:
            raise ValueError(
                f"values must have shape ({self._n},) or ({self._n}, m), got {values.shape}"
            )
        if values.dtype == np.bool_ and values.ndim == 1:
            on = np.flatnonzero(values)
            if on.size <= _SPARSE_SHARE * self._n:
                _, other, mult = self.ties_of(on)
                return np.bincount(other, weights=mult, minlength=self._n)  # float64, exact
        self._refresh_split()
        values = values.astype(np.float32)
        out = self._recent @ values
        out[: self._n_base] += self._base_matrix() @ values[: self._n_base]
        return out.astype(np.float64)

    def count_ties_to(self, slots: np.ndarray, counts: np.ndarray) -> None:
        """counts[x] += the ties (with multiplicity) between x and any of the distinct ``slots``.

        What neighbour_sum gives for a boolean vector True at ``slots``, added into an integer array
        of n_slots, read straight from the base matrix's rows and the recent edges in one pass.
        """
        self._refresh_base()
        chosen = self._scratch("chosen", np.bool_, False)
        chosen[slots] = True
        try:
            _count_ties_kernel(np.asarray(slots, dtype=_INDEX), self._n_base, *self._base_rows(),
                               *self._recent_ties(), chosen, counts)
        finally:
            chosen[slots] = False  # as it was: the next query sets only its own slots

    def live_tie_counts(self, slots: np.ndarray, live: np.ndarray, flags: np.ndarray, columns: np.ndarray,
                        wants: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each of the distinct sorted ``slots``: its ties to ``live`` slots, and per asked column j
        (where ``wants[i, j]``) its live ties to slots whose ``flags`` (bit flags per slot, as
        sim.population's adoption) have bit columns[j] set; with multiplicity, as int64. What
        ties_of and bincount give, in one pass over those ties."""
        self._refresh_base()
        n_ties = np.zeros(len(slots), dtype=np.int64)
        n_shows = np.zeros((len(slots), len(columns)), dtype=np.int64)
        columns = np.asarray(columns, dtype=np.int64)
        with self._positions(slots) as where:
            # integer counts: the folded ties (by row, on several cores) and then the recent ones
            # add up to the same numbers in any order
            _base_tie_counts_kernel(np.asarray(slots, dtype=_INDEX), self._n_base, *self._base_rows(),
                                    live, flags, columns, wants, n_ties, n_shows)
            _recent_tie_counts_kernel(*self._recent_ties(), where, live, flags, columns, wants, n_ties, n_shows)
        return n_ties, n_shows

    def _scratch(self, name: str, dtype, value) -> np.ndarray:
        """An array of n_slots holding ``value`` everywhere, kept between queries: a query sets the
        entries it needs and puts them back, so a month's queries cost O(their slots), not a fresh
        n_slots array each (which page-faults on every touch, 8 MB a query at a million customers)."""
        buf = self._scratch_arrays.get(name)
        if buf is None or buf.size < self._n or buf.dtype != np.dtype(dtype):
            buf = np.full(int(1.25 * self._n) + 1024, value, dtype=dtype)
            self._scratch_arrays[name] = buf
        return buf[: self._n]

    def degree(self) -> np.ndarray:
        """Ties per slot (int64), counting repeated ties with multiplicity."""
        src, dst = self._recent_ties()
        degree = np.bincount(src, minlength=self._n) + np.bincount(dst, minlength=self._n)
        degree[: self._n_base] += np.diff(self._indptr[: self._n_base + 1])
        return degree

    def ties_of(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every tie at distinct ``slots`` as (i, other, multiplicity): slots[i] is tied to other.

        A pair may be listed more than once (repeated ties added at different times); the
        multiplicities always sum to the tie count. Ties in the base are read from its rows,
        later ones by one pass over the recent ties, so a query costs O(len(slots) + their
        ties + ties added since the last fold) and nothing is rebuilt
        because a month added slots or ties.
        """
        slots = np.asarray(slots)
        if slots.ndim != 1 or not (slots.size == 0 or np.issubdtype(slots.dtype, np.integer)):
            raise ValueError(f"slots must be a 1-D integer array, got {slots.dtype} {slots.shape}")
        slots = slots.astype(_INDEX, copy=False)
        if slots.size and (slots.min() < 0 or slots.max() >= self._n):
            raise ValueError(f"slots must be in [0, {self._n})")
        if slots.size > 1 and not np.all(slots[1:] > slots[:-1]):
            ordered = np.sort(slots)
            if np.any(ordered[1:] == ordered[:-1]):
                raise ValueError("slots must be distinct")
        self._refresh_base()
        if kernels.COMPILED:
            return self._ties_of_compiled(slots)
        pos, other, mult = [], [], []
        in_base = np.flatnonzero(slots < self._n_base)
        base = self._base_matrix()
        if in_base.size and base.nnz:
            sub = base[slots[in_base]]
            pos.append(np.repeat(in_base, np.diff(sub.indptr)))
            other.append(sub.indices)
            mult.append(sub.data.astype(np.int32))
        if self._m_recent and slots.size:
            src, dst = self._recent_ties()
            asked = np.zeros(self._n, dtype=np.bool_)
            asked[slots] = True
            where = np.empty(self._n, dtype=_stored_dtype(slots.size))  # read at asked slots only
            where[slots] = np.arange(slots.size)
            for end, far in ((src, dst), (dst, src)):
                hit = np.flatnonzero(asked[end])
                pos.append(where[end[hit]])
                other.append(far[hit])
                mult.append(np.ones(hit.size, dtype=np.int32))
        if not pos:
            return np.empty(0, dtype=_INDEX), np.empty(0, dtype=_INDEX), np.empty(0, dtype=np.int32)
        return (np.concatenate(pos), np.concatenate(other, dtype=_INDEX, casting="same_kind"),
                np.concatenate(mult))

    def close_triangles(self, first: np.ndarray, live: np.ndarray, closing: np.ndarray, u_friend: np.ndarray,
                        picks: np.ndarray) -> None:
        """attach_settled_nodes's closures, compiled: where ``closing[i, j]`` and slot first[i] has live
        ties, picks[i, j] becomes the one at position floor(u_friend[i, j] x their number) among
        them, ascending (with multiplicity). One pass over the recent ties for all of ``first``."""
        self._refresh_base()
        contacts = np.unique(first)
        with self._positions(contacts) as where:
            _close_triangles_kernel(contacts, first, self._n_base, *self._base_rows(), *self._recent_ties(), where,
                                    live, closing, u_friend, picks)

    def _ties_of_compiled(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # ties_of read from the base's rows, not a scipy matrix built for it (whose weights, a
        # float per tie direction, were a tenth of a run's memory): the same ties in the same order,
        # each of multiplicity 1 (the rows keep one entry per tie direction)
        ties = (*self._base_rows(), *self._recent_ties())
        with self._positions(slots) as where:
            n = _ties_of_kernel(slots, self._n_base, *ties, where, None, None)  # a first pass counts them
            pos, other = np.empty(n, dtype=_INDEX), np.empty(n, dtype=_INDEX)
            _ties_of_kernel(slots, self._n_base, *ties, where, pos, other)
        return pos, other, np.ones(n, dtype=np.int32)


def _grown(arr: np.ndarray, n_used: int, cap: int, dtype) -> np.ndarray:
    out = np.empty(cap, dtype=dtype)
    out[:n_used] = arr[:n_used]
    return out


@kernel
def _within_kernel(src, dst, n):
    """Every tie's ends are slots in [0, n)."""
    for e in range(src.shape[0]):
        if src[e] < 0 or src[e] >= n or dst[e] < 0 or dst[e] >= n:
            return False
    return True


@kernel
def _append_kernel(src, dst, stored_src, stored_dst, m):
    """Ties (src, dst) written after the first m stored ones, self-ties dropped; the new count."""
    for e in range(src.shape[0]):
        if src[e] != dst[e]:
            stored_src[m] = src[e]
            stored_dst[m] = dst[e]
            m += 1
    return m


@inline
def _live_base_friends(s, n_base, indptr, indices, live, out, at, write):
    """How many of slot s's ties in the base rows go to live slots; with ``write``, those slots
    too, in row order, from out[at] on."""
    n = 0
    if s < n_base:
        for e in range(indptr[s], indptr[s + 1]):
            if live[indices[e]]:
                if write:
                    out[at + n] = indices[e]
                n += 1
    return n


@chunked(rows_per_chunk=TIE_CHUNK)
def _close_triangles_kernel(contacts, first, n_base, indptr, indices, recent_src, recent_dst, where, live, closing,
                            u_friend, picks):
    """TieGraph.close_triangles: each contact's live friends (``where`` holds each contact's index
    in ``contacts``) counted, listed contact after contact and sorted within each (a lexsort by
    (contact, friend), as the numpy reference does), then each closing pick drawn from its list.
    The contacts' rows are read in chunks of contacts on several cores (reads scattered over the
    whole graph: two cores wait for memory side by side); the recent ties are scanned in order."""
    n_contacts = contacts.shape[0]
    chunks = n_chunks(n_contacts, TIE_CHUNK)
    start = np.zeros(n_contacts + 1, dtype=np.int64)
    for k in prange(chunks):
        for c in range(k * TIE_CHUNK, min(n_contacts, (k + 1) * TIE_CHUNK)):
            start[c + 1] = _live_base_friends(contacts[c], n_base, indptr, indices, live, start, 0, False)
    for e in range(recent_src.shape[0]):
        a, b = recent_src[e], recent_dst[e]
        if where[a] >= 0 and live[b]:
            start[where[a] + 1] += 1
        if where[b] >= 0 and live[a]:
            start[where[b] + 1] += 1
    for c in range(n_contacts):
        start[c + 1] += start[c]
    friends = np.empty(start[n_contacts], dtype=np.int64)
    fill = start[:n_contacts].copy()
    for k in prange(chunks):
        for c in range(k * TIE_CHUNK, min(n_contacts, (k + 1) * TIE_CHUNK)):
            fill[c] += _live_base_friends(contacts[c], n_base, indptr, indices, live, friends, fill[c], True)
    for e in range(recent_src.shape[0]):
        a, b = recent_src[e], recent_dst[e]
        if where[a] >= 0 and live[b]:
            friends[fill[where[a]]] = b
            fill[where[a]] += 1
        if where[b] >= 0 and live[a]:
            friends[fill[where[b]]] = a
            fill[where[b]] += 1
    for k in prange(chunks):
        for c in range(k * TIE_CHUNK, min(n_contacts, (k + 1) * TIE_CHUNK)):
            for f in range(start[c] + 1, start[c + 1]):  # insertion sort: a few dozen friends at most
                x = friends[f]
                g = f - 1
                while g >= start[c] and friends[g] > x:
                    friends[g + 1] = friends[g]
                    g -= 1
                friends[g + 1] = x
    for i in range(first.shape[0]):
        c = where[first[i]]
        count = start[c + 1] - start[c]
        if count == 0:
            continue
        for j in range(picks.shape[1]):
            if closing[i, j]:
                picks[i, j] = friends[start[c] + min(np.int64(u_friend[i, j] * count), count - 1)]


@kernel
def _ring_kernel(n, n_off, antipodes, rewire, far, src, dst):
    """watts_strogatz_edges's lattice, rewired ends and dropped self-loops in one pass (the
    reference's edge order: offset by offset, node by node, then the antipodes); returns the
    edges kept."""
    kept = 0
    n_far = 0
    for e in range(n * n_off + (n // 2 if antipodes else 0)):
        if e < n * n_off:
            a = e % n
            b = a + e // n + 1
            if b >= n:
                b -= n
        else:
            a = e - n * n_off
            b = a + n // 2
        if rewire[e]:
            b = far[n_far]
            n_far += 1
        if a != b:
            src[kept] = a
            dst[kept] = b
            kept += 1
    return kept


@kernel
def _renumber_kernel(src, dst, m, new_slot):
    """TieGraph.renumber's edges in place: each kept tie written over the first free place."""
    kept = 0
    for e in range(m):
        a, b = new_slot[src[e]], new_slot[dst[e]]
        if a >= 0 and b >= 0:
            src[kept] = a
            dst[kept] = b
            kept += 1
    return kept


@chunked
def _first_fold_kernel(src, dst, n, n_ranges, indptr, indices, extra):
    """_fold_kernel for a base with no entries yet (the starting graph, half a million ties for
    100k customers): rows 0..n-1 from ties (src, dst), self-ties dropped, each row's entries in the
    order its ties came. The rows are split into ``n_ranges`` ranges (the caller gives the thread
    count); each range reads every tie in order and writes only its own rows' counts and entries,
    so the layout is the same whatever the split (the ranges need not be fixed, as chunks of a sum
    must be). ``extra`` is n + 1 zeros to work in. Returns the ties added."""
    per_range = (n + n_ranges - 1) // n_ranges
    for part in prange(n_ranges):
        _range_entries(src, dst, part * per_range, min(n, (part + 1) * per_range), extra, indices, False)
    indptr[0] = 0
    for r in range(n):  # row starts; extra[r] becomes where row r's next entry goes
        indptr[r + 1] = indptr[r] + extra[r]
        extra[r] = indptr[r]
    for part in prange(n_ranges):
        _range_entries(src, dst, part * per_range, min(n, (part + 1) * per_range), extra, indices, True)
    return indptr[n] // 2


@inline
def _range_entries(src, dst, lo, hi, extra, indices, write):
    """_first_fold_kernel's pass over every tie for rows lo..hi-1 (self-ties dropped): each such
    row's extra[row] moves on by one per entry; with ``write``, extra[row] is where the entry goes
    and the tie's other end is written there first."""
    for e in range(src.shape[0]):
        a, b = src[e], dst[e]
        if a != b:
            if lo <= a < hi:
                if write:
                    indices[extra[a]] = b
                extra[a] += 1
            if lo <= b < hi:
                if write:
                    indices[extra[b]] = a
                extra[b] += 1


@kernel
def _fold_kernel(indptr, indices, n_base, n, src, dst, extra):
    """TieGraph._fold in place: rows 0..n-1 of the base after ties (src, dst), self-ties dropped,
    join each row after its entries. ``extra`` is n + 1 zeros to work in. Returns the ties added."""
    for r in range(n_base + 1, n + 1):
        indptr[r] = indptr[n_base]  # slots the base did not cover yet: empty rows
    added = 0
    for e in range(src.shape[0]):
        if src[e] != dst[e]:
            extra[src[e]] += 1
            extra[dst[e]] += 1
            added += 1
    run = 0
    for r in range(n + 1):  # extra[r] becomes how far row r moves up: the new entries of rows before it
        d = extra[r]
        extra[r] = run
        run += d
    # from the last row down, so no row is written over before it has moved (each moves at least
    # as far as the row before it)
    for r in range(n - 1, -1, -1):
        shift = extra[r]
        if shift == 0:
            break
        for k in range(indptr[r + 1] - 1, indptr[r] - 1, -1):
            indices[k + shift] = indices[k]
    previous = 0
    for r in range(n + 1):  # new row starts; extra[r - 1] becomes where row r - 1's new entries go
        old = indptr[r]
        if r > 0:
            extra[r - 1] = old + previous
        previous = extra[r]
        indptr[r] = old + previous
    for e in range(src.shape[0]):
        a, b = src[e], dst[e]
        if a != b:
            indices[extra[a]] = b
            extra[a] += 1
            indices[extra[b]] = a
            extra[b] += 1
    return added


@kernel
def _renumber_rows_kernel(indptr, indices, n_base, new_slot):
    """TieGraph.renumber's base in place: the rows of kept slots, in order, each with its entries
    to kept slots, renumbered. Returns (rows, entries) kept."""
    written = 0
    rows = 0
    lo = indptr[0]
    for r in range(n_base):
        hi = indptr[r + 1]  # read before rows + 1 <= r + 1 is written
        if new_slot[r] >= 0:
            for k in range(lo, hi):
                c = new_slot[indices[k]]
                if c >= 0:
                    indices[written] = c
                    written += 1
            rows += 1
            indptr[rows] = written
        lo = hi
    return rows, written


@kernel
def _ties_of_kernel(slots, n_base, indptr, indices, recent_src, recent_dst, where, pos, other):
    """TieGraph.ties_of's ties in its order (base rows slot by slot, then the recent ties by their
    first end, then by their second); only counts them when ``pos`` is None. Returns how many."""
    n = 0
    for i in range(slots.shape[0]):
        s = slots[i]
        if s < n_base:
            for k in range(indptr[s], indptr[s + 1]):
                if pos is not None:
                    pos[n] = i
                    other[n] = indices[k]
                n += 1
    for end_is_src in (True, False):
        for e in range(recent_src.shape[0]):
            a, b = (recent_src[e], recent_dst[e]) if end_is_src else (recent_dst[e], recent_src[e])
            if where[a] >= 0:
                if pos is not None:
                    pos[n] = where[a]
                    other[n] = b
                n += 1
    return n


@kernel
def _count_ties_kernel(slots, n_base, indptr, indices, recent_src, recent_dst, chosen, counts):
    for s in slots:
        if s < n_base:
            for k in range(indptr[s], indptr[s + 1]):  # one entry per tie direction
                counts[indices[k]] += 1
    for e in range(recent_src.shape[0]):
        a, b = recent_src[e], recent_dst[e]
        if chosen[a]:
            counts[b] += 1
        if chosen[b]:
            counts[a] += 1


@inline
def _count_tie(i, other, mult, live, flags, columns, wants, n_ties, n_shows):
    if live[other]:
        n_ties[i] += mult
        for j in range(columns.shape[0]):
            if wants[i, j] and shows(flags[other], columns[j]):
                n_shows[i, j] += mult


@chunked(rows_per_chunk=TIE_CHUNK)
def _base_tie_counts_kernel(slots, n_base, indptr, indices, live, flags, columns, wants, n_ties, n_shows):
    """live_tie_counts over the ties folded into the rows, in chunks of slots on several cores
    (each slot's own row of the counts: nothing to join)."""
    n = slots.shape[0]
    for c in prange(n_chunks(n, TIE_CHUNK)):
        for i in range(c * TIE_CHUNK, min(n, (c + 1) * TIE_CHUNK)):
            s = slots[i]
            if s < n_base:
                for k in range(indptr[s], indptr[s + 1]):  # one entry per tie direction
                    _count_tie(i, indices[k], 1, live, flags, columns, wants, n_ties, n_shows)


@kernel
def _recent_tie_counts_kernel(recent_src, recent_dst, where, live, flags, columns, wants, n_ties, n_shows):
    """live_tie_counts over the ties not yet folded in (either end may be asked about: in order)."""
    for e in range(recent_src.shape[0]):
        a, b = recent_src[e], recent_dst[e]
        if where[a] >= 0:
            _count_tie(where[a], b, 1, live, flags, columns, wants, n_ties, n_shows)
        if where[b] >= 0:
            _count_tie(where[b], a, 1, live, flags, columns, wants, n_ties, n_shows)


def attach_new_nodes(
    graph: TieGraph,
    new_slots: np.ndarray,
    anchors: np.ndarray,
    n_random_ties: int,
    candidate_slots: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Tie each new slot to its anchor (-1 = none) and to n_random_ties uniform picks from
    candidate_slots.

    Picks are floor(u * len(candidates)) of one uniform per (new slot, tie) rather than
    rng.integers, whose rejection sampling consumes a variable amount of randomness; this way the
    i-th newcomer's draws do not shift when another scenario has a different candidate count.
    A pick equal to the new slot itself is dropped.
    """
    new_slots = np.asarray(new_slots, dtype=_INDEX)
    anchors = np.asarray(anchors, dtype=_INDEX)
    if new_slots.ndim != 1 or anchors.shape != new_slots.shape:
        raise ValueError(
            f"anchors must match new_slots in shape, got {anchors.shape} and {new_slots.shape}"
        )
    n_random_ties = operator.index(n_random_ties)
    if n_random_ties < 0:
        raise ValueError(f"n_random_ties must be >= 0, got {n_random_ties}")
    candidates = np.asarray(candidate_slots, dtype=_INDEX).ravel()

    has_anchor = anchors >= 0
    src = [new_slots[has_anchor]]
    dst = [anchors[has_anchor]]
    if n_random_ties and new_slots.size and candidates.size:
        u = rng.random((new_slots.size, n_random_ties))
        pick = np.minimum((u * candidates.size).astype(_INDEX), candidates.size - 1)
        src.append(np.repeat(new_slots, n_random_ties))
        dst.append(candidates[pick].ravel())
    graph.add_edges(np.concatenate(src), np.concatenate(dst))


def closure_probability(n_ties: int, clustering: float) -> float:
    """The share of a joiner's ties after its first that go to friends of its first contact
    (attach_settled_nodes) for the joiner's own clustering to be ``clustering``: with c of them,
    its neighbours share about c + clustering x c(c-1)/2 ties of the (n_ties choose 2) pairs."""
    if n_ties < 2 or clustering <= 0:
        return 0.0
    pairs = clustering * n_ties * (n_ties - 1) / 2
    a = clustering / 2  # a c^2 + (1 - a) c - pairs = 0
    c = (-(1 - a) + np.sqrt((1 - a) ** 2 + 4 * a * pairs)) / (2 * a)
    return float(min(_CLOSURE_CALIBRATION * c / (n_ties - 1), 1.0))


def attach_settled_nodes(
    graph: TieGraph,
    new_slots: np.ndarray,
    anchors: np.ndarray,
    n_ties: int,
    candidate_slots: np.ndarray,
    active: np.ndarray,
    p_closure: float,
    rng: np.random.Generator,
) -> None:
    """Tie each new slot to n_ties others so the network's degree and clustering stand still.

    The first tie is the referrer (``anchors``, -1 = none) or a uniform pick from
    candidate_slots; each further tie is, with probability ``p_closure``, a uniform pick among
    the first contact's active ties (closing a triangle: friends of friends, Holme and Kim 2002),
    else a uniform pick from candidate_slots. A joiner of a network whose joiners bring k ties
    settles it at a mean degree of about k; the closures keep its clustering where the ring
    lattice started it instead of diluting it with random ties year after year.

    A contact's ties are read in slot order, which is uid order (slots are appended in uid order
    and compaction keeps it), so the picks do not depend on when rows were closed up.
    """
    new_slots = np.asarray(new_slots, dtype=_INDEX)
    anchors = np.asarray(anchors, dtype=_INDEX)
    candidates = np.asarray(candidate_slots, dtype=_INDEX).ravel()
    n = new_slots.size
    if n == 0 or n_ties < 1 or candidates.size == 0:
        return
    u_pick = rng.random((n, n_ties))
    far = candidates[np.minimum((u_pick * candidates.size).astype(_INDEX), candidates.size - 1)]
    first = np.where(anchors >= 0, anchors, far[:, 0])
    far[:, 0] = first
    if p_closure > 0 and n_ties > 1:
        u_close = rng.random((n, n_ties - 1))
        u_friend = rng.random((n, n_ties - 1))
        if kernels.COMPILED:  # the friends of each first contact gathered and picked in one kernel
            graph.close_triangles(first, active, u_close < p_closure, u_friend, far[:, 1:])
        else:
            contacts = np.unique(first)
            pos, other, mult = graph.ties_of(contacts)
            live = active[other]
            pos, other = np.repeat(pos[live], mult[live]), np.repeat(other[live], mult[live])
            friends = other[np.lexsort((other, pos))]
            n_friends = np.bincount(pos, minlength=contacts.size)
            start = np.concatenate([[0], np.cumsum(n_friends)[:-1]])
            row = np.searchsorted(contacts, first)
            count = n_friends[row][:, None]
            closing = (u_close < p_closure) & (count > 0)
            at = start[row][:, None] + np.minimum((u_friend * count).astype(_INDEX), np.maximum(count - 1, 0))
            rest = far[:, 1:]
            rest[closing] = friends[at[closing]]
    graph.add_edges(np.repeat(new_slots, n_ties), far.ravel())


def average_clustering(graph: TieGraph, sample: int, rng: np.random.Generator) -> float:
    """Mean local clustering over ``sample`` distinct random slots (all slots if sample >= n_slots).

    Repeated ties count once; slots with fewer than two neighbours contribute 0 (as in networkx).
    """
    sample = operator.index(sample)
    if sample < 1:
        raise ValueError(f"sample must be >= 1, got {sample}")
    n = graph.n_slots
    if n == 0:
        return 0.0
    nodes = np.arange(n) if sample >= n else rng.choice(n, size=sample, replace=False)
    a = graph.adjacency()
    # Same sparsity pattern with unit weights, so repeated ties do not inflate triangle counts.
    b = sp.csr_matrix((np.ones_like(a.data), a.indices, a.indptr), shape=a.shape)
    rows = b[nodes]
    deg = np.diff(rows.indptr).astype(np.float64)
    # (rows @ b)[i, y] counts paths i-x-y; keeping only y adjacent to i counts each triangle at i
    # twice.
    tri2 = np.asarray((rows @ b).multiply(rows).sum(axis=1)).ravel()
    pairs = deg * (deg - 1.0)
    local = np.divide(tri2, pairs, out=np.zeros_like(tri2), where=pairs > 0)
    return float(local.mean())
