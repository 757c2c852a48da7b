"""CX programmes: timing, ramp and costs in the ledger; every shipped programme moves its target
KPI the expected way against the baseline at the same seed (paired runs, common random numbers).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import ConfigError, load_config, run
from sim.config import EffectConfig, InterventionConfig
from sim.interventions.base import Intervention, ordered_effects
from sim.roi import baseline_of, compare_runs, payback_month

# no warm-up: one agent per customer exactly, so per-adopter and per-customer costs are whole multiples
SMALL = ("population.n_customers=4000", "years=3", "seed=8", "warmup_years=0")
SCENARIO_DIR = Path(__file__).resolve().parents[2] / "configs" / "scenario"


@functools.cache
def _monthly(scenario: str, preset: str = "utility"):
    return run(load_config([*SMALL, f"population={preset}", f"scenario={scenario}"]), progress=False).monthly


def _programme(**kw) -> Intervention:
    return Intervention("p", InterventionConfig(**kw))


def test_ramp_is_linear_from_start_and_stops_after_end():
    p = _programme(start_month=3, dur_ramp_months=4, end_month=10)
    assert [p.ramp(m) for m in (0, 2, 3, 4, 6, 7, 10, 11)] == [0, 0, 0.25, 0.5, 1, 1, 1, 0]
    assert _programme(start_month=2, dur_ramp_months=0).ramp(2) == 1.0


def test_effect_operations():
    values = {"a": 0.5, "b": 2.0, "c": 10.0}
    p = _programme(dur_ramp_months=2, effects=[EffectConfig("a", "set", 0.9), EffectConfig("b", "add", 1.0),
                                               EffectConfig("c", "multiply", 0.5)])
    p.apply(values, 0)  # half way up the ramp
    assert values == pytest.approx({"a": 0.7, "b": 2.5, "c": 7.5})


def test_costs_land_in_the_months_they_are_spent():
    cfg = load_config([*SMALL, "scenario=resolved_programme",
                       "interventions.resolved_programme.start_month=6",
                       "interventions.resolved_programme.end_month=17",
                       "interventions.resolved_programme.cost_one_off=1000",
                       "interventions.resolved_programme.cost_per_month=100"])
    spend = run(cfg, progress=False).monthly["cost_programme_resolved_programme"].to_numpy()
    expected = np.zeros(36)
    expected[6:18] = 100
    expected[6] += 1000
    assert spend.tolist() == expected.tolist()


def test_campaign_pays_per_new_adopter():
    m = _monthly("ebilling_push")
    iv = load_config(["scenario=ebilling_push"]).interventions["ebilling_campaign"]
    paid = m["cost_programme_ebilling_campaign"] - iv.cost_per_month
    paid.iloc[0] -= iv.cost_one_off
    assert np.allclose(paid, iv.cost_per_new_adopter * m["new_adopt_ebill"])


def test_programme_changes_nothing_before_it_starts():
    late = run(load_config([*SMALL, "scenario=agent_training",
                            "interventions.agent_training.start_month=24"]), progress=False).monthly
    base = _monthly("baseline")
    cols = [c for c in base.columns if c in late.columns]
    assert late[cols].iloc[:24].equals(base[cols].iloc[:24])
    assert not late[cols].iloc[24:].equals(base[cols].iloc[24:])


def test_unknown_parameter_and_out_of_range_full_effect_are_refused():
    with pytest.raises(ConfigError, match=r"interventions.resolved_programme.effects.0.param"):
        load_config(["scenario=resolved_programme",
                     "interventions.resolved_programme.effects.0.param=complaints.no_such_key"])
    with pytest.raises(ConfigError, match=r"complaints.p_respond=1.5.*full effect"):
        load_config(["scenario=resolved_programme", "interventions.resolved_programme.effects.1.value=1.5"])


# scenario -> (monthly KPI, how it is aggregated, expected sign of scenario - baseline)
TARGETS = {
    "touchpoint_redesign_bill": ("needs_bill_query", "sum", -1),
    "ebilling_push": ("adopt_ebill", "last", +1),
    "autopay_incentive": ("adopt_autopay", "last", +1),
    "self_service_upgrade": ("self_service_spills", "sum", -1),
    "ivr_press_zero": ("experience_mean", "mean", +1),
    "contact_centre_staffing": ("asa_s", "mean", -1),
    "agent_training": ("fcr", "mean", +1),
    "resolved_programme": ("recoveries_succeeded", "sum", +1),
    "closed_loop_feedback": ("closed_loop_recovered", "sum", +1),
    "root_cause_elimination": ("rel_failure_process_failure", "last", -1),
    "proactive_outage_notifications": ("calls_offered", "sum", -1),
    "mobile_enablement": ("contacts_self_service", "sum", +1),
    "smart_meter_rollout": ("adopt_smart_meter", "last", +1),
    "load_control_programme": ("adopt_load_control", "last", +1),
    "budget_billing_offer": ("adopt_budget_billing", "last", +1),
    "price_change": ("revenue", "sum", -1),
    "anti_abuse_relaxation": ("cost_abuse", "sum", +1),
    "employee_recognition": ("fcr", "mean", +1),
    "ebilling_and_resolved": ("adopt_ebill", "last", +1),
    "telematics_offer": ("adopt_telematics", "last", +1, "insurance"),
    "long_contract_offer": ("adopt_long_contract", "last", +1, "telecom"),
}


def test_every_shipped_scenario_has_a_target_kpi():
    shipped = {p.stem for p in SCENARIO_DIR.glob("*.yaml")} - {"baseline"}
    assert shipped == set(TARGETS)


@pytest.mark.parametrize("scenario", sorted(TARGETS))
def test_programme_moves_its_target_kpi(scenario):
    column, how, sign, *preset = TARGETS[scenario]
    preset = preset[0] if preset else "utility"
    s, b = _monthly(scenario, preset)[column], _monthly("baseline", preset)[column]
    agg = {"sum": lambda x: x.sum(), "mean": lambda x: x.mean(), "last": lambda x: x.iloc[-1]}[how]
    assert np.sign(agg(s) - agg(b)) == sign, f"{scenario}: {column} {agg(s)} vs baseline {agg(b)}"
    assert _monthly(scenario, preset)["cost_cx_programmes"].sum() > 0 or scenario == "price_change"


def test_baseline_compared_with_itself_is_zero():
    base = _monthly("baseline")
    roi = compare_runs(base, base)
    assert roi["incremental_npv"] == 0 and roi["cx_spend"] == 0 and roi["roce"] is None
    assert all(v == 0 for v in roi["incremental_cost_to_serve_by_category"].values())


def test_paired_counterfactual_is_the_same_run_without_programmes():
    cfg = load_config([*SMALL, "scenario=ebilling_push"])
    base = baseline_of(cfg)
    assert base.interventions == {} and base.seed == cfg.seed and cfg.interventions


def test_payback_month():
    assert payback_month(np.array([-5.0, 2, 2, 2])) == 3
    assert payback_month(np.array([1.0, 1])) == 0
    assert payback_month(np.array([-1.0, -1])) is None


def test_segment_targeted_campaign_reaches_only_its_segment():
    from sim.model import CXModel

    common = [*SMALL, "adoption.behaviours.ebill.rate_imitation=0"]  # no imitation knock-on via ties
    targeted = ["scenario=ebilling_push", "interventions.ebilling_campaign.target_segments=[business]",
                "interventions.ebilling_campaign.cost_per_customer_month=1"]
    models = []
    for extra in ([], targeted):
        m = CXModel(load_config([*common, *extra]))
        while m.running:
            m.step()
        models.append(m)
    base, camp = models
    b = base.pop.behaviour_names.index("ebill")
    business = base.pop.segment_names.index("business")
    n0 = 4000  # the initial customers: same slots and draws in both runs
    both = np.flatnonzero(base.pop.active[:n0] & camp.pop.active[:n0])
    is_business = base.pop.segment[both] == business
    # everyone else's e-bill hazard is untouched, so the same draws give the same adoption
    assert (base.pop.shows(b, both[~is_business]) == camp.pop.shows(b, both[~is_business])).all()
    gain = camp.pop.shows(b, both[is_business]).mean() - base.pop.shows(b, both[is_business]).mean()
    assert gain > 0.1
    # month 5: running cost + $1 per business customer at its start + $5 per business adopter
    records = pd.DataFrame.from_records(camp.records)
    extra = (records["cost_programme_ebilling_campaign"].iloc[5] - 15000
             - records["customers_business"].iloc[4])
    assert extra % 5 == 0 and 0 <= extra <= 5 * records["new_adopt_ebill"].iloc[5]


def test_segment_targeting_is_refused_for_shared_levers():
    with pytest.raises(ConfigError, match=r"with target_segments: multiply on adoption.behaviours"):
        load_config(["scenario=resolved_programme", "interventions.resolved_programme.target_segments=[business]"])
    with pytest.raises(ConfigError, match=r"target_segments"):
        load_config(["scenario=ebilling_push", "interventions.ebilling_campaign.target_segments=[nobody]"])


@pytest.mark.parametrize("mode", ["erlang_c", "des"])
def test_contact_centre_programmes_act_in_both_contact_centre_modes(mode):
    def fcr(scenario):
        cfg = load_config(["population.n_customers=3000", "years=2", "seed=2",
                           f"contact_centre.mode={mode}", f"scenario={scenario}"])
        return run(cfg, progress=False).monthly["fcr"].iloc[6:].mean()

    assert fcr("agent_training") > fcr("baseline") + 0.03


def test_programmes_may_not_name_keys_fixed_at_the_start():
    with pytest.raises(ConfigError, match=r"effects.0.param='adoption.behaviours.ebill.p_initial'.*fixed when a run starts"):
        load_config(["scenario=ebilling_push",
                     "interventions.ebilling_campaign.effects.0.param=adoption.behaviours.ebill.p_initial"])


def test_programme_on_a_segment_figure_takes_effect():
    cfg = load_config([*SMALL, "scenario=price_change",
                       "interventions.price_change.effects.0.param=population.segments.business.revenue_per_product_year",
                       "interventions.price_change.effects.0.value=2.0", "interventions.price_change.start_month=12"])
    m = run(cfg, progress=False).monthly
    base = _monthly("baseline")
    assert m["revenue"].iloc[:12].equals(base["revenue"].iloc[:12])
    assert m["revenue"].iloc[12] > 1.2 * base["revenue"].iloc[12]


def test_the_same_programmes_in_either_order_are_one_scenario():
    """Effects compose in a fixed order (sets, multiplies, adds; then by name), so listing order
    changes neither the config hash (hence the folder resumed) nor a single number."""
    from sim.results import config_hash

    base = ["population.n_customers=600", "years=1", "warmup_years=0", "seed=4"]
    a = load_config([*base, "scenario=ebilling_and_resolved"])
    b = load_config([*base, "scenario=ebilling_and_resolved"])
    b.interventions = dict(reversed(list(b.interventions.items())))
    assert list(a.interventions) != list(b.interventions)
    assert config_hash(a) == config_hash(b)
    assert run(a, progress=False).summary == run(b, progress=False).summary


def test_composition_order_does_not_follow_the_listing():
    values = {"x": 10.0}
    add = Intervention("a_add", InterventionConfig(dur_ramp_months=0, effects=[EffectConfig("x", "add", 1.0)]))
    mul = Intervention("b_mul", InterventionConfig(dur_ramp_months=0, effects=[EffectConfig("x", "multiply", 2.0)]))
    for items in ([add, mul], [mul, add]):
        v = dict(values)
        for iv, eff in ordered_effects(items):
            iv.apply_effect(eff, v, 0)
        assert v["x"] == 21.0  # multiply first, then add, whatever the listing
