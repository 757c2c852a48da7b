"""The compiled stages give the numbers of their numpy references (sim.kernels).

Counts must agree exactly; floats to 1e-9 relative, room only for last-bit differences between
numpy's vectorised exp/pow and the C library's. Each case switches on a different part of the
model so every branch of every kernel is exercised.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

import sim.kernels
import sim.population
from sim import load_config, run
from sim.kernels import uniform_at, uniforms
from sim.rng import Streams, binomial_icdf, normal_icdf, poisson_icdf
from sim.stocks import record_stocks, record_stocks_numpy

pytestmark = pytest.mark.skipif(not sim.kernels.COMPILED, reason="numba is not installed")

SMALL = ["population.n_customers=2500", "years=2", "warmup_years=1", "seed=5", "progress=false"]
CASES = {
    "utility": [],
    "utility_firm_scale": ["population.n_customers=40000", "population.n_agents=2500"],
    "ebilling_push": ["scenario=ebilling_push"],
    "resolved_programme_des": ["scenario=resolved_programme", "contact_centre.mode=des", "years=1"],
    "telecom_contracts": ["population=telecom", "+contracts=telco_ibm"],
    "global_mixing_no_abuse": ["adoption.mixing=global", "abuse.enabled=false", "churn.rel_churn_new=2.0"],
    "closed_loop_cascade": ["scenario=closed_loop_feedback", "adoption.mixing=cascade"],
    "targeted_campaign": ["scenario=ebilling_push", "interventions.ebilling_campaign.target_segments=[business]"],
    "root_cause_elimination": ["scenario=root_cause_elimination"],
}
# what each case is there for: columns that must be non-zero in it
EXERCISES = {
    "closed_loop_cascade": ["closed_loop_recovered", "new_adopt_ebill"],
    "targeted_campaign": ["new_adopt_ebill", "recoveries_succeeded"],
    "root_cause_elimination": ["complaints_causes_eliminated"],
}


def _run_with(compiled: bool, overrides: list[str], monkeypatch) -> pd.DataFrame:
    with monkeypatch.context() as m:
        for mod in list(sys.modules.values()):
            if getattr(mod, "__name__", "").startswith("sim.") and getattr(mod, "COMPILED", None) is not None:
                m.setattr(mod, "COMPILED", compiled)
        return run(load_config([*SMALL, *overrides]), progress=False).monthly


@pytest.mark.parametrize("case", sorted(CASES))
def test_compiled_stages_match_the_numpy_reference(case, monkeypatch):
    fast = _run_with(True, CASES[case], monkeypatch)
    ref = _run_with(False, CASES[case], monkeypatch)
    assert list(fast.columns) == list(ref.columns)
    for col in ref.columns:
        a, b = fast[col].to_numpy(), ref[col].to_numpy()
        if np.issubdtype(b.dtype, np.integer):
            assert np.array_equal(a, b), f"{case}: {col} differs"
        else:
            assert np.allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True), f"{case}: {col} differs"
    assert ref["new_churn"].sum() > 0 and ref["calls_offered"].sum() > 0  # the cases do exercise the stages
    for col in EXERCISES.get(case, []):
        assert ref[col].sum() > 0, f"{case} never exercises {col}"


def test_flags_wider_than_a_byte_match_the_numpy_reference(monkeypatch):
    # 11 behaviours: 16-bit adoption flags, each read by every stage a behaviour acts in
    from sim.config import BehaviourConfig
    from sim.population import adoption_dtype

    monthly = {}
    for compiled in (True, False):
        cfg = load_config(SMALL + ["satisfaction.sat_bonus_per_behaviour=0.05"])
        needs, names = list(cfg.needs.types), list(cfg.adoption.behaviours)
        for i in range(11 - len(names)):
            cfg.adoption.behaviours[f"extra_{i}"] = BehaviourConfig(
                p_initial=0.3, rate_innovation=0.02, rate_imitation=0.1, rel_churn=0.8, rel_need={needs[i]: 0.6},
                rel_channel={"phone": 0.7}, cost_category="paper", cost_per_year_without=2.0)
        assert adoption_dtype(len(cfg.adoption.behaviours)) == np.uint16
        with monkeypatch.context() as m:
            for mod in list(sys.modules.values()):
                if getattr(mod, "__name__", "").startswith("sim.") and getattr(mod, "COMPILED", None) is not None:
                    m.setattr(mod, "COMPILED", compiled)
            monthly[compiled] = run(cfg, progress=False).monthly
    fast, ref = monthly[True], monthly[False]
    pd.testing.assert_frame_equal(fast, ref, check_exact=False, rtol=1e-9, atol=1e-12)
    assert ref["new_adopt_extra_2"].sum() > 0 and ref["cost_paper"].sum() > 0


def test_kernel_uniforms_are_the_streams_uniforms():
    s = Streams(42)
    slots = np.array([0, 1, 2, 17, 10**6, 2**40 + 3], dtype=np.int64)
    out = np.empty(len(slots))
    uniforms(np.uint64(s.key("churn.event", 40)), slots, out)
    assert np.array_equal(out, s.uniform_numpy("churn.event", 40, slots))


def test_kernel_quantiles_match_the_vectorised_ones():
    rng = np.random.default_rng(3)
    u = rng.random(20_000)
    lam = rng.gamma(1.0, 2.0, size=u.size)
    n = rng.integers(0, 12, size=u.size)
    p = rng.random(u.size)
    p[:50], p[50:100] = 0.0, 1.0
    poisson = np.array([sim.kernels.poisson_at(x, y, z) for x, y, z in zip(u, lam, np.exp(-lam), strict=True)])
    binomial = np.array([sim.kernels.binomial_at(x, k, q) for x, k, q in zip(u, n, p, strict=True)])
    assert np.array_equal(poisson, poisson_icdf(u, lam))
    assert np.array_equal(binomial, binomial_icdf(u, n, p))
    one = Streams(9)
    assert uniform_at(np.uint64(one.key("x", 2)), 123) == one.uniform_numpy("x", 2, np.array([123]))[0]
    edges = np.concatenate([u, [0.0, 1e-300, 1e-12, 0.5, 1 - 1e-12, 1.0]])
    assert np.array_equal([sim.kernels.normal_at(x) for x in edges], normal_icdf(edges))  # scipy's, to the bit


@pytest.mark.parametrize(("n", "degree", "clustering"), [(1, 2, 0.0), (4, 2, 0.0), (8, 8, 0.0), (9, 4, 0.5),
                                                          (10, 8, 0.2), (1000, 8, 0.3), (300_001, 10, 0.6)])
def test_ring_kernel_builds_the_reference_watts_strogatz_graph(n, degree, clustering, monkeypatch):
    import sim.network

    built = {}
    for compiled in (True, False):
        monkeypatch.setattr(sim.kernels, "COMPILED", compiled)
        built[compiled] = sim.network.watts_strogatz_edges(n, degree, clustering, np.random.default_rng(n))
    assert np.array_equal(built[True][0], built[False][0]) and np.array_equal(built[True][1], built[False][1])


class _Customers:
    """Just what record_stocks reads of a Population."""

    def __init__(self, sat: np.ndarray, rng: np.random.Generator, n_behaviours: int = 2):
        n = len(sat)
        self.satisfaction = sat
        self.active = rng.random(n) < 0.8
        self.segment = rng.integers(0, 3, n).astype(np.int16)
        dtype = sim.population.adoption_dtype(n_behaviours)  # a byte up to 8 behaviours, wider above
        shows = rng.random((n, n_behaviours)) < rng.uniform(0.05, 0.6, n_behaviours)
        self.adoption = (shows.astype(np.uint64) << np.arange(n_behaviours, dtype=np.uint64)).sum(axis=1).astype(dtype)
        self.segment_names = ["a", "b", "c"]
        self.behaviour_names = [f"b{j}" for j in range(n_behaviours)]

    def shows_matrix(self, slots: np.ndarray) -> np.ndarray:
        return sim.population.unpacked(self.adoption[slots], len(self.behaviour_names))

    def active_slots(self) -> np.ndarray:
        return np.flatnonzero(self.active)


@pytest.mark.parametrize("n_behaviours", [2, 8, 11])  # flags of a byte (tallied by value) and of two bytes
@pytest.mark.parametrize("values", ["continuous", "ties", "one", "two", "none", "constant"])
def test_stocks_kernel_matches_numpy_percentiles_and_counts(values, n_behaviours):
    rng = np.random.default_rng(8)
    sat = {"continuous": np.clip(rng.normal(7.5, 1.8, 50_001), 0, 10),
           "ties": rng.integers(0, 11, 9_999).astype(float),  # many equal values across bin edges
           "one": np.array([6.5]), "two": np.array([9.5, 3.0]), "none": np.zeros(0),
           "constant": np.full(1_000, 8.0)}[values]
    pop = _Customers(sat, rng, n_behaviours)
    if values in ("one", "two"):
        pop.active[:] = True
    fast, ref = {}, {}
    record_stocks(pop, fast)
    record_stocks_numpy(pop, ref)
    assert fast.keys() == ref.keys()
    for key in ref:
        assert fast[key] == pytest.approx(ref[key], rel=1e-12, abs=1e-12, nan_ok=True), key


def test_need_counts_fit_the_byte_they_are_held_in():
    # the largest count a need can have: the Poisson draw's cap at the highest rate sim.config allows
    from sim.config import MAX_NEED_RATE, MAX_NEED_TYPES
    from sim.kernels import poisson_at
    from sim.month_state import NEED_COUNT_DTYPE

    u_top = np.nextafter(1.0, 0.0)
    top = poisson_at(u_top, MAX_NEED_RATE, float(np.exp(-MAX_NEED_RATE)))
    assert top == poisson_icdf(np.array([u_top]), np.array([MAX_NEED_RATE]))[0] == 211
    assert top <= np.iinfo(NEED_COUNT_DTYPE).max
    assert MAX_NEED_TYPES * top <= np.iinfo(np.int16).max  # a channel's contacts: every need type's summed


@pytest.mark.parametrize("nans", ["none", "some", "all"])
def test_adoption_range_kernel_is_fmin_fmax_of_the_gathered_scores(nans):
    from sim.modules.adoption import _range_at

    rng = np.random.default_rng(5)
    sat = rng.uniform(0, 10, 2_000).astype(np.float32)
    sat[rng.random(len(sat)) < {"none": 0.0, "some": 0.3, "all": 1.1}[nans]] = np.nan
    act = np.sort(rng.choice(len(sat), 700, replace=False))
    gathered = sat[act].astype(np.float64)
    expected = (np.fmin.reduce(gathered), np.fmax.reduce(gathered))
    np.testing.assert_array_equal(_range_at(sat, act), expected)  # NaN == NaN here, and exact otherwise


def test_paid_acquisition_quantile_is_scipys_poisson_ppf():
    from scipy.stats import poisson

    from sim.modules.referral import _poisson_quantile

    rng = np.random.default_rng(11)
    for _ in range(5_000):
        u, lam = rng.random(), float(rng.choice([rng.uniform(0, 5), rng.uniform(5, 500), rng.uniform(500, 5e4)]))
        assert _poisson_quantile(u, lam) == poisson.ppf(u, lam)


def test_kernel_caches_are_keyed_by_the_shared_helpers_too():
    # a cached kernel elsewhere must not outlive a change to the helpers it inlines (poisson_at...)
    from sim.modules.needs import _needs_kernel

    for twin in (_needs_kernel.sequential, _needs_kernel.parallel):  # a chunked kernel: both twins
        stamp = twin._cache._impl.locator.get_source_stamp()
        assert sim.kernels.HELPERS_DIGEST is not None and stamp[1] == sim.kernels.HELPERS_DIGEST
    with open(sim.kernels.__file__, "rb") as source:
        import hashlib

        assert hashlib.sha256(source.read()).hexdigest() == sim.kernels.HELPERS_DIGEST


@pytest.fixture
def parallel_everywhere(monkeypatch):
    """Chunked kernels on their parallel twins whatever the number of rows, on two threads."""
    import numba

    threads = numba.get_num_threads()
    monkeypatch.setattr(sim.kernels, "PARALLEL_MIN_ROWS", 0)
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    yield
    numba.set_num_threads(threads)


def test_parallel_twins_give_the_sequential_numbers_to_the_bit(parallel_everywhere, monkeypatch):
    """40,000 customers are three chunks: the parallel twins (chunks on two threads, their totals
    and lists joined in chunk order) and the sequential twins give identical monthly tables, and
    so does one thread on the parallel twins. Results never depend on the thread count; and the
    chunks' joined totals are the numpy reference's."""
    import numba

    overrides = ["population.n_customers=40000", "years=1", "warmup_years=1", "seed=3", "scenario=ebilling_push"]
    parallel = _run_with(True, overrides, monkeypatch)
    numba.set_num_threads(1)
    one_thread = _run_with(True, overrides, monkeypatch)
    monkeypatch.setattr(sim.kernels, "PARALLEL_MIN_ROWS", 10**9)
    sequential = _run_with(True, overrides, monkeypatch)
    assert parallel.equals(sequential) and one_thread.equals(sequential)
    ref = _run_with(False, overrides, monkeypatch)
    for col in ref.columns:  # as test_compiled_stages_match_the_numpy_reference, over several chunks
        a, b = sequential[col].to_numpy(), ref[col].to_numpy()
        if np.issubdtype(b.dtype, np.integer):
            assert np.array_equal(a, b), col
        else:
            assert np.allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True), col
    assert ref["new_churn"].sum() > 0 and ref["new_adopt_ebill"].sum() > 0 and ref["self_service_spills"].sum() > 0


def test_economics_sums_begun_beside_acquisition_are_the_ones_its_step_makes(monkeypatch):
    """With two threads (and, from PARALLEL_MIN_ROWS customers, here forced lower) economics'
    per-customer sums start once churn has run and finish while acquisition runs; with one they are
    made in economics' own step. The months are identical."""
    import numba

    from sim.modules.economics import Economics

    if not sim.kernels.COMPILED or numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs numba and two threads")
    begun = []
    start = Economics.start

    def recorded(self, model, ms):
        start(self, model, ms)
        begun.append(ms.billing is not None)

    monkeypatch.setattr(Economics, "start", recorded)
    threads = numba.get_num_threads()
    overrides = ["population.n_customers=20000", "years=1", "warmup_years=0", "seed=5"]
    try:
        numba.set_num_threads(2)
        monkeypatch.setattr(sim.kernels, "PARALLEL_MIN_ROWS", 0)
        beside = _run_with(True, overrides, monkeypatch)
        assert begun and all(begun)
        begun.clear()
        numba.set_num_threads(1)
        in_step = _run_with(True, overrides, monkeypatch)
        assert begun and not any(begun)
    finally:
        numba.set_num_threads(threads)
    assert beside.equals(in_step)
    assert beside["revenue"].gt(0).all() and beside["cost_to_serve"].gt(0).all()


def test_what_runs_beside_hands_back_its_error():
    from sim.kernels import Beside

    def failing(x):
        raise ValueError(f"no sums for {x}")

    with pytest.raises(ValueError, match="no sums for 3"):
        Beside(failing, 3).result()
    assert Beside(lambda a, b: a + b, 2, 5).result() == 7


@pytest.mark.parametrize("twin", ["sequential", "parallel"])
def test_the_adoption_screen_lists_every_chunk_in_order_or_says_it_did_not_fit(twin):
    from sim.kernels import CHUNK
    from sim.modules.adoption import _screen_kernel

    n = 2 * CHUNK + 1000  # three chunks, the last short
    act = np.arange(n, dtype=np.int64)[::-1].copy()  # rows in an order unlike the slots'
    uid = np.arange(n, dtype=np.uint32) * 7
    keys = np.array([11, 12], dtype=np.uint64)
    bounds = np.array([0.2, 0.05])
    adopted = np.zeros(n, dtype=np.uint8)
    adopted[::3] = 0b10  # every third shows behaviour 1: not screened for it
    satisfaction = np.linspace(0.0, 10.0, n).astype(np.float32)
    threshold, ceiling = np.array([2.0, 0.0]), np.array([1.0, 1.0])
    kernel = getattr(_screen_kernel, twin)

    def screen(per_chunk):
        rows, which, u = (np.empty(3 * per_chunk, dtype=np.int64), np.empty(3 * per_chunk, dtype=np.int64),
                          np.empty(3 * per_chunk))
        k = kernel(act, uid, keys, bounds, adopted, satisfaction, threshold, ceiling, keys, per_chunk, rows, which, u)
        return k, rows[:max(k, 0)], which[:max(k, 0)], u[:max(k, 0)]

    expected = [(i, b) for i in range(n) for b in range(2)
                if uniform_at(keys[b], uid[act[i]]) < bounds[b] and not (adopted[act[i]] >> b) & 1
                and not satisfaction[act[i]] < threshold[b]]
    k, rows, which, u = screen(2 * CHUNK)
    assert k == len(expected) and list(zip(rows.tolist(), which.tolist())) == expected
    assert np.array_equal(u, [uniform_at(keys[b], uid[act[i]]) for i, b in expected])
    assert screen(100)[0] == -1  # a chunk's pairs did not fit: the caller makes room for all


def test_lists_that_outgrow_their_room_are_made_again_with_room_for_every_row(monkeypatch):
    """The adoption screen's pairs, churn's leavers, the referrers, the speaking detractors and the
    complainers are listed in sim.kernels.room_per_chunk entries per chunk of customers; a chunk
    that lists more makes its kernel return -1 and the stage run it again with room for every row
    (sim.kernels.listed_in_room). With room for a single entry a chunk, every one of them
    overflows, and the run is the run with the usual room."""
    from sim.modules import adoption, churn, complaints, referral

    overrides = ["population.n_customers=40000", "years=1", "warmup_years=1", "seed=5"]  # three chunks
    usual = _run_with(True, overrides, monkeypatch)
    lists = {(adoption, "_screen_kernel"): 0, (churn, "_churn_kernel"): 0, (referral, "_referrals_kernel"): 0,
             (referral, "_speakers_kernel"): 0, (complaints, "_raise_kernel"): 0}

    def counting(module, name):
        kernel = getattr(module, name)

        def call(*args):
            result = kernel(*args)
            lists[module, name] += (result[0] if isinstance(result, tuple) else result) == -1
            return result
        monkeypatch.setattr(module, name, call)

    for module, name in lists:
        counting(module, name)
    monkeypatch.setattr(sim.kernels, "room_per_chunk", lambda share, n_rows: 1)
    tight = _run_with(True, overrides, monkeypatch)
    # every month (the screen: every reported month, as adoption waits for the warm-up to end)
    assert all(overflows >= 12 for overflows in lists.values()), lists
    assert tight.equals(usual)
    for listed in ("new_churn", "new_acquired_referred", "detractors_speaking", "complaints", "new_adopt_ebill"):
        assert usual[listed].sum() > 0, listed


def test_satisfaction_kernel_over_several_chunks_is_the_reference_on_both_twins():
    # 30,000 touched customers are two chunks and part of a third: each twin moves every touched
    # customer's satisfaction and expectation as Satisfaction.step_numpy does, and returns the sum
    # of their experiences added in row order (float64), whichever thread computed each row
    from sim.modules.satisfaction import _satisfaction_kernel

    rng = np.random.default_rng(4)
    n_slots, n = 90_000, 60_000
    act = np.sort(rng.choice(n_slots, n, replace=False)).astype(np.int64)
    touch_n = rng.integers(0, 3, n).astype(np.int32)
    touch_sum = (rng.random(n) * 10.0 * touch_n).astype(np.float32)
    rows = np.flatnonzero(touch_n)
    uid = rng.permutation(n_slots).astype(np.uint32)
    satisfaction = rng.uniform(0.0, 10.0, n_slots).astype(np.float32)
    expectation = rng.uniform(0.0, 10.0, n_slots).astype(np.float32)
    sensitivity = rng.uniform(0.5, 1.5, n_slots).astype(np.float32)
    streams, effort, sd, gain, loss, adapt = Streams(8), 0.3, 0.7, 0.05, 0.12, 0.1
    key = np.uint64(streams.key("satisfaction.noise", 4))

    slots = act[rows]
    experience = touch_sum[rows].astype(np.float64) / touch_n[rows] - effort
    experience = np.clip(experience + sd * normal_icdf(streams.uniform_numpy("satisfaction.noise", 4, uid[slots])),
                         0.0, 10.0)
    gap = experience - expectation[slots].astype(np.float64)
    want_sat, want_exp = satisfaction.copy(), expectation.copy()
    want_sat[slots] += np.where(gap > 0, gain, loss) * sensitivity[slots] * gap
    want_exp[slots] += adapt * gap
    want_sum = 0.0
    for x in experience:
        want_sum += x
    assert len(rows) > 2 * sim.kernels.CHUNK
    for twin in (_satisfaction_kernel.sequential, _satisfaction_kernel.parallel):
        sat, exp, out = satisfaction.copy(), expectation.copy(), np.zeros(n, dtype=np.float32)
        total = twin(act, rows, touch_sum, touch_n, effort, sd, key, uid, out, np.empty(len(rows)), sat, exp,
                     sensitivity, gain, loss, adapt)
        assert total == want_sum
        assert np.array_equal(sat, want_sat) and np.array_equal(exp, want_exp)
        assert np.array_equal(out[rows], experience.astype(np.float32)) and not out[touch_n == 0].any()
