"""The arithmetic the domain gives us (domain.md), reproduced by the simulation.

1. E-billing: a utility of 463,900 customers moved from 16% to 84% e-billing at $11 a
   customer-year saves 0.68 x 463,900 x $11 = $3.47M a year (simulated by 100,000 agents, each
   standing for 4.64 customers: the saving is the firm's, whatever the number of agents).
2. Lifetime value: 15 years x 3 policies x $200 profit a year = $9,000 undiscounted.

Each check holds the simulation's accounting exactly (to 1e-9) and its sampled inputs (adopters
moved, policies held, lifetimes) to 4 standard errors of their stated values, then reproduces
the domain's figure to its stated rounding.
"""

from __future__ import annotations

import math

import pytest

from sim import load_config, run
from sim.roi import compare_runs

N_UTILITY = 463_900
FROZEN = [  # no churn, no newcomers: the base stays the domain's 463,900 all year
    "churn.rate_other=0", "churn.rate_service_max=0", "churn.rate_price=0",
    "referral.rate_paid_acquisition=0", "referral.rate_referral_promoter=0",
    "adoption.behaviours.ebill.rate_innovation=0", "adoption.behaviours.ebill.rate_imitation=0",
]


def test_ebilling_from_16_to_84_percent_saves_about_3_47m_a_year():
    common = [f"population.n_customers={N_UTILITY}", "population.n_agents=100000", "years=1", "seed=5", *FROZEN]
    base = run(load_config(common), progress=False)
    best = run(load_config([*common, "adoption.behaviours.ebill.p_initial=0.84"]), progress=False)
    assert base.monthly["adopt_ebill"].iloc[0] == pytest.approx(0.16, abs=0.003)
    assert best.monthly["adopt_ebill"].iloc[0] == pytest.approx(0.84, abs=0.003)
    saving = -compare_runs(best.monthly, base.monthly)["incremental_cost_to_serve_by_category"]["paper_bills"]
    moved = float(best.monthly["adopt_ebill"].iloc[0] - base.monthly["adopt_ebill"].iloc[0])
    # the accounting, exactly: every customer moved to e-billing saves $11 a year at firm scale
    assert saving == pytest.approx(moved * N_UTILITY * 11.0, rel=1e-9)
    # sampling: both runs share every uniform, so the agents moved are one Binomial(100,000, 0.68)
    # draw: sd 0.0015 of the base; tolerance 4 sd
    assert moved == pytest.approx(0.68, abs=4 * math.sqrt(0.68 * 0.32 / 100_000))
    # the domain's figure to its stated rounding ($3.47M, to the nearest $10k): the simulated
    # saving per customer moved, at the domain's 68 points ($3,469,972)
    assert round(saving / moved * 0.68, -4) == 3.47e6


def test_insurance_lifetime_value_of_the_domain_profile_is_9000():
    h = -math.log(1.0 - 1.0 / 180.0)  # monthly hazard whose churn probability gives 15-year lives
    seg = "population.segments.multi_policy_household"
    free = [f"channels.channels.{c}.cost_per_contact=0" for c in ("self_service", "phone", "email", "chat", "mail")]
    free += ["contact_centre.cost_per_agent_hour=0"]
    free += [f"adoption.behaviours.{b}.cost_per_year_without=0" for b in ("autopay", "ebill", "telematics")]
    overrides = [
        "population=insurance", "population.n_customers=40000", "years=5", "seed=3",
        "population.segments.single_policy.share=0", f"{seg}.share=1", "population.segments.commercial.share=0",
        f"{seg}.products_mean=3", f"{seg}.revenue_per_product_year=1100", f"{seg}.cost_per_product_year=900",
        f"churn.rate_other={h}", "churn.rate_service_max=0", "churn.rate_price=0",
        "churn.rel_per_extra_product=1", "churn.rel_tenure_full=1", "complaints.rel_churn_failed_recovery=1",
        *[f"adoption.behaviours.{b}.rel_churn=1" for b in ("autopay", "annual_review")],
        "economics.cost_truck_roll=0", "abuse.enabled=false", *free,
    ]
    clv = run(load_config(overrides), progress=False).summary["lifetime_value_by_segment"]["multi_policy_household"]
    policies = clv["net_value_per_month"] * 12 / 200.0  # the households' mean policies held
    years = clv["expected_lifetime_years"]
    # the domain's arithmetic, exactly: value = $200 a policy-year x policies x years
    assert clv["lifetime_value_undiscounted"] == pytest.approx(200.0 * policies * years, rel=1e-9)
    # sampling: policies are 1 + Poisson(2) per household (SE of the mean over ~46k households
    # 0.0066); churn is Binomial over ~2.4M customer-months at 1/180 (relative SE 0.86%): 4 SE each
    assert policies == pytest.approx(3.0, abs=4 * math.sqrt(2 / 46_000))
    assert years == pytest.approx(15.0, rel=4 * math.sqrt((1 - 1 / 180) / (180 * 2.4e6)) * 180)
    # and at the domain's own 3 policies and 15 years the same arithmetic gives its $9,000
    assert round(clv["lifetime_value_undiscounted"] / (policies * years) * 3 * 15) == 9000
