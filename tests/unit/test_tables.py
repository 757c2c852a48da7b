"""Comparisons as spreadsheets: one column per swept key, one row per run (or per KPI)."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from sim import run
from sim.compare import build_comparison
from sim.results import write_run
from sim.tables import split_point

POINTS = ("churn.rel_competitor_pressure=1.0,years=1", "churn.rel_competitor_pressure=1.5,years=1")


def test_a_point_splits_into_typed_columns():
    assert split_point("default") == {}
    assert split_point("churn.rel_competitor_pressure=1.5,years=10,+experiment=ebilling_vs_resolved") == {
        "churn.rel_competitor_pressure": 1.5, "years": 10, "experiment": "ebilling_vs_resolved"}
    assert split_point("a=[x,y],b={c:1,d:2},e='p,q'") == {"a": "[x,y]", "b": "{c:1,d:2}", "e": "'p,q'"}
    assert split_point("x=1e-05,y=-3") == {"x": 1e-05, "y": -3}


@pytest.fixture(scope="module")
def swept(tmp_path_factory, small_config):
    root = tmp_path_factory.mktemp("results")
    for point in POINTS:
        pressure = point.split(",")[0].split("=")[1]
        for scenario in ("baseline", "ebilling_push"):
            cfg = small_config(f"scenario={scenario}", "population.n_customers=800", "years=1",
                               f"churn.rel_competitor_pressure={pressure}", "output.plots=false")
            for seed in (0, 1):
                write_run(run(cfg, seed=seed), root / scenario / point / f"seed={seed}")
    return build_comparison(root, figures=False, log=None)


def test_runs_csv_has_a_row_per_run_and_a_column_per_swept_key(swept):
    runs = pd.read_csv(swept / "runs.csv")
    assert len(runs) == 2 * 2 * 2  # points x scenarios x seeds
    assert list(runs.columns[:5]) == ["point", "churn.rel_competitor_pressure", "years", "scenario", "seed"]
    assert sorted(runs["churn.rel_competitor_pressure"].unique()) == [1.0, 1.5]
    seeds = pd.read_parquet(swept / "seeds.parquet")
    row = runs[(runs["scenario"] == "ebilling_push") & (runs["seed"] == 1) & (runs["point"] == POINTS[1])].iloc[0]
    long = seeds[(seeds["scenario"] == "ebilling_push") & (seeds["seed"] == 1) & (seeds["point"] == POINTS[1])]
    long = long.set_index("kpi")
    assert row["customers_end"] == pytest.approx(long.loc["customers_end", "value"], rel=1e-12)
    assert row["customers_end_vs_baseline"] == pytest.approx(long.loc["customers_end", "diff"], rel=1e-12)
    assert row["incremental_npv"] == pytest.approx(long.loc["incremental_npv", "value"], rel=1e-12)
    assert "incremental_npv_vs_baseline" not in runs  # paired by construction: the value is the difference
    base = runs[runs["scenario"] == "baseline"]
    assert (base["customers_end_vs_baseline"] == 0).all()


def test_comparison_csv_and_xlsx_carry_the_swept_keys(swept):
    comp = pd.read_csv(swept / "comparison.csv")
    assert {"churn.rel_competitor_pressure", "years", "kpi", "mean_diff", "ci_low"} <= set(comp.columns)
    pytest.importorskip("openpyxl")
    sheets = pd.read_excel(swept / "comparison.xlsx", sheet_name=None)
    assert set(sheets) == {"runs", "comparison"}
    assert len(sheets["runs"]) == 8 and len(sheets["comparison"]) == len(comp)
    # the same tables as the CSVs, cell for cell (a missing number is an empty cell in both)
    pd.testing.assert_frame_equal(sheets["comparison"], comp, check_dtype=False)
    pd.testing.assert_frame_equal(sheets["runs"], pd.read_csv(swept / "runs.csv"), check_dtype=False)


def test_a_comparison_rebuilt_later_is_the_same_bytes_in_every_file(swept, tmp_path):
    # nothing a comparison writes may carry the wall clock: two seconds apart (a zip member's time
    # has two-second steps, a workbook's stamp one) every file must still be the same bytes
    pytest.importorskip("openpyxl")
    root = swept.parent.parent
    first = build_comparison(root, out_dir=tmp_path / "a", figures=False, log=None)
    time.sleep(2.1)
    second = build_comparison(root, out_dir=tmp_path / "b", figures=False, log=None)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert "comparison.xlsx" in {str(f) for f in files}
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for f in files:
        assert (first / f).read_bytes() == (second / f).read_bytes(), f"{f} differs between two builds"


def test_a_sweep_over_a_key_gets_a_response_curve(swept, tmp_path):
    from sim.compare import build_comparison

    root = swept.parent.parent
    out = build_comparison(root, figures=True, log=None, out_dir=tmp_path / "with_figures")
    page = (out / "report.html").read_text()
    assert "Response curves" in page and "<h3>churn.rel_competitor_pressure</h3>" in page
    assert (out / "figures" / "response_0.png").stat().st_size > 10_000
