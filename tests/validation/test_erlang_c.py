"""Validate sim.contact_centre.erlang against published Erlang C figures and queueing identities.

Published figures are rounded, so each comparison allows half a unit in the last printed digit
(plus a little for sources that rounded intermediate values); figures printed at full double
precision are compared to 1e-9 relative.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import poisson

from sim.contact_centre.erlang import (
    ErlangCMetrics,
    agents_for_service_level,
    erlang_b,
    erlang_c,
    erlang_c_metrics,
    wait_quantile,
)

# Call Centre Helper, "Erlang C Formula - Made Simple With an Easy Worked Example"
# (https://www.callcentrehelper.com/erlang-c-formula-example-121281.htm): 100 calls per
# 30 minutes, 180 s average handle time, 80% answered within 20 s -> 10 Erlangs.
CCH_RATE = 100 / 1800
CCH_AHT = 180.0
CCH_T = 20.0


def test_cch_eleven_agents_first_iteration():
    # The article's first trial, N = A + 1 = 11: Pw = 68.21%, ASA = 122.8 s and 31.79% of
    # calls answered immediately (printed to 2 dp in percent / 1 dp in seconds).
    m = erlang_c_metrics(CCH_RATE, CCH_AHT, 11, CCH_T)
    assert m.offered_load == pytest.approx(10.0)
    assert m.p_wait == pytest.approx(0.6821, abs=0.00005)
    assert m.mean_wait_s == pytest.approx(122.8, abs=0.05)
    assert 1.0 - m.p_wait == pytest.approx(0.3179, abs=0.00005)
    assert m.service_level < 0.8  # so the article keeps adding agents


def test_cch_fourteen_agents_pyworkforce_readme():
    # The same example as reproduced in the pyworkforce README (rodrigo-arenas/pyworkforce,
    # ErlangC(transactions=100, aht=3, interval=30, asa=20/60)): raw_positions 14,
    # service_level 0.8883500191794669, waiting_probability 0.1741319335950498,
    # occupancy 0.7142857142857143. Printed at full precision -> compare to 1e-9 relative.
    m = erlang_c_metrics(CCH_RATE, CCH_AHT, 14, CCH_T)
    assert m.service_level == pytest.approx(0.8883500191794669, rel=1e-9)
    assert m.p_wait == pytest.approx(0.1741319335950498, rel=1e-9)
    assert m.occupancy == pytest.approx(0.7142857142857143, rel=1e-9)
    assert agents_for_service_level(CCH_RATE, CCH_AHT, CCH_T, 0.8) == 14


def test_cch_fifteen_agents_pyworkforce_tests():
    # pyworkforce queuing/tests/test_erlang.py::test_over_occupancy_erlangc: same traffic,
    # asa=0.33 min (= 19.8 s), 15 agents -> service_level 0.941, occupancy 0.667,
    # waiting_probability 0.102, all rounded to 3 dp -> tolerance 0.0005.
    m = erlang_c_metrics(CCH_RATE, CCH_AHT, 15, 19.8)
    assert m.service_level == pytest.approx(0.941, abs=0.0005)
    assert m.occupancy == pytest.approx(0.667, abs=0.0005)
    assert m.p_wait == pytest.approx(0.102, abs=0.0005)


def test_westbay_ccxlservice_forum_example():
    # Call Centre Helper forum thread "CCXLService" (Jan 2021), answered by Westbay / CC-Excel:
    # 57 calls per hour, 1110 s handle time, 21 agents, 180 s target -> 80.7% service level
    # (1 dp -> tolerance 0.0005); with a 20 s target the agents needed for 80% rise 21 -> 23.
    rate = 57 / 3600
    m = erlang_c_metrics(rate, 1110.0, 21, 180.0)
    assert m.service_level == pytest.approx(0.807, abs=0.0005)
    assert agents_for_service_level(rate, 1110.0, 180.0, 0.8) == 21
    assert agents_for_service_level(rate, 1110.0, 20.0, 0.8) == 23


def test_footbridge_call_calc_application_note():
    # Footbridge "Call Calc" application note (al911.org/qos_calc.htm): 2 call takers, 30 calls
    # per hour of 60 s -> "fewer than 8 percent" wait more than 10 s; at 80 s per call the
    # share "falls to 14 percent" (whole percent -> tolerance 0.005).
    m60 = erlang_c_metrics(30 / 3600, 60.0, 2, 10.0)
    m80 = erlang_c_metrics(30 / 3600, 80.0, 2, 10.0)
    assert 1.0 - m60.service_level < 0.08
    assert 1.0 - m80.service_level == pytest.approx(0.14, abs=0.005)


def test_textbook_erlang_c_curve_example():
    # Math StackExchange, "How to calculate the probability of a customer joining a queue via
    # Erlang C curve": 120 customers/h, 3 min each, 10 servers (6 Erlangs) -> "the
    # probability of waiting is about 0.10", read off a chart -> tolerance 0.01.
    assert erlang_c(10, 6.0) == pytest.approx(0.10, abs=0.01)


def test_small_exact_case():
    # Hand-computable: c = 3, A = 2 gives B = 4/19 and C = 4/9 (Erlang C = 3B / (3 - 2(1 - B))).
    assert erlang_b(3, 2.0) == pytest.approx(4 / 19, rel=1e-12)
    assert erlang_c(3, 2.0) == pytest.approx(4 / 9, rel=1e-12)


# ---------------------------------------------------------------- properties


@pytest.mark.parametrize("load", [0.3, 2.0, 9.5, 47.0])
def test_erlang_c_at_least_erlang_b(load):
    for n in range(0, 80):
        assert erlang_c(n, load) >= erlang_b(n, load) - 1e-15


def test_p_wait_decreases_in_agents():
    p = [erlang_c(n, 10.0) for n in range(11, 40)]
    assert all(a > b for a, b in zip(p, p[1:]))
    sl = [erlang_c_metrics(CCH_RATE, CCH_AHT, n, CCH_T).service_level for n in range(11, 40)]
    assert all(a < b for a, b in zip(sl, sl[1:]))


@pytest.mark.parametrize("rho", [0.1, 0.5, 0.9])
def test_single_agent_is_mm1(rho):
    handle = 60.0
    lam, mu = rho / handle, 1.0 / handle
    m = erlang_c_metrics(lam, handle, 1, 30.0)
    assert m.p_wait == pytest.approx(rho, rel=1e-12)
    assert m.mean_wait_s == pytest.approx(rho / (mu - lam), rel=1e-12)
    assert m.service_level == pytest.approx(1 - rho * math.exp(-(mu - lam) * 30.0), rel=1e-12)


def test_large_n_is_stable_and_matches_poisson_form():
    # Erlang B = Poisson pmf(n) / cdf(n); scipy evaluates it in log space, an independent check.
    n, load = 2000, 1950.0
    b, c = erlang_b(n, load), erlang_c(n, load)
    assert math.isfinite(b) and math.isfinite(c) and 0 < b < c < 1
    assert b == pytest.approx(poisson.pmf(n, load) / poisson.cdf(n, load), rel=1e-9)
    rho = load / n
    assert c == pytest.approx(b / (1 - rho * (1 - b)), rel=1e-12)
    assert 0 < erlang_b(5000, 4990.0) < 1
    assert agents_for_service_level(1950 / 300, 300.0, 20.0, 0.8) > 1950


def test_agents_for_service_level_is_the_smallest_count_that_meets_the_target():
    # the search carries Erlang B from one count to the next; the answer must be the definition's,
    # the first n from the stable ones up whose erlang_c_metrics service level reaches the target
    rng = np.random.default_rng(11)
    for _ in range(300):
        rate = float(rng.choice([0.0, rng.uniform(1e-4, 0.05), rng.uniform(0.05, 3.0)]))
        handle, threshold = float(rng.uniform(30, 900)), float(rng.choice([0.0, rng.uniform(5, 120)]))
        target = float(rng.uniform(0.05, 0.99))
        n = math.floor(rate * handle) + 1
        while erlang_c_metrics(rate, handle, n, threshold).service_level < target:
            n += 1
        assert agents_for_service_level(rate, handle, threshold, target) == n, (rate, handle, threshold, target)


# ---------------------------------------------------------------- sampling


def test_wait_quantile_monte_carlo_matches_moments():
    m = erlang_c_metrics(CCH_RATE, CCH_AHT, 11, CCH_T)
    u = np.random.default_rng(1).random(200_000)
    w = wait_quantile(u, m, max_wait_s=1e12)  # cap far out so it cannot bias the mean
    n = u.size
    d = m.decay_rate_per_s
    var_w = 2 * m.p_wait / d**2 - m.mean_wait_s**2  # E[W^2] = 2C/d^2 for the Erlang C wait
    se_mean = math.sqrt(var_w / n)
    se_share = math.sqrt(m.p_wait * (1 - m.p_wait) / n)
    assert abs(w.mean() - m.mean_wait_s) < 4 * se_mean, (
        f"sample mean wait {w.mean():.3f} s vs Erlang C ASA {m.mean_wait_s:.3f} s "
        f"differs by more than 4 standard errors ({4 * se_mean:.3f} s)"
    )
    share = float(np.mean(w > 0))
    assert abs(share - m.p_wait) < 4 * se_share, (
        f"share waiting {share:.4f} vs Erlang C p_wait {m.p_wait:.4f} "
        f"differs by more than 4 standard errors ({4 * se_share:.4f})"
    )


def test_wait_quantile_tail_and_cap():
    m = erlang_c_metrics(CCH_RATE, CCH_AHT, 12, CCH_T)
    t = 30.0
    u_edge = 1 - m.p_wait * math.exp(-m.decay_rate_per_s * t)  # P(W > t) = C exp(-d t)
    w = wait_quantile(np.array([0.0, 1 - m.p_wait - 1e-9, u_edge, 1.0]), m, max_wait_s=600.0)
    assert w[0] == 0.0 and w[1] == 0.0
    assert w[2] == pytest.approx(t, rel=1e-9)
    assert w[3] == 600.0
    assert wait_quantile(np.random.default_rng(2).random(1000), m, 5.0).max() <= 5.0
    idle = erlang_c_metrics(0.0, CCH_AHT, 3, CCH_T)
    assert np.all(wait_quantile(np.array([0.0, 0.5, 1.0]), idle, 60.0) == 0.0)


# ---------------------------------------------------------------- unstable


def test_unstable_queue_saturates():
    assert erlang_c(10, 10.0) == 1.0
    assert erlang_c(10, 12.5) == 1.0
    assert erlang_c(0, 0.5) == 1.0
    m = erlang_c_metrics(12.5 / 180, 180.0, 10, 20.0)
    assert isinstance(m, ErlangCMetrics)
    assert not m.stable
    assert m.p_wait == 1.0 and m.service_level == 0.0 and m.occupancy == 1.0
    assert m.mean_wait_s == math.inf and m.mean_wait_if_waiting_s == math.inf
    assert m.decay_rate_per_s == 0.0
    w = wait_quantile(np.array([[0.0, 0.3], [0.7, 1.0]]), m, max_wait_s=900.0)
    assert w.shape == (2, 2) and np.all(w == 900.0)


# ---------------------------------------------------------------- input errors


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: erlang_b(-1, 2.0), "n_agents"),
        (lambda: erlang_b(3.5, 2.0), "n_agents"),
        (lambda: erlang_c(3, -0.1), "offered_load"),
        (lambda: erlang_c(3, math.nan), "offered_load"),
        (lambda: erlang_c_metrics(-1.0, 180.0, 5, 20.0), "arrival_rate_per_s"),
        (lambda: erlang_c_metrics(0.01, 0.0, 5, 20.0), "mean_handle_s"),
        (lambda: erlang_c_metrics(0.01, -3.0, 5, 20.0), "mean_handle_s"),
        (lambda: erlang_c_metrics(0.01, 180.0, -2, 20.0), "n_agents"),
        (lambda: erlang_c_metrics(0.01, 180.0, 5, -1.0), "answer_threshold_s"),
        (lambda: agents_for_service_level(0.01, 180.0, 20.0, 1.0), "target_service_level"),
        (lambda: agents_for_service_level(0.01, 180.0, 20.0, 0.0), "target_service_level"),
        (lambda: agents_for_service_level(-0.01, 180.0, 20.0, 0.8), "arrival_rate_per_s"),
        (lambda: agents_for_service_level(0.01, 180.0, -5.0, 0.8), "answer_threshold_s"),
        (
            lambda: wait_quantile(np.array([0.5]), erlang_c_metrics(0.01, 60, 2, 20), -1.0),
            "max_wait_s",
        ),
        (
            lambda: wait_quantile(np.array([1.5]), erlang_c_metrics(0.01, 60, 2, 20), 10.0),
            "u",
        ),
    ],
)
def test_bad_inputs_raise_value_error_naming_argument(call, name):
    with pytest.raises(ValueError, match=rf"^{name} must"):
        call()
