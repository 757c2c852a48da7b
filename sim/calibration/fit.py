"""`cxsim-calibrate`: fit declared parameters to a firm's data with Optuna, and say how well.

Each trial sets the parameters, runs the model at the same seeds as every other trial (common
random numbers, so two trials differ by their parameters, not by their luck), compares each
target with its data (``sim.calibration.targets``) and returns the weighted sum of the
targets' losses. Optuna's TPE sampler (or CMA-ES) proposes the next trial. The study lives in
SQLite, so an interrupted calibration resumes where it stopped; a changed spec starts a new
study (its file name carries the spec's hash).

Written to ``<output root>/calibrations/<name>/`` (atomically, never over a folder of another
spec or of a user's):
  calibrated/<name>.yaml  the best values as a config: cxsim --config-dir <folder> +calibrated=<name>
  summary.json            best values, their intervals, losses and gaps per target, warnings
  fit.parquet             target, group, month, observed, simulated mean, low and high over seeds
  fit.png                 observed vs simulated, one panel per target
  trials.parquet          every trial: values, loss, per-target losses
An interval is the range of a parameter over the trials whose loss is within ``loss_within``
of the best (a stated tolerance, not a confidence level); one that spans 90% or more of its
bounds is reported as not identified by the data.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.calibration.spec import CalibrationError, CalibrationSpec, load_spec
from sim.calibration.targets import Observed, loss, observe, simulate

NOT_IDENTIFIED_SHARE = 0.9


def spec_hash(spec: CalibrationSpec) -> str:
    content = {"model": spec.model_overrides(), "seeds": spec.seeds, "sampler": spec.sampler,
               "parameters": [vars(p) for p in spec.parameters],
               "targets": [vars(t) for t in spec.targets]}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _configure(base, values: dict[str, float]):
    from sim.params import set_param

    cfg = copy.deepcopy(base)
    for key, v in values.items():
        set_param(cfg, key, float(v))
    return cfg


def _run_one(cfg, seed: int, customers: bool, kpis: list[str]):
    """One seed of a trial (in a worker process): only what the targets read travels back."""
    import warnings

    from sim.config import NoisyRunWarning
    from sim.runner import run

    warnings.simplefilter("ignore", NoisyRunWarning)
    result = run(cfg, seed=seed, progress=False, customers=customers)
    result.monthly = result.monthly[["month", *kpis]]
    return result


class Evaluator:
    """Runs the model at a parameter point over the spec's seeds and scores it against the data."""

    def __init__(self, spec: CalibrationSpec, base, observed: list[Observed], jobs: int):
        self.spec, self.base, self.observed = spec, base, observed
        self.customers = any(o.target.kind == "retention" for o in observed)
        self.kpis = sorted({o.target.kpi for o in observed if o.target.kind == "monthly"})
        self.pool = ProcessPoolExecutor(max_workers=jobs) if jobs > 1 else None

    def runs(self, values: dict[str, float]) -> list:
        cfg = _configure(self.base, values)
        seeds = range(self.spec.seeds)
        if self.pool is None:
            return [_run_one(cfg, s, self.customers, self.kpis) for s in seeds]
        return list(self.pool.map(_run_one, [cfg] * len(seeds), seeds, [self.customers] * len(seeds),
                                  [self.kpis] * len(seeds)))

    def score(self, values: dict[str, float]) -> tuple[float, dict[str, float], dict[str, float]]:
        runs = self.runs(values)
        losses, gaps = {}, {}
        for obs in self.observed:
            losses[obs.target.name], gaps[obs.target.name] = loss(obs, simulate(obs, runs))
        total = sum(o.target.weight * losses[o.target.name] for o in self.observed)
        return total, losses, gaps

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def check_bounds(spec: CalibrationSpec, base) -> None:
    """Every bound must give a config the model accepts: refuse before any trial otherwise."""
    from sim.config import ConfigError, validate

    for p in spec.parameters:
        for side, v in (("low", p.low), ("high", p.high)):
            try:
                validate(_configure(base, {p.key: v}))
            except ConfigError as err:
                raise CalibrationError(f"{spec.path}: parameters.{p.key}.{side}={v!r} is not allowed: the model "
                                       f"refuses it ({str(err).splitlines()[-1].strip()})") from None


def intervals(spec: CalibrationSpec, trials: pd.DataFrame) -> tuple[dict[str, dict[str, Any]], list[str]]:
    best = trials["loss"].min()
    near = trials[trials["loss"] <= best * (1.0 + spec.loss_within) + 1e-15]
    out, warnings = {}, []
    for p in spec.parameters:
        lo, hi = float(near[p.key].min()), float(near[p.key].max())
        span = (math.log(hi) - math.log(lo)) / (math.log(p.high) - math.log(p.low)) if p.log \
            else (hi - lo) / (p.high - p.low)
        identified = span < NOT_IDENTIFIED_SHARE
        out[p.key] = {"low": lo, "high": hi, "share_of_bounds": span, "identified": identified,
                      "trials_within": int(len(near))}
        if not identified:
            warnings.append(f"{p.key} is not identified by the data: trials within {spec.loss_within:.0%} of the best "
                            f"loss span {span:.0%} of its bounds [{p.low:g}, {p.high:g}]")
    return out, warnings


def _sampler(spec: CalibrationSpec):
    import optuna

    if spec.sampler == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=0)
    return optuna.samplers.TPESampler(seed=0, n_startup_trials=min(10, max(2, spec.trials // 5)))


def calibrate(spec: CalibrationSpec, output_root: str | Path = "results", jobs: int | None = None,
              log=print) -> Path:
    """Run (or resume) the calibration of ``spec``; write and return its results folder."""
    import optuna
    from tqdm.auto import tqdm

    from sim.cli import load_config
    from sim.safe_write import check_target

    observed = [observe(t) for t in spec.targets]  # bad data is refused before any trial
    base = load_config(spec.model_overrides())  # after any command-line change to agents or seeds
    check_bounds(spec, base)
    root = Path(output_root) / "calibrations"
    out_dir = check_target(root / spec.name, "calibration folder")
    _check_same_spec(out_dir, spec)
    studies = root / ".studies"
    studies.mkdir(parents=True, exist_ok=True)
    key = spec_hash(spec)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=f"{spec.name}-{key}", storage=f"sqlite:///{studies / f'{spec.name}-{key}.db'}",
                                load_if_exists=True, direction="minimize", sampler=_sampler(spec))
    done = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    evaluator = Evaluator(spec, base, observed, jobs or min(spec.seeds, os.cpu_count() or 1))
    try:
        with tqdm(total=spec.trials, initial=done, desc=f"calibrate {spec.name}", unit="trial",
                  disable=not sys.stderr.isatty()) as bar:
            def objective(trial) -> float:
                values = {p.key: trial.suggest_float(p.key, p.low, p.high, log=p.log) for p in spec.parameters}
                total, losses, gaps = evaluator.score(values)
                for name in losses:
                    trial.set_user_attr(f"loss.{name}", losses[name])
                    trial.set_user_attr(f"gap.{name}", gaps[name])
                return total

            started, first = time.monotonic(), done

            def progress(study_, trial) -> None:
                bar.update(1)
                bar.set_postfix(best=f"{study_.best_value:.4g}")
                n = trial.number + 1
                if log and not sys.stderr.isatty() and n % max(1, spec.trials // 10) == 0:
                    per_trial = (time.monotonic() - started) / max(1, n - first)
                    log(f"cxsim-calibrate: trial {n}/{spec.trials}, best loss {study_.best_value:.4g}, "
                        f"about {per_trial * (spec.trials - n) / 60:.1f} min to go")

            if done < spec.trials:
                study.optimize(objective, n_trials=spec.trials - done, callbacks=[progress])
        trials = _trials_table(study, spec)
        best = {p.key: float(study.best_params[p.key]) for p in spec.parameters}
        fit = _fit_table(evaluator, best)
    finally:
        evaluator.close()
    bounds, warnings = intervals(spec, trials)
    summary = {"name": spec.name, "spec": str(spec.path), "spec_hash": key, "preset": spec.preset,
               "scenario": spec.scenario, "agents": spec.agents, "seeds": spec.seeds,
               "trials": int(len(trials)), "best": best, "best_loss": float(study.best_value),
               "losses": {k.removeprefix("loss."): v for k, v in study.best_trial.user_attrs.items() if k.startswith("loss.")},
               "largest_gap": {k.removeprefix("gap."): v for k, v in study.best_trial.user_attrs.items() if k.startswith("gap.")},
               "intervals": bounds, "loss_within": spec.loss_within, "warnings": warnings,
               "run_with": f"cxsim --config-dir {out_dir} population={spec.preset} +calibrated={spec.name}"}
    _write(out_dir, spec, summary, trials, fit)
    if log:
        for w in warnings:
            log(f"cxsim-calibrate: warning: {w}")
        shown = ", ".join(f"{k}={v:.4g} [{bounds[k]['low']:.4g}, {bounds[k]['high']:.4g}]" for k, v in best.items())
        log(f"cxsim-calibrate: {spec.name}: best loss {study.best_value:.4g} after {len(trials)} trials: {shown} -> {out_dir}")
    return out_dir


def _trials_table(study, spec: CalibrationSpec) -> pd.DataFrame:
    rows = []
    for t in study.trials:
        if t.value is None:
            continue
        rows.append({"trial": t.number, "loss": float(t.value), **{p.key: float(t.params[p.key]) for p in spec.parameters},
                     **{k: float(v) for k, v in t.user_attrs.items()}})
    return pd.DataFrame(rows)


def _fit_table(evaluator: Evaluator, best: dict[str, float]) -> pd.DataFrame:
    runs = evaluator.runs(best)
    frames = []
    for obs in evaluator.observed:
        per_seed = [simulate(obs, [r]) for r in runs]
        pooled = simulate(obs, runs)
        for g in obs.curves:
            stack = np.array([s[g] for s in per_seed])
            frames.append(pd.DataFrame({"target": obs.target.name, "kind": obs.target.kind, "group": g,
                                        "month": obs.months, "observed": obs.curves[g], "simulated": pooled[g],
                                        "simulated_low": stack.min(axis=0), "simulated_high": stack.max(axis=0)}))
    return pd.concat(frames, ignore_index=True)


def _check_same_spec(out_dir: Path, spec: CalibrationSpec) -> None:
    from sim.safe_write import OutputError

    try:
        old = json.loads((out_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return
    if old.get("spec_hash") != spec_hash(spec):
        raise OutputError(f"{out_dir} holds the calibration of another version of the spec {spec.name!r} "
                          f"(hash {old.get('spec_hash')}, now {spec_hash(spec)}); cxsim will not replace it. "
                          "Copy the spec under a new name, or move the old folder away.")


def _calibrated_yaml(spec: CalibrationSpec, best: dict[str, float]) -> str:
    nested: dict[str, Any] = {}
    for key, value in best.items():
        node = nested
        *head, last = key.split(".")
        for part in head:
            node = node.setdefault(part, {})
        node[last] = float(value)
    import yaml

    header = (f"# @package _global_\n# Calibrated by cxsim-calibrate from {spec.path.name} (preset {spec.preset}).\n"
              f"# Run with: cxsim --config-dir <this folder's parent> population={spec.preset} +calibrated={spec.name}\n")
    return header + yaml.safe_dump(nested, sort_keys=True)


def _figure(fit: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = list(dict.fromkeys(fit["target"]))
    fig, axes = plt.subplots(1, len(targets), figsize=(5.5 * len(targets), 4), squeeze=False)
    for ax, name in zip(axes[0], targets):
        part = fit[fit["target"] == name]
        for i, (g, rows) in enumerate(part.groupby("group", sort=True)):
            colour = f"C{i}"
            label = g or name
            ax.plot(rows["month"], rows["observed"], color=colour, lw=2, label=f"{label}: data")
            ax.plot(rows["month"], rows["simulated"], color=colour, ls="--", label=f"{label}: model")
            ax.fill_between(rows["month"], rows["simulated_low"], rows["simulated_high"], color=colour, alpha=0.2)
        kind = part["kind"].iloc[0]
        ax.set_title(name)
        ax.set_xlabel("tenure, months" if kind == "retention" else "month")
        ax.set_ylabel("share still a customer" if kind == "retention" else name)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _write(out_dir: Path, spec: CalibrationSpec, summary: dict[str, Any], trials: pd.DataFrame,
           fit: pd.DataFrame) -> None:
    from sim import __version__
    from sim.safe_write import atomic_dir, sealed_manifest

    with atomic_dir(out_dir, "calibration folder") as tmp:
        (tmp / "calibrated").mkdir()
        (tmp / "calibrated" / f"{spec.name}.yaml").write_text(_calibrated_yaml(spec, summary["best"]))
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        trials.to_parquet(tmp / "trials.parquet", index=False)
        fit.to_parquet(tmp / "fit.parquet", index=False)
        _figure(fit, tmp / "fit.png")
        files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
        content = {"complete": True, "package": "cxsim", "version": __version__, "kind": "calibration",
                   "name": spec.name}
        (tmp / "manifest.json").write_text(sealed_manifest(content, tmp, files))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cxsim-calibrate", description=__doc__.split("\n\n")[0])
    p.add_argument("spec", help="a name in configs/calibration/ or a path to a spec YAML")
    p.add_argument("--trials", type=int, help="override the spec's trials")
    p.add_argument("--seeds", type=int, help="override the spec's seeds per trial")
    p.add_argument("--agents", type=int, help="override the spec's agents per run")
    p.add_argument("--jobs", type=int, help="worker processes (default: one per seed, at most the cores)")
    p.add_argument("--output-root", default="results", help="results root (default: results)")
    a = p.parse_args(argv)
    from sim.safe_write import OutputError

    try:
        spec = load_spec(a.spec)
        for key in ("trials", "seeds", "agents"):
            value = getattr(a, key)
            if value is not None:
                if value < 1:
                    raise CalibrationError(f"--{key}={value} is not allowed: an integer >= 1")
                setattr(spec, key, value)
        calibrate(spec, a.output_root, jobs=a.jobs)
    except (CalibrationError, OutputError) as err:
        print(f"cxsim-calibrate: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
