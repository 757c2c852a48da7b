"""Running an exploration's futures as ordinary `cxsim -m` sweeps, one per arm.

Every future x arm (the baseline and each scenario) x seed is a cxsim run in the usual folder,
``<root>/<arm>/+future=<future>,<overrides>/seed=<N>/``, launched by whichever Hydra launcher the
user names (joblib, Ray, SLURM): the sweep composes the futures from the exploration's own config
folder (``--config-dir``) and skips runs already complete on disk, so an interrupted exploration
resumes where it stopped. Progress is read from the disk, which every launcher writes to.

A programme's own keys act only in the arms that switch the programme on (sim.params.future_applies),
so two futures that differ only in such keys give one arm the same run, number for number. Each
(future, arm) reads the run of its *source*: the first future of its analysis with the same values
for every key that acts in that arm. A Morris step or a Sobol' column in a programme key then costs
no run in the arms it does not act in: the shipped exploration's Morris screen simulates 418 runs
instead of 540, its Sobol' analysis 1,536 instead of 1,920 (robustness futures share nothing).
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
    source: str  # the future whose run this is: itself, or one with the same values for the arm's keys


def check_pass_through(args: list[str]) -> None:
    for a in args:
        if not a.startswith(_PASS_THROUGH):
            raise ExploreError(f"{a!r} is not allowed on the cxsim-explore command line: only the launcher "
                               "(hydra/launcher=joblib, hydra.launcher.n_jobs=2, ...); model settings belong in "
                               "the spec's overrides, so every run of the exploration shares them")


def task_overrides(spec: ExploreSpec, root: Path) -> list[str]:
    return [*spec.model_overrides(), *_RUN_SETTINGS, f"output.root={root}"]


def source_futures(spec: ExploreSpec, design) -> dict[tuple[str, str], str]:
    """(arm, future) -> the future whose run it reads: the first of its analysis with the same
    values for every key that acts in the arm (``ExploreSpec.acting``)."""
    source = {}
    for arm in spec.arms:
        keys = spec.acting.get(arm, spec.keys)
        first_with: dict[tuple, str] = {}
        for analysis, future, *values in design[["analysis", "future", *keys]].itertuples(index=False):
            source[(arm, future)] = first_with.setdefault((analysis, *values), future)
    return source


def sweep_argvs(spec: ExploreSpec, config_dir: Path, root: Path, runs: list[PlannedRun],
                launcher_args: list[str]) -> list[list[str]]:
    """The `cxsim` command lines (without the program name) that simulate ``runs``: one sweep per
    arm over the futures whose runs it needs (their sources), by glob when that is all of them."""
    from sim.explore.design import future_glob

    argvs = []
    for arm in spec.arms:
        mine = [r for r in runs if r.arm == arm]
        if not mine:
            continue
        sources = sorted({r.source for r in mine})
        analyses = sorted({r.analysis for r in mine})
        every = all(r.source == r.future for r in mine)
        futures = f"glob([{','.join(future_glob(spec, a) for a in analyses)}])" if every else ",".join(sources)
        argvs.append(["-m", "--config-dir", str(config_dir), f"+future={futures}", f"scenario={arm}",
                      f"seed=range(0,{spec.seeds})", *task_overrides(spec, root),
                      "hydra.callbacks.compare.enabled=false", *launcher_args])
    return argvs


def planned_runs(spec: ExploreSpec, config_dir: Path, root: Path, design) -> list[PlannedRun]:
    """Where each run of the design is read from: its source future's folder, as Hydra's
    override_dirname names that job."""
    from hydra.types import RunMode

    from sim.sweep_callback import config_loader, override_parser, point_name

    loader = config_loader(str(config_dir))
    first = f"+future={design['future'].iloc[0]}"
    master = loader.load_configuration(config_name="config", overrides=[first, *task_overrides(spec, root)],
                                       run_mode=RunMode.RUN)
    parser = override_parser(loader)
    common = parser.parse_overrides(task_overrides(spec, root))
    source = source_futures(spec, design)
    points: dict[str, str] = {}
    out = []
    for analysis, sample, future in design[["analysis", "sample", "future"]].itertuples(index=False):
        for arm in spec.arms:
            src = source[(arm, future)]
            if src not in points:
                points[src] = point_name(parser.parse_overrides([f"+future={src}"]) + common, master.hydra)
            for seed in range(spec.seeds):
                out.append(PlannedRun(analysis, int(sample), future, arm, seed,
                                      root / arm / points[src] / f"seed={seed}", src))
    return out


def runs_to_simulate(spec: ExploreSpec, design) -> int:
    """How many distinct runs ``design`` needs: the distinct (arm, source future) pairs, times the seeds."""
    return spec.seeds * len({(arm, src) for (arm, _), src in source_futures(spec, design).items()})


def distinct_runs(runs: list[PlannedRun]) -> list[PlannedRun]:
    """One planned run per run folder (futures that share a run count it once)."""
    return list({r.run_dir: r for r in runs}.values())


def _done(runs: list[PlannedRun]) -> int:
    return sum(os.path.exists(r.run_dir / "manifest.json") for r in runs)


def run_sweep(argvs: list[list[str]], runs: list[PlannedRun], log_path: Path, progress: bool = True) -> int:
    """Run `cxsim <argv>` for each of ``argvs`` in turn as a child process, their output to
    ``log_path``, with one progress bar for the whole exploration (distinct runs complete on disk
    / planned, and the time left at the pace so far). Returns the first failing child's exit
    code, or 0."""
    from tqdm import tqdm

    runs = distinct_runs(runs)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    code = 0
    with open(log_path, "w") as log:
        # a terminal gets a live bar; a log (CI, a batch job) a line every half minute
        bar = tqdm(total=len(runs), initial=_done(runs), unit="run", desc="explore", disable=not progress,
                   dynamic_ncols=True, smoothing=0.1, mininterval=1.0 if sys.stderr.isatty() else 30.0)
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(1.0):
                bar.update(_done(runs) - bar.n)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            for argv in argvs:
                child = subprocess.Popen([sys.executable, "-m", "sim", *argv], stdout=log, stderr=subprocess.STDOUT,
                                         env=env)
                try:
                    code = child.wait()
                except KeyboardInterrupt:
                    child.terminate()
                    child.wait()
                    raise
                if code != 0:
                    break
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
