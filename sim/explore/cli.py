"""cxsim-explore: which assumptions drive the decision, and does the ranking survive being wrong?

    cxsim-explore ebilling_assumptions                          # every analysis in the spec
    cxsim-explore ebilling_assumptions --only morris hydra/launcher=joblib

Reads ``configs/uncertainty/<name>.yaml`` (``sim.explore.spec``), samples the futures with SALib,
runs every future x (baseline and each scenario) x seed as one ordinary `cxsim -m` sweep (any
Hydra launcher; complete runs are skipped, so an interrupted exploration resumes), then builds
the analysis from the run folders into ``<root>/explorations/<name>/``:

  experiments.parquet   one row per future, scenario and seed: a column per uncertain key and outcome
                        (also experiments.csv)
  indices.parquet       Morris mu*, sigma and Sobol' S1, ST with intervals, paired and unpaired
  robustness.parquet    per option: share of futures with NPV > 0, share best, regret
  win_shares.parquet    per key, bin and option: share best and share positive across the key's range
  report.html           the figures and tables; figures/*.png
  design.parquet, exploration.json, configs/future/*.yaml   the futures (inputs; a changed spec is refused)
  manifest.json         checksums, written last: marks the folder complete
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from sim.explore.spec import ANALYSES, ExploreError, ExploreSpec, load_spec

CONFIGS = "configs"  # the exploration folder's config dir: configs/future/<future>.yaml


def exploration_dir(spec: ExploreSpec, root: Path) -> Path:
    return root / "explorations" / spec.name


def _check_same_spec(out_dir: Path, spec: ExploreSpec) -> bool:
    """True if ``out_dir`` holds this spec's exploration already; refuse another spec's."""
    try:
        old = json.loads((out_dir / "exploration.json").read_text())
    except (OSError, ValueError):
        return False
    if old.get("digest") != spec.digest():
        raise ExploreError(
            f"{out_dir} holds the exploration of a different spec (digest {old.get('digest')}, this spec's "
            f"{spec.digest()}): its runs and futures would no longer match. Copy the spec under a new name "
            f"(configs/uncertainty/<new name>.yaml) or move {out_dir} away first.")
    return True


def _write_folder(out_dir: Path, spec: ExploreSpec, design: pd.DataFrame, outputs: dict[str, Any] | None) -> None:
    """The exploration folder, atomically: the futures, and the analysis when there is one."""
    from sim import __version__
    from sim.explore.design import write_futures
    from sim.explore.report import write_report
    from sim.safe_write import atomic_dir, sealed_manifest

    with atomic_dir(out_dir, "exploration folder") as tmp:
        info = {"name": spec.name, "spec": str(spec.path), "digest": spec.digest(), "identity": spec.identity()}
        (tmp / "exploration.json").write_text(json.dumps(info, indent=2) + "\n")
        design.to_parquet(tmp / "design.parquet", index=False)
        write_futures(tmp / CONFIGS, spec, design)
        stage = {"stage": "design", "analysed": []}
        if outputs is not None:
            outputs["experiments"].to_parquet(tmp / "experiments.parquet", index=False)
            outputs["experiments"].to_csv(tmp / "experiments.csv", index=False)  # the same, for spreadsheets
            outputs["indices"].to_parquet(tmp / "indices.parquet", index=False)
            if outputs["robustness"] is not None:
                outputs["robustness"].to_parquet(tmp / "robustness.parquet", index=False)
                outputs["win_shares"].to_parquet(tmp / "win_shares.parquet", index=False)
            write_report(tmp, spec, outputs["meta"], outputs["indices"], outputs["robustness"],
                         outputs["win_shares"], outputs["gain"])
            stage = {"stage": "analysed", "analysed": outputs["meta"]["analysed"]}
        files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
        content = {"complete": True, "package": "cxsim", "version": __version__, "kind": "exploration",
                   "name": spec.name, **stage}
        (tmp / "manifest.json").write_text(sealed_manifest(content, tmp, files))


def analyse(spec: ExploreSpec, design: pd.DataFrame, runs: list, analysed: list[str],
            warnings: list[str]) -> dict[str, Any]:
    """Every output table for the analyses whose runs are all on disk."""
    from sim.explore.analysis import (
        morris_indices,
        pairing_gain,
        robustness,
        sobol_indices,
    )
    from sim.explore.outcomes import experiments_table

    table = experiments_table(spec, design, runs, analysed)
    parts = []
    if "morris" in analysed:
        parts.append(morris_indices(spec, design, table))
    if "sobol" in analysed:
        parts.append(sobol_indices(spec, design, table))
    indices = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["analysis", "scenario", "outcome", "pairing", "key"])
    robust = curves = None
    if "robustness" in analysed:
        robust, curves = robustness(spec, design, table)
    gain = pairing_gain(indices)
    meta = {"analysed": analysed, "runs": int(sum(r.analysis in analysed for r in runs)), "warnings": warnings}
    return {"experiments": table, "indices": indices, "robustness": robust, "win_shares": curves, "gain": gain,
            "meta": meta}


def _headline(spec: ExploreSpec, outputs: dict[str, Any]) -> list[str]:
    from sim.explore.analysis import DO_NOTHING
    from sim.report import fmt

    lines = []
    ind = outputs["indices"]
    for analysis, col in (("morris", "mu_star"), ("sobol", "ST")):
        d = ind[(ind["analysis"] == analysis) & (ind["pairing"] == "paired") & (ind["outcome"] == "incremental_npv")] \
            if not ind.empty else ind
        for scenario, g in (d.groupby("scenario", sort=False) if not d.empty else []):
            top = g.sort_values(col, ascending=False).head(3)
            shown = ", ".join(f"{r['key']} ({fmt(r[col], 'USD') if col == 'mu_star' else format(r[col], '.2f')})"
                              for _, r in top.iterrows())
            lines.append(f"{analysis}: {scenario}: incremental NPV driven most by {shown}")
    robust = outputs["robustness"]
    if robust is not None:
        for _, r in robust.iterrows():
            pos = "" if r["option"] == DO_NOTHING else f"NPV > 0 in {100 * r['share_positive']:.0f}%, "
            lines.append(f"robustness: {r['option']}: {pos}best in {100 * r['share_best']:.0f}% of futures, "
                         f"worst regret {fmt(r['regret_max'], 'USD')}")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cxsim-explore", description=__doc__.split("\n\n")[0],
                                epilog="Further arguments choose the sweep's launcher, e.g. hydra/launcher=joblib "
                                       "hydra.launcher.n_jobs=2.")
    p.add_argument("spec", help="a name in configs/uncertainty/ or a path to a spec YAML")
    p.add_argument("--only", help=f"comma-separated analyses of the spec to run now ({', '.join(ANALYSES)})")
    p.add_argument("--output-root", default="results", help="results root (default: results)")
    p.add_argument("--no-run", action="store_true", help="run nothing: analyse what is complete on disk")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    a, launcher_args = p.parse_known_args(argv)
    from sim.explore.sweep import check_pass_through
    from sim.safe_write import OutputError, exclusive

    root = Path(a.output_root).resolve()
    try:  # everything the command line can get wrong, before anything is written
        check_pass_through(launcher_args)
        spec = load_spec(a.spec)
        only = list(spec.analyses) if not a.only else [s.strip() for s in a.only.split(",") if s.strip()]
        for name in only:
            if name not in spec.analyses:
                raise ExploreError(f"--only {name!r} is not allowed: one of the spec's analyses {list(spec.analyses)}")
    except ExploreError as err:
        print(f"cxsim-explore: {err}", file=sys.stderr)
        return 2
    out_dir = exploration_dir(spec, root)
    try:
        with exclusive(out_dir.parent / f".{spec.name}.lock", f"the exploration {out_dir}"):
            return _explore(a, spec, only, out_dir, root, launcher_args)
    except OutputError as err:
        print(f"cxsim-explore: {err}", file=sys.stderr)
        return 2


def _explore(a, spec: ExploreSpec, only: list[str], out_dir: Path, root: Path, launcher_args: list[str]) -> int:
    """cxsim-explore once its spec is read and its folder is this process's alone."""
    from sim.explore.design import design_table
    from sim.explore.outcomes import missing_runs
    from sim.explore.sweep import (
        distinct_runs,
        log_tail,
        planned_runs,
        run_sweep,
        sweep_argvs,
    )
    from sim.safe_write import OutputError, check_target

    try:
        check_target(out_dir, "exploration folder")
        design = design_table(spec)
        if not _check_same_spec(out_dir, spec):
            _write_folder(out_dir, spec, design, outputs=None)
        runs = planned_runs(spec, out_dir / CONFIGS, root, design)
    except (ExploreError, OutputError) as err:
        print(f"cxsim-explore: {err}", file=sys.stderr)
        return 2
    chosen = [r for r in runs if r.analysis in only]
    missing = missing_runs(spec, runs, design)  # every run's checksums read once; again only after a sweep
    to_run = distinct_runs([r for name in only for r in missing.get(name, [])])
    distinct = distinct_runs(chosen)
    n_futures = int(design["analysis"].isin(only).sum())
    shared = (f", {len(distinct):,} to simulate, the others sharing the run of a future with the same values "
              f"for every key that acts in their arm") if len(distinct) < len(chosen) else ""
    print(f"cxsim-explore: {spec.name}: {n_futures} futures x {len(spec.arms)} arms x {spec.seeds} seeds = "
          f"{len(chosen):,} runs{shared} ({len(distinct) - len(to_run):,} complete on disk) -> {out_dir}", flush=True)
    if to_run and not a.no_run:
        log = root / "multirun" / f"explore-{spec.name}.log"
        code = run_sweep(sweep_argvs(spec, out_dir / CONFIGS, root, chosen, launcher_args), chosen, log,
                         progress=not a.no_progress)
        if code != 0:
            print(f"cxsim-explore: the sweep failed (exit {code}); its log {log} ends:\n{log_tail(log)}\n"
                  "The runs it finished are on disk: run the same command again to resume.", file=sys.stderr)
            return 1
        missing = missing_runs(spec, runs, design)
    analysed = [name for name in spec.analyses if not missing.get(name)]
    warnings = [f"{name}: {len(missing[name])} of {sum(r.analysis == name for r in runs)} runs not on disk yet, "
                f"not analysed (cxsim-explore {spec.name} --only {name} runs them)"
                for name in spec.analyses if missing.get(name)]
    if not analysed:
        print(f"cxsim-explore: no analysis has all its runs on disk yet: {'; '.join(warnings)}", file=sys.stderr)
        return 1
    outputs = analyse(spec, design, runs, analysed, warnings)
    try:
        _write_folder(out_dir, spec, design, outputs)
    except OutputError as err:
        print(f"cxsim-explore: {err}", file=sys.stderr)
        return 2
    for line in _headline(spec, outputs):
        print(f"  {line}")
    for w in warnings:
        print(f"cxsim-explore: warning: {w}", file=sys.stderr)
    print(f"cxsim-explore: analysed {', '.join(analysed)} -> {out_dir / 'report.html'}")
    return 0 if all(name in analysed for name in only) else 1


if __name__ == "__main__":
    sys.exit(main())
