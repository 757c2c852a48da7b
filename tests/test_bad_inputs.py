"""A catalogue of bad inputs: each is refused at once with exit code 2, a message that names the
key, no traceback, and nothing written. Most run `cxsim`'s entry point in this process (the same
code path as the console script, minus the interpreter start); a few run the real command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import sim.cli
from sim import load_config, run
from sim.config import ConfigError, RunConfig, validate

ROOT = Path(__file__).resolve().parents[1]
DES_ZERO_HEADS = "contact_centre.agents_per_interval=[0,0,0,0,0,0,0,0,0,0]"

# (command-line arguments, a string the message must contain: the key, or the key and value)
CATALOGUE = [
    (["population.n_customers=0"], "population.n_customers=0"),
    (["churn.rate_other=-0.1"], "churn.rate_other=-0.1"),
    (["years=0"], "years=0"),
    (["years=1.5"], "years=1.5"),
    (["seed=-1"], "seed=-1"),
    (["seed=1.5"], "seed=1.5"),
    (["seed=true"], "seed"),
    (["+churn.rate_othr=0.5"], "churn.rate_othr"),
    (["churn.rate_othr=0.5"], "churn.rate_othr"),
    (["+population.segments.business.sharee=0.5"], "population.segments.business.sharee"),
    (["population.n_agents=0"], "population.n_agents=0"),
    (["population.n_customers=5", "population.n_agents=10"], "population.n_agents=10"),
    (["population.n_agents=2000000000"], "population.n_agents=2000000000"),
    (["years=100000"], "years"),
    (["years=2499", "warmup_years=3", "population.n_agents=1"], "years=2499 is not allowed: at most 2500 with warmup_years=3"),
    (["contact_centre.mode=fast"], "contact_centre.mode='fast'"),
    (["adoption.mixing=random"], "adoption.mixing='random'"),
    (["referral.mean_degree=7"], "referral.mean_degree=7"),
    (["referral.clustering=0.99"], "referral.clustering=0.99"),
    (["satisfaction.rate_drift=1.5"], "satisfaction.rate_drift=1.5"),
    (["complaints.rate_root_cause_per_1k=2"], "complaints.rate_root_cause_per_1k=2"),
    (["needs.types.bill_query.rate=500"], "needs.types.bill_query.rate=500"),
    (["contact_centre.p_service_level_target=1"], "contact_centre.p_service_level_target=1"),
    (["contact_centre.rel_staffing=0"], "contact_centre.rel_staffing=0"),
    (["contact_centre.mode=des", DES_ZERO_HEADS], "contact_centre.agents_per_interval"),
    (["contact_centre.rel_weekday=[1,1]"], "contact_centre.rel_weekday"),
    (["contact_centre.rel_intraday=[]"], "contact_centre.rel_intraday"),
    (["contact_centre.handle_distribution=gamma"], "contact_centre.handle_distribution='gamma'"),
    (["scenario=ebilling_push", "years=2", "interventions.ebilling_campaign.start_month=500"],
     "interventions.ebilling_campaign.start_month=500"),
    (["scenario=ebilling_push", "interventions.ebilling_campaign.end_month=-5"], "interventions.ebilling_campaign.end_month=-5"),
    (["scenario=ebilling_push", "interventions.ebilling_campaign.kind=magic"], "interventions.ebilling_campaign.kind='magic'"),
    (["output.root=${oc.env:HOME}"], "output.root"),
    (["population.segments.business.share=0.5"], "population.segments.*.share"),
    (["economics.rate_discount_year=-1"], "economics.rate_discount_year=-1"),
    (["economics.cash_flow=weekly"], "economics.cash_flow='weekly'"),
    (["contact_centre.p_shrinkage=1.0"], "contact_centre.p_shrinkage=1.0"),
    (["population.p_abuser=2"], "population.p_abuser=2"),
    (["satisfaction.sat_expectation_initial=11"], "satisfaction.sat_expectation_initial=11"),
    (["population.segments.business.digital_affinity=1"], "population.segments.business.digital_affinity=1"),
    (["adoption.behaviours.ebill.p_initial=0.99"], "adoption.behaviours.ebill.p_initial=0.99"),
    (["scenario=nosuch"], "scenario"),
    (["population=nosuch"], "population"),
    (["progress=maybe"], "progress"),
    (["+hydra.callbacks.evil._target_=os.system"], "hydra.callbacks.evil._target_='os.system'"),
    (["hydra.job_logging.handlers.console.class=os.system"], "hydra.job_logging.handlers.console.class"),
    (["hydra/launcher=joblib", "hydra.launcher._target_=os.system"], "hydra.launcher._target_='os.system'"),
    (["population.name=a/../../../escaped"], "population.name=a/../../../escaped"),
    (["output.root=afile"], "output.root='afile'"),
    (["output.run_dir=mine"], "output.run_dir='mine'"),
    (["-m", "churn.rate_other=0.1,-0.2", "seed=0,1"], "churn.rate_other=-0.2"),
    (["-m", "seed=0,1.5"], "seed=1.5"),
    (["-m", "scenario=baseline,nosuch"], "scenario"),
    (["-m", "scenario=ebilling_push", "years=1,2", "interventions.ebilling_campaign.start_month=20"],
     "years=1': interventions.ebilling_campaign.start_month=20 is not allowed"),
    (["-m", "scenario=baseline,ebilling_push", "interventions.ebilling_campaign.start_month=2"],
     "interventions.ebilling_campaign.start_month"),
    # a ready study is a sweep by its own hydra.mode, without -m: every point is still checked first
    (["+experiment=staffing_under_pressure", "churn.rate_other=-1"], "churn.rate_other=-1.0 is not allowed"),
    (["scenario=copied_push"], "scenario='ebilling_push'"),
    (["scenario=double_set"], "set contact_centre.rel_staffing"),
]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A working folder holding a user's file and folder, and a config folder with two bad scenarios."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("a user's file")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("a user's notes")
    scen = tmp_path / "cfg" / "scenario"
    scen.mkdir(parents=True)
    # copied from ebilling_push.yaml without renaming its scenario key
    (scen / "copied_push.yaml").write_text((ROOT / "configs/scenario/ebilling_push.yaml").read_text())
    (scen / "double_set.yaml").write_text(
        "# @package _global_\nscenario: double_set\ninterventions:\n"
        "  a: {effects: [{param: contact_centre.rel_staffing, op: set, value: 1.2}]}\n"
        "  b: {effects: [{param: contact_centre.rel_staffing, op: set, value: 0.8}]}\n")
    return tmp_path


def _snapshot(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_the_catalogue_is_large():
    assert len(CATALOGUE) >= 40


@pytest.mark.parametrize("args, key", CATALOGUE, ids=[" ".join(a) for a, _ in CATALOGUE])
def test_bad_input_is_refused_at_once(workdir, monkeypatch, capsys, args, key):
    before = _snapshot(workdir)
    monkeypatch.setattr(sys, "argv", ["cxsim", "--config-dir", str(workdir / "cfg"), *args, "output.plots=false"])
    with pytest.raises(SystemExit) as exit_:
        sim.cli.main()
    err = capsys.readouterr().err
    assert exit_.value.code == 2, err
    assert key in err, err
    assert "Traceback" not in err
    assert _snapshot(workdir) == before, "a refused command wrote something"


@pytest.mark.parametrize("args, key", [
    (["population.n_customers=0"], "population.n_customers=0"),
    (["-m", "seed=0,1", "churn.rate_other=0.1,-0.2"], "churn.rate_other=-0.2"),
    (["+churn.rate_othr=0.5"], "churn.rate_othr"),
])
def test_the_real_command_exits_2_naming_the_key(tmp_path, args, key):
    proc = subprocess.run([sys.executable, "-m", "sim", *args], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2 and key in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("variable, value, allowed", [
    ("CXSIM_KERNELS", "fast", "'numpy'"),
    ("CXSIM_THREADS", "0", "a whole number of threads, 1 or more"),
    ("CXSIM_THREADS", "two", "a whole number of threads, 1 or more"),
])
def test_an_unknown_kernel_choice_is_refused_before_any_work(tmp_path, variable, value, allowed):
    proc = subprocess.run([sys.executable, "-m", "sim", "years=1"], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), variable: value})
    assert proc.returncode == 2 and f"{variable}={value!r}" in proc.stderr and allowed in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("change, key", [
    ({"seed": True}, "seed=True"),
    ({"seed": "3"}, "seed='3'"),
    ({"years": 1.5}, "years=1.5"),
    ({"years": "20"}, "years='20'"),
    ({"warmup_years": None}, "warmup_years=None"),
    ({"scenario": "../outside"}, "scenario='../outside'"),
    ({"progress": "yes"}, "progress='yes'"),
    ({"population": "utility"}, "population='utility'"),
])
def test_python_api_refuses_wrong_types_with_the_key(change, key):
    import dataclasses

    cfg = dataclasses.replace(load_config(["population.n_customers=300", "years=1", "warmup_years=0"]), **change)
    with pytest.raises(ConfigError, match="not allowed") as err:
        run(cfg)
    assert key in str(err.value)


def test_python_api_refuses_what_is_not_a_config():
    with pytest.raises(ConfigError, match="expected a sim.RunConfig"):
        run({"years": 3}, seed=1)
    with pytest.raises(ConfigError, match="churn.rate_othr"):
        load_config(["+churn.rate_othr=0.5"])
    with pytest.raises(ConfigError, match="population.segments.business.rel_need_rate"):
        cfg = load_config(["population.n_customers=300"])
        cfg.population.segments["business"].rel_need_rate = float("nan")
        validate(cfg)
    assert isinstance(load_config([]), RunConfig)


def test_more_need_types_than_a_months_contact_counts_hold_are_refused():
    from sim.config import NeedConfig

    cfg = load_config(["population.n_customers=300", "years=1", "warmup_years=0"])
    for i in range(151 - len(cfg.needs.types)):
        cfg.needs.types[f"extra_{i}"] = NeedConfig(rate=0.01)
    with pytest.raises(ConfigError, match="needs.types='151 need types' is not allowed: at most 150"):
        run(cfg)


def test_more_behaviours_than_a_customers_flags_hold_are_refused():
    from sim.config import BehaviourConfig

    cfg = load_config(["population.n_customers=300", "years=1", "warmup_years=0"])
    for i in range(65 - len(cfg.adoption.behaviours)):
        cfg.adoption.behaviours[f"extra_{i}"] = BehaviourConfig()
    with pytest.raises(ConfigError, match="adoption.behaviours='65 behaviours' is not allowed: at most 64"):
        run(cfg)
