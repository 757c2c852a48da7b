"""Sweeps through the real `cxsim -m` command: every combination runs, the comparison is built
when the multirun ends, an interrupted or damaged sweep resumes by redoing only what is missing,
and the launcher (basic, joblib, Ray) does not change a single number."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from sim.compare import build_comparison
from sim.compare import main as compare_main
from sim.results import run_problem
from sim.roi import compare_runs

SCENARIOS = ("baseline", "ebilling_push")
SEEDS = (0, 1, 2)
POINT = "population.n_customers=1500,years=1"
ARGS = ("-m", f"scenario={','.join(SCENARIOS)}", f"seed={','.join(map(str, SEEDS))}",
        "population.n_customers=1500", "years=1", "progress=false", "roi=false")
COMPARISON = f"ebilling_push_vs_baseline@{POINT}"


def _cxsim(*args: str, cwd: Path, root: str = "out") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CXSIM_RERUN"}
    proc = subprocess.run([sys.executable, "-m", "sim", *args, f"output.root={root}"], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _run_dir(base: Path, scenario: str, seed: int, root: str = "out") -> Path:
    return base / root / scenario / POINT / f"seed={seed}"


def _keys() -> list[tuple[str, int]]:
    return [(s, n) for s in SCENARIOS for n in SEEDS]


def _mtimes(base: Path, but: tuple[str, int]) -> dict[tuple[str, int], int]:
    return {k: (_run_dir(base, *k) / "manifest.json").stat().st_mtime_ns for k in _keys() if k != but}


def _computed(stdout: str) -> set[tuple[str, int]]:
    """(scenario, seed) of the runs a sweep computed (not skipped), from its one-line reports."""
    return {(m[1], int(m[2])) for m in re.finditer(r"^cxsim: (\w+) seed=(\d+): (?!skipped)", stdout, re.M)}


def _skipped(stdout: str) -> set[tuple[str, int]]:
    return {(m[1], int(m[2])) for m in re.finditer(r"^cxsim: (\w+) seed=(\d+): skipped: complete", stdout, re.M)}


def _seeds_per_kpi(comp: pd.DataFrame) -> pd.Series:
    """Paired seeds behind each KPI row (payback counts only seeds that pay back: left out)."""
    return comp.loc[comp["kpi"] != "payback_month", "n_seeds"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> tuple[Path, str]:
    """One basic-launcher sweep, 2 scenarios x 3 seeds; tests that change it work on a copy."""
    base = tmp_path_factory.mktemp("sweep")
    return base, _cxsim(*ARGS, cwd=base).stdout


def _copy(sweep_dir: Path, tmp_path: Path) -> Path:
    shutil.copytree(sweep_dir / "out", tmp_path / "out", copy_function=shutil.copy2)
    return tmp_path


def test_multirun_runs_every_combination_and_builds_the_comparison(sweep):
    base, stdout = sweep
    assert _computed(stdout) == set(_keys())
    for s, n in _keys():
        assert run_problem(_run_dir(base, s, n)) is None
    cmp_dir = base / "out" / "comparisons" / COMPARISON
    assert {"comparison.parquet", "seeds.parquet", "trajectories.parquet", "comparison.json", "report.html"} <= {
        p.name for p in cmp_dir.iterdir()}
    comp = pd.read_parquet(cmp_dir / "comparison.parquet")
    assert set(comp["scenario"]) == {"ebilling_push"}
    assert (_seeds_per_kpi(comp) == 3).all()
    assert {"incremental_npv", "roce", "payback_month", "nps_end", "customers_end", "churn_rate_annual",
            "adoption_end.ebill", "final_year.asa_s"} <= set(comp["kpi"])
    # the money view is sim.roi.compare_runs per seed, averaged: recompute it from the run folders
    npv = [compare_runs(pd.read_parquet(_run_dir(base, "ebilling_push", n) / "monthly.parquet"),
                        pd.read_parquet(_run_dir(base, "baseline", n) / "monthly.parquet"))["incremental_npv"]
           for n in SEEDS]
    row = comp[comp["kpi"] == "incremental_npv"].iloc[0]
    assert row["mean_diff"] == pytest.approx(sum(npv) / 3, rel=1e-12)
    assert row["ci_low"] < row["mean_diff"] < row["ci_high"]
    html = (cmp_dir / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 5 and "Ranking by incremental NPV" in html
    assert {"npv.png", "trajectories.png", "differences.png", "churn_by_reason.png", "adoption.png",
            "cost_waterfall.png"} <= {p.name for p in (cmp_dir / "figures").iterdir()}


def test_each_run_says_where_the_sweep_stands_and_writes_no_figure(sweep):
    base, stdout = sweep
    assert stdout.splitlines()[0] == "cxsim: sweep of 6 runs"  # before Hydra or any run says a word
    progress = re.findall(r"^  sweep: (\d+) of (\d+) runs(, about .+ left|, done)$", stdout, re.M)
    assert [(int(k), int(n)) for k, n, _ in progress] == [(k, 6) for k in range(1, 7)]
    assert progress[-1][2] == ", done" and all("left" in p[2] for p in progress[:-1])
    assert not list((base / "out").glob("*/*/seed=*/kpis.png"))  # the comparison has the figures


def test_cxsim_compare_rebuilds_the_same_comparison_from_disk(sweep, tmp_path):
    base, _ = sweep
    made = pd.read_parquet(base / "out" / "comparisons" / COMPARISON / "comparison.parquet")
    for source in (base / "out", base / "out" / "multirun", base / "out" / "comparisons" / COMPARISON):
        out = tmp_path / source.name
        assert compare_main([str(source), "--out", str(out), "--no-figures"]) == 0
        pd.testing.assert_frame_equal(pd.read_parquet(out / "comparison.parquet"), made)


def test_the_sweep_record_is_read_as_omegaconf_reads_it(sweep, tmp_path):
    """cxsim-compare reads multirun.yaml with libyaml under OmegaConf's rules: the same values,
    and a duplicate key is refused as OmegaConf refuses it."""
    import yaml
    from omegaconf import OmegaConf

    from sim.sweep_callback import load_multirun_yaml

    (record,) = (sweep[0] / "out" / "multirun").glob("*/multirun.yaml")
    full = OmegaConf.load(record)
    fast = load_multirun_yaml(record)
    expected = {k: v for k, v in OmegaConf.to_container(full).items() if k in ("hydra", "output", "scenario")}
    assert OmegaConf.to_container(fast) == expected and len(expected) == 3
    twice = tmp_path / "multirun.yaml"
    twice.write_text("scenario: a\nscenario: b\n")
    with pytest.raises(yaml.constructor.ConstructorError, match="duplicate key"):
        load_multirun_yaml(twice)


def test_seeds_of_a_point_share_a_composition_equal_to_hydras_own():
    """A job at another seed of a point is made from the point's first composition: the same
    config as Hydra composes, its Hydra node (overrides, override_dirname, choices) included."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    import sim.cli  # noqa: F401  (installs the sharing, as the cxsim command does)
    from sim import sweep_compose
    from sim.sweep_callback import config_loader

    loader = config_loader()
    master = loader.load_configuration(config_name="config", run_mode=RunMode.MULTIRUN,
                                       overrides=["seed=range(0,3)", "years=2", "scenario=ebilling_push,baseline"])
    calls = []
    hydra_compose = sweep_compose.hydra_load_sweep_config
    original = ConfigLoaderImpl.load_sweep_config
    try:
        def counted(self, m, o):
            calls.append(list(o))
            return hydra_compose(self, m, o)
        sweep_compose.hydra_load_sweep_config = None
        ConfigLoaderImpl.load_sweep_config = counted  # what share_compositions_across_seeds wraps
        sweep_compose.share_compositions_across_seeds()
        jobs = [[f"scenario={s}", f"seed={k}", "years=2"] for s in ("ebilling_push", "baseline") for k in range(3)]
        shared = [loader.load_sweep_config(master, job) for job in jobs]
    finally:
        ConfigLoaderImpl.load_sweep_config = original
        sweep_compose.hydra_load_sweep_config = hydra_compose
    assert calls == [jobs[0], jobs[3]]  # Hydra composed each point once
    for job, cfg in zip(jobs, shared):
        own = hydra_compose(loader, master, job)
        assert OmegaConf.to_container(cfg, resolve=False) == OmegaConf.to_container(own, resolve=False), job
        assert cfg.seed == int(job[1].split("=")[1]) and list(cfg.hydra.overrides.task) == job


def test_a_run_of_a_sweep_is_the_run_made_alone(sweep, tmp_path):
    """The sweep's last seed came from a shared composition and RunConfig: it is the run that
    `cxsim` makes alone at that seed, its resolved config included."""
    base, _ = sweep
    _cxsim("scenario=ebilling_push", f"seed={SEEDS[-1]}", "population.n_customers=1500", "years=1",
           "progress=false", "roi=false", "output.plots=false", cwd=tmp_path, root="alone")
    alone, swept = _run_dir(tmp_path, "ebilling_push", SEEDS[-1], "alone"), _run_dir(base, "ebilling_push", SEEDS[-1])
    ours, theirs = ({k: v for k, v in yaml.safe_load((d / "config.yaml").read_text()).items() if k != "output"}
                    for d in (alone, swept))
    assert ours == theirs
    assert (alone / "summary.json").read_text() == (swept / "summary.json").read_text()
    pd.testing.assert_frame_equal(pd.read_parquet(alone / "monthly.parquet"), pd.read_parquet(swept / "monthly.parquet"))
    manifest = [json.loads((d / "manifest.json").read_text()) for d in (alone, swept)]
    assert manifest[0]["config_hash"] == manifest[1]["config_hash"]


def test_rerun_skips_complete_runs_and_redoes_only_the_deleted_one(sweep, tmp_path):
    base = _copy(sweep[0], tmp_path)
    gone = _run_dir(base, "ebilling_push", 1)
    before = pd.read_parquet(gone / "monthly.parquet")
    shutil.rmtree(gone)
    mtimes = _mtimes(base, but=("ebilling_push", 1))
    stdout = _cxsim(*ARGS, cwd=base).stdout
    assert stdout.splitlines()[0] == "cxsim: sweep of 6 runs, 5 found on disk (each reused if complete and unchanged)"
    assert _computed(stdout) == {("ebilling_push", 1)}
    assert _skipped(stdout) == set(_keys()) - {("ebilling_push", 1)}
    assert _mtimes(base, but=("ebilling_push", 1)) == mtimes  # the others were not rewritten
    pd.testing.assert_frame_equal(pd.read_parquet(gone / "monthly.parquet"), before)


def test_damaged_runs_are_never_read_and_are_redone(sweep, tmp_path):
    base = _copy(sweep[0], tmp_path)
    truncated = _run_dir(base, "baseline", 2) / "monthly.parquet"
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    unfinished = _run_dir(base, "ebilling_push", 0) / "manifest.json"
    manifest = json.loads(unfinished.read_text())
    unfinished.write_text(json.dumps({**manifest, "complete": False}))
    assert run_problem(truncated.parent) and run_problem(unfinished.parent)

    cmp_dir = build_comparison(base / "out", figures=False, log=None)  # reads around the damage
    meta = json.loads((cmp_dir / "comparison.json").read_text())
    assert meta["runs_skipped"] == 2 and meta["runs_read"] == 4
    comp = pd.read_parquet(cmp_dir / "comparison.parquet")
    assert (_seeds_per_kpi(comp) == 1).all()  # only seed 1 has both scenarios intact

    stdout = _cxsim(*ARGS, cwd=base).stdout
    assert _computed(stdout) == {("baseline", 2), ("ebilling_push", 0)}
    for s, n in _keys():
        assert run_problem(_run_dir(base, s, n)) is None
        pd.testing.assert_frame_equal(pd.read_parquet(_run_dir(base, s, n) / "monthly.parquet"),
                                      pd.read_parquet(_run_dir(sweep[0], s, n) / "monthly.parquet"))
    comp = pd.read_parquet(base / "out" / "comparisons" / COMPARISON / "comparison.parquet")
    assert (_seeds_per_kpi(comp) == 3).all()


def _same_runs_as_basic(sweep_dir: Path, base: Path, root: str) -> None:
    for s, n in _keys():
        pd.testing.assert_frame_equal(pd.read_parquet(_run_dir(base, s, n, root) / "monthly.parquet"),
                                      pd.read_parquet(_run_dir(sweep_dir, s, n) / "monthly.parquet"))
        ours = json.loads((_run_dir(base, s, n, root) / "summary.json").read_text())
        assert ours == json.loads((_run_dir(sweep_dir, s, n) / "summary.json").read_text())


@pytest.mark.skipif(importlib.util.find_spec("hydra_plugins.hydra_joblib_launcher") is None,
                    reason="hydra-joblib-launcher is not installed (pip install -e '.[test]' or '.[sweep]')")
def test_joblib_launcher_gives_the_same_numbers_as_the_basic_one(sweep, tmp_path):
    stdout = _cxsim(*ARGS, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                    "hydra.callbacks.compare.figures=false", cwd=tmp_path, root="out_joblib").stdout
    assert "Joblib" in stdout
    _same_runs_as_basic(sweep[0], tmp_path, "out_joblib")


@pytest.mark.skipif(importlib.util.find_spec("hydra_plugins.hydra_ray_launcher") is None,
                    reason="hydra-ray-launcher is not installed (pip install -e '.[ray]')")
def test_ray_launcher_gives_the_same_numbers_as_the_basic_one(sweep, tmp_path):
    _cxsim(*ARGS, "hydra/launcher=ray", "+hydra.launcher.ray.init.num_cpus=2",
           "hydra.callbacks.compare.figures=false", cwd=tmp_path, root="out_ray")
    _same_runs_as_basic(sweep[0], tmp_path, "out_ray")


EXPERIMENTS = sorted(p.stem for p in (Path(__file__).resolve().parent.parent / "configs" / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_each_experiment_is_a_one_command_sweep_of_shipped_scenarios(name):
    from hydra import compose, initialize_config_dir

    from sim import load_config
    from sim.cli import CONFIG_DIR

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"+experiment={name}"], return_hydra_config=True)
    assert str(cfg.hydra.mode) == "RunMode.MULTIRUN"
    assert cfg.hydra.callbacks.compare.name == name
    scenarios = str(cfg.hydra.sweeper.params.scenario).split(",")
    assert "baseline" in scenarios and len(scenarios) >= 3
    assert all((Path(CONFIG_DIR) / "scenario" / f"{s}.yaml").is_file() for s in scenarios)
    load_config([f"+experiment={name}"])  # the run config it sets is valid


def _on_a_terminal(args: list[str], cwd: Path) -> str:
    """What `cxsim` writes to a 160-column pseudo-terminal (stdout and stderr together)."""
    import fcntl
    import pty
    import select
    import struct
    import termios

    env = {k: v for k, v in os.environ.items() if k != "CXSIM_RERUN"}
    pid, fd = pty.fork()
    if pid == 0:  # the child: its terminal is the pty
        os.chdir(cwd)
        os.execve(sys.executable, [sys.executable, "-m", "sim", *args], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    out = b""
    while select.select([fd], [], [], 300)[0]:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    text = out.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    return text


@pytest.mark.parametrize("launcher", ["basic", "joblib"])
def test_a_sweep_on_a_terminal_has_one_bar_and_every_line_above_it(sweep, tmp_path, launcher):
    base = _copy(sweep[0], tmp_path)
    for key in (("baseline", 2), ("ebilling_push", 1)):
        shutil.rmtree(_run_dir(base, *key))
    args = [a for a in ARGS if a != "progress=false"]  # progress=false is what turns the bar off
    text = _on_a_terminal([*args, "output.root=out", f"hydra/launcher={launcher}"], base)
    screens = text.split("\r")  # each redraw of the bar starts with a carriage return
    bars = [s for s in screens if s.startswith("sweep:")]
    counts = [tuple(map(int, m.groups())) for s in bars for m in [re.search(r"\| (\d+)/(\d+) \[", s)] if m]
    assert counts[0] == (4, 6) and counts[-1] == (6, 6), counts  # the 4 on disk count from the start
    assert all(a[0] <= b[0] for a, b in zip(counts, counts[1:]))
    assert "sweep: 6 of 6 runs" not in text  # the bar replaces the per-job progress lines
    # each run's line stands on a line of its own: the bar's line is cleared first, never run on
    lines = re.findall(r"[^\r\n]*cxsim: (?:baseline|ebilling_push) seed=\d+: [^\r\n]*", text)
    assert len(lines) == 6
    assert all(line.startswith(("cxsim:", "\x1b[K", " " * 100)) for line in lines), lines
