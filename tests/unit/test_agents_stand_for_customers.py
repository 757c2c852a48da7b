"""Agents that stand for the firm's customers: population.n_customers is the firm, population.n_agents
is how many are simulated, and every count and dollar a user reads is the firm's."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import warnings

import numpy as np
import pytest

from sim import ConfigError, load_config, run
from sim.config import NoisyRunWarning, validate
from sim.kpis import SCALE
from sim.roi import compare_runs

FIRM = 40_000
# no warm-up: each agent then stands for exactly two customers, so scaled counts are checkable
W2 = [f"population.n_customers={FIRM}", "population.n_agents=20000", "years=2", "seed=4", "progress=false",
      "warmup_years=0"]


def _run(*overrides: str):
    return run(load_config([*W2, *overrides]), progress=False)


@pytest.fixture(scope="module")
def baseline():
    return _run()


def test_default_agents_are_50000_or_the_whole_firm_when_smaller():
    assert load_config([]).population.agents == 50_000
    assert load_config([]).population.n_customers == 463_900
    small = load_config(["population.n_customers=3000"]).population
    assert small.agents == 3000 and small.customers_per_agent == 1.0


@pytest.mark.parametrize("n_agents", [0, -5, 463_901])
def test_agents_outside_one_to_the_firm_size_are_refused(n_agents):
    with pytest.raises(ConfigError) as err:
        load_config([f"population.n_agents={n_agents}"])
    message = str(err.value)
    assert f"population.n_agents={n_agents}" in message and "[1, population.n_customers=463900]" in message


@pytest.mark.parametrize("bad", [2500.5, "2500", True])
def test_non_integer_agents_are_refused_by_the_python_api(bad):
    cfg = load_config([])
    cfg = dataclasses.replace(cfg, population=dataclasses.replace(cfg.population, n_agents=bad))
    with pytest.raises(ConfigError, match=r"population\.n_agents=.* is not allowed: an integer"):
        run(cfg)


@pytest.mark.parametrize("override", ["population.n_agents=0", "population.n_agents=1.5"])
def test_the_cli_refuses_bad_agents_before_writing_anything(tmp_path, override):
    proc = subprocess.run([sys.executable, "-m", "sim", override, "output.root=out"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "population.n_agents" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_few_agents_warn_that_answers_are_noisy_and_say_how_many_seeds():
    cfg = load_config(["population.n_agents=500", "years=1"])
    with pytest.warns(NoisyRunWarning, match=r"927\.8 of the firm's 463,900 customers.*about 100 seeds"):
        run(cfg, progress=False)
    # a small firm simulated whole is not noisy by construction: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoisyRunWarning)
        run(load_config(["population.n_customers=500", "years=1"]), progress=False)


def test_counts_are_the_firms_and_the_outputs_say_what_was_simulated(baseline):
    m, s = baseline.monthly, baseline.summary
    assert m["customers_start"].iloc[0] == FIRM
    assert s["n_customers"] == FIRM and s["n_agents"] == 20_000 and s["customers_per_agent"] == 2.0
    # every agent sum is a whole number of agents times two
    for column in ("customers", "new_churn", "complaints", "contacts_phone", "new_acquired_paid"):
        assert np.all(m[column] % 2 == 0), column
    # the firm's centre: calls are the agents' calls scaled, served by whole people
    assert np.all(m["agents_staffed"] == np.round(m["agents_staffed"]))
    assert np.allclose(m["agent_hours"], m["agents_staffed"] * 220.0)


def test_shares_and_scores_do_not_scale(baseline):
    assert {c for c, kind in SCALE.items() if kind == "mean"} >= {"nps", "sat_mean", "asa_s", "service_level",
                                                                  "churn_rate", "adopt_<behaviour>"}
    m = baseline.monthly
    assert m["nps"].between(-100, 100).all() and m["churn_rate"].between(0, 0.1).all()


def test_the_cli_line_says_what_one_agent_stands_for(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "sim", "population.n_agents=2000", "years=1", "warmup_years=0",
                           "output.root=out", "output.plots=false"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "utility firm of 463,900 customers simulated by 2,000 agents (1 agent = 231.95 customers)" in proc.stdout


def test_phone_costs_what_the_centre_costs(baseline):
    m = baseline.monthly
    cfg = baseline.config
    assert np.allclose(m["staffing_cost"], m["agent_hours"] * cfg.contact_centre.cost_per_agent_hour)
    per_call = cfg.channels.channels["phone"].cost_per_contact
    assert np.allclose(m["cost_contacts_phone"], m["staffing_cost"] + m["calls_offered"] * per_call)


def test_a_staffing_programme_costs_exactly_its_extra_agent_hours(baseline):
    more = _run("scenario=contact_centre_staffing", "interventions.contact_centre_staffing.cost_one_off=0")
    m, b = more.monthly, baseline.monthly
    cfg = baseline.config
    assert (m["agents_staffed"] > b["agents_staffed"]).all()
    extra_hours = m["agent_hours"] - b["agent_hours"]
    extra_calls = m["calls_offered"] - b["calls_offered"]
    phone_delta = m["cost_contacts_phone"] - b["cost_contacts_phone"]
    assert np.allclose(phone_delta, extra_hours * cfg.contact_centre.cost_per_agent_hour
                       + extra_calls * cfg.channels.channels["phone"].cost_per_contact)
    assert m["cost_cx_programmes"].sum() == 0.0


def test_a_price_cut_costs_its_share_of_revenue_not_of_margin(baseline):
    cut = _run("scenario=price_change", "churn.rel_price_elasticity=0")
    m, b = cut.monthly, baseline.monthly
    # month 0: the same customers, billed 3% less; product cost unchanged
    assert m["revenue"].iloc[0] == pytest.approx(0.97 * b["revenue"].iloc[0], rel=1e-12)
    assert m["cost_products"].iloc[0] == pytest.approx(b["cost_products"].iloc[0], rel=1e-12)
    margin_lost = (b["revenue"] - b["cost_products"]).iloc[0] - (m["revenue"] - m["cost_products"]).iloc[0]
    assert margin_lost == pytest.approx(0.03 * b["revenue"].iloc[0], rel=1e-9)


def test_programme_costs_fixed_in_firm_dollars_variable_per_real_customer():
    s = _run("scenario=ebilling_push").monthly
    campaign = load_config([*W2, "scenario=ebilling_push"]).interventions["ebilling_campaign"]
    expected = campaign.cost_one_off + campaign.cost_per_month + campaign.cost_per_new_adopter * s["new_adopt_ebill"].iloc[0]
    assert s["cost_programme_ebilling_campaign"].iloc[0] == pytest.approx(expected, rel=1e-12)
    notify = _run("scenario=proactive_outage_notifications").monthly
    rate = load_config([*W2, "scenario=proactive_outage_notifications"]).interventions[
        "proactive_outage_notifications"].cost_per_customer_month
    spend = notify["cost_cx_programmes"].iloc[1:]  # month 0 also pays the one-off set-up
    assert np.allclose(spend, rate * notify["customers_start"].iloc[1:])


def test_money_per_customer_does_not_depend_on_how_many_agents_stand_for_it():
    # the same 8,000 customers as 8,000 agents and as 4,000 agents standing for two each: revenue and
    # cost to serve per customer agree within sampling noise (revenue per customer varies about 60%
    # between customers, so the mean of 4,000 has a relative SE near 1%; 4% is 4 SE)
    def per_customer(n_agents):
        m = run(load_config(["population.n_customers=8000", f"population.n_agents={n_agents}", "years=1",
                             "seed=2"]), progress=False).monthly
        return (m["revenue"] / m["customers_start"]).mean(), (m["cost_to_serve"] / m["customers_start"]).mean()

    whole, halved = per_customer(8000), per_customer(4000)
    assert halved[0] == pytest.approx(whole[0], rel=0.04)
    assert halved[1] == pytest.approx(whole[1], rel=0.04)


def test_des_mode_serves_the_firms_calls_with_twins():
    des = _run("contact_centre.mode=des", "years=1").monthly
    fast = _run("years=1").monthly
    # the event centre answers the firm's volume: about as many calls as the fast mode's scaled
    # load (the modes differ in abandonment and retries, a few percent), with a firm-sized staff
    assert des["calls_offered"].sum() == pytest.approx(fast["calls_offered"].sum(), rel=0.1)
    assert des["agents_staffed"].mean() == pytest.approx(fast["agents_staffed"].mean(), rel=0.25)
    paired = compare_runs(des, des)
    assert paired["incremental_npv"] == 0.0


def test_validation_accepts_a_firm_simulated_whole():
    cfg = load_config(["population.n_customers=1000", "population.n_agents=1000"])
    assert validate(cfg).population.customers_per_agent == 1.0


def test_segments_add_up_to_the_firm(baseline):
    m, s = baseline.monthly, baseline.summary
    segments = list(baseline.config.population.segments)
    for part, whole in (("margin", m["revenue"] - m["cost_products"]), ("cost_to_serve", m["cost_to_serve"]),
                        ("acquisition", m["cost_acquisition"]), ("churn", m["new_churn"])):
        total = sum(m[f"segment_{seg}_{part}"] for seg in segments)
        assert np.allclose(total, whole, rtol=1e-9), part
    before_cx = ((m["profit"] + m["cost_cx_programmes"]) * m["discount_factor"]).sum()
    assert sum(s["npv_by_segment"].values()) == pytest.approx(before_cx, rel=1e-9)
    assert set(s["by_segment"]) == set(segments)
    assert all(-100 <= v["nps_mean"] <= 100 and 0 <= v["churn_rate_annual"] < 1 for v in s["by_segment"].values())
