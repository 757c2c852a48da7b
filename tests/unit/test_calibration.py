"""cxsim-calibrate: bad specs and data are refused before any trial; curves are lifelines' own;
an interrupted calibration resumes; the outputs can be run at once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("optuna")
pytest.importorskip("lifelines")

from sim.calibration.fit import calibrate, main  # noqa: E402
from sim.calibration.spec import CalibrationError, load_spec  # noqa: E402
from sim.calibration.targets import km_curve, observe  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

TINY = """\
preset: utility
overrides: [population.n_customers=400, years=1, warmup_years=0]
agents: 400
seeds: 2
trials: {trials}
parameters:
  churn.rate_other: {{low: 0.001, high: 0.02, log: true}}
targets:
  retention:
    kind: retention
    data: customers.csv
    months: 10
  churn:
    kind: monthly
    kpi: churn_rate
    data: churn.csv
"""


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(3)
    tenure = rng.integers(0, 30, 300)
    pd.DataFrame({"tenure": tenure, "churned": np.where(rng.random(300) < 0.3, "Yes", "No")}).to_csv(
        tmp_path / "customers.csv", index=False)
    pd.DataFrame({"month": range(12), "value": 0.01}).to_csv(tmp_path / "churn.csv", index=False)
    (tmp_path / "spec.yaml").write_text(TINY.format(trials=3))
    return tmp_path


def _spec_with(folder: Path, old: str, new: str) -> str:
    text = TINY.format(trials=3).replace(old, new)
    assert text != TINY.format(trials=3), f"{old!r} not in the spec"
    (folder / "bad.yaml").write_text(text)
    return str(folder / "bad.yaml")


@pytest.mark.parametrize("old, new, message", [
    ("low: 0.001, high: 0.02", "low: 0.02, high: 0.001", "parameters.churn.rate_other.low=0.02"),
    ("churn.rate_other:", "churn.rate_othr:", "parameters.churn.rate_othr"),
    ("kpi: churn_rate", "kpi: happiness", "targets.churn.kpi='happiness'"),
    ("kind: monthly", "kind: weekly", "targets.churn.kind='weekly'"),
    ("months: 10", "months: 10\n    group: contract", "targets.retention.group='contract'"),
    ("low: 0.001", "low: 0.0", "parameters.churn.rate_other.low=0.0"),
    ("trials: 3", "trials: 0", "trials=0"),
    ("seeds: 2", "seeds: two", "seeds='two'"),
    ("preset: utility", "preset: utility\nbudget: 3", "budget"),
    ("years=1", "years=1.5", "years=1.5"),
])
def test_bad_specs_are_refused_naming_the_key(folder, old, new, message):
    with pytest.raises(CalibrationError) as err:
        load_spec(_spec_with(folder, old, new))
    assert message in str(err.value)


@pytest.mark.parametrize("write, message", [
    (lambda p: pd.DataFrame({"months": [1, 2], "churned": [1, 0]}).to_csv(p, index=False), "column 'tenure'"),
    (lambda p: pd.DataFrame({"tenure": ["a", 2], "churned": [1, 0]}).to_csv(p, index=False), "'a'"),
    (lambda p: pd.DataFrame({"tenure": [-3, 2], "churned": [1, 0]}).to_csv(p, index=False), "-3"),
    (lambda p: pd.DataFrame({"tenure": [3, 2], "churned": ["maybe", 0]}).to_csv(p, index=False), "maybe"),
    (lambda p: p.write_text("tenure,churned\n"), "no rows"),
    (lambda p: p.unlink(), "no such file"),
])
def test_bad_data_is_refused_before_any_trial(folder, capsys, write, message):
    write(folder / "customers.csv")
    assert main([str(folder / "spec.yaml"), "--output-root", str(folder / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and "customers.csv" in err and "Traceback" not in err
    assert not (folder / "out").exists(), "a refused calibration wrote something"


def test_a_bound_the_model_refuses_is_refused_before_any_trial(folder, capsys):
    path = _spec_with(folder, "parameters:\n", "parameters:\n  complaints.p_respond: {low: 0.5, high: 1.5}\n")
    assert main([path, "--output-root", str(folder / "out")]) == 2
    assert "parameters.complaints.p_respond.high=1.5" in capsys.readouterr().err
    assert not (folder / "out").exists()


def test_observed_curve_is_the_kaplan_meier_estimate(folder):
    from lifelines import KaplanMeierFitter

    obs = observe(load_spec(str(folder / "spec.yaml")).targets[0])
    data = pd.read_csv(folder / "customers.csv")
    km = KaplanMeierFitter().fit(data["tenure"], data["churned"] == "Yes")
    np.testing.assert_allclose(obs.curves[""], km.survival_function_at_times(np.arange(1, 11)).to_numpy())
    curve = km_curve(np.array([1.0, 2.0, 3.0]), np.array([True, True, True]), 3)
    np.testing.assert_allclose(curve, [2 / 3, 1 / 3, 0.0])


def test_calibration_resumes_and_writes_a_runnable_config(folder):
    spec = load_spec(str(folder / "spec.yaml"))
    out = calibrate(spec, folder / "out", jobs=1, log=None)
    first = pd.read_parquet(out / "trials.parquet")
    assert len(first) == 3
    spec.trials = 5  # the same spec asked for more: the study resumes, it does not start again
    calibrate(spec, folder / "out", jobs=1, log=None)
    trials = pd.read_parquet(out / "trials.parquet")
    assert len(trials) == 5
    pd.testing.assert_frame_equal(trials.head(3), first)
    summary = json.loads((out / "summary.json").read_text())
    best = summary["best"]["churn.rate_other"]
    assert 0.001 <= best <= 0.02 and set(summary["losses"]) == {"retention", "churn"}
    fit = pd.read_parquet(out / "fit.parquet")
    assert set(fit["target"]) == {"retention", "churn"}
    assert (fit["simulated_low"] <= fit["simulated"] + 1e-12).all() and (fit["simulated"] <= fit["simulated_high"] + 1e-12).all()
    assert (out / "fit.png").stat().st_size > 10_000
    cmd = summary["run_with"].split()[1:] + ["--cfg", "job"]
    shown = subprocess.run([sys.executable, "-m", "sim", *cmd], capture_output=True, text=True, cwd=folder)
    assert shown.returncode == 0, shown.stderr
    assert f"rate_other: {best}" in shown.stdout


def test_another_spec_under_the_same_name_is_refused(folder):
    spec = load_spec(str(folder / "spec.yaml"))
    calibrate(spec, folder / "out", jobs=1, log=None)
    spec.parameters[0].high = 0.015  # an edited spec is another study
    with pytest.raises(OSError, match="another version of the spec"):
        calibrate(spec, folder / "out", jobs=1, log=None)
