"""Closing up churned customers' rows (sim.population.Population.compact) changes nothing a run reports.

Compaction renumbers slots between months; draws are keyed by each customer's uid and every pass
meets the active customers in the same order, so a run that compacts every month and one that
never does must give identical monthly figures, summaries and customer records, in every mode
that keeps slots from one month to the next (cascade tellers, calls carried into the next month).
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

import sim.population
from sim import load_config, run
from sim.model import CXModel
from sim.population import Population

SMALL = ["population.n_customers=3000", "years=3", "warmup_years=1", "seed=11", "progress=false"]
CASES = {
    "utility": [],
    "cascade_word_of_mouth": ["adoption.mixing=cascade", "scenario=ebilling_push"],
    "des_calls_carried_over": ["scenario=resolved_programme", "contact_centre.mode=des", "years=2",
                               "population.n_customers=40000", "population.n_agents=2000"],
    "telecom_contracts": ["population=telecom", "+contracts=telco_ibm"],
}


def _run(overrides, monkeypatch, every_month: bool, compiled: bool = True):
    calls = []
    original = Population.compact

    def counted(self, *args, **kwargs):
        calls.append(self.n_slots)
        return original(self, *args, **kwargs)

    with monkeypatch.context() as m:
        if every_month:  # as soon as one row is a churned customer's
            m.setattr(sim.population, "COMPACT_MIN_ROWS", 1)
            m.setattr(sim.population, "COMPACT_INACTIVE_SHARE", 0.0)
        else:
            m.setattr(sim.population, "COMPACT_MIN_ROWS", 10**12)
        m.setattr(Population, "compact", counted)
        if not compiled:
            for mod in list(sys.modules.values()):
                if getattr(mod, "__name__", "").startswith("sim.") and getattr(mod, "COMPILED", None) is not None:
                    m.setattr(mod, "COMPILED", False)
        result = run(load_config([*SMALL, *overrides]), customers=True)
    return result, len(calls)


@pytest.mark.parametrize("case", sorted(CASES))
def test_compacting_every_month_reports_what_never_compacting_does(case, monkeypatch):
    never, n_never = _run(CASES[case], monkeypatch, every_month=False)
    always, n_always = _run(CASES[case], monkeypatch, every_month=True)
    assert n_never == 0
    assert n_always >= 24  # it did compact, nearly every month
    pd.testing.assert_frame_equal(always.monthly, never.monthly, check_exact=True)
    pd.testing.assert_frame_equal(always.customers, never.customers, check_exact=True)
    assert always.summary == never.summary
    assert never.customers["churned"].sum() > 100  # customers did leave, and their records survived


def test_numpy_reference_stages_compact_the_same(monkeypatch):
    never, _ = _run(["adoption.mixing=global"], monkeypatch, every_month=False, compiled=False)
    always, n_always = _run(["adoption.mixing=global"], monkeypatch, every_month=True, compiled=False)
    assert n_always >= 24
    pd.testing.assert_frame_equal(always.monthly, never.monthly, check_exact=True)
    pd.testing.assert_frame_equal(always.customers, never.customers, check_exact=True)


def test_rows_stay_near_the_active_base_over_a_long_run():
    # 2,000 customers over 1 + 25 years at about 1% churn a month: some 6,000 customers ever
    model = CXModel(load_config(["population.n_customers=2000", "years=25", "warmup_years=1",
                                 "progress=false", "seed=3"]))
    old_min = sim.population.COMPACT_MIN_ROWS
    sim.population.COMPACT_MIN_ROWS = 64  # this base is small; the share rule is what is tested
    try:
        most, worst_month = 0.0, 0.0
        while model.running:
            before = model.pop.n_slots
            model.step()
            active = int(np.count_nonzero(model.pop.active))
            most = max(most, model.pop.n_slots / active)
            left = int(np.count_nonzero(model.pop.churn_month == model.month - 1))
            worst_month = max(worst_month, left / before)
    finally:
        sim.population.COMPACT_MIN_ROWS = old_min
    assert model.pop.n_ever > 2.5 * 2000
    # rows are closed up once the churned reach the share: at most one month's leavers past it
    assert most <= 1 / (1 - sim.population.COMPACT_INACTIVE_SHARE - worst_month)
    assert model.graph.n_slots == model.pop.n_slots
    records = model.pop.records()
    assert np.array_equal(records["uid"], np.arange(model.pop.n_ever))  # every customer ever, once
    assert records["active"].sum() == np.count_nonzero(model.pop.active)


@pytest.mark.parametrize("threads", [1, 2])
def test_what_follows_the_rows_beside_compaction_sees_the_renumbering_and_its_error_is_raised(threads, monkeypatch):
    # CXModel._compact has the ties follow while the rows close up on a second thread (with two
    # threads for the compiled stages) or after them (with one): either way the ties get the
    # renumbering and the rows are closed up, and a failure of either is the compaction's
    import sim.kernels

    if sim.kernels.COMPILED:
        monkeypatch.setattr(sim.kernels.numba, "get_num_threads", lambda: threads)
    monkeypatch.setattr(sim.kernels, "PARALLEL_MIN_ROWS", 0)  # a second thread however few the rows
    pools = []

    class Recorded(sim.kernels.Beside):
        def __init__(self, fn, *args):
            pools.append(fn.__name__)
            super().__init__(fn, *args)

    monkeypatch.setattr(sim.kernels, "Beside", Recorded)
    model = CXModel(load_config(SMALL))
    for _ in range(6):
        model.step()
    active = np.flatnonzero(model.pop.active)
    uids = model.pop.uid[active].copy()
    seen = []

    def follow(new_slot):
        seen.append(new_slot)
        model.graph.renumber(new_slot)

    renumbering = model.pop.compact(beside=follow)
    assert len(seen) == 1 and seen[0] is renumbering
    assert pools == (["close_up"] if threads == 2 and sim.kernels.COMPILED else [])
    assert np.array_equal(renumbering[active], np.arange(len(active)))
    assert np.array_equal(model.pop.uid[: len(active)], uids) and model.pop.n_slots == len(active)
    for _ in range(2):
        model.step()

    def failing(new_slot):
        raise RuntimeError("the ties could not follow")

    with pytest.raises(RuntimeError, match="could not follow"):
        model.pop.compact(beside=failing)
