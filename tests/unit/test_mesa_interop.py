"""Mesa's own tools work on CXModel: batch_run over parameters and seeds, model-level reporters."""

from __future__ import annotations

import mesa
import pytest

from sim import ConfigError, load_config, run
from sim.model import MESA_REPORTERS, CXModel

BASE = ["population.n_customers=800", "years=1", "warmup_years=1"]


def test_batch_run_sweeps_two_values_over_two_seeds():
    cfg = load_config(BASE)
    rows = mesa.batch_run(CXModel, parameters={"cfg": cfg, "seed": [0, 1], "churn.rate_other": [0.002, 0.02]},
                          iterations=1, max_steps=1000, number_processes=1, display_progress=False)
    assert len(rows) == 4
    assert all(set(MESA_REPORTERS) <= set(r) for r in rows)
    assert all(r["month"] == 11 for r in rows)  # the last reported month
    for r in rows:  # each row is the run cxsim itself gives at that seed and value
        ref = run(load_config([*BASE, f"churn.rate_other={r['churn.rate_other']}"]), seed=r["seed"], progress=False)
        last = ref.monthly.iloc[-1]
        assert r["customers"] == last["customers"] and r["nps"] == pytest.approx(last["nps"], abs=0)
    by_rate = {r["churn.rate_other"]: r["customers"] for r in rows if r["seed"] == 0}
    assert by_rate[0.02] < by_rate[0.002]


def test_datacollector_has_one_row_per_month_with_the_warm_up_empty():
    model = CXModel(load_config(BASE))
    while model.running:
        model.step()
    frame = model.datacollector.get_model_vars_dataframe()
    assert len(frame) == 24 and frame["customers"].iloc[:12].isna().all()
    assert frame["month"].iloc[12:].tolist() == list(range(12))


def test_unknown_or_bad_keyword_parameters_are_refused():
    cfg = load_config(BASE)
    with pytest.raises(ConfigError, match="churn.rate_othr"):
        CXModel(cfg, **{"churn.rate_othr": 0.1})
    with pytest.raises(ConfigError, match="churn.rate_other=-1"):
        CXModel(cfg, **{"churn.rate_other": -1})
