"""cxsim-explore: futures, indices and robustness, end to end and on test functions with known answers."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("SALib")

from sim.config import ConfigError, FutureConfig, validate
from sim.explore.analysis import morris_indices, robustness, sobol_indices
from sim.explore.cli import main as explore
from sim.explore.design import design_table, future_yaml
from sim.explore.spec import ExploreError, ExploreSpec, Uncertainty, load_spec
from sim.params import apply_future, get_param

# A small exploration of the e-billing campaign: the paper-bill cost moves its value; the price
# elasticity cannot (no arm changes the price index, and price^elasticity = 1 at index 1).
TINY = """
preset: utility
baseline: baseline
scenarios: [ebilling_push]
overrides: [years=1, warmup_years=1]
agents: 400
seeds: 2
outcomes: [incremental_npv, nps_end]
uncertainties:
  adoption.behaviours.ebill.cost_per_year_without: {dist: triangular, low: 6.0, mode: 11.0, high: 16.0, source: domain}
  churn.rel_price_elasticity: {dist: uniform, low: 1.5, high: 4.5}
analyses:
  morris: {trajectories: 3, levels: 4}
  robustness: {n: 4, bins: 2}
"""


def _spec_file(tmp_path: Path, text: str = TINY, name: str = "tiny") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def explored(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("explore")
    spec = _spec_file(tmp)
    root = tmp / "results"
    code = explore([str(spec), "--output-root", str(root), "--no-progress"])
    return {"code": code, "spec": spec, "root": root, "out": root / "explorations" / "tiny"}


def test_exploration_writes_tidy_tables_and_a_report(explored):
    assert explored["code"] == 0
    out = explored["out"]
    for name in ("experiments.parquet", "experiments.csv", "indices.parquet", "robustness.parquet", "win_shares.parquet",
                 "report.html", "design.parquet", "manifest.json"):
        assert (out / name).is_file(), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stage"] == "analysed" and manifest["analysed"] == ["morris", "robustness"]
    exp = pd.read_parquet(out / "experiments.parquet")
    # one row per future, scenario and seed: 3 trajectories x (2 keys + 1) Morris futures and 4 Latin
    # hypercube ones, one scenario, 2 seeds
    assert len(exp) == (9 + 4) * 1 * 2
    for col in ("adoption.behaviours.ebill.cost_per_year_without", "churn.rel_price_elasticity",
                "incremental_npv", "nps_end", "incremental_npv_unpaired"):
        assert exp[col].notna().all(), col
    # the key columns are the design's values, which every run read was checked to have used
    design = pd.read_parquet(out / "design.parquet")
    assert set(exp["future"]) == set(design["future"])
    page = (out / "report.html").read_text()
    assert "Morris screening" in page and "Robustness over 4 Latin hypercube futures" in page


def test_a_key_that_cannot_act_gets_no_effect_and_ranks_below_the_paper_bill_cost(explored):
    ind = pd.read_parquet(explored["out"] / "indices.parquet")
    paired = ind[(ind["analysis"] == "morris") & (ind["pairing"] == "paired")]
    for outcome, g in paired.groupby("outcome"):
        g = g.set_index("key")
        inert = g.loc["churn.rel_price_elasticity"]
        # the runs are bit-identical whatever the elasticity, so every elementary effect is exactly 0
        assert inert["mu_star"] == 0.0 and inert["mu_star_conf"] == 0.0 and inert["sigma"] == 0.0, outcome
    npv = paired[paired["outcome"] == "incremental_npv"].set_index("key")["mu_star"]
    assert npv["adoption.behaviours.ebill.cost_per_year_without"] > 0
    assert npv.idxmax() == "adoption.behaviours.ebill.cost_per_year_without"


def test_robustness_shares_add_up(explored):
    robust = pd.read_parquet(explored["out"] / "robustness.parquet")
    assert set(robust["option"]) == {"do nothing", "ebilling_push"}
    assert math.isclose(robust["share_best"].sum(), 1.0)
    assert (robust["regret_mean"] >= 0).all() and (robust["regret_max"] >= robust["regret_mean"]).all()
    curves = pd.read_parquet(explored["out"] / "win_shares.parquet")
    per_bin = curves.groupby(["key", "bin"])["share_best"].sum()
    assert np.allclose(per_bin, 1.0)


def test_an_interrupted_exploration_resumes_and_rebuilds_the_same_indices(explored, capsys):
    import shutil

    before = pd.read_parquet(explored["out"] / "indices.parquet")
    lost = sorted((explored["root"] / "ebilling_push").glob("+future=tiny_morris_00004*/seed=1"))
    assert len(lost) == 1
    shutil.rmtree(lost[0])  # as if the sweep had been stopped before this run
    code = explore([str(explored["spec"]), "--output-root", str(explored["root"]), "--no-progress"])
    assert code == 0
    assert "52 runs (51 complete on disk)" in capsys.readouterr().out
    assert (lost[0] / "manifest.json").is_file()
    pd.testing.assert_frame_equal(pd.read_parquet(explored["out"] / "indices.parquet"), before)
    # and with everything on disk, nothing runs at all
    assert explore([str(explored["spec"]), "--output-root", str(explored["root"]), "--no-progress"]) == 0
    assert "52 runs (52 complete on disk)" in capsys.readouterr().out


SHARED = TINY.replace("""  churn.rel_price_elasticity: {dist: uniform, low: 1.5, high: 4.5}
analyses:
  morris: {trajectories: 3, levels: 4}
  robustness: {n: 4, bins: 2}""", """  churn.rel_price_elasticity: {dist: uniform, low: 1.5, high: 4.5}
  interventions.ebilling_campaign.effects.0.value: {dist: uniform, low: 2.0, high: 10.0}
analyses:
  morris: {trajectories: 3, levels: 4}""")


def test_futures_that_differ_only_in_a_programme_key_share_the_baseline_run(tmp_path, capsys):
    # Morris: 3 trajectories x 4 futures; one step per trajectory moves only the campaign's effect,
    # which does not act in the baseline, so that baseline future reuses the run before it (and on
    # 4 levels, futures of different trajectories can meet on the same values too)
    import subprocess
    import sys

    from sim.explore.sweep import planned_runs, task_overrides

    assert SHARED != TINY
    root = tmp_path / "results"
    spec_path = _spec_file(tmp_path, SHARED, name="shared")
    assert explore([str(spec_path), "--output-root", str(root), "--no-progress"]) == 0
    out = capsys.readouterr().out
    spec = load_spec(str(spec_path))
    design = design_table(spec)
    acting = {"baseline": spec.keys[:2], "ebilling_push": spec.keys}  # the campaign acts only where it runs
    assert spec.acting == acting
    distinct = {arm: len(design[keys].drop_duplicates()) for arm, keys in acting.items()}
    assert distinct["baseline"] <= 12 - 3 and distinct["baseline"] < distinct["ebilling_push"]
    n = 2 * sum(distinct.values())
    assert f"12 futures x 2 arms x 2 seeds = 48 runs, {n} to simulate" in out
    on_disk = sorted(root.glob("baseline/*/seed=*")) + sorted(root.glob("ebilling_push/*/seed=*"))
    assert len(on_disk) == n
    table = pd.read_parquet(root / "explorations" / "shared" / "experiments.parquet")
    assert len(table) == 12 * 2 and table["incremental_npv"].notna().all()
    # a shared run is exactly the run its own future would have made
    runs = planned_runs(spec, root / "explorations" / "shared" / "configs", root, design)
    shared = [r for r in runs if r.source != r.future and r.arm == "baseline"]
    r = shared[0]
    own = tmp_path / "own"
    args = [a for a in task_overrides(spec, root) if not a.startswith("output.root=")]
    done = subprocess.run([sys.executable, "-m", "sim", "--config-dir", str(root / "explorations" / "shared" / "configs"),
                           f"+future={r.future}", "scenario=baseline", f"seed={r.seed}", *args,
                           f"output.run_dir={own}"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(own / "monthly.parquet"), pd.read_parquet(r.run_dir / "monthly.parquet"))


def test_a_changed_spec_under_the_same_name_is_refused(explored, tmp_path, capsys):
    changed = _spec_file(tmp_path, TINY.replace("high: 4.5", "high: 5.0"))
    code = explore([str(changed), "--output-root", str(explored["root"]), "--no-run"])
    assert code == 2
    assert "holds the exploration of a different spec" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# the analysis code path on functions with known indices


def _function_spec(names: list[str], low: float, high: float, analyses: dict) -> ExploreSpec:
    return ExploreSpec(name="f", path=Path("f.yaml"), scenarios=["f"], seeds=1, outcomes=["incremental_npv"],
                       uncertainties=[Uncertainty(n, "uniform", low, high) for n in names], analyses=analyses)


def _evaluate(spec: ExploreSpec, design: pd.DataFrame, f) -> pd.DataFrame:
    x = design[spec.keys].to_numpy(float)
    return pd.DataFrame({"analysis": design["analysis"], "sample": design["sample"], "scenario": "f", "seed": 0,
                         "incremental_npv": f(x)})


def test_sobol_indices_of_the_ishigami_function_match_the_published_values():
    """Ishigami (a = 7, b = 0.1), x uniform on [-pi, pi]: S1 = 0.3139, 0.4424, 0; ST = 0.5576,
    0.4424, 0.2437 (Saltelli et al. 2008, Global Sensitivity Analysis: The Primer). Tolerance 0.03
    at 1,024 base samples."""
    spec = _function_spec(["x1", "x2", "x3"], -math.pi, math.pi, {"sobol": {"n": 1024, "resamples": 100}})
    design = design_table(spec)

    def ishigami(x):
        return np.sin(x[:, 0]) + 7 * np.sin(x[:, 1]) ** 2 + 0.1 * x[:, 2] ** 4 * np.sin(x[:, 0])

    table = _evaluate(spec, design, ishigami)
    ind = sobol_indices(spec, design, table).set_index("key")
    assert np.allclose(ind["S1"], [0.3139, 0.4424, 0.0], atol=0.03), ind["S1"]
    assert np.allclose(ind["ST"], [0.5576, 0.4424, 0.2437], atol=0.03), ind["ST"]
    # the bootstrap intervals are a function of the design seed (0 here), not of numpy's global state
    np.random.seed(123)
    again = sobol_indices(spec, design, table).set_index("key")
    pd.testing.assert_frame_equal(ind, again)


def test_morris_mu_star_of_a_linear_function_is_its_effect_over_each_range():
    """f = 3 x1 - 2 x3 on [0, 10]: moving x1 across its range moves f by 30, x3 by 20, x2 by 0; the
    elementary effects are exact, so mu* is too (1e-9)."""
    spec = _function_spec(["x1", "x2", "x3"], 0.0, 10.0, {"morris": {"trajectories": 6, "levels": 4}})
    design = design_table(spec)
    ind = morris_indices(spec, design, _evaluate(spec, design, lambda x: 3 * x[:, 0] - 2 * x[:, 2]))
    mu_star = ind.set_index("key")["mu_star"]
    assert np.allclose(mu_star, [30.0, 0.0, 20.0], atol=1e-9)


def test_robustness_of_known_outcomes():
    """Two options whose NPV crosses at x = 5 on [0, 10]: 'f' = x - 5 wins exactly when x > 5."""
    spec = _function_spec(["x"], 0.0, 10.0, {"robustness": {"n": 200, "bins": 2}})
    design = design_table(spec)
    summary, curves = robustness(spec, design, _evaluate(spec, design, lambda x: x[:, 0] - 5.0))
    s = summary.set_index("option")
    assert s.loc["f", "share_best"] == pytest.approx(0.5, abs=1e-9)  # a Latin hypercube: half the futures above 5
    assert s.loc["f", "regret_max"] == pytest.approx(5.0, abs=0.1)
    lower, upper = curves[curves["option"] == "f"].sort_values("bin")["share_best"]
    assert (lower, upper) == (0.0, 1.0)


def test_the_same_spec_gives_the_same_futures():
    spec = _function_spec(["x1", "x2"], 0.0, 1.0, {"morris": {"trajectories": 4, "levels": 4},
                                                   "robustness": {"n": 10, "bins": 2}})
    pd.testing.assert_frame_equal(design_table(spec), design_table(copy.deepcopy(spec)))
    other = copy.deepcopy(spec)
    other.design_seed = 1
    assert not design_table(other).equals(design_table(spec))


@pytest.mark.parametrize("dist, extra", [("uniform", {}), ("log_uniform", {}), ("triangular", {"mode": 3.0})])
def test_distributions_map_quantiles_to_their_inverse_cdf(dist, extra):
    from scipy import stats

    u = Uncertainty("k", dist, 1.0, 8.0, **extra)
    q = np.linspace(0, 1, 101)
    expected = {"uniform": stats.uniform(1.0, 7.0), "log_uniform": stats.loguniform(1.0, 8.0),
                "triangular": stats.triang((3.0 - 1.0) / 7.0, 1.0, 7.0)}[dist].ppf(q)
    assert np.allclose(u.from_unit(q), expected, rtol=1e-12, atol=1e-12)


def test_future_files_read_back_as_the_same_floats(tmp_path):
    from omegaconf import OmegaConf

    spec = _function_spec(["a.b", "c.d"], 0.0, 1.0, {})
    row = pd.Series({"analysis": "morris", "sample": 3, "future": "f_morris_00003", "a.b": 1e-05, "c.d": 0.1 + 0.2})
    path = tmp_path / "f.yaml"
    path.write_text(future_yaml(spec, row))
    back = OmegaConf.to_container(OmegaConf.load(path))
    assert back["values"] == {"a.b": 1e-05, "c.d": 0.1 + 0.2}


# ---------------------------------------------------------------------------------------------
# futures applied to run configs


def test_a_future_sets_its_keys_and_a_programme_key_acts_only_where_the_programme_is_on(small_config):
    future = FutureConfig(name="x", values={"churn.rate_price": 0.002,
                                            "interventions.ebilling_campaign.effects.0.value": 3.5})
    base = small_config()
    base.future = copy.deepcopy(future)
    apply_future(base)
    validate(base)
    assert base.churn.rate_price == 0.002 and "ebilling_campaign" not in base.interventions
    scen = small_config("scenario=ebilling_push")
    scen.future = copy.deepcopy(future)
    validate(apply_future(scen))
    assert get_param(scen, "interventions.ebilling_campaign.effects.0.value") == 3.5


def test_a_future_that_was_not_applied_is_refused_by_name(small_config):
    cfg = small_config()
    cfg.future = FutureConfig(name="x", values={"churn.rate_price": 0.002})
    with pytest.raises(ConfigError, match=r"future.values.churn.rate_price=0.002 is not allowed: the value"):
        validate(cfg)
    cfg.future = FutureConfig(name="x", values={"churn.no_such_key": 1.0})
    with pytest.raises(ConfigError, match="future.values.churn.no_such_key"):
        validate(apply_future(cfg))


# ---------------------------------------------------------------------------------------------
# bad specs: refused before anything runs, naming the key


@pytest.mark.parametrize("old, new, message", [
    ("churn.rel_price_elasticity:", "churn.rel_price_elastic:",
     "uncertainties.churn.rel_price_elastic is not allowed: not a key of the model config"),
    ("low: 1.5, high: 4.5", "low: 4.5, high: 1.5",
     "uncertainties.churn.rel_price_elasticity.low=4.5 is not allowed: below"),
    ("low: 1.5, high: 4.5", "low: -1.5, high: 4.5",
     r"uncertainties.churn.rel_price_elasticity.low=-1.5 is not allowed: the model refuses it"),
    ("dist: uniform", "dist: normal", "dist='normal' is not allowed: one of \\['uniform', 'log_uniform', 'triangular'\\]"),
    ("scenarios: [ebilling_push]", "scenarios: [ebiling_push]",
     "scenario 'ebiling_push' is not allowed: one of configs/scenario/.*did you mean ebilling_push"),
    ("outcomes: [incremental_npv, nps_end]", "outcomes: [incremental_npv, nps]", "outcomes entry 'nps' is not allowed"),
    ("mode: 11.0", "mode: 17.0", "mode=17.0 is not allowed: within"),
    ("robustness: {n: 4, bins: 2}", "sobol: {n: 6}", "analyses.sobol.n=6 is not allowed: a power of 2"),
    ("robustness: {n: 4, bins: 2}", "fast: {n: 6}", "analyses.fast is not allowed: one of"),
    ("churn.rel_price_elasticity:", "interventions.resolved_programme.cost_per_month:",
     "no scenario of \\['ebilling_push'\\] switches programme 'resolved_programme' on"),
    ("agents: 400", "agents: 0", "agents=0 is not allowed: an integer >= 1"),
    ("seeds: 2", "seed: 2", "seed is not allowed: the keys are .*did you mean seeds"),
])
def test_bad_specs_are_refused_with_the_key_and_what_is_allowed(tmp_path, old, new, message):
    assert old in TINY
    path = _spec_file(tmp_path, TINY.replace(old, new, 1))
    with pytest.raises(ExploreError, match=message):
        load_spec(str(path))


def test_bad_input_on_the_command_line_stops_before_anything_is_written(tmp_path, capsys):
    root = tmp_path / "results"
    path = _spec_file(tmp_path, TINY.replace("low: 1.5, high: 4.5", "low: 4.5, high: 1.5"))
    assert explore([str(path), "--output-root", str(root)]) == 2
    assert "below" in capsys.readouterr().err
    assert explore([str(_spec_file(tmp_path)), "--output-root", str(root), "years=3"]) == 2
    assert "only the launcher" in capsys.readouterr().err
    assert explore([str(_spec_file(tmp_path)), "--output-root", str(root), "--only", "sobol"]) == 2
    assert "--only 'sobol' is not allowed" in capsys.readouterr().err
    assert not root.exists()


def test_a_second_copy_of_an_exploration_stops_at_once_while_the_first_runs(tmp_path, capsys):
    from sim.safe_write import exclusive

    root = tmp_path / "results"
    spec = _spec_file(tmp_path)
    with exclusive(root / "explorations" / ".tiny.lock", "the first copy"):  # as a running cxsim-explore holds it
        assert explore([str(spec), "--output-root", str(root), "--no-run"]) == 2
    err = capsys.readouterr().err
    assert f"the exploration {root / 'explorations' / 'tiny'} is being written by process" in err
    assert not (root / "explorations" / "tiny").exists()  # it wrote nothing
    # once the first has finished (or died: the system releases its lock), the command runs
    assert explore([str(spec), "--output-root", str(root), "--no-run"]) == 1  # nothing on disk to analyse yet
    assert "no analysis has all its runs on disk yet" in capsys.readouterr().err


def test_the_sweep_preflight_refuses_a_future_the_model_refuses(tmp_path):
    """The futures are applied to one composition per scenario in the preflight (not composed one
    by one); a future with a value out of range must still stop the sweep before it runs."""
    from sim.preflight import PreflightError, check_command

    group = tmp_path / "configs" / "future"
    group.mkdir(parents=True)
    (group / "t_robustness_00000.yaml").write_text("name: t_robustness_00000\nvalues:\n  churn.rate_price: 0.001\n")
    (group / "t_robustness_00001.yaml").write_text("name: t_robustness_00001\nvalues:\n  churn.rate_price: -0.001\n")
    with pytest.raises(PreflightError) as err:
        check_command(["-m", "--config-dir", str(tmp_path / "configs"), "+future=glob(t_robustness_*)",
                       "scenario=baseline", "population.n_customers=500", f"output.root={tmp_path / 'r'}"])
    text = "\n".join(err.value.problems)
    assert "t_robustness_00001" in text and "churn.rate_price=-0.001 is not allowed" in text
    assert "t_robustness_00000" not in text.split("\n", 1)[1]


def test_the_preflight_applies_a_future_exactly_as_composing_it_would(tmp_path):
    from sim.preflight import _compose, _with_future
    from sim.results import config_hash
    from sim.sweep_callback import config_loader

    group = tmp_path / "future"
    group.mkdir()
    path = group / "t_morris_00000.yaml"
    path.write_text("name: t_morris_00000\nvalues:\n  churn.rate_price: 0.002\n"
                    "  interventions.ebilling_campaign.effects.0.value: 3.5\n")
    loader = config_loader(str(tmp_path))
    overrides = ["scenario=ebilling_push", "population.n_customers=500"]
    problems: list[str] = []
    composed = _compose(loader, "config", ["+future=t_morris_00000", *overrides], problems, "")
    applied = _with_future(_compose(loader, "config", overrides, problems, ""), path, problems, "")
    assert not problems
    assert composed == applied and config_hash(composed) == config_hash(applied)
    assert composed.churn.rate_price == 0.002 and composed.future.name == "t_morris_00000"
