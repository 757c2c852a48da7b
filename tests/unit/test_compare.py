"""The paired comparison: statistics with known answers, exact pairing, and reading only what is
complete (in-process, on a few tiny runs)."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sim import run
from sim.compare import (
    Running,
    build_comparison,
    default_name,
    discover_cells,
    paired_stats,
    read_run,
    seeds_needed,
    t_star,
)
from sim.compare import main as compare_main
from sim.results import run_problem, write_run
from sim.safe_write import OutputError

SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def root(tmp_path_factory, small_config):
    """results/<scenario>/default/seed=<N> for the baseline and ebilling_push, 3 seeds, 1000 x 1 year."""
    root = tmp_path_factory.mktemp("results")
    for scenario in ("baseline", "ebilling_push"):
        cfg = small_config(f"scenario={scenario}", "population.n_customers=1000", "years=1",
                                "output.plots=false")
        for seed in SEEDS:
            write_run(run(cfg, seed=seed), root / scenario / "default" / f"seed={seed}")
    return root


def test_t_interval_matches_the_textbook_formula():
    d = np.array([1.0, 2.0, 3.0, 4.0])
    st = paired_stats(d, +1)
    half = stats.t.ppf(0.975, 3) * d.std(ddof=1) / 2
    assert st["mean_diff"] == 2.5 and st["n_seeds"] == 4
    assert st["ci_low"] == pytest.approx(2.5 - half) and st["ci_high"] == pytest.approx(2.5 + half)
    assert st["share_better"] == 1.0 and not st["crosses_zero"]


def test_better_direction_decides_who_wins():
    d = np.array([-3.0, -1.0, 2.0, -0.5])  # scenario minus baseline
    assert paired_stats(d, -1)["share_better"] == 0.75  # lower is better: 3 of 4 seeds
    assert paired_stats(d, +1)["share_better"] == 0.25
    assert math.isnan(paired_stats(d, 0)["share_better"])


def test_seeds_needed_gives_80_percent_power_as_the_textbooks_do():
    """A paired t-test at 5% two-sided needs 34 pairs for effect size 0.5 and 15 for 0.8 at 80%
    power (Cohen 1988; G*Power). The answer is the fewest seeds with power >= 80%, power taken from
    scipy.stats' noncentral t (an independent implementation of the formula)."""
    assert seeds_needed(0.5, 1.0) == 34 and seeds_needed(0.8, 1.0) == 15

    def power(n, d):
        t = stats.t.ppf(0.975, n - 1)
        return 1 - stats.nct.cdf(t, n - 1, math.sqrt(n) * d) + stats.nct.cdf(-t, n - 1, math.sqrt(n) * d)

    mean, sd = 0.4, 1.3
    n = int(seeds_needed(mean, sd))
    assert power(n, mean / sd) >= 0.8 > power(n - 1, mean / sd)
    assert n > (t_star(n) * sd / mean) ** 2  # more than the 50% answer, n ~ (t sd / mean)^2
    assert math.isinf(seeds_needed(0.0, 1.0)) and math.isnan(seeds_needed(0.0, 0.0))
    st = paired_stats(np.array([0.5, -0.4, 1.2, -0.2]), +1)
    assert st["crosses_zero"] and st["n_seeds_needed"] > 4


def test_running_mean_and_interval_equal_numpy_over_all_series():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(7, 12))
    acc = Running()
    for row in x:
        acc.add({"k": row})
    n, mean, _, hi = acc.interval("k")
    half = stats.t.ppf(0.975, 6) * x.std(axis=0, ddof=1) / math.sqrt(7)
    assert n == 7
    np.testing.assert_allclose(mean, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(hi - mean, half, rtol=1e-9)


def test_the_baseline_against_a_copy_of_itself_differs_by_exactly_zero(root, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(root / "baseline", results / "baseline")
    shutil.copytree(root / "baseline", results / "baseline_copy")
    out = build_comparison(results, figures=False, log=None)
    comp = pd.read_parquet(out / "comparison.parquet")
    assert set(comp["scenario"]) == {"baseline_copy"}
    finite = comp[comp["kpi"] != "roce"]  # ROCE needs CX spend: there is none
    assert (finite["mean_diff"] == 0).all() and (finite["ci_low"] == 0).all() and (finite["ci_high"] == 0).all()
    assert not comp["crosses_zero"].any() and (comp.loc[comp["kpi"] != "roce", "n_seeds"] == 3).all()
    assert (pd.read_parquet(out / "seeds.parquet")["diff"].fillna(0) == 0).all()
    traj = pd.read_parquet(out / "trajectories.parquet")
    assert (traj.loc[traj["scenario"] == "baseline_copy", "diff_mean"] == 0).all()


def test_comparison_pairs_by_seed_and_ranks(root):
    out = build_comparison(root, figures=False, log=None)
    assert out == root / "comparisons" / "ebilling_push_vs_baseline"
    seeds = pd.read_parquet(out / "seeds.parquet")
    ebill = seeds[(seeds["scenario"] == "ebilling_push") & (seeds["kpi"] == "customers_end")].set_index("seed")
    for seed in SEEDS:
        s = json.loads((root / "ebilling_push" / "default" / f"seed={seed}" / "summary.json").read_text())
        b = json.loads((root / "baseline" / "default" / f"seed={seed}" / "summary.json").read_text())
        assert ebill.loc[seed, "diff"] == s["customers_end"] - b["customers_end"]
    meta = json.loads((out / "comparison.json").read_text())
    assert [r["scenario"] for r in meta["ranking"]["default"]] == ["ebilling_push"]
    assert meta["cells"] == [["default", "baseline"], ["default", "ebilling_push"]]


def test_only_needed_columns_are_read(root):
    _, monthly = read_run(root / "baseline" / "default" / "seed=0")
    assert {"profit", "discount_factor", "nps", "adopt_ebill", "cost_paper_bills"} <= set(monthly.columns)
    assert not any(c.startswith(("needs_", "contacts_", "sat_p")) for c in monthly.columns)


def test_half_written_and_damaged_runs_are_not_read(root, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(root, results, ignore=shutil.ignore_patterns("comparisons"))
    (results / "baseline" / "default" / ".tmp-seed=3-abc").mkdir()  # a killed writer's leftovers
    bad = results / "ebilling_push" / "default" / "seed=2"
    (bad / "summary.json").write_text('{"customers_end": ')
    assert "summary.json differs from what was written" in run_problem(bad)
    out = build_comparison(results, figures=False, log=None)
    meta = json.loads((out / "comparison.json").read_text())
    assert meta["runs_skipped"] == 1 and meta["scope"]["points"]["default"]["ebilling_push"] == [0, 1]
    assert any("seed=2" in w for w in meta["warnings"])


def test_name_and_cells_are_deterministic(root):
    assert sorted(discover_cells(root)) == [("default", "baseline"), ("default", "ebilling_push")]
    assert default_name(["baseline", "b", "a"], ["default"]) == "a+b_vs_baseline"
    assert default_name(["x"], ["years=5"]) == "x_vs_baseline@years=5"
    many = default_name(["x"], ["p=1", "p=2"])
    assert many.startswith("x_vs_baseline@2_points-") and many == default_name(["x"], ["p=2", "p=1"])


def test_a_point_without_baseline_runs_is_reported_not_drawn(root, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(root / "baseline", results / "baseline")
    shutil.copytree(root / "ebilling_push", results / "ebilling_push")
    # the same scenario at another parameter point, with no baseline runs there
    shutil.copytree(root / "ebilling_push" / "default", results / "ebilling_push" / "years=1,churn.rate_other=0.01")
    out = build_comparison(results, figures=True, log=None)
    report = (out / "report.html").read_text()
    assert "nothing to compare with" in report
    assert (out / "figures").is_dir() and any((out / "figures").iterdir())


def test_a_comparison_never_replaces_runs_or_another_study(root, tmp_path, capsys):
    results = tmp_path / "results"
    shutil.copytree(root, results, ignore=shutil.ignore_patterns("comparisons"))
    before = sorted(str(p) for p in results.rglob("*"))
    assert compare_main([str(results), "--out", str(results)]) == 2  # onto the results root itself
    assert "will not replace" in capsys.readouterr().err
    assert sorted(str(p) for p in results.rglob("*")) == before
    out = build_comparison(results, name="study", figures=False, log=None)
    again = build_comparison(results, name="study", figures=False, log=None)  # the same scope: a rebuild
    assert again == out and (out / "manifest.json").is_file()
    with pytest.raises(OutputError, match="another study"):
        build_comparison(results, [("default", "baseline")], name="study", figures=False, log=None)
    (out / "my_notes.md").write_text("what I concluded")
    with pytest.raises(OutputError, match="my_notes.md"):
        build_comparison(results, name="study", figures=False, log=None)
    assert (out / "my_notes.md").read_text() == "what I concluded"


def test_a_scope_with_nothing_readable_gives_a_report_that_says_so(root, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(root / "baseline" / "default" / "seed=0", results / "baseline" / "default" / "seed=0")
    (results / "baseline" / "default" / "seed=0" / "summary.json").write_text("{}")
    out = build_comparison(results, figures=True, log=None)
    meta = json.loads((out / "comparison.json").read_text())
    assert meta["runs_read"] == 0 and meta["runs_skipped"] == 1
    assert any("not read" in w for w in meta["warnings"])
    assert (out / "report.html").is_file()


def test_a_comparison_name_cannot_leave_the_results_root(root):
    with pytest.raises(OutputError, match="name="):
        build_comparison(root, name="../../elsewhere", figures=False, log=None)


def _rank(*rows):
    out = []
    for i, (scen, npv, lo, hi) in enumerate(rows, start=1):
        out.append({"rank": i, "scenario": scen, "incremental_npv": npv, "incremental_npv_ci": [lo, hi]})
    for upper, lower in zip(out, out[1:]):
        upper["vs_next"] = {"scenario": lower["scenario"], "separated": upper["incremental_npv_ci"][0] > 0,
                            "n_seeds_needed": 40.0}
    return out


def test_the_verdict_says_plainly_when_nothing_pays_back():
    from sim.report import verdict

    names = {"a": "Programme A", "b": "Programme B"}
    text = verdict(_rank(("a", -1e5, -3e5, 1e5), ("b", -2e6, -3e6, -1e6)), names, 10)
    assert text.startswith("At these assumptions no programme pays back within the 10-year horizon: doing nothing")
    assert "Programme A" in text
    text = verdict(_rank(("a", 3e6, 2e6, 4e6), ("b", -2e6, -3e6, -1e6)), names, 10)
    assert "<b>Programme A</b> has the largest incremental NPV, +$3.00M" in text
    assert "clear of zero" in text and "<b>Programme B</b> does not pay back" in text
    text = verdict(_rank(("a", 3e5, -2e5, 8e5), ("b", 1e5, -1e5, 3e5)), names, 10)
    assert "its interval includes zero" in text and "not yet separated from <b>Programme B</b> (about 40 seeds" in text


def test_the_report_names_scenarios_and_lists_their_programmes(root):
    out = build_comparison(root, figures=False, log=None)
    page = (out / "report.html").read_text()
    meta = json.loads((out / "comparison.json").read_text())
    assert meta["scenario_labels"] == {"baseline": "No programme (baseline)", "ebilling_push": "E-billing campaign"}
    assert "<h1>E-billing campaign against no programme: utility firm, 1 year</h1>" in page
    assert "What each scenario switches on" in page and "adoption.behaviours.ebill.rel_incentive</code> multiply 6" in page
    assert "class=verdict" in page


def test_trajectory_bands_show_the_mean_and_the_seed_spread_within_possible_values(root):
    out = build_comparison(root, figures=False, log=None)
    traj = pd.read_parquet(out / "trajectories.parquet")
    ok = traj.dropna(subset=["ci_low", "spread_low"])
    assert len(ok) > 0
    # the seed spread (one run) is wider than the interval of the mean, by sqrt(n + 1) at 3 seeds
    assert (ok["spread_low"] <= ok["ci_low"] + 1e-9).all() and (ok["spread_high"] >= ok["ci_high"] - 1e-9).all()
    churn = traj[traj["kpi"] == "churn_pct_year"]
    assert (churn["ci_low"] >= 0).all() and (churn["spread_low"] >= 0).all()
    nps = traj[traj["kpi"] == "nps"]
    assert nps["spread_high"].max() <= 100 and nps["spread_low"].min() >= -100
    series = [np.array([1.0, 2.0]), np.array([2.0, 2.5]), np.array([4.0, 1.0])]
    acc = Running()
    for x in series:
        acc.add({"k": x})
    lo, hi = acc.spread("k")
    sd = np.std(series, axis=0, ddof=1)
    half = stats.t.ppf(0.975, 2) * sd * math.sqrt(1 + 1 / 3)
    assert np.allclose(lo, np.mean(series, axis=0) - half) and np.allclose(hi, np.mean(series, axis=0) + half)


def test_trajectory_figures_keep_every_label_inside_the_figure_and_clear_of_each_other(root):
    from sim.report import fig_trajectories, pyplot

    out = build_comparison(root, figures=False, log=None)
    traj = pd.read_parquet(out / "trajectories.parquet")
    meta = json.loads((out / "comparison.json").read_text())
    point = next(iter(meta["scope"]["points"]))
    scenarios = list(meta["scope"]["points"][point])
    adopt = sorted(k for k in set(traj["kpi"]) if k.startswith("adopt_"))
    # as long as the report's own titles, which a 3-panel row once clipped at both ends
    title = ("Paired difference, scenario minus baseline at the same seed (mean of 3 seeds; dark band: 95% interval "
             "of the mean; light band between dotted lines: where one seed's run falls (95%))")
    for kpis, diff, ncols in ((["customers", "nps", "churn_pct_year", "cost_to_serve", "profit", "cum_npv"], True, 3),
                              (adopt, False, 4)):
        fig = fig_trajectories(traj, point, scenarios, meta, kpis, title, diff=diff, ncols=ncols)
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        boxes = [ax.get_tightbbox(renderer) for ax in fig.axes if ax.get_visible()]  # panel, title, labels, ticks
        boxes += [fig._suptitle.get_window_extent(renderer)] + [lg.get_window_extent(renderer) for lg in fig.legends]
        whole = fig.bbox
        for box in boxes:
            assert whole.x0 - 1 <= box.x0 and box.x1 <= whole.x1 + 1 and whole.y0 - 1 <= box.y0 and box.y1 <= whole.y1 + 1
        for i, a in enumerate(boxes):
            assert not any(a.overlaps(b) for b in boxes[i + 1:]), f"{kpis}: box {i} overlaps another"
        pyplot().close(fig)


def test_the_comparison_reads_back_exactly_what_the_runs_computed(root, small_config):
    """Runs read from disk (numpy columns, no pandas) give the per-seed values, money view and
    trajectories that the in-memory results give."""
    from sim.compare import money_values, seed_values, trajectories

    results = {}
    for scenario in ("baseline", "ebilling_push"):
        cfg = small_config(f"scenario={scenario}", "population.n_customers=1000", "years=1", "output.plots=false")
        results[scenario] = run(cfg, seed=1)
    disk = {s: read_run(root / s / "default" / "seed=1") for s in results}
    for s, result in results.items():
        assert seed_values(*disk[s]) == seed_values(result.summary, result.monthly)
        from_disk, in_memory = trajectories(disk[s][1]), trajectories(result.monthly)
        assert from_disk.keys() == in_memory.keys()
        for k in in_memory:
            np.testing.assert_array_equal(from_disk[k], in_memory[k], err_msg=k)
    assert (money_values(disk["ebilling_push"][1], disk["baseline"][1])
            == money_values(results["ebilling_push"].monthly, results["baseline"].monthly))


def test_final_year_means_leave_out_missing_months_as_pandas_does():
    from sim.compare import seed_values

    frame = pd.DataFrame({"month": np.arange(14), "asa_s": [1.0, 2.0] + [np.nan, 3.0] * 6,
                          "fcr": [np.nan] * 14, "nps": np.linspace(10.0, 11.3, 14)})
    values = seed_values({}, frame)
    assert values["final_year.asa_s"] == frame["asa_s"].tail(12).mean() == 3.0
    assert math.isnan(values["final_year.fcr"])
    assert values["final_year.nps"] == frame["nps"].tail(12).mean()


def test_the_trailing_churn_window_is_pandas_rolling_sum():
    from sim.compare import trailing_sum

    rng = np.random.default_rng(5)
    x = rng.uniform(0, 1e4, size=40)
    np.testing.assert_allclose(trailing_sum(x), pd.Series(x).rolling(12, min_periods=1).sum(), rtol=1e-13)
    whole = rng.integers(0, 1000, size=30).astype(float)  # whole numbers: every window sum is exact
    assert (trailing_sum(whole) == pd.Series(whole).rolling(12, min_periods=1).sum().to_numpy()).all()
    assert (trailing_sum(whole[:5]) == np.cumsum(whole[:5])).all()  # shorter than a year


def test_a_sealed_run_whose_table_disagrees_with_its_manifest_is_skipped(root, tmp_path):
    """Checksums guard the bytes; a run whose manifest and table disagree (as a writer bug would
    leave it) is still not read: it is skipped with a warning, and its pair is not drawn."""
    from sim.safe_write import sealed_manifest

    results = tmp_path / "results"
    shutil.copytree(root, results, ignore=shutil.ignore_patterns("comparisons"))
    bad = results / "ebilling_push" / "default" / "seed=1"
    manifest = json.loads((bad / "manifest.json").read_text())
    files = [f for f in manifest.pop("files") if f != "manifest.json"]
    for key in ("checksums", "manifest_sha256"):
        manifest.pop(key)
    manifest["months"] += 1
    (bad / "manifest.json").write_text(sealed_manifest(manifest, bad, files))
    assert "rows, the manifest says" in run_problem(bad)
    out = build_comparison(results, figures=False, log=None)
    meta = json.loads((out / "comparison.json").read_text())
    assert meta["runs_read"] == 5 and meta["runs_skipped"] == 1
    assert meta["scope"]["points"]["default"]["ebilling_push"] == [0, 2]
    assert any("seed=1" in w and "the manifest says" in w for w in meta["warnings"])
    seeds = pd.read_parquet(out / "seeds.parquet")
    assert sorted(seeds.loc[seeds["scenario"] == "ebilling_push", "seed"].unique()) == [0, 2]


def test_runs_read_ahead_come_back_in_order_with_few_held_at_once():
    import threading
    import time

    from sim.run_reader import ReadAhead, RunUnreadable

    lock, started, taken = threading.Lock(), [], []

    def read(i):
        def job():
            with lock:
                started.append(i)
            time.sleep(0.002)
            if i == 5:
                raise RunUnreadable("garbled")
            return i * 10
        return job

    ahead = ReadAhead([(i, read(i)) for i in range(20)], ahead=3)
    order = [*range(12), 15, 12, 13, 14, *range(16, 20)]  # 15 asked before its turn
    try:
        for n, i in enumerate(order):
            if i == 5:
                with pytest.raises(RunUnreadable, match="garbled"):
                    ahead.take(i)
                continue
            taken.append(ahead.take(i))
            with lock:  # never more than 3 read beyond what was taken
                assert len(started) <= n + 1 + 3
        assert taken == [i * 10 for i in order if i != 5]
    finally:
        ahead.close()
