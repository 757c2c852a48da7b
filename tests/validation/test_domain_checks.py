"""The arithmetic the domain gives us (domain.md), reproduced by the simulation.

1. E-billing: a utility of 463,900 customers moved from 16% to 84% e-billing at $11 a
   customer-year saves 0.68 x 463,900 x $11 = $3.47M a year (simulated by 100,000 agents, each
   standing for 4.64 customers: the saving is the firm's, whatever the number of agents).
2. Lifetime value: 15 years x 3 policies x $200 profit a year = $9,000 undiscounted.
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
    expected = (0.84 - 0.16) * N_UTILITY * 11.0  # $3,469,972
    # sampling noise: both runs share every uniform, so the extra adopters are one Binomial draw over
    # 100,000 agents with p = 0.68 / 0.84 of the non-adopters: sd ~0.15% of agents, $7.5k at firm
    # scale; 1% ($35k) is more than 4.5 sd
    assert saving == pytest.approx(expected, rel=0.01)
    assert saving == pytest.approx(3.47e6, rel=0.01)


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
    # products are 1 + Poisson(2): mean 3; churn is Binomial, so lifetime and value carry noise:
    # 40k customers x 60 months gives ~13k churners, a relative SE under 1%; allow 3%
    assert clv["expected_lifetime_years"] == pytest.approx(15.0, rel=0.03)
    assert clv["lifetime_value_undiscounted"] == pytest.approx(9000.0, rel=0.03)
