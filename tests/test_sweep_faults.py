"""A killed sweep leaves no workers and nothing that looks complete; resuming finishes it; each
sweep keeps its own record, so another sweep never replaces it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sim.compare import main as compare_main
from sim.results import run_problem

ROOT = Path(__file__).resolve().parents[1]
SEEDS = 6


def _children(pid: int) -> set[int]:
    try:
        return {int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    except OSError:
        return set()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _sweep(out: Path) -> list[str]:
    return [sys.executable, "-m", "sim", "-m", "scenario=baseline", f"seed=range(0,{SEEDS})",
            "population.n_customers=6000", "years=8", "warmup_years=0", "roi=false", "output.plots=false",
            "hydra.callbacks.compare.figures=false", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
            f"output.root={out}"]


def _runs(out: Path) -> list[Path]:
    return sorted((out / "baseline").glob("*/seed=*"))


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc to find the workers")
@pytest.mark.parametrize("when", ["workers_started", "first_run_written"])
def test_a_killed_joblib_sweep_leaves_no_workers_and_resumes(tmp_path, when):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(_sweep(out), cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        workers |= _children(proc.pid)
        ready = len(workers) >= 2 if when == "workers_started" else any(run_problem(r) is None for r in _runs(out))
        if ready:
            break
        time.sleep(0.1)
    assert proc.poll() is None, "the sweep finished before it could be killed; make it longer"
    workers |= _children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.2)
    assert workers and not [w for w in workers if _alive(w)], "workers outlived the killed sweep"
    # whatever is on disk is complete or absent, never half
    assert all(run_problem(r) is None for r in _runs(out))
    done = subprocess.run(_sweep(out), cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(_runs(out)) == SEEDS and all(run_problem(r) is None for r in _runs(out))
    assert not [p for p in (out / "baseline").rglob(".*")], "temporary folders were left behind"


def test_each_sweep_keeps_its_own_record(tmp_path):
    out = tmp_path / "out"
    base = [sys.executable, "-m", "sim", "-m", "population.n_customers=300", "years=1", "warmup_years=0",
            "roi=false", "output.plots=false", "hydra.callbacks.compare.figures=false", f"output.root={out}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for sweep in (["scenario=baseline,ebilling_push", "seed=0,1"], ["scenario=baseline,resolved_programme", "seed=0,1"]):
        proc = subprocess.run(base + sweep, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]
    records = sorted((out / "multirun").glob("*/multirun.yaml"))
    assert len(records) == 2
    assert compare_main([str(out / "multirun"), "--no-figures"]) == 0  # rebuilds each sweep's comparison
    names = sorted(p.name for p in (out / "comparisons").iterdir())
    assert [n.split("@")[0] for n in names] == ["ebilling_push_vs_baseline", "resolved_programme_vs_baseline"]
