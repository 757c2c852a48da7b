"""Contracts (terms, barriers, renewal months), early-life churn, and a run's customer records."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from sim import ConfigError, load_config, run
from sim.model import CXModel
from sim.modules.churn import contract_multiplier

SMALL = ["population.n_customers=3000", "years=3", "warmup_years=0", "seed=5"]


def _quiet_run(overrides, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run(load_config(overrides), progress=False, **kw)


def test_contract_barrier_inside_the_term_and_at_renewal():
    model = CXModel(load_config([*SMALL, "population=telecom", "+contracts=telco_ibm"]))
    pop = model.pop
    act = pop.active_slots()[:6]
    names = pop.contract_names
    pop.contract[act] = [names.index("Month-to-month"), names.index("One year"), names.index("One year"),
                         names.index("Two year"), names.index("Two year"), names.index("One year")]
    pop.tenure_months[act] = [5, 3, 11, 23, 30, 23]  # 11 and 23: the last month of a 12-month term
    rel = contract_multiplier(pop, act)
    cts = model.cfg.contracts
    np.testing.assert_allclose(rel, [1.0, cts["one_year"].rel_churn_in_term, cts["one_year"].rel_churn_at_renewal,
                                     cts["two_year"].rel_churn_at_renewal, cts["two_year"].rel_churn_in_term,
                                     cts["one_year"].rel_churn_at_renewal])


def test_contract_shares_are_drawn_as_configured():
    model = CXModel(load_config(["population=telecom", "population.n_agents=20000", "warmup_years=0",
                                 "+contracts=telco_ibm"]))
    shares = np.bincount(model.pop.contract[model.pop.active_slots()], minlength=3) / len(model.pop.active_slots())
    expected = [ct.share for ct in model.cfg.contracts.values()]
    np.testing.assert_allclose(shares, expected, atol=0.015)  # 20,000 draws: sd about 0.003


def test_contract_customers_leave_less_than_month_to_month():
    records = _quiet_run([*SMALL, "population=telecom", "+contracts=telco_ibm"], customers=True).customers
    left = records.groupby("contract")["churned"].mean()
    assert left["Two year"] < left["One year"] < left["Month-to-month"]


def test_early_life_churn_raises_leaving_in_the_first_months_only():
    base = _quiet_run(SMALL, customers=True).customers
    early = _quiet_run([*SMALL, "churn.rel_churn_new=10", "churn.dur_new_fade_months=2"], customers=True).customers

    def first_months(records):
        new = records[records["join_month"] >= 0]
        return (new["churned"] & (new["tenure"] < 3)).sum() / len(new)

    assert first_months(early) > 2 * first_months(base)
    old = lambda r: r[(r["join_month"] < 0) & (r["entry_tenure"] > 60)]["churned"].mean()  # noqa: E731
    assert old(early) == pytest.approx(old(base), abs=0.01)  # long-tenure customers: hazard x (1 + 9e^-30)


def test_customer_records_follow_every_customer_once():
    result = _quiet_run(SMALL, customers=True)
    records = result.customers
    m = result.monthly
    assert records["churned"].sum() == m["new_churn"].sum()  # one agent per customer here
    assert (~records["churned"]).sum() == m["customers"].iloc[-1]
    assert (records["entry_tenure"] <= records["tenure"]).all()
    assert (records.loc[records["join_month"] >= 0, "entry_tenure"] == 0).all()
    assert set(records["reason"]) <= {"", "service", "price", "other"}
    assert run(load_config(SMALL), progress=False).customers is None  # only when asked: it costs memory


def test_contracts_are_refused_when_shares_do_not_sum_to_one():
    with pytest.raises(ConfigError, match=r"contracts\.\*\.share"):
        load_config(["population=telecom", "+contracts=telco_ibm", "contracts.one_year.share=0.5"])


def test_customer_numbers_widen_past_32_bits_and_records_keep_them():
    # numbers are held in 32 bits until a run has handed out 2**32 of them, then in 64
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = CXModel(load_config(["population.n_agents=300", "years=1", "warmup_years=0"]))
    first = 2**32 - 2
    m.pop.n_ever = first  # as if that many customers had come before these
    while m.pop.n_ever <= 2**32:
        m.step()
    assert m.pop.uid.dtype == np.int64
    joined = m.pop.uid[m.pop.uid >= first]
    assert len(joined) >= 3 and np.array_equal(joined, first + np.arange(len(joined)))  # none wrapped
    rec = m.pop.records()
    assert rec["uid"].dtype == np.int64 and len(np.unique(rec["uid"])) == len(rec["uid"])
