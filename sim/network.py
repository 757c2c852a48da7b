"""Referral ties between customers.

Why edge arrays plus a cached CSR matrix: the question asked every month is "how many of each
customer's ties are active / promoters / churned", which is a sparse matrix-vector product.
Over 100k customers that takes about 1 ms with CSR against about 1.8 s walking a Mesa
NetworkGrid. Customers only ever gain slots and ties, so flat (src, dst) arrays that grow at the
end are the natural store; the CSR is rebuilt lazily, so all reads between two edits share one
build.

Most monthly questions are about a few customers, though (who might adopt this month, which
detractors speak), so ties_of reads just their ties: rows of a cached base matrix plus one pass
over the edges added since it was built. A month's newcomers then rebuild nothing, and the base
is refolded only once later edges pass a tenth of it (_REFOLD_SHARE).

Why Watts-Strogatz: the config exposes two knobs, mean degree and clustering, and a rewired ring
lattice is the simplest generator in which both can be set independently, with short paths
arriving as soon as a few edges are rewired.
"""

from __future__ import annotations

import operator

import numpy as np
import scipy.sparse as sp

from sim import kernels
from sim.kernels import inline, kernel

_INDEX = np.int64  # slot indices handed out
_INT32_MAX = np.iinfo(np.int32).max
# neighbour_sum counts a boolean vector from its True slots' ties when at most this share is True
_SPARSE_SHARE = 0.125
# Ties added since the base matrix was built are scanned by every query; past this share of the
# base it is rebuilt with them. A rebuild is a counting sort (about 30 ms at 4M ties), a scan of
# the recent ties costs every month, so a tenth balances the two at a million customers.
_REFOLD_SHARE = 0.1
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
    """Undirected referral ties stored as edge arrays; a symmetric CSR adjacency is built lazily
    and cached.

    Self-ties are dropped on insertion (nobody is their own referral tie). Repeated ties are
    kept and counted with multiplicity by adjacency(), neighbour_sum() and degree().
    """

    def __init__(self, n_slots: int, src: np.ndarray, dst: np.ndarray):
        n_slots = operator.index(n_slots)
        if n_slots < 0:
            raise ValueError(f"n_slots must be >= 0, got {n_slots}")
        self._n = n_slots
        self._src = np.empty(0, dtype=_stored_dtype(n_slots))
        self._dst = np.empty(0, dtype=_stored_dtype(n_slots))
        self._m = 0
        self._csr: sp.csr_matrix | None = None
        # A large "base" matrix over the first _m_base edges and _n_base slots serves ties_of
        # and neighbour_sum; edges added later are read from the edge arrays by ties_of, or
        # from a small "recent" matrix that only neighbour_sum's matrix path builds. Monthly
        # newcomers never rebuild the base; it is refolded once later edges pass a fixed
        # share, so rebuild work stays proportional to edges added (amortised), not to the graph.
        self._m_base = 0
        self._n_base = 0
        # the base as row pointers and columns (what the kernels read: one entry per tie direction,
        # so no weights), and as a scipy matrix, built from them only when a numpy path asks
        self._base_rows: tuple[np.ndarray, np.ndarray] | None = None
        self._spare_rows: tuple[np.ndarray, np.ndarray] | None = None  # what _base_rows is written into
        self._scratch_arrays: dict[str, np.ndarray] = {}
        self._base: sp.csr_matrix | None = None
        self._recent: sp.csr_matrix | None = None
        self.add_edges(src, dst)

    @property
    def n_slots(self) -> int:
        return self._n

    @property
    def n_edges(self) -> int:
        """Undirected edge count (each tie once)."""
        return self._m

    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        """Read-only views of the stored (src, dst) arrays (int32 while every slot fits, else int64)."""
        src, dst = self._src[: self._m], self._dst[: self._m]
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
        if kernels.COMPILED:  # in place, in one pass: no temporaries the size of the graph
            kept = _renumber_kernel(self._src, self._dst, self._m, new_slot.astype(np.int64, copy=False))
        else:
            src, dst = new_slot[self._src[: self._m]], new_slot[self._dst[: self._m]]
            keep = (src >= 0) & (dst >= 0)
            kept = int(np.count_nonzero(keep))
            self._src[:kept] = src[keep]  # kept <= m: the arrays and their spare capacity are reused
            self._dst[:kept] = dst[keep]
        self._m, self._n = kept, n_kept
        self._m_base = self._n_base = 0
        self._csr = self._base = self._recent = None
        self._base_rows = None

    def add_edges(self, src: np.ndarray, dst: np.ndarray) -> None:
        """Append undirected ties (src[i], dst[i]); both ends must be existing slots."""
        src = np.asarray(src)
        dst = np.asarray(dst)
        if src.ndim != 1 or src.shape != dst.shape:
            raise ValueError(
                f"src and dst must be 1-D of equal length, got {src.shape} and {dst.shape}"
            )
        if src.size == 0:
            return
        if not (np.issubdtype(src.dtype, np.integer) and np.issubdtype(dst.dtype, np.integer)):
            raise ValueError(
                f"src and dst must be integer slot indices, got {src.dtype} and {dst.dtype}"
            )
        # ends out of range leave the kernels aside: the numpy path below says which range it got
        compiled = kernels.COMPILED and bool(_within_kernel(src, dst, self._n))
        if not compiled:
            lo, hi = min(src.min(), dst.min()), max(src.max(), dst.max())
            if lo < 0 or hi >= self._n:
                raise ValueError(f"edge ends must be slots in [0, {self._n}), got range [{lo}, {hi}]")
            keep = src != dst
            src, dst = src[keep], dst[keep]
        m_new = self._m + src.size  # with self-ties still in, when compiled: an upper bound
        stored = _stored_dtype(self._n)
        if m_new > self._src.size or self._src.dtype != stored:
            # Grow geometrically: ties arrive every month, and re-copying every edge each time
            # would make a run quadratic in its edge count. By a quarter, not double: a month
            # adds well under 1% of the ties, and doubling left half the arrays unused at peak.
            # (headroom from the first fill: the first month's ties need no copy of the graph)
            cap = max(int(1.25 * m_new), int(1.25 * self._src.size), 1024)
            # one array at a time, so the old and new copies of only one of them coexist at peak
            self._src = _grown(self._src, self._m, cap, stored)
            self._dst = _grown(self._dst, self._m, cap, stored)
        if compiled:  # self-ties dropped as the edges are copied in: one pass, no mask
            m_new = _append_kernel(src, dst, self._src, self._dst, self._m)
        else:
            self._src[self._m : m_new] = src
            self._dst[self._m : m_new] = dst
        self._m = m_new
        if src.size:
            self._csr = None
            self._recent = None

    def _csr_of(self, lo: int, hi: int, n: int, dtype=np.float64) -> sp.csr_matrix:
        # Both directions of each tie by a counting sort straight into the matrix's own arrays
        # (12 bytes per tie direction plus the row pointers). A repeated tie stays two entries
        # of 1 rather than one of 2: every reader sums them (products, ties_of's multiplicities).
        m = hi - lo
        if not kernels.COMPILED:  # scipy's conversion: the same matrix, repeated ties summed
            index = _stored_dtype(max(n, 2 * m))
            rows = np.concatenate([self._src[lo:hi], self._dst[lo:hi]]).astype(index)
            cols = np.concatenate([self._dst[lo:hi], self._src[lo:hi]]).astype(index)
            return sp.coo_matrix((np.ones(2 * m, dtype=dtype), (rows, cols)), shape=(n, n)).tocsr()
        indptr, indices = self._rows_of(lo, hi, n)
        return sp.csr_matrix((np.ones(2 * m, dtype=dtype), indices, indptr), shape=(n, n))

    def _rows_of(self, lo: int, hi: int, n: int, reuse: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Row pointers and columns of edges lo..hi in both directions, by a counting-sort kernel.

        ``reuse`` writes them into the arrays of the last refold (grown by a quarter when short),
        refilling memory already touched instead of fresh arrays that page-fault on first touch."""
        index = _stored_dtype(max(n, 2 * (hi - lo)))
        spare = self._spare_rows
        if not reuse or spare is None or spare[0].dtype != index or spare[0].size < n + 1 \
                or spare[1].size < 2 * (hi - lo):
            grow = 1.25 if reuse else 1.0
            spare = (np.empty(int(grow * (n + 1)), dtype=index), np.empty(int(grow * 2 * (hi - lo)), dtype=index))
            if reuse:
                self._spare_rows = spare
        indptr, indices = spare[0][: n + 1], spare[1][: 2 * (hi - lo)]
        indptr.fill(0)
        _csr_kernel(self._src[lo:hi], self._dst[lo:hi], indptr, indices)
        return indptr, indices

    def adjacency(self) -> sp.csr_matrix:
        """Symmetric n_slots x n_slots float64 CSR matrix; repeated ties are summed."""
        if self._csr is None:
            self._csr = self._csr_of(0, self._m, self._n)
            self._csr.sum_duplicates()  # one entry per pair, its weight the tie count
        return self._csr

    def _refresh_base(self) -> None:
        if self._base_rows is None or (self._m - self._m_base) > _REFOLD_SHARE * max(self._m_base, 1):
            self._m_base, self._n_base = self._m, self._n
            self._base = self._base_rows = None  # freed first: old and new never coexist at peak
            if kernels.COMPILED:
                self._base_rows = self._rows_of(0, self._m, self._n, reuse=True)
            else:
                # float32 counts are exact up to 2**24 ties and halve the memory traffic
                self._base = self._csr_of(0, self._m, self._n, np.float32)
                self._base_rows = (self._base.indptr, self._base.indices)
            self._recent = None

    def _base_matrix(self) -> sp.csr_matrix:
        """The base as a float32 scipy matrix (the numpy paths' products and row reads)."""
        self._refresh_base()
        if self._base is None:
            indptr, indices = self._base_rows
            self._base = sp.csr_matrix((np.ones(len(indices), dtype=np.float32), indices, indptr),
                                       shape=(self._n_base, self._n_base))
        return self._base

    def _refresh_split(self) -> None:
        self._refresh_base()
        if self._recent is None:
            self._recent = self._csr_of(self._m_base, self._m, self._n, np.float32)

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
        indptr, indices = self._base_rows
        try:
            _count_ties_kernel(np.asarray(slots, dtype=_INDEX), self._n_base, indptr, indices,
                               self._src[self._m_base : self._m], self._dst[self._m_base : self._m], chosen, counts)
        finally:
            chosen[slots] = False  # as it was: the next query sets only its own slots

    def live_tie_counts(self, slots: np.ndarray, live: np.ndarray, shows: np.ndarray, columns: np.ndarray,
                        wants: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each of the distinct sorted ``slots``: its ties to ``live`` slots, and per asked column j
        (``shows[:, columns[j]]``, where ``wants[i, j]``) its live ties to slots showing it; with
        multiplicity, as int64. What ties_of and bincount give, in one pass over those ties."""
        self._refresh_base()
        where = self._scratch("where", _stored_dtype(self._n), -1)
        where[slots] = np.arange(len(slots))
        n_ties = np.zeros(len(slots), dtype=np.int64)
        n_shows = np.zeros((len(slots), len(columns)), dtype=np.int64)
        indptr, indices = self._base_rows
        try:
            _live_tie_counts_kernel(np.asarray(slots, dtype=_INDEX), self._n_base, indptr, indices,
                                    self._src[self._m_base : self._m], self._dst[self._m_base : self._m], where,
                                    live, shows, np.asarray(columns, dtype=np.int64), wants, n_ties, n_shows)
        finally:
            where[slots] = -1  # as it was
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
        src, dst = self._src[: self._m], self._dst[: self._m]
        return np.bincount(src, minlength=self._n) + np.bincount(dst, minlength=self._n)

    def ties_of(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every tie at distinct ``slots`` as (i, other, multiplicity): slots[i] is tied to other.

        A pair may be listed more than once (repeated ties added at different times); the
        multiplicities always sum to the tie count. Ties in the cached base matrix are read
        from its rows, later ones by one pass over the recent edge arrays, so a query costs
        O(len(slots) + their ties + ties added since the last refold) and no matrix is rebuilt
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
        if self._m > self._m_base and slots.size:
            src, dst = self._src[self._m_base : self._m], self._dst[self._m_base : self._m]
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

    def _ties_of_compiled(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # ties_of read from the base's rows, not a scipy matrix built for it (whose weights, a
        # float per tie direction, were a tenth of a run's memory): the same ties in the same order,
        # each of multiplicity 1 (the rows keep one entry per tie direction)
        indptr, indices = self._base_rows
        recent_src, recent_dst = self._src[self._m_base : self._m], self._dst[self._m_base : self._m]
        where = self._scratch("where", _stored_dtype(self._n), -1)
        where[slots] = np.arange(len(slots))
        try:
            n = _ties_of_kernel(slots, self._n_base, indptr, indices, recent_src, recent_dst, where, None, None)
            pos, other = np.empty(n, dtype=_INDEX), np.empty(n, dtype=_INDEX)
            _ties_of_kernel(slots, self._n_base, indptr, indices, recent_src, recent_dst, where, pos, other)
        finally:
            where[slots] = -1  # as it was
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


@kernel
def _friend_lists_kernel(pos, other, mult, active, start, friends):
    """attach_settled_nodes's friend lists: the active others of each contact (ties pos[e] ->
    other[e], mult[e] times each), contact after contact and ascending within one (what a
    lexsort by (contact, other) gives); start[c] is where contact c's list begins. Returns how
    many were written."""
    n_contacts = start.shape[0] - 1
    for e in range(pos.shape[0]):
        if active[other[e]]:
            start[pos[e] + 1] += mult[e]
    for c in range(n_contacts):
        start[c + 1] += start[c]
    fill = start[:n_contacts].copy()
    for e in range(pos.shape[0]):
        if active[other[e]]:
            for _ in range(mult[e]):
                friends[fill[pos[e]]] = other[e]
                fill[pos[e]] += 1
    for c in range(n_contacts):  # insertion sort: a contact has a few dozen friends at most
        for a in range(start[c] + 1, start[c + 1]):
            x = friends[a]
            b = a - 1
            while b >= start[c] and friends[b] > x:
                friends[b + 1] = friends[b]
                b -= 1
            friends[b + 1] = x
    return start[n_contacts]


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


@kernel
def _csr_kernel(src, dst, indptr, indices):
    """Row pointers and column indices of the symmetric adjacency of ties (src[e], dst[e])."""
    n = indptr.shape[0] - 1
    for e in range(src.shape[0]):
        indptr[src[e] + 1] += 1
        indptr[dst[e] + 1] += 1
    for r in range(n):
        indptr[r + 1] += indptr[r]
    fill = indptr[:n].copy()
    for e in range(src.shape[0]):
        a, b = src[e], dst[e]
        indices[fill[a]] = b
        fill[a] += 1
        indices[fill[b]] = a
        fill[b] += 1


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
def _count_tie(i, other, mult, live, shows, columns, wants, n_ties, n_shows):
    if live[other]:
        n_ties[i] += mult
        for j in range(columns.shape[0]):
            if wants[i, j] and shows[other, columns[j]]:
                n_shows[i, j] += mult


@kernel
def _live_tie_counts_kernel(slots, n_base, indptr, indices, recent_src, recent_dst, where, live, shows,
                            columns, wants, n_ties, n_shows):
    for i in range(slots.shape[0]):
        s = slots[i]
        if s < n_base:
            for k in range(indptr[s], indptr[s + 1]):  # one entry per tie direction
                _count_tie(i, indices[k], 1, live, shows, columns, wants, n_ties, n_shows)
    for e in range(recent_src.shape[0]):
        a, b = recent_src[e], recent_dst[e]
        if where[a] >= 0:
            _count_tie(where[a], b, 1, live, shows, columns, wants, n_ties, n_shows)
        if where[b] >= 0:
            _count_tie(where[b], a, 1, live, shows, columns, wants, n_ties, n_shows)


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
        contacts = np.unique(first)
        pos, other, mult = graph.ties_of(contacts)
        if kernels.COMPILED:  # a counting sort by contact, then each contact's few friends in order
            start = np.zeros(contacts.size + 1, dtype=np.int64)
            friends = np.empty(int(mult.sum()), dtype=_INDEX)
            n_all = _friend_lists_kernel(pos, other, mult, active, start, friends)
            friends = friends[:n_all]
            n_friends = np.diff(start)
            start = start[:-1]
        else:
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
