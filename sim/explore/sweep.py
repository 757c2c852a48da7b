"""Running an exploration's futures as one ordinary `cxsim -m` sweep.

Every future x arm (the baseline and each scenario) x seed is a cxsim run in the usual folder,
``<root>/<arm>/+future=<future>,<overrides>/seed=<N>/``, launched by whichever Hydra launcher the
user names (joblib, Ray, SLURM): the sweep composes the futures from the exploration's own config
folder (``--config-dir``) and skips runs already complete on disk, so an interrupted exploration
resumes where it stopped. Progress is read from the disk, which every launcher writes to.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from sim.explore.spec import ExploreError, ExploreSpec

# run settings the analysis needs fixed: the baseline is its own run, nothing is plotted per run
_RUN_SETTINGS = ["roi=false", "progress=false", "output.plots=false"]
# what a user may add to the sweep: where and how it runs, never what it computes
_PASS_THROUGH = ("hydra/launcher=", "hydra.launcher.", "hydra/sweeper=basic", "hydra.sweeper.max_batch_size=")


@dataclass(frozen=True)
class PlannedRun:
    analysis: str
    sample: int
    future: str
    arm: str
    seed: int
    run_dir: Path


def check_pass_through(args: list[str]) -> None:
    for a in args:
        if not a.startswith(_PASS_THROUGH):
            raise ExploreError(f"{a!r} is not allowed on the cxsim-explore command line: only the launcher "
                               "(hydra/launcher=joblib, hydra.launcher.n_jobs=2, ...); model settings belong in "
                               "the spec's overrides, so every run of the exploration shares them")


def task_overrides(spec: ExploreSpec, root: Path) -> list[str]:
    return [*spec.model_overrides(), *_RUN_SETTINGS, f"output.root={root}"]


def sweep_argv(spec: ExploreSpec, config_dir: Path, root: Path, analyses: list[str],
               launcher_args: list[str]) -> list[str]:
    """The `cxsim` command line of the sweep over the futures of ``analyses`` (without the program name)."""
    from sim.explore.design import future_glob

    return ["-m", "--config-dir", str(config_dir),
            f"+future=glob([{','.join(future_glob(spec, a) for a in analyses)}])",
            f"scenario={','.join(spec.arms)}", f"seed=range(0,{spec.seeds})",
            *task_overrides(spec, root), "hydra.callbacks.compare.enabled=false", *launcher_args]


def planned_runs(spec: ExploreSpec, config_dir: Path, root: Path, design) -> list[PlannedRun]:
    """Where each run of the design lands: the folder Hydra's override_dirname gives its job."""
    from hydra.types import RunMode

    from sim.sweep_callback import config_loader, override_parser, point_name

    loader = config_loader(str(config_dir))
    first = f"+future={design['future'].iloc[0]}"
    master = loader.load_configuration(config_name="config", overrides=[first, *task_overrides(spec, root)],
                                       run_mode=RunMode.RUN)
    parser = override_parser(loader)
    common = parser.parse_overrides(task_overrides(spec, root))
    out = []
    for analysis, sample, future in design[["analysis", "sample", "future"]].itertuples(index=False):
        point = point_name(parser.parse_overrides([f"+future={future}"]) + common, master.hydra)
        for arm in spec.arms:
            for seed in range(spec.seeds):
                out.append(PlannedRun(analysis, int(sample), future, arm, seed, root / arm / point / f"seed={seed}"))
    return out


def _done(runs: list[PlannedRun]) -> int:
    return sum(os.path.exists(r.run_dir / "manifest.json") for r in runs)


def run_sweep(argv: list[str], runs: list[PlannedRun], log_path: Path, progress: bool = True) -> int:
    """Run `cxsim <argv>` as a child process, its output to ``log_path``, with a progress bar for
    the whole exploration (runs complete on disk / planned, and the time left at the pace so far).
    Returns the child's exit code."""
    from tqdm import tqdm

    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    before = _done(runs)
    with open(log_path, "w") as log:
        child = subprocess.Popen([sys.executable, "-m", "sim", *argv], stdout=log, stderr=subprocess.STDOUT, env=env)
        # a terminal gets a live bar; a log (CI, a batch job) a line every half minute
        bar = tqdm(total=len(runs), initial=before, unit="run", desc="explore", disable=not progress,
                   dynamic_ncols=True, smoothing=0.1, mininterval=1.0 if sys.stderr.isatty() else 30.0)
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(1.0):
                bar.update(_done(runs) - bar.n)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            code = child.wait()
        except KeyboardInterrupt:
            child.terminate()
            child.wait()
            raise
        finally:
            stop.set()
            watcher.join()
            bar.update(_done(runs) - bar.n)
            bar.close()
    return code


def log_tail(log_path: Path, lines: int = 15) -> str:
    try:
        text = log_path.read_text().splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])
