"""`cxsim-regress`: seeded regression for users' CI. Record once, check on every change.

A spec (YAML) lists cases, each a list of the usual overrides and the seeds to run:

    cases:
      utility_small:
        overrides: [population.n_agents=2000, years=3]
        seeds: [0, 1]
    tolerances:              # optional; every KPI is compared exactly unless a rule here says otherwise
      default: {rel: 0, abs: 0}
      nps: {abs: 0.05}       # a KPI name, or a pattern such as "segment_*_nps"
    baseline: regress.baseline.parquet   # optional, relative to the spec (this is the default name)

``record`` runs every case and seed and stores every number of their summaries and monthly
tables in the baseline file (Parquet, one row per case, seed, KPI and month), which users
commit. ``check`` runs them again and exits 0 when every number is within its tolerance,
1 with a table of what drifted (KPI, month, recorded, now, relative change), 2 on bad input.
``--junit`` writes a JUnit XML report (one test case per case and seed) for CI systems.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import os
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.config import ConfigError

MARK = b"cxsim.regress"
COLUMNS = ["case", "seed", "table", "kpi", "month", "value"]
SUMMARY_MONTH = -1  # the month column of a summary figure


@dataclass
class Tolerance:
    rel: float = 0.0
    abs: float = 0.0

    def holds(self, recorded: float, now: float) -> bool:
        if math.isnan(recorded) or math.isnan(now):
            return math.isnan(recorded) and math.isnan(now)
        if math.isinf(recorded) or math.isinf(now):
            return recorded == now
        return abs(now - recorded) <= self.abs + self.rel * abs(recorded)


@dataclass
class Spec:
    path: Path
    cases: dict[str, tuple[list[str], list[int]]]
    tolerances: dict[str, Tolerance] = field(default_factory=dict)
    baseline: Path | None = None
    configs: dict[str, Any] = field(default_factory=dict)  # each case's composed RunConfig

    def tolerance(self, kpi: str) -> Tolerance:
        if kpi in self.tolerances:
            return self.tolerances[kpi]
        for pattern, tol in self.tolerances.items():
            if pattern != "default" and fnmatch.fnmatchcase(kpi, pattern):
                return tol
        return self.tolerances.get("default", Tolerance())


class SpecError(ValueError):
    """The spec or a command-line value is not usable; the message names the key."""


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise SpecError(f"{key}={value!r} is not allowed: a number >= 0")
    return float(value)


def load_spec(path: str | Path) -> Spec:
    """Read and check a spec; every case's overrides are composed and validated (no run yet)."""
    from sim.spec_file import read_yaml

    path = Path(path)
    raw = read_yaml(path, SpecError, "spec")
    if not isinstance(raw, dict) or not isinstance(raw.get("cases"), dict) or not raw["cases"]:
        raise SpecError(f"cases is not allowed as given in {path}: a mapping of case names to "
                        "{overrides: [...], seeds: [...]}, at least one")
    unknown = sorted(set(raw) - {"cases", "tolerances", "baseline"})
    if unknown:
        raise SpecError(f"{unknown[0]} is not allowed in {path}: the keys are cases, tolerances, baseline")
    cases = {}
    for name, case in raw["cases"].items():
        key = f"cases.{name}"
        if not isinstance(case, dict) or set(case) - {"overrides", "seeds"}:
            raise SpecError(f"{key}={case!r} is not allowed: a mapping with overrides (a list) and seeds (a list)")
        overrides, seeds = case.get("overrides", []), case.get("seeds", [0])
        if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
            raise SpecError(f"{key}.overrides={overrides!r} is not allowed: a list of key=value strings")
        if not isinstance(seeds, list) or not seeds or not all(
                isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
            raise SpecError(f"{key}.seeds={seeds!r} is not allowed: a non-empty list of integers >= 0")
        cases[str(name)] = (list(overrides), sorted(set(seeds)))
    tolerances = {}
    for kpi, tol in (raw.get("tolerances") or {}).items():
        if not isinstance(tol, dict) or set(tol) - {"rel", "abs"}:
            raise SpecError(f"tolerances.{kpi}={tol!r} is not allowed: a mapping with rel and/or abs")
        tolerances[str(kpi)] = Tolerance(_number(tol.get("rel", 0.0), f"tolerances.{kpi}.rel"),
                                         _number(tol.get("abs", 0.0), f"tolerances.{kpi}.abs"))
    baseline = raw.get("baseline")
    if baseline is not None and not isinstance(baseline, str):
        raise SpecError(f"baseline={baseline!r} is not allowed: a file name")
    # composed (and a bad case refused) before anything runs
    configs = {name: _config(name, overrides) for name, (overrides, _) in cases.items()}
    return Spec(path, cases, tolerances, (path.parent / baseline) if baseline else None, configs)


def _config(name: str, overrides: list[str]):
    from sim.cli import load_config

    try:
        return load_config(list(overrides) + ["output.plots=false", "progress=false"])
    except ConfigError as err:
        raise SpecError(f"cases.{name}: {err}") from None


def default_baseline(spec: Spec) -> Path:
    return spec.baseline or spec.path.with_name(f"{spec.path.stem}.baseline.parquet")


def _flatten(obj: Any, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
    elif isinstance(obj, bool):
        out[prefix[:-1]] = float(obj)
    elif isinstance(obj, (int, float, np.integer, np.floating)) and obj is not None:
        out[prefix[:-1]] = float(obj)
    return out


def measure(spec: Spec, log=print) -> pd.DataFrame:
    """Run every case and seed; one row per case, seed, KPI and month (month -1: the summary)."""
    import warnings

    from sim.config import NoisyRunWarning
    from sim.runner import run

    warnings.simplefilter("ignore", NoisyRunWarning)  # regression cases are small on purpose
    frames = []
    for name, (_, seeds) in spec.cases.items():
        cfg = spec.configs[name]
        for seed in seeds:
            result = run(cfg, seed=seed, progress=False)
            summary = _flatten(result.summary)
            rows = {"case": [name] * len(summary), "seed": [seed] * len(summary), "table": ["summary"] * len(summary),
                    "kpi": list(summary), "month": [SUMMARY_MONTH] * len(summary), "value": list(summary.values())}
            frames.append(pd.DataFrame(rows))
            monthly = result.monthly.select_dtypes(include=["number", "bool"]).astype(float)
            long = monthly.drop(columns=["month"]).assign(month=result.monthly["month"].to_numpy())
            long = long.melt(id_vars="month", var_name="kpi", value_name="value")
            frames.append(long.assign(case=name, seed=seed, table="monthly")[COLUMNS])
            if log:
                log(f"cxsim-regress: {name} seed={seed}: {len(summary)} summary figures, {len(monthly)} months")
    table = pd.concat(frames, ignore_index=True)[COLUMNS]
    return table.astype({"seed": "int64", "month": "int64", "value": "float64"})


def check_baseline_target(path: Path) -> None:
    """Refuse a baseline path that holds anything but an earlier cxsim-regress baseline."""
    if not os.path.lexists(path):
        if path.parent.exists() and not path.parent.is_dir():
            raise SpecError(f"baseline={path} is not allowed: {path.parent} is a file")
        return
    try:
        ok = path.is_file() and MARK in (pq.read_schema(path).metadata or {})
    except Exception:
        ok = False
    if not ok:
        raise SpecError(f"baseline={path} is not allowed: that path exists and is not a cxsim-regress "
                        "baseline; cxsim will not replace it (choose another --baseline)")


def write_baseline(table: pd.DataFrame, path: Path, spec: Spec) -> None:
    """Write the baseline atomically; refuse to replace a file that is not a cxsim-regress baseline."""
    from sim import __version__

    check_baseline_target(path)
    meta = {"version": __version__, "cases": {k: {"overrides": o, "seeds": s} for k, (o, s) in spec.cases.items()}}
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), MARK: json.dumps(meta).encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(arrow, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_baseline(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise SpecError(f"baseline={path} is not allowed: no such file; record it first with "
                        "cxsim-regress record <spec>")
    try:
        if MARK not in (pq.read_schema(path).metadata or {}):
            raise SpecError(f"baseline={path} is not allowed: not a cxsim-regress baseline")
        return pd.read_parquet(path)
    except SpecError:
        raise
    except Exception as err:
        raise SpecError(f"baseline={path} is not allowed: unreadable ({type(err).__name__}: {err})") from None


def drift(recorded: pd.DataFrame, now: pd.DataFrame, spec: Spec) -> pd.DataFrame:
    """Every number that moved beyond its tolerance, or appeared, or disappeared."""
    keys = ["case", "seed", "table", "kpi", "month"]
    wanted = set(spec.cases)
    recorded = recorded[recorded["case"].isin(wanted)]
    both = recorded.merge(now, on=keys, how="outer", suffixes=("_recorded", "_now"), indicator=True)
    rows = []
    for r in both.itertuples(index=False):
        rec, cur = r.value_recorded, r.value_now
        if r._7 == "left_only":
            status = "missing now"
        elif r._7 == "right_only":
            status = "not recorded"
        elif spec.tolerance(r.kpi).holds(rec, cur):
            continue
        else:
            status = "drifted"
        rel = (cur - rec) / abs(rec) if status == "drifted" and rec not in (0.0,) and math.isfinite(rec) else math.nan
        rows.append({"case": r.case, "seed": int(r.seed), "kpi": r.kpi,
                     "month": "summary" if r.month == SUMMARY_MONTH else str(int(r.month)),
                     "recorded": rec, "now": cur, "relative_change": rel, "status": status})
    out = pd.DataFrame(rows, columns=["case", "seed", "kpi", "month", "recorded", "now", "relative_change", "status"])
    # headline (summary) figures first, then the months; the largest relative change first in each
    out = out.assign(_s=out["month"] != "summary", _o=out["relative_change"].abs().fillna(np.inf))
    return out.sort_values(["_s", "_o", "case", "seed", "kpi"], ascending=[True, False, True, True, True]) \
        .drop(columns=["_s", "_o"]).reset_index(drop=True)


def drift_table(drifted: pd.DataFrame, limit: int = 30) -> str:
    def num(x: float) -> str:
        return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.10g}"

    lines = [f"{'case':<20} {'seed':>4} {'KPI':<34} {'month':>7} {'recorded':>16} {'now':>16} {'change':>9}"]
    for r in drifted.head(limit).itertuples(index=False):
        change = f"{r.relative_change:+.2%}" if not math.isnan(r.relative_change) else \
            ("from 0" if r.status == "drifted" and r.recorded == 0 else r.status)
        lines.append(f"{r.case[:20]:<20} {r.seed:>4} {r.kpi[:34]:<34} {r.month:>7} {num(r.recorded):>16} "
                     f"{num(r.now):>16} {change:>9}")
    if len(drifted) > limit:
        lines.append(f"... and {len(drifted) - limit} more (--junit writes them all)")
    return "\n".join(lines)


def write_junit(path: Path, spec: Spec, drifted: pd.DataFrame, n_values: dict[tuple[str, int], int]) -> None:
    suite = ET.Element("testsuite", name="cxsim-regress", tests=str(sum(len(s) for _, s in spec.cases.values())),
                       failures=str(drifted.groupby(["case", "seed"]).ngroups if len(drifted) else 0))
    for name, (_, seeds) in spec.cases.items():
        for seed in seeds:
            case = ET.SubElement(suite, "testcase", classname=f"cxsim.{name}", name=f"seed={seed}")
            mine = drifted[(drifted["case"] == name) & (drifted["seed"] == seed)]
            if len(mine):
                fail = ET.SubElement(case, "failure", message=f"{len(mine)} of {n_values.get((name, seed), 0)} "
                                                              "values drifted beyond tolerance")
                fail.text = drift_table(mine, limit=len(mine))
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cxsim-regress", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="run the spec's cases and store them as the baseline to commit")
    chk = sub.add_parser("check", help="run the spec's cases again and compare them with the baseline")
    for q in (rec, chk):
        q.add_argument("spec", help="the YAML listing cases, seeds and tolerances")
        q.add_argument("--baseline", help="baseline file (default: from the spec, or <spec>.baseline.parquet)")
    chk.add_argument("--rtol", type=float, help="relative tolerance for every KPI without its own rule")
    chk.add_argument("--atol", type=float, help="absolute tolerance for every KPI without its own rule")
    chk.add_argument("--junit", help="also write a JUnit XML report here")
    a = p.parse_args(argv)
    try:
        spec = load_spec(a.spec)
        if a.command == "check":
            default = spec.tolerances.get("default", Tolerance())
            spec.tolerances["default"] = Tolerance(
                _number(a.rtol, "--rtol") if a.rtol is not None else default.rel,
                _number(a.atol, "--atol") if a.atol is not None else default.abs)
        path = Path(a.baseline) if a.baseline else default_baseline(spec)
        recorded = read_baseline(path) if a.command == "check" else None
        if a.command == "record":
            check_baseline_target(path)  # before the runs, not after them
    except SpecError as err:
        print(f"cxsim-regress: {err}", file=sys.stderr)
        return 2
    now = measure(spec)
    if a.command == "record":
        try:
            write_baseline(now, path, spec)
        except SpecError as err:
            print(f"cxsim-regress: {err}", file=sys.stderr)
            return 2
        print(f"cxsim-regress: recorded {len(now):,} values of {len(spec.cases)} cases -> {path} (commit it)")
        return 0
    drifted = drift(recorded, now, spec)
    if a.junit:
        counts = now.groupby(["case", "seed"]).size().to_dict()
        write_junit(Path(a.junit), spec, drifted, counts)
    if drifted.empty:
        print(f"cxsim-regress: all {len(now):,} values of {len(spec.cases)} cases match {path}")
        return 0
    print(f"cxsim-regress: {len(drifted):,} of {len(now):,} values drifted from {path}:\n{drift_table(drifted)}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
