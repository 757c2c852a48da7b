"""Tests for sim.network: Watts-Strogatz generation, TieGraph, attaching newcomers, clustering."""


import numpy as np
import pytest
import scipy.sparse as sp

from sim.network import (
    TieGraph,
    attach_new_nodes,
    attach_settled_nodes,
    average_clustering,
    closure_probability,
    max_clustering,
    watts_strogatz_edges,
)


def _rng(seed=0):
    return np.random.default_rng(seed)


def _dense(graph):
    a = np.zeros((graph.n_slots, graph.n_slots))
    src, dst = graph.edges()
    np.add.at(a, (src, dst), 1.0)
    np.add.at(a, (dst, src), 1.0)
    return a


# ---------------------------------------------------------------- Watts-Strogatz


def test_max_clustering_matches_ring_lattice_formula():
    assert max_clustering(2) == 0.0
    assert max_clustering(4) == pytest.approx(0.5)
    assert max_clustering(8) == pytest.approx(18 / 28)


@pytest.mark.parametrize("k", [2, 4, 8, 10])
@pytest.mark.parametrize("frac", [0.0, 0.5, 1.0])
def test_mean_degree_within_one_percent(k, frac):
    n = 20_000
    src, dst = watts_strogatz_edges(n, k, frac * max_clustering(k), _rng(k))
    assert abs(2 * src.size / n - k) / k < 0.01
    assert not np.any(src == dst)


# Tolerance 0.05 absolute: C(p) ~= C(0)(1-p)^3 is Barrat & Weigt's approximation (a ratio of
# averages, ignoring triangles closed by rewired edges, ~k/n), not an identity for mean local
# clustering. Observed bias at n=20000 is < 0.01 and seed-to-seed spread ~0.002, so 0.05 covers
# the approximation with margin while still failing a wrong inversion (e.g. a linear
# p = 1 - C/C(0) gives ~0.02 for a 0.2 target).
@pytest.mark.parametrize("target", [0.0, 0.2, 0.4])
def test_average_clustering_hits_target(target):
    n, k = 20_000, 8
    rng = _rng(11)
    graph = TieGraph(n, *watts_strogatz_edges(n, k, target, rng))
    measured = average_clustering(graph, n, rng)
    assert abs(measured - target) < 0.05
    if target == 0.0:
        # Fully rewired = random graph, whose clustering is about k/n.
        assert measured < 10 * k / n


def test_zero_rewiring_gives_the_ring_lattice_once_per_edge():
    n, k = 50, 6
    src, dst = watts_strogatz_edges(n, k, max_clustering(k), _rng())
    assert src.size == n * k // 2
    pairs = {(min(a, b), max(a, b)) for a, b in zip(src.tolist(), dst.tolist())}
    assert len(pairs) == src.size  # no edge stored in both directions
    assert all(min((b - a) % n, (a - b) % n) <= k // 2 for a, b in pairs)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 8, 11])
def test_small_n_gives_complete_graph_without_repeats(n):
    k = 10
    src, dst = watts_strogatz_edges(n, k, max_clustering(k), _rng())
    pairs = {(min(a, b), max(a, b)) for a, b in zip(src.tolist(), dst.tolist())}
    assert len(pairs) == src.size
    assert not np.any(src == dst)
    if n <= k + 1:
        assert len(pairs) == n * (n - 1) // 2


def test_same_seed_same_edges_different_seed_different_edges():
    a = watts_strogatz_edges(5000, 8, 0.3, _rng(42))
    b = watts_strogatz_edges(5000, 8, 0.3, _rng(42))
    c = watts_strogatz_edges(5000, 8, 0.3, _rng(43))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[1].shape != c[1].shape or not np.array_equal(a[1], c[1])


@pytest.mark.parametrize("k", [0, 1, 3, 7, -2, 8.0, "8", None])
def test_bad_mean_degree_is_named(k):
    with pytest.raises(ValueError, match="mean_degree.*even integer >= 2"):
        watts_strogatz_edges(100, k, 0.0, _rng())
    with pytest.raises(ValueError, match="mean_degree"):
        max_clustering(k)


@pytest.mark.parametrize("c", [-0.01, 0.65, 1.0, float("nan")])
def test_bad_clustering_is_named(c):
    expected = r"clustering must be in \[0, 0.642857\] for mean_degree=8"
    with pytest.raises(ValueError, match=expected):
        watts_strogatz_edges(100, 8, c, _rng())


def test_k2_only_allows_zero_clustering():
    src, _ = watts_strogatz_edges(1000, 2, 0.0, _rng())
    assert src.size > 990
    with pytest.raises(ValueError, match="clustering"):
        watts_strogatz_edges(1000, 2, 0.1, _rng())


# ---------------------------------------------------------------- TieGraph


def _small_graph():
    # Repeated tie (0, 1)/(1, 0) and a self-tie (3, 3), which must be dropped.
    src = np.array([0, 1, 1, 2, 3, 4, 3])
    dst = np.array([1, 0, 2, 3, 4, 0, 3])
    return TieGraph(6, src, dst)


def test_counts_and_self_ties_dropped():
    g = _small_graph()
    assert g.n_slots == 6
    assert g.n_edges == 6
    np.testing.assert_array_equal(g.degree(), [3, 3, 2, 2, 2, 0])


def test_neighbour_sum_matches_dense_reference():
    g = _small_graph()
    dense = _dense(g)
    rng = _rng(3)
    v = rng.random(6)
    m = rng.random((6, 3))
    active = np.array([True, False, True, True, False, True])
    np.testing.assert_allclose(g.neighbour_sum(v), dense @ v)
    np.testing.assert_allclose(g.neighbour_sum(m), dense @ m)
    np.testing.assert_allclose(g.neighbour_sum(active), dense @ active.astype(float))
    np.testing.assert_allclose(g.neighbour_sum(np.ones(6)), g.degree())
    with pytest.raises(ValueError, match="shape"):
        g.neighbour_sum(np.ones(5))


def test_adjacency_is_symmetric_cached_and_matches_dense():
    n = 2000
    g = TieGraph(n, *watts_strogatz_edges(n, 6, 0.2, _rng(9)))
    a = g.adjacency()
    assert isinstance(a, sp.csr_matrix)
    assert a.shape == (n, n)
    assert (a != a.T).nnz == 0
    assert g.adjacency() is a
    np.testing.assert_allclose(np.asarray(a.sum(axis=1)).ravel(), g.degree())
    np.testing.assert_array_equal(_small_graph().adjacency().toarray(), _dense(_small_graph()))


def test_add_nodes_and_add_edges_invalidate_and_rebuild():
    g = _small_graph()
    a0 = g.adjacency()
    g.add_nodes(3)
    a1 = g.adjacency()
    assert a1 is not a0
    assert a1.shape == (9, 9)
    assert a1[6:].nnz == 0
    np.testing.assert_array_equal(g.degree()[6:], 0)

    g.add_edges(np.array([6, 7]), np.array([0, 8]))
    a2 = g.adjacency()
    assert a2 is not a1
    assert g.n_edges == 8
    np.testing.assert_array_equal(a2.toarray(), _dense(g))
    np.testing.assert_allclose(g.neighbour_sum(np.ones(9)), [4, 3, 2, 2, 2, 0, 1, 1, 1])

    # Nothing to add: the cache survives.
    g.add_nodes(0)
    g.add_edges(np.array([], dtype=int), np.array([], dtype=int))
    assert g.adjacency() is a2


def test_ties_are_stored_in_32_bits_while_slots_fit():
    from sim.network import _stored_dtype

    assert _stored_dtype(2**31 - 1) is np.int32
    assert _stored_dtype(2**31) is np.int64
    src, dst = _small_graph().edges()
    assert src.dtype == dst.dtype == np.int32


def test_many_small_additions_accumulate():
    g = TieGraph(1, np.array([], dtype=int), np.array([], dtype=int))
    for i in range(1, 3000):
        g.add_nodes(1)
        g.add_edges(np.array([i]), np.array([i - 1]))
    assert g.n_edges == 2999
    deg = g.degree()
    assert deg[0] == 1 and deg[-1] == 1 and np.all(deg[1:-1] == 2)


def test_add_edges_rejects_bad_input():
    g = _small_graph()
    with pytest.raises(ValueError, match="slots in"):
        g.add_edges(np.array([0]), np.array([6]))
    with pytest.raises(ValueError, match="slots in"):
        g.add_edges(np.array([-1]), np.array([2]))
    with pytest.raises(ValueError, match="equal length"):
        g.add_edges(np.array([0, 1]), np.array([2]))
    with pytest.raises(ValueError, match="integer"):
        g.add_edges(np.array([0.0]), np.array([1.0]))
    assert g.n_edges == 6


def _ties_dense(graph, slots):
    """Dense (len(slots), n_slots) tie counts rebuilt from ties_of."""
    pos, other, mult = graph.ties_of(slots)
    out = np.zeros((len(slots), graph.n_slots))
    np.add.at(out, (pos, other), mult)
    return out


@pytest.fixture(params=[True, False], ids=["compiled", "numpy"])
def both_paths(request, monkeypatch):
    """Run a test through the kernels and through the numpy reference (when numba is installed)."""
    import sim.kernels

    if request.param and not sim.kernels.COMPILED:
        pytest.skip("numba is not installed")
    monkeypatch.setattr(sim.kernels, "COMPILED", request.param)


def test_ties_of_lists_every_tie_with_multiplicity(both_paths):
    g = _small_graph()
    slots = np.array([0, 3, 5, 1])  # unsorted is fine
    np.testing.assert_array_equal(_ties_dense(g, slots), _dense(g)[slots])
    # ties added after the base matrix was built are read from the edge arrays
    g.neighbour_sum(np.ones(6))
    g.add_nodes(2)
    g.add_edges(np.array([6, 6, 7, 1]), np.array([0, 0, 3, 0]))
    slots = np.arange(8)
    np.testing.assert_array_equal(_ties_dense(g, slots), _dense(g))
    np.testing.assert_array_equal(_ties_dense(g, slots[::-1]), _dense(g)[::-1])
    assert [a.size for a in g.ties_of(np.array([], dtype=int))] == [0, 0, 0]
    with pytest.raises(ValueError, match="slots must be in"):
        g.ties_of(np.array([8]))
    with pytest.raises(ValueError, match="distinct"):
        g.ties_of(np.array([3, 1, 3]))
    with pytest.raises(ValueError, match="integer"):
        g.ties_of(np.array([1.0]))


def test_ties_of_and_sparse_neighbour_sum_follow_a_growing_graph(both_paths):
    # Many small monthly additions: the base matrix is refolded several times on the way, and
    # every answer must match the dense adjacency in between.
    rng = _rng(8)
    n = 400
    g = TieGraph(n, *watts_strogatz_edges(n, 6, 0.3, rng))
    g.add_edges(np.array([0, 0, 5]), np.array([1, 1, 5]))  # a repeated tie and a self-tie
    bases, reads_with_recent = set(), 0
    for month in range(60):
        g.add_nodes(int(rng.integers(0, 15)))
        m_new = int(rng.integers(0, 60))
        g.add_edges(rng.integers(0, g.n_slots, m_new), rng.integers(0, g.n_slots, m_new))
        if month % 10 == 0:
            continue  # two months of additions between reads
        dense = _dense(g)
        slots = rng.choice(g.n_slots, size=int(rng.integers(0, 60)), replace=False)
        np.testing.assert_array_equal(_ties_dense(g, slots), dense[slots])
        speaking = rng.random(g.n_slots) < 0.05  # sparse boolean: counted from its ties
        got = g.neighbour_sum(speaking)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, dense @ speaking)
        many = rng.random(g.n_slots) < 0.5  # dense boolean: the matrix path
        np.testing.assert_array_equal(g.neighbour_sum(many), dense @ many)
        bases.add(g._m_base)
        reads_with_recent += g.n_edges > g._m_base
    assert len(bases) >= 3 and reads_with_recent >= 20  # both parts of ties_of were exercised


# ---------------------------------------------------------------- attach_new_nodes


def test_attach_new_nodes_ties_to_anchor_and_candidates_only():
    n0 = 1000
    g = TieGraph(n0, *watts_strogatz_edges(n0, 4, 0.2, _rng(1)))
    m0 = g.n_edges
    candidates = np.arange(0, n0, 3)
    g.add_nodes(200)
    new = np.arange(n0, n0 + 200)
    anchors = np.where(np.arange(200) % 2 == 0, _rng(2).integers(0, n0, 200), -1)
    attach_new_nodes(g, new, anchors, 2, candidates, _rng(3))

    assert g.n_edges == m0 + 100 + 400
    src, dst = g.edges()
    src, dst = src[m0:], dst[m0:]
    assert np.all(np.isin(src, new))
    from_anchor = np.isin(dst, anchors[anchors >= 0])
    assert np.all(np.isin(dst, candidates) | from_anchor)
    deg = g.degree()[new]
    assert np.all(deg >= 2)
    assert np.all(deg[anchors >= 0] >= 3)
    # Each anchored newcomer is tied to its own anchor.
    a = g.adjacency()
    has = anchors >= 0
    assert np.all(np.asarray(a[new[has], anchors[has]]).ravel() >= 1)


def test_attach_anchor_only_gives_degree_one():
    g = TieGraph(10, np.array([0]), np.array([1]))
    g.add_nodes(3)
    attach_new_nodes(g, np.array([10, 11, 12]), np.array([0, 5, 5]), 0, np.arange(10), _rng())
    np.testing.assert_array_equal(g.degree()[10:], [1, 1, 1])


def test_attach_is_reproducible_and_handles_edge_cases():
    def build(seed):
        g = TieGraph(50, np.array([], dtype=int), np.array([], dtype=int))
        g.add_nodes(5)
        attach_new_nodes(g, np.arange(50, 55), np.full(5, -1), 3, np.arange(50), _rng(seed))
        return g.edges()

    np.testing.assert_array_equal(build(7)[1], build(7)[1])

    g = TieGraph(5, np.array([], dtype=int), np.array([], dtype=int))
    attach_new_nodes(g, np.array([3, 4]), np.array([-1, -1]), 2, np.array([], dtype=int), _rng())
    assert g.n_edges == 0  # no candidates, no anchors
    attach_new_nodes(g, np.array([4]), np.array([-1]), 5, np.array([4]), _rng())
    assert g.n_edges == 0  # the only candidate is the newcomer itself
    with pytest.raises(ValueError, match="anchors"):
        attach_new_nodes(g, np.array([3, 4]), np.array([-1]), 1, np.arange(3), _rng())


# ---------------------------------------------------------------- average_clustering


def test_average_clustering_on_known_graphs():
    k5 = np.array([(i, j) for i in range(5) for j in range(i + 1, 5)])
    assert average_clustering(TieGraph(5, k5[:, 0], k5[:, 1]), 100, _rng()) == pytest.approx(1.0)

    star = TieGraph(6, np.zeros(5, dtype=int), np.arange(1, 6))
    assert average_clustering(star, 6, _rng()) == 0.0

    # Triangle 0-1-2 plus pendant 3 on node 0, and a repeated tie that must not count twice:
    # local clustering is 1/3, 1, 1, 0 -> mean 7/12.
    g = TieGraph(4, np.array([0, 1, 2, 0, 1]), np.array([1, 2, 0, 3, 0]))
    assert average_clustering(g, 4, _rng()) == pytest.approx(7 / 12)


def test_average_clustering_sample_is_close_to_full():
    n = 20_000
    g = TieGraph(n, *watts_strogatz_edges(n, 8, 0.3, _rng(4)))
    full = average_clustering(g, n, _rng())
    assert abs(average_clustering(g, 3000, _rng(5)) - full) < 0.02


def _compiled_then_reference(monkeypatch, build):
    """build()'s answer with the compiled kernels, then with their numpy references."""
    import sim.kernels

    if not sim.kernels.COMPILED:
        pytest.skip("numba is not installed")
    answers = []
    for compiled in (True, False):
        monkeypatch.setattr(sim.kernels, "COMPILED", compiled)
        answers.append(build())
    return answers


# ---------------------------------------------------------------- attach_settled_nodes


def _settled_graph(p_closure, anchors, active=None, seed=1):
    src, dst = watts_strogatz_edges(200, 8, 0.3, _rng(seed))
    g = TieGraph(200, src, dst)
    g.add_nodes(len(anchors))
    new = np.arange(200, 200 + len(anchors))
    active = np.ones(200 + len(anchors), dtype=bool) if active is None else active
    before = {s: set() for s in range(200)}
    for a, b in zip(src, dst, strict=True):
        before[a].add(b)
        before[b].add(a)
    attach_settled_nodes(g, new, np.asarray(anchors), 8, np.arange(200), active, p_closure, _rng(seed + 1))
    return g, new, before


def test_settled_joiners_make_exactly_mean_degree_ties_the_first_their_referrer():
    anchors = np.array([5, -1, 17, -1] * 10)
    g, new, _ = _settled_graph(0.0, anchors)
    src, dst = g.edges()
    added_src, added_dst = src[-8 * len(new):], dst[-8 * len(new):]
    assert np.array_equal(added_src, np.repeat(new, 8))  # every joiner 8 ties, nothing else added
    firsts = added_dst.reshape(-1, 8)[:, 0]
    assert np.array_equal(firsts[anchors >= 0], anchors[anchors >= 0])
    assert np.all(added_dst < 200)


def test_closing_ties_go_to_active_friends_of_the_first_contact():
    anchors = np.full(60, 5)
    active = np.ones(260, dtype=bool)
    active[::3] = False  # a third of the base has churned: never a friend to be introduced to
    active[5] = True
    g, new, before = _settled_graph(1.0, anchors, active)
    later = g.edges()[1][-8 * len(new):].reshape(-1, 8)[:, 1:]
    friends = {f for f in before[5] if active[f]}
    assert set(later.ravel()) <= friends
    assert len(set(later.ravel())) > 1  # picks spread over the friends


@pytest.mark.parametrize("p_closure", [0.5, 1.0])
def test_compiled_closures_pick_the_reference_friends(p_closure, monkeypatch):
    # ties in the rows and recent ones not yet folded in, repeated ties, churned friends, contacts
    # shared by several joiners and contacts without a live friend: the same ties, in order
    def joined():
        rng = _rng(8)
        g = TieGraph(400, *watts_strogatz_edges(400, 6, 0.2, _rng(3)))
        g.add_edges(rng.integers(0, 400, 30), rng.integers(0, 400, 30))  # recent: under a tenth, not folded
        g.add_edges(np.array([7, 7, 7]), np.array([9, 9, 11]))  # a repeated tie
        g.add_edges(np.array([398]), np.array([399]))  # 399's only friend, 398, has left
        active = rng.random(400) > 0.25
        active[[7, 399]] = True
        active[398] = False
        anchors = np.concatenate([np.full(5, 7), np.full(3, 399), rng.integers(0, 400, 20), np.full(12, -1)])
        g.add_nodes(len(anchors))
        new = np.arange(400, 400 + len(anchors))
        active = np.concatenate([active, np.ones(len(anchors), dtype=bool)])
        attach_settled_nodes(g, new, anchors, 6, np.flatnonzero(active[:400]), active, p_closure, _rng(4))
        return g.edges()

    fast, ref = _compiled_then_reference(monkeypatch, joined)
    np.testing.assert_array_equal(fast[0], ref[0])
    np.testing.assert_array_equal(fast[1], ref[1])
    added = fast[1][-6 * 40:].reshape(40, 6)
    assert np.all(added[5:8, 1:] != 398)  # never the churned friend


def test_closures_over_several_chunks_of_contacts_on_both_twins_pick_the_reference_friends(monkeypatch):
    # 3,000 joiners tied to some 2,600 distinct first contacts: three chunks of TIE_CHUNK contacts,
    # read on two threads by the parallel twin (forced below its usual size) and by the sequential one
    import sim.kernels
    import sim.network

    assert sim.network.TIE_CHUNK == 1024

    def joined():
        rng = _rng(12)
        g = TieGraph(6000, *watts_strogatz_edges(6000, 8, 0.2, _rng(5)))
        g.add_edges(rng.integers(0, 6000, 400), rng.integers(0, 6000, 400))  # recent, not folded
        active = rng.random(6000) > 0.2
        anchors = np.where(rng.random(3000) < 0.7, rng.integers(0, 6000, 3000), -1)
        g.add_nodes(len(anchors))
        new = np.arange(6000, 6000 + len(anchors))
        active = np.concatenate([active, np.ones(len(anchors), dtype=bool)])
        attach_settled_nodes(g, new, anchors, 8, np.flatnonzero(active[:6000]), active, 0.6, _rng(6))
        return g.edges()

    compiled = sim.kernels.COMPILED
    answers = []
    for lowest in (0, 10**9):  # the parallel twin, then the sequential one
        monkeypatch.setattr(sim.kernels, "PARALLEL_MIN_ROWS", lowest)
        monkeypatch.setattr(sim.kernels, "COMPILED", compiled)  # the last call left the references on
        answers.append(_compiled_then_reference(monkeypatch, joined))
    (par, ref), (seq, _) = answers
    for got in (par, seq):
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_array_equal(got[1], ref[1])


def test_closure_probability_rises_with_clustering_and_is_zero_without():
    assert closure_probability(8, 0.0) == 0.0 and closure_probability(2, 0.3) <= 1.0
    shares = [closure_probability(8, c) for c in (0.05, 0.1, 0.3, 0.5)]
    assert all(0 < a < b <= 1 for a, b in zip(shares, shares[1:], strict=False))


def test_folds_and_renumbers_in_place_give_the_reference_rows(monkeypatch):
    # The kernels fold recent ties into the rows and close them up in place; the numpy reference
    # builds them afresh. Rows, their order within and the recent ties must agree at every step.
    def history():
        rng = _rng(21)
        g = TieGraph(300, *watts_strogatz_edges(300, 6, 0.3, _rng(2)))
        states = []
        for month in range(40):
            g.add_nodes(int(rng.integers(0, 12)))
            m = int(rng.integers(0, 50))
            g.add_edges(rng.integers(0, g.n_slots, m), rng.integers(0, g.n_slots, m))
            g.ties_of(np.arange(min(5, g.n_slots)))  # a query: folds once the recent ties pass a tenth
            if month % 9 == 8:
                gone = rng.random(g.n_slots) < 0.2
                g.renumber(np.where(gone, -1, np.cumsum(~gone) - 1))
            indptr, indices = g._base_rows()
            states.append((indptr.copy(), indices.copy(), *(a.copy() for a in g._recent_ties())))
        return states, _dense(g)

    (fast, dense_fast), (ref, dense_ref) = _compiled_then_reference(monkeypatch, history)
    for step, (a, b) in enumerate(zip(fast, ref, strict=True)):
        for x, y in zip(a, b, strict=True):
            assert np.array_equal(x, y), f"step {step} differs"
    np.testing.assert_array_equal(dense_fast, dense_ref)
    assert sum(len(s[2]) == 0 for s in fast) >= 3 and sum(len(s[2]) > 0 for s in fast) >= 10  # folds and scans


def test_graph_keeps_each_tie_once():
    # about 10 bytes a tie at a million customers: the rows' 8, pointers and room to grow
    n = 100_000
    g = TieGraph(n, *watts_strogatz_edges(n, 8, 0.3, _rng(4)))
    held = g._indptr.nbytes + g._indices.nbytes + g._src.nbytes + g._dst.nbytes
    assert held <= 1.3 * (2 * 4 * g.n_edges + 4 * n)
    src, dst = g.edges()
    assert src.size == g.n_edges and np.all(src != dst)


@pytest.mark.parametrize("twin", ["sequential", "parallel"])
def test_the_starting_graph_is_laid_out_as_a_fold_whatever_the_split(twin):
    # _first_fold_kernel splits the rows into ranges (the thread count) that each read every tie:
    # any split must give _fold_kernel's rows, each row's entries in the order its ties came
    from sim.network import _first_fold_kernel, _fold_kernel

    n = 5_000
    src, dst = watts_strogatz_edges(n, 8, 0.3, _rng(6))
    src, dst = src.copy(), dst.copy()
    src[::37] = dst[::37]  # self-ties: dropped
    rng = _rng(7)
    extra_src, extra_dst = rng.integers(0, n, 3_000), rng.integers(0, n, 3_000)  # repeats, any order
    src = np.concatenate([src, extra_src.astype(src.dtype)])
    dst = np.concatenate([dst, extra_dst.astype(dst.dtype)])
    ref_ptr, ref_ind = np.zeros(n + 1, dtype=np.int32), np.zeros(2 * len(src), dtype=np.int32)
    ref_added = _fold_kernel(ref_ptr, ref_ind, 0, n, src, dst, np.zeros(n + 1, dtype=np.int32))
    kernel = getattr(_first_fold_kernel, twin)
    for n_ranges in (1, 2, 3, 7, n + 5):  # more ranges than rows: the last ones are empty
        ptr, ind = np.zeros(n + 1, dtype=np.int32), np.full(2 * len(src), -1, dtype=np.int32)
        added = kernel(src, dst, n, n_ranges, ptr, ind, np.zeros(n + 1, dtype=np.int32))
        assert added == ref_added == np.count_nonzero(src != dst)
        assert np.array_equal(ptr, ref_ptr) and np.array_equal(ind[: 2 * added], ref_ind[: 2 * added]), n_ranges
