"""The `cxsim` command as a user meets it: a run that writes a results folder, and bad input
that is refused with a message naming the key, a non-zero exit and nothing written."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from sim import ConfigError, load_config
from sim.cli import start_line


def _cxsim(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sim", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_run_writes_complete_results_folder(tmp_path):
    proc = _cxsim("population.n_customers=1500", "years=1", "seed=3", "output.root=out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    run_dir = tmp_path / "out" / "baseline" / "population.n_customers=1500,years=1" / "seed=3"
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "config.yaml", "kpis.png", "manifest.json", "monthly.parquet", "summary.json"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["complete"] and manifest["seed"] == 3 and len(manifest["config_hash"]) == 16
    assert manifest["config"]["population"]["n_customers"] == 1500
    monthly = pd.read_parquet(run_dir / "monthly.parquet")
    assert len(monthly) == 12 and monthly["customers_start"].iloc[0] == 1500
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["seed"] == 3 and summary["months"] == 12
    assert not list(tmp_path.glob("out/**/.tmp-*")), "no temporary folders may be left behind"
    # before any work: what runs and where it lands (the run itself reports when it is done)
    first = proc.stdout.splitlines()[0]
    assert first == "cxsim: running baseline seed=3: 1,500 agents, 3 warm-up + 1 year -> " + str(
        run_dir.relative_to(tmp_path)), first


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("foo=1", "foo"),  # unknown key
        ("churn.rate_other=-0.1", "churn.rate_other"),  # negative rate
        ("years=[1", "years"),  # malformed override
    ],
)
def test_bad_input_exits_nonzero_names_key_and_writes_nothing(tmp_path, override, named):
    proc = _cxsim(override, "output.root=out", cwd=tmp_path)
    assert proc.returncode != 0
    assert named in proc.stderr + proc.stdout
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("overrides", "key", "allowed"),
    [
        (["population.n_customers=0"], "population.n_customers", "> 0"),
        (["years=0"], "years", "> 0"),
        (["years=-2"], "years", "> 0"),
        (["referral.rate_paid_acquisition=-1"], "referral.rate_paid_acquisition", ">= 0"),
        (["population.p_abuser=1.5"], "population.p_abuser", "[0, 1]"),
        (["contact_centre.p_first_contact_resolution=-0.1"], "contact_centre.p_first_contact_resolution", "[0, 1]"),
        (["contact_centre.rel_staffing=0"], "contact_centre.rel_staffing", "> 0 while needs can reach the phone"),
        (["population.segments.business.share=0.5"], "share", "sum to 1"),
        (["referral.mean_degree=3"], "referral.mean_degree", "even"),
        (["contact_centre.mode=magic"], "contact_centre.mode", "erlang_c"),
        (["adoption.mixing=telepathy"], "adoption.mixing", "network"),
    ],
)
def test_validation_names_key_value_and_what_is_allowed(overrides, key, allowed):
    with pytest.raises(ConfigError) as err:
        load_config(overrides)
    message = str(err.value)
    assert key in message and allowed in message


def test_zero_staff_is_fine_when_no_need_can_reach_the_phone():
    overrides = ["contact_centre.rel_staffing=0"] + [
        f"needs.types.{n}.channel_weights.phone=0"
        for n in ("bill_query", "payment_problem", "incident", "service_request", "order", "process_failure")]
    assert load_config(overrides).contact_centre.rel_staffing == 0


def test_printing_the_config_prints_only_the_config(tmp_path):
    # `cxsim --cfg job > config.yaml` is a config file: no progress or start line in it
    proc = _cxsim("--cfg", "job", "years=2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "seed: 0" and "cxsim:" not in proc.stdout
    assert not list(tmp_path.iterdir())  # and it wrote nothing


def test_help_lists_what_a_user_can_choose_not_hydras_page():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "sim", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for expected in ("population=<name>", "utility", "telecom", "ebilling_push", "+experiment=<name>",
                     "ebilling_vs_resolved", "cxsim-compare", "--hydra-help"):
        assert expected in out
    assert "powered by Hydra" not in out and "intervention:" not in out
    assert len(out.splitlines()) < 80 and max(len(line) for line in out.splitlines()) <= 100


def test_a_sweep_that_runs_its_own_baselines_does_not_run_each_twice(tmp_path):
    """roi.json's baseline is the sweep's baseline run at the same point and seed: the sweep skips
    it (roi=false added) unless the command asks for roi.json or the sweep lacks those runs."""
    from sim.preflight import check_command

    common = ["-m", "seed=range(0,2)", "population.n_customers=1000", "years=1", f"output.root={tmp_path}"]
    both = check_command(common + ["scenario=baseline,ebilling_push", "churn.rel_competitor_pressure=1.0,1.5"])
    assert both.roi_in_sweep and "roi=false" in both.extra_overrides
    assert start_line(both).splitlines()[1].startswith("  no roi.json per run")
    asked = check_command(common + ["scenario=baseline,ebilling_push", "roi=true"])
    assert not asked.roi_in_sweep and "roi=false" not in asked.extra_overrides
    alone = check_command(common + ["scenario=ebilling_push"])  # no baseline runs: roi.json runs its own
    assert not alone.roi_in_sweep and "roi=false" not in alone.extra_overrides
    # the baseline at one seed only: the other seed's roi.json still needs its own baseline run
    import dataclasses

    from sim.preflight import roi_baselines_in_sweep

    base, push = load_config(["population.n_customers=1000"]), load_config(["population.n_customers=1000",
                                                                            "scenario=ebilling_push"])
    jobs = [(("b",), base), (("p",), push), (("p",), dataclasses.replace(push, seed=1))]
    assert not roi_baselines_in_sweep(jobs)
    assert roi_baselines_in_sweep(jobs + [(("b",), dataclasses.replace(base, seed=1))])
    # a baseline that differs from the programme run in more than its programmes is not its pair
    other = load_config(["population.n_customers=1000", "churn.rate_other=0.01"])
    assert not roi_baselines_in_sweep([(("b",), other), (("p",), push)])
