"""What a run leaves on disk: complete or absent, never half-written."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

import sim.plots
from sim import load_config, run
from sim.kpis import describe
from sim.results import config_hash, is_complete, write_run
from sim.roi import baseline_of
from sim.safe_write import OutputError


@pytest.fixture(scope="module")
def small_result():
    return run(load_config(["population.n_customers=1500", "years=1", "seed=5", "warmup_years=0"]), progress=False)


def test_every_monthly_column_is_documented(small_result):
    undocumented = [c for c in small_result.monthly.columns if describe(c) is None]
    assert undocumented == []


def test_a_base_that_empties_reports_zeros_in_the_columns_a_full_one_has(small_result):
    # everyone leaves within months and no one joins: the empty months keep every column, with 0
    # for counts and for means over no one, so integer columns stay integers
    cfg = load_config(["population.n_customers=60", "years=4", "warmup_years=0", "seed=3", "churn.rate_other=0.9",
                       "referral.rate_paid_acquisition=0", "referral.rate_referral_promoter=0"])
    monthly = run(cfg, progress=False).monthly
    empty = monthly["customers_start"] == 0  # months that begin with no one
    assert empty.sum() > 30 and not empty.iloc[0]
    assert list(monthly.columns) == list(small_result.monthly.columns)
    assert not monthly.isna().any().any()
    assert (monthly.dtypes == small_result.monthly.dtypes).all()
    assert (monthly.loc[empty, ["customers", "new_churn", "sat_mean", "experience_mean", "calls_offered"]] == 0).all().all()


def test_write_then_read_back(tmp_path, small_result):
    out = write_run(small_result, tmp_path / "run", plots=False)
    assert is_complete(out)
    back = pd.read_parquet(out / "monthly.parquet")
    pd.testing.assert_frame_equal(back, small_result.monthly, check_dtype=False)
    assert json.loads((out / "summary.json").read_text())["customers_end"] == small_result.summary["customers_end"]
    meta = pq.read_schema(out / "monthly.parquet").metadata
    assert json.loads(meta[b"cxsim.scale"]) == {"n_customers": 1500, "n_agents": 1500, "customers_per_agent": 1.0}
    assert json.loads(meta[b"cxsim.units"])["calls_offered"] == "calls"


def test_failure_mid_write_leaves_nothing_that_looks_complete(tmp_path, small_result, monkeypatch):
    def broken_figure(*args, **kwargs):
        raise RuntimeError("disk full while drawing")

    monkeypatch.setattr(sim.plots, "kpi_figure", broken_figure)
    with pytest.raises(RuntimeError):
        write_run(small_result, tmp_path / "run", plots=True)
    assert list(tmp_path.iterdir()) == []


def test_rewrite_replaces_previous_run_but_not_a_users_file_in_it(tmp_path, small_result):
    out = write_run(small_result, tmp_path / "run", plots=False)
    inode = (out / "summary.json").stat().st_ino
    write_run(small_result, tmp_path / "run", plots=False)
    assert is_complete(out) and [p.name for p in tmp_path.iterdir()] == ["run"]
    assert (out / "summary.json").stat().st_ino != inode  # a new file: the folder was replaced
    (out / "notes.txt").write_text("my notes on this run")
    with pytest.raises(OutputError, match="notes.txt"):
        write_run(small_result, tmp_path / "run", plots=False)
    assert (out / "notes.txt").read_text() == "my notes on this run"


def test_damaged_run_is_not_complete(tmp_path, small_result):
    out = write_run(small_result, tmp_path / "run", plots=False)
    (out / "monthly.parquet").unlink()
    assert not is_complete(out)
    out2 = write_run(small_result, tmp_path / "run2", plots=False)
    (out2 / "manifest.json").write_text("{not json")
    assert not is_complete(out2)


def test_config_hash_ignores_seed_and_output_but_not_model_values():
    a = load_config(["seed=1", "output.root=x"])
    b = load_config(["seed=2", "output.root=y"])
    c = load_config(["seed=1", "churn.rate_other=0.0047"])
    assert config_hash(a) == config_hash(b) != config_hash(c)


def test_readme_kpi_table_is_the_one_in_the_code():
    from pathlib import Path

    from sim.kpis import markdown_table

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert markdown_table() in readme, "README's KPI table is stale: paste sim.kpis.markdown_table()"


def test_a_month_without_customers_reports_zeros_with_the_usual_types(small_result):
    import warnings

    from sim.config import NoisyRunWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoisyRunWarning)
        died_out = run(load_config(["population.n_customers=20", "years=2", "warmup_years=0", "churn.rate_other=0.5",
                                    "referral.rate_paid_acquisition=0"]), progress=False).monthly
    assert died_out["customers"].iloc[-1] == 0
    assert not died_out.isna().any().any()
    assert list(died_out.columns) == list(small_result.monthly.columns)
    assert dict(died_out.dtypes) == dict(small_result.monthly.dtypes)


@pytest.mark.parametrize("overrides", [[], ["population=telecom", "+contracts=telco_ibm", "scenario=long_contract_offer"],
                                       ["scenario=ebilling_and_resolved", "population.n_agents=500"]])
def test_config_yaml_is_the_text_omegaconf_writes(overrides):
    """config.yaml is written without OmegaConf (a tenth of a second a run) but must stay its text."""
    from omegaconf import OmegaConf

    from sim import load_config
    from sim.results import _to_yaml

    cfg = load_config(overrides)
    assert _to_yaml(cfg) == OmegaConf.to_yaml(OmegaConf.structured(cfg))


def test_kpi_figure_draws_the_baseline_beside_the_scenario_one_quantity_a_panel(small_config):
    import matplotlib.pyplot as plt

    from sim.plots import build_kpi_figure

    cfg = small_config("scenario=ebilling_push", "years=1")
    scen, base = run(cfg), run(baseline_of(cfg))
    fig = build_kpi_figure(scen.monthly, scen.config, base.monthly)
    try:
        titles = [a.get_title() for a in fig.axes]
        assert len(fig.axes) == 9  # no twin axes: every line has its own scale
        assert "Contact-centre staffing" in titles and "Average speed of answer" in titles
        for a in fig.axes:
            styles = [line.get_linestyle() for line in a.get_lines() if len(line.get_xdata()) == 12]
            assert styles.count("-") == styles.count("--") > 0, a.get_title()  # each scenario line has its baseline
        staffing = fig.axes[titles.index("Contact-centre staffing")].get_lines()[0].get_ydata()
        assert list(staffing) == list(scen.monthly["agents_staffed"])
    finally:
        plt.close(fig)


def test_json_outputs_never_hold_nan_or_infinity():
    from sim.results import _json

    def refuse(name):
        raise ValueError(f"{name} in JSON")

    text = _json({"roce": float("nan"), "by": {"x": float("inf"), "y": 2.5}, "list": [1.0, float("-inf")]})
    assert json.loads(text, parse_constant=refuse) == {"roce": None, "by": {"x": None, "y": 2.5}, "list": [1.0, None]}
