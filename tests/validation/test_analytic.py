"""sim.analytic: the closed forms against published figures and against each other, and the
model's own lifetime values against them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim import analytic, load_config, run
from sim.contact_centre import erlang, erlang_a


@pytest.mark.parametrize("retention, discount, multiple", [(0.6, 0.10, 1.20), (0.8, 0.12, 2.50), (0.9, 0.12, 4.09),
                                                            (0.9, 0.16, 3.46)])
def test_margin_multiples_match_gupta_and_lehmanns_table(retention, discount, multiple):
    """Gupta and Lehmann (2003, 'Customers as assets', table of margin multiples r / (1 + i - r)),
    printed to two decimals."""
    assert analytic.margin_multiple(retention, discount) == pytest.approx(multiple, abs=0.005)


def test_lifetime_value_conventions_and_horizons_agree():
    m, r, i = 50.0, 0.97, 0.006
    forever_start = analytic.lifetime_value(m, r, i)
    assert forever_start == pytest.approx(m * (1 + i) / (1 + i - r), rel=1e-12)
    # the end-of-period value is one period of retention and discounting behind
    assert analytic.lifetime_value(m, r, i, timing="end") == pytest.approx(forever_start * r / (1 + i), rel=1e-12)
    # a finite horizon is the explicit sum, and grows to the infinite value
    for timing, first in (("start", 0), ("end", 1)):
        explicit = sum(m * r ** (t - first) * (r if timing == "end" else 1) / (1 + i) ** t
                       for t in range(first, first + 120))
        assert analytic.lifetime_value(m, r, i, horizon=120, timing=timing) == pytest.approx(explicit, rel=1e-12)
    # in arrears (cxsim's booking): every customer there at a period's start pays at its end
    explicit = sum(m * r ** t / (1 + i) ** (t + 1) for t in range(120))
    assert analytic.lifetime_value(m, r, i, horizon=120, timing="arrears") == pytest.approx(explicit, rel=1e-12)
    assert analytic.lifetime_value(m, r, i, timing="arrears") == pytest.approx(m / (1 + i - r), rel=1e-12)
    assert analytic.lifetime_value(m, r, i, horizon=1) == m
    assert analytic.lifetime_value(m, r, i, horizon=5000) == pytest.approx(forever_start, rel=1e-12)
    assert analytic.lifetime_value(m, 1.0, 0.0, horizon=12) == 12 * m
    assert math.isinf(analytic.lifetime_value(m, 1.0, 0.0))
    with pytest.raises(ValueError, match="retention=1.5 is not allowed"):
        analytic.lifetime_value(m, 1.5, i)
    with pytest.raises(ValueError, match="timing='middle' is not allowed"):
        analytic.lifetime_value(m, r, i, timing="middle")


def test_geometric_survival_and_expected_lifetime():
    c = 1.0 / 180.0
    assert analytic.expected_lifetime(c) == pytest.approx(180.0)  # the domain's 15-year household
    surv = analytic.geometric_survival(c, np.arange(2000))
    # mean lifetime = sum of survival (periods started), the same 1 / c
    assert surv.sum() == pytest.approx(1.0 / c, rel=1e-4)
    assert analytic.geometric_survival(0.0, 10) == 1.0 and math.isinf(analytic.expected_lifetime(0.0))
    # the median: the 15-year household's cohort is half gone after 125 months (0.5 at 124.4)
    med = analytic.median_lifetime(c)
    assert med == 125 and analytic.geometric_survival(c, med) <= 0.5 < analytic.geometric_survival(c, med - 1)
    assert analytic.median_lifetime(0.5) == 1 and analytic.median_lifetime(1.0) == 1
    assert math.isinf(analytic.median_lifetime(0.0))


def test_bass_closed_form_solves_bass_equation_and_peaks_where_published():
    p, q = 0.03, 0.38  # Bass (1969) style yearly values; any p, q do
    t = np.linspace(0, 20, 20_001)
    f = analytic.bass_closed_form(t, p, q)
    assert f[0] == 0.0
    slope = np.gradient(f, t)
    assert np.allclose(slope[1:-1], ((1 - f) * (p + q * f))[1:-1], atol=1e-6)  # central differences, h = 0.001
    assert t[np.argmax(slope)] == pytest.approx(math.log(q / p) / (p + q), abs=2e-3)
    assert analytic.bass_peak_time(p, q) == pytest.approx(math.log(q / p) / (p + q))


def test_bass_discrete_rule_converges_to_the_curve_as_the_step_shrinks():
    """cxsim's monthly rule freezes imitation for a period; split a month into k steps (p/k, q/k)
    and the gap to the continuous curve shrinks like 1/k."""
    p, q, months = 0.01, 0.10, 60
    t = np.arange(months + 1)
    gaps = []
    for k in (1, 2, 4, 8):
        f = analytic.bass_discrete(p / k, q / k, months * k)[::k]
        gaps.append(np.abs(f - analytic.bass_closed_form(t, p, q)).max())
    assert gaps[0] == pytest.approx(0.027, abs=0.002)  # the figure tests/validation/test_bass_diffusion.py states
    for coarse, fine in zip(gaps, gaps[1:]):
        assert fine == pytest.approx(coarse / 2, rel=0.15)


def test_the_queue_formulas_are_the_ones_the_model_uses():
    assert analytic.erlang_c is erlang.erlang_c and analytic.erlang_b is erlang.erlang_b
    assert analytic.erlang_a_p_abandon is erlang_a.erlang_a_p_abandon
    # Erlang C and B at 10 agents and 8 erlangs, a textbook pair: C = B / (1 - rho (1 - B))
    b, c = analytic.erlang_b(10, 8.0), analytic.erlang_c(10, 8.0)
    assert c == pytest.approx(b / (1 - 0.8 * (1 - b)), rel=1e-12)


@pytest.mark.parametrize("cash_flow", ["monthly", "annual"])
def test_the_model_lifetime_value_is_what_its_npv_would_count_for_one_customer(cash_flow):
    res = run(load_config(["population.n_customers=3000", "years=2", "progress=false",
                           f"economics.cash_flow={cash_flow}"]))
    summary, factor = res.summary, res.monthly["discount_factor"].to_numpy()
    # NPV's booking: month t's profit at the end of the month, or of its year, at 8% a year
    t = np.arange(24)
    booked = (1.08 ** (-(t + 1) / 12)) if cash_flow == "monthly" else 1.08 ** -(t // 12 + 1)
    np.testing.assert_allclose(factor, booked, rtol=1e-12)
    assert summary["npv"] == pytest.approx(float(np.sum(res.monthly["profit"] * booked)), rel=1e-12)
    d = 1.08 ** (1 / 12) - 1
    months = np.arange(6000)
    factors = (1 + d) ** -(months + 1) if cash_flow == "monthly" else 1.08 ** -(months // 12 + 1)
    for seg, v in summary["lifetime_value_by_segment"].items():
        m, c = v["net_value_per_month"], v["churn_rate_month"]
        # one customer's value in NPV's own terms: m for each month they are there at its start
        explicit = float(np.sum(m * (1 - c) ** months * factors))
        assert v["lifetime_value"] == pytest.approx(explicit, rel=1e-9), seg
        if cash_flow == "monthly":
            assert v["lifetime_value"] == pytest.approx(analytic.lifetime_value(m, 1 - c, d, timing="arrears"),
                                                        rel=1e-12), seg
        assert v["expected_lifetime_years"] == pytest.approx(analytic.expected_lifetime(c) / 12, rel=1e-12), seg
        assert v["median_lifetime_years"] == analytic.median_lifetime(c) / 12, seg
        assert v["median_lifetime_years"] < v["expected_lifetime_years"]  # geometric lifetimes skew right
