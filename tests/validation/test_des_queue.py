"""Validate the discrete-event contact centre against queueing theory.

* Erlang A formulas (sim.contact_centre.erlang_a) against an independent numerical solution of
  the birth-death chain: the steady state of the truncated generator solved with numpy, and a
  tagged-caller absorbing chain (matrix exponential / linear solves) for the waits of served
  callers and the service level. Tolerance 1e-8 relative (both are exact up to truncation and
  rounding; they agree to ~1e-11; the generator's linear solve is accurate to ~1e-11 absolute, so
  tiny probabilities are compared to 1e-10 absolute).
* The SimPy engine (sim.contact_centre.des_mode.simulate_queue) against Erlang C (patience off)
  and Erlang A (exponential patience) in a stationary queue: Poisson arrivals, exponential
  handle times, constant staffing. Each figure is estimated from R independent replications
  (warm-up discarded); the test asserts the exact value lies inside the 99% confidence interval
  mean +- t(0.995, R-1) * SE, and that the interval is narrow (half-width under the stated share
  of the value), so agreement is not bought with noise.
* The whole model in ``contact_centre.mode=des`` against the fast ``erlang_c`` mode when the
  event mode is set up as a stationary M/M/c (flat profile, seven open days, patience off, no
  retries or IVR, at most one repeat per issue): the event mode's p_wait, ASA, service level,
  occupancy and FCR over months 1-11 match the fast mode's within tolerances stated there
  (measured spread over ten seeds, |mean| + 3 sd).
* The whole model's event mode on a line open around the clock at high load (85-90 agents, about
  1,000 calls an hour, occupancy 0.93-0.96): each of 36 months against Erlang A (85 agents,
  3-minute patience) and Erlang C (90 agents, no abandonment) at that month's own arrival rate;
  the mean difference lies within 1.5 half-widths of its 95% confidence interval (slow tests), with
  every day simulated and, for Erlang A, with representative days too (48 months).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
from scipy import stats

from sim import load_config, run
from sim.contact_centre.des_mode import simulate_queue
from sim.contact_centre.erlang import erlang_c_metrics
from sim.contact_centre.erlang_a import (
    erlang_a_metrics,
    erlang_a_p_abandon,
    erlang_a_p_wait,
    log_a_function,
)

# ---------------------------------------------------------------------------------------------
# Erlang A formulas vs the birth-death chain


def _chain(lam, h, n, patience, t):
    """Independent numerical Erlang A: truncated CTMC steady state plus a tagged-caller chain."""
    mu, th = 1.0 / h, 1.0 / patience
    x, y = n * patience / h, lam * patience  # the queue rarely exceeds max(y - x, 0) + a few sqrt(y)
    size = int(n + max(y - x, 0.0) + 15.0 * math.sqrt(y) + 100)
    q = np.zeros((size + 1, size + 1))
    for j in range(size + 1):
        if j < size:
            q[j, j + 1] = lam
        if j > 0:
            q[j, j - 1] = min(j, n) * mu + max(j - n, 0) * th
    np.fill_diagonal(q, -q.sum(axis=1))
    a = q.T.copy()
    a[-1, :] = 1.0  # pi Q = 0 is rank-deficient by one: replace one balance equation by sum(pi) = 1
    rhs = np.zeros(size + 1)
    rhs[-1] = 1.0
    pi = np.linalg.solve(a, rhs)
    p_wait = pi[n:].sum()  # PASTA: an arrival sees the time-stationary state
    queue = float(np.sum(np.maximum(np.arange(size + 1) - n, 0) * pi))
    p_ab = th * queue / lam  # abandonment flow = theta * E[Q]
    # tagged caller who finds k waiting ahead: states k = 0..K, absorbing served (K+1) / gone (K+2)
    kmax = size - n
    m = np.zeros((kmax + 3, kmax + 3))
    for k in range(kmax + 1):
        if k > 0:
            m[k, k - 1] = n * mu + k * th
        else:
            m[k, kmax + 1] = n * mu
        m[k, kmax + 2] = th
    np.fill_diagonal(m, -m.sum(axis=1))
    seen = pi[n:n + kmax + 1] / pi[n:].sum()
    served_by_t = scipy.linalg.expm(m * t)[:kmax + 1, kmax + 1]
    transient = m[:kmax + 1, :kmax + 1]
    p_served = np.linalg.solve(-transient, m[:kmax + 1, kmax + 1])
    time_if_served = np.linalg.solve(-transient, p_served)  # E[tau; served | k]
    return {
        "p_wait": p_wait,
        "p_abandon": p_ab,
        "mean_wait_s": queue / lam,
        "service_level": 1.0 - p_wait + p_wait * float(seen @ served_by_t),
        "mean_wait_served_s": p_wait * float(seen @ time_if_served) / (1.0 - p_ab),
    }


ERLANG_A_CASES = [
    # (calls per second, mean handle s, agents, mean patience s, threshold s)
    (100 / 1800, 180.0, 11, 120.0, 20.0),  # the Erlang C textbook interval with impatient callers
    (100 / 1800, 180.0, 8, 300.0, 20.0),  # under-staffed: the queue is stable only thanks to abandonment
    (0.5, 300.0, 140, 180.0, 20.0),  # a large centre near critical load
    (0.2, 300.0, 40, 600.0, 30.0),  # 50% overloaded
    (2.0, 300.0, 500, 300.0, 20.0),  # 20% overloaded, 500 agents (large arguments of A(x, y))
    (0.01, 300.0, 12, 60.0, 20.0),  # lightly loaded: A(x, y) close to 1
]


@pytest.mark.parametrize("lam,h,n,pat,t", ERLANG_A_CASES)
def test_erlang_a_matches_birth_death_chain(lam, h, n, pat, t):
    m = erlang_a_metrics(lam, h, n, pat, t)
    ref = _chain(lam, h, n, pat, t)
    for key, value in ref.items():
        assert getattr(m, key) == pytest.approx(value, rel=1e-8, abs=1e-10), key
    assert m.mean_wait_s == pytest.approx(m.p_abandon * pat, rel=1e-12)  # Little: P(ab) = theta E[W]


def test_a_function_closed_form_matches_series():
    # A(x, y) = x e^y y^-x gamma(x, y) = sum_k y^k / ((x+1)...(x+k)); both branches of the code
    for x, y in [(5.0, 3.0), (50.0, 80.0), (400.0, 100.0), (2000.0, 2100.0), (0.5, 7.0)]:
        k = np.arange(0, 20000)
        logs = k * math.log(y) - np.cumsum(np.log(x + np.concatenate([[1.0], k[1:].astype(float)]))) \
            + np.log(x + 1.0)
        series = float(np.logaddexp.reduce(logs))
        assert log_a_function(x, y) == pytest.approx(series, rel=1e-10)


def test_erlang_a_limits():
    # very patient callers -> Erlang C; nobody waiting -> no abandonment
    c = erlang_c_metrics(100 / 1800, 180.0, 12, 20.0)
    a = erlang_a_metrics(100 / 1800, 180.0, 12, 1e7, 20.0)
    assert a.p_wait == pytest.approx(c.p_wait, rel=1e-4)
    assert a.mean_wait_s == pytest.approx(c.mean_wait_s, rel=1e-3)
    assert a.service_level == pytest.approx(c.service_level, rel=1e-4)
    inf = erlang_a_metrics(100 / 1800, 180.0, 12, math.inf, 20.0)
    assert inf.p_wait == c.p_wait and inf.p_abandon == 0.0
    assert erlang_a_p_abandon(0.0, 180.0, 3, 60.0) == 0.0
    assert erlang_a_p_wait(1.0, 180.0, 0, 60.0) == 1.0


# ---------------------------------------------------------------------------------------------
# the SimPy engine vs Erlang C / Erlang A


def _replications(lam, h, n, patience, t, reps=10):
    """Per-replication estimates from independent stationary runs of the engine: 50,000 calls
    (2,000 of warm-up) per 10 agents, so a big centre's replication spans as many hours."""
    scale = max(1, n // 10)
    calls, warmup = 50_000 * scale, 2_000 * scale
    out = []
    for r in range(reps):
        rng = np.random.default_rng([20240611, r])
        arrival = np.cumsum(rng.exponential(1.0 / lam, calls))
        handle = rng.exponential(h, calls)
        pat = np.full(calls, math.inf) if math.isinf(patience) else rng.exponential(patience, calls)
        res = simulate_queue(arrival, handle, pat, [n], interval_s=float(arrival[-1]) + 1.0)
        v, ans = res.virtual_wait[warmup:], res.answered[warmup:]
        wait = np.where(ans, v, pat[warmup:])
        out.append({
            "p_wait": np.mean(v > 0),
            "p_abandon": np.mean(~ans),
            "mean_wait_s": np.mean(wait),
            "service_level": np.mean(ans & (wait <= t)),
            "p_abandon_within": np.mean(~ans & (wait <= t)),
        })
    return {k: np.array([o[k] for o in out]) for k in out[0]}


def _assert_in_ci(samples, exact, max_rel_halfwidth, name):
    r = len(samples)
    mean = float(samples.mean())
    half = stats.t.ppf(0.995, r - 1) * samples.std(ddof=1) / math.sqrt(r)
    assert half <= max_rel_halfwidth * abs(exact), f"{name}: CI too wide ({half:.4g} vs {exact:.4g})"
    assert abs(mean - exact) <= half, f"{name}: DES {mean:.5g} +- {half:.3g} vs exact {exact:.5g}"


@pytest.mark.parametrize("n,load", [(10, 8.0), (4, 3.2), (90, 83.7)])  # 83.7 on 90: occupancy 0.93
def test_engine_matches_erlang_c_without_patience(n, load):
    # tolerance: exact value inside the 99% CI of 10 replications x 48k calls per 10 agents; CI
    # half-width under 6% of p_wait, 15% of the mean wait and 3% of the service level
    h = 300.0
    lam = load / h
    est = _replications(lam, h, n, math.inf, 20.0)
    exact = erlang_c_metrics(lam, h, n, 20.0)
    assert np.all(est["p_abandon"] == 0.0)
    _assert_in_ci(est["p_wait"], exact.p_wait, 0.06, "p_wait")
    _assert_in_ci(est["mean_wait_s"], exact.mean_wait_s, 0.15, "mean wait")
    _assert_in_ci(est["service_level"], exact.service_level, 0.03, "service level")


@pytest.mark.parametrize("n,load,patience", [(10, 9.0, 180.0), (10, 11.0, 180.0), (30, 28.0, 600.0),
                                             (85, 83.3, 180.0), (88, 92.0, 300.0)])
def test_engine_matches_erlang_a_with_exponential_patience(n, load, patience):
    # tolerance: exact value inside the 99% CI of 10 replications x 48k calls per 10 agents; CI
    # half-width under 5% of P(wait), 12% of P(abandon), 10% of the mean wait and 5% of the
    # service level
    h = 300.0
    lam = load / h
    est = _replications(lam, h, n, patience, 20.0)
    exact = erlang_a_metrics(lam, h, n, patience, 20.0)
    _assert_in_ci(est["p_wait"], exact.p_wait, 0.05, "p_wait")
    _assert_in_ci(est["p_abandon"], exact.p_abandon, 0.12, "p_abandon")
    _assert_in_ci(est["mean_wait_s"], exact.mean_wait_s, 0.10, "mean wait")
    _assert_in_ci(est["service_level"], exact.service_level, 0.05, "service level")
    # hung up before the 20-second threshold: half-width under 15% of it
    _assert_in_ci(est["p_abandon_within"], exact.p_abandon_within_threshold, 0.15, "P(abandon within 20 s)")


def test_abandoning_within_the_threshold_runs_from_nobody_to_every_abandoner():
    at = [erlang_a_metrics(1000 / 3600, 300.0, 85, 180.0, t) for t in (0.0, 5.0, 20.0, 60.0, 600.0, 1e7)]
    within = [m.p_abandon_within_threshold for m in at]
    assert within[0] == 0.0 and within[-1] == pytest.approx(at[0].p_abandon, rel=1e-9)
    assert all(a <= b for a, b in zip(within, within[1:]))
    assert erlang_a_metrics(1000 / 3600, 300.0, 85, math.inf, 20.0).p_abandon_within_threshold == 0.0


# ---------------------------------------------------------------------------------------------
# the event mode vs the fast mode on a whole-model run

STATIONARY = [
    "population.n_customers=50000", "years=1", "progress=false", "seed=3",
    "contact_centre.rel_intraday=[1,1,1,1,1,1,1,1,1,1]", "contact_centre.dur_interval_min=60",
    "contact_centre.rel_weekday=[1,1,1,1,1,1,1]", "contact_centre.dur_open_hours_month=300",
    "contact_centre.patience=off", "contact_centre.dur_max_wait_s=36000", "contact_centre.p_retry=0",
    "contact_centre.p_ivr_contained=0", "contact_centre.n_attempts_max=2",
    "contact_centre.handle_distribution=exponential", "contact_centre.n_calls_full_sim_max=1000000",
]


@pytest.fixture(scope="module")
def both_modes():
    fast = run(load_config(STATIONARY + ["contact_centre.mode=erlang_c"])).monthly
    des = run(load_config(STATIONARY + ["contact_centre.mode=des"])).monthly
    return fast, des


def test_event_and_fast_mode_agree_on_a_stationary_queue(both_modes):
    fast, des = both_modes
    f, d = fast.iloc[1:], des.iloc[1:]  # month 0: the event mode has no repeats carried in yet
    # same staffing: both plan to the same forecast load with Erlang C
    assert np.array_equal(f["agents_staffed"].to_numpy(float), d["agents_staffed"].to_numpy(float))
    assert d["calls_abandoned"].sum() == 0
    w = d["calls_offered"].to_numpy(float)

    def avg(frame, col):
        return float(np.average(frame[col], weights=w))

    # Tolerances from the spread of (event - fast) over seeds 0-9 of this set-up (mean, sd):
    # calls offered (0.0%, 0.26%), fcr (-0.0006, 0.0038), occupancy (+0.0002, 0.0027),
    # p_wait (-0.0048, 0.0039), service level (+0.0046, 0.0039), ASA (-3.7%, 4.9%). The small
    # offset in the waits is real, not noise: the event mode opens every morning with an empty
    # queue, which Erlang C's steady state does not (with 24-hour days the p_wait offset shrinks
    # to -0.0012). Each tolerance covers |mean| + 3 sd.
    assert d["calls_offered"].sum() == pytest.approx(f["calls_offered"].sum(), rel=0.01)
    assert avg(d, "fcr") == pytest.approx(avg(f, "fcr"), abs=0.015)
    assert avg(d, "occupancy") == pytest.approx(avg(f, "occupancy"), abs=0.01)
    assert avg(d, "p_wait") == pytest.approx(avg(f, "p_wait"), abs=0.017)
    assert avg(d, "service_level") == pytest.approx(avg(f, "service_level"), abs=0.017)
    assert avg(d, "asa_s") == pytest.approx(avg(f, "asa_s"), rel=0.19)


# ---------------------------------------------------------------------------------------------
# the whole model's event mode vs Erlang A and Erlang C: a centre open around the clock at high load

def _round_the_clock(agents: int, patience: str) -> list[str]:
    """A 24-hour, 7-day centre (24 one-hour intervals) of ``agents`` agents and about 1,000 calls
    an hour (a 9.4M-customer utility, simulated by 20,000 agents and their twins), set up as the
    formulas assume: exponential 5-minute handle times, no retries, repeats or IVR."""
    return [
        "population.n_customers=9400000", "population.n_agents=20000", "years=3", "warmup_years=0",
        "progress=false", "seed=1", "contact_centre.mode=des", "contact_centre.dur_interval_min=60",
        "contact_centre.rel_intraday=[" + ",".join(["1"] * 24) + "]", "contact_centre.rel_weekday=[1,1,1,1,1,1,1]",
        "contact_centre.agents_per_interval=[" + ",".join([str(agents)] * 24) + "]",
        "contact_centre.handle_distribution=exponential", "contact_centre.dur_handle_s=300",
        "contact_centre.p_retry=0", "contact_centre.p_ivr_contained=0", "contact_centre.p_first_contact_resolution=1",
        "contact_centre.n_attempts_max=1", "contact_centre.dur_max_wait_s=36000",
        "contact_centre.n_calls_full_sim_max=100000000", f"contact_centre.patience={patience}",
        "contact_centre.dur_patience_mean_s=180",
    ]


def _month_by_month(monthly, agents: int, patience_s: float, kpis: dict[str, str]):
    """Each month's event-mode figure minus the formula's at that month's own arrival rate."""
    lam = monthly["calls_offered"].to_numpy(float) / (30 * 24 * 3600.0)
    exact = [erlang_a_metrics(x, 300.0, agents, patience_s, 20.0) for x in lam]
    return {k: monthly[col].to_numpy(float) - np.array([getattr(e, k) for e in exact])
            for k, col in kpis.items()}, exact


def _assert_unbiased(diff: np.ndarray, exact_mean: float, max_rel_halfwidth: float, name: str):
    n = len(diff)
    half = stats.t.ppf(0.975, n - 1) * diff.std(ddof=1) / math.sqrt(n)
    assert half <= max_rel_halfwidth * exact_mean, f"{name}: CI too wide ({half:.4g} vs {exact_mean:.4g})"
    assert abs(diff.mean()) <= 1.5 * half, (f"{name}: event mode - formula = {diff.mean():+.5f}, "
                                           f"{abs(diff.mean()) / half:.2f} half-widths of the 95% CI")


@pytest.mark.slow
def test_round_the_clock_event_mode_matches_erlang_a_at_85_agents():
    # 36 month-replications at ~1,000 calls an hour, 85 agents, 3-minute mean patience: load 83
    # Erlangs, occupancy 0.93-0.96. Each month is compared with Erlang A at its own arrival rate;
    # tolerance: the mean difference within 1.5 half-widths of its 95% CI, the half-width under
    # 4% of P(wait) and 6% of P(abandon). Before the queue carried over midnight (every day opened
    # empty) the event mode fell short by 2.6 and 2.1 half-widths (issue 15).
    monthly = run(load_config(_round_the_clock(85, "exponential"))).monthly
    diff, exact = _month_by_month(monthly, 85, 180.0, {"p_wait": "p_wait", "p_abandon": "abandon_rate",
                                                        "p_abandon_within_threshold": "abandon_within_threshold_rate"})
    assert len(diff["p_wait"]) == 36
    assert np.mean(monthly["occupancy"]) > 0.93
    _assert_unbiased(diff["p_wait"], np.mean([e.p_wait for e in exact]), 0.04, "P(wait)")
    _assert_unbiased(diff["p_abandon"], np.mean([e.p_abandon for e in exact]), 0.06, "P(abandon)")
    _assert_unbiased(diff["p_abandon_within_threshold"], np.mean([e.p_abandon_within_threshold for e in exact]),
                     0.06, "P(abandon within 20 s)")


@pytest.mark.slow
def test_round_the_clock_event_mode_matches_erlang_c_at_90_agents():
    # the same centre at 90 agents without abandonment (patience off, waits capped at 10 hours):
    # load 83.5 Erlangs, occupancy 0.93, where Erlang C's queue is long and slow to settle.
    # Tolerance: the mean difference within 1.5 half-widths of its 95% CI, the half-width under
    # 5% of P(wait) and 10% of the mean wait
    monthly = run(load_config(_round_the_clock(90, "off"))).monthly
    assert monthly["calls_abandoned"].sum() == 0
    diff, exact = _month_by_month(monthly, 90, math.inf, {"p_wait": "p_wait", "mean_wait_s": "asa_s"})
    assert np.mean(monthly["occupancy"]) > 0.92
    _assert_unbiased(diff["p_wait"], np.mean([e.p_wait for e in exact]), 0.05, "P(wait)")
    _assert_unbiased(diff["mean_wait_s"], np.mean([e.mean_wait_s for e in exact]), 0.10, "mean wait")


@pytest.mark.slow
def test_round_the_clock_representative_days_match_erlang_a_too():
    # the same 85-agent centre with the default n_calls_full_sim_max: 3 of each month's 30 days are
    # simulated and the rest mapped from them, the queue handed from one simulated day to the next.
    # Months are noisier (sd of P(wait) about 0.011 against 0.004), so 48 of them; tolerance: the
    # mean difference within 1.5 half-widths of its 95% CI, the half-width under 3% of P(wait)
    # and 5% of P(abandon)
    overrides = [o.replace("years=3", "years=4") for o in _round_the_clock(85, "exponential")
                 if not o.startswith("contact_centre.n_calls_full_sim_max=")]
    monthly = run(load_config(overrides)).monthly
    assert (monthly["calls_simulated"] < 0.2 * monthly["calls_offered"]).all()  # mapped days, not all simulated
    diff, exact = _month_by_month(monthly, 85, 180.0, {"p_wait": "p_wait", "p_abandon": "abandon_rate"})
    assert len(diff["p_wait"]) == 48
    _assert_unbiased(diff["p_wait"], np.mean([e.p_wait for e in exact]), 0.03, "P(wait)")
    _assert_unbiased(diff["p_abandon"], np.mean([e.p_abandon for e in exact]), 0.05, "P(abandon)")
