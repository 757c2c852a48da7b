"""Paired comparison of scenarios, built from the run folders a sweep left on disk.

Every scenario is compared with a named baseline (default ``baseline``) *at the same seed*:
both runs drew the same random numbers (common random numbers), so the seed-by-seed
difference is the scenario's effect, and its spread over seeds is what the interval measures.

For each KPI (summary figures, final-year means of selected monthly KPIs, and the money view of
``sim.roi.compare_runs``) and each scenario the comparison gives the mean paired difference,
its 95% t-interval over seeds, the share of seeds in which the scenario is better (each KPI
declares which direction is better) and the seeds needed for a paired t-test to separate the
difference from zero with 80% power (``seeds_needed``).

Runs are grouped by their folder: ``<root>/<scenario>/<point>/seed=<N>/`` where ``<point>`` is
the parameter point (the overrides other than scenario and seed, or ``default``); scenarios are
compared within a point. Runs are read one at a time, only the needed Parquet columns, and
folded into running sums, so a sweep of thousands of runs is never held in memory at once.
Runs that are not complete and intact (``sim.results.sealed_run``) are never read.

Written to ``<root>/comparisons/<name>/`` (no clock in the path). A rebuild of the same scope
(the same cells and baseline, perhaps with more seeds on disk) replaces it atomically; a
comparison of a different scope under the same name is refused, never overwritten:
  comparison.parquet    one row per point, scenario and KPI: means, paired difference, interval
  seeds.parquet         one row per point, scenario, seed and KPI: value, baseline value, difference
  trajectories.parquet  one row per point, scenario, KPI and month: mean, the 95% interval of the
                        mean and the seed spread (where one seed's series falls), clipped to the
                        KPI's possible values; the same for the paired difference
  runs.csv, comparison.csv, comparison.xlsx   the same as spreadsheets, one column per swept key
                        (sim.tables; XLSX with openpyxl installed)
  comparison.json       scope (to rebuild it), runs read or skipped, ranking, warnings
  report.html           the report, figures embedded; figures/*.png the same figures
  manifest.json         checksums of all of the above (written last: marks it complete)

``cxsim-compare PATH`` rebuilds it from disk (see ``main``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import (  # not scipy.stats: 0.4 s to import, for three functions
    nctdtr,
    ndtri,
    stdtrit,
)

from sim.config import PopulationConfig
from sim.results import sealed_run
from sim.roi import compare_runs
from sim.run_reader import MonthlyColumns, ReadAhead, RunUnreadable
from sim.run_reader import read_run as read_run_folder
from sim.safe_write import (
    OutputError,
    atomic_dir,
    check_target,
    recover_all,
    sealed_manifest,
)

LEVEL = 0.95  # confidence level of every interval
POWER = 0.8  # the chance a rerun with "seeds needed" separates a real difference from zero
# top-level folders under a results root that hold no runs
NOT_RUN_FOLDERS = {"comparisons", "multirun", "explorations", "calibrations"}

# ---------------------------------------------------------------------------------------------
# KPIs: label, unit and which direction is better (+1 higher, -1 lower, 0 neither)


@dataclass(frozen=True)
class Kpi:
    label: str
    unit: str
    better: int


_SUMMARY_KPIS: dict[str, Kpi] = {
    "customers_end": Kpi("Customers at the end", "customers", +1),
    "churn_rate_annual": Kpi("Churn rate", "share a year", -1),
    "churned": Kpi("Customers lost", "customers", -1),
    "acquired_paid": Kpi("Customers won by paid acquisition", "customers", +1),
    "acquired_referred": Kpi("Customers won by referral", "customers", +1),
    "nps_end": Kpi("NPS at the end", "points -100..100", +1),
    "nps_mean": Kpi("NPS, mean over the run", "points -100..100", +1),
    "sat_mean_end": Kpi("Mean satisfaction at the end", "points 0-10", +1),
    "complaints": Kpi("Complaints", "complaints", -1),
    "calls_offered": Kpi("Phone calls offered", "calls", -1),
    "asa_s_mean": Kpi("Average speed of answer", "seconds", -1),
    "service_level_mean": Kpi("Service level", "share", +1),
    "revenue": Kpi("Revenue", "USD", +1),
    "cost_products": Kpi("Product cost", "USD", -1),
    "cost_to_serve": Kpi("Cost to serve", "USD", -1),
    "cost_acquisition": Kpi("Acquisition spend", "USD", -1),
    "cx_spend": Kpi("CX programme spend", "USD", -1),
    "profit": Kpi("Profit", "USD", +1),
    "npv": Kpi("NPV of profit", "USD", +1),
}
_SUMMARY_FAMILIES: dict[str, tuple[str, str, int]] = {  # nested summary dicts: prefix -> label, unit, better
    "churn_by_reason": ("Customers lost for {} reasons", "customers", -1),
    "adoption_end": ("Adoption at the end: {}", "share", +1),
    "cost_to_serve_by_category": ("Cost to serve: {}", "USD", -1),
    "npv_by_segment": ("Segment NPV before CX spend: {}", "USD", +1),
}
_FINAL_YEAR_KPIS: dict[str, Kpi] = {  # mean of the monthly column over the last 12 months
    "final_year.nps": Kpi("NPS, final-year mean", "points -100..100", +1),
    "final_year.churn_rate": Kpi("Churn, final-year mean", "share per month", -1),
    "final_year.calls_offered": Kpi("Calls offered, final-year mean", "calls a month", -1),
    "final_year.asa_s": Kpi("Speed of answer, final-year mean", "seconds", -1),
    "final_year.service_level": Kpi("Service level, final-year mean", "share", +1),
    "final_year.fcr": Kpi("First-contact resolution, final-year mean", "share", +1),
    "final_year.cost_to_serve": Kpi("Cost to serve, final-year mean", "USD a month", -1),
    "final_year.profit": Kpi("Profit, final-year mean", "USD a month", +1),
}
MONEY_KPIS: dict[str, Kpi] = {  # paired by construction (sim.roi.compare_runs): the value is the difference
    "incremental_npv": Kpi("Incremental NPV", "USD", +1),
    "incremental_value": Kpi("Incremental value before CX spend (PV)", "USD", +1),
    "cx_spend_pv": Kpi("CX spend (PV)", "USD", -1),
    "roce": Kpi("Return on CX spend (ROCE)", "ratio", +1),
    "payback_month": Kpi("Payback month", "month index", -1),
}
HEADLINE = ("incremental_npv", "nps_end", "customers_end", "churn_rate_annual", "cost_to_serve")

# monthly series kept as trajectories: name -> (label, unit, function of the monthly table)
# (a monthly table is a DataFrame or a run read from disk, sim.run_reader.MonthlyColumns: both
# give a column by name, which np.asarray turns into numbers)
Monthly = pd.DataFrame | MonthlyColumns
TRAJECTORIES: dict[str, tuple[str, str, Callable[[Monthly], np.ndarray]]] = {
    "customers": ("Customers", "customers", lambda m: _column(m, "customers")),
    "nps": ("Net promoter score", "points -100..100", lambda m: _column(m, "nps")),
    "sat_mean": ("Mean satisfaction", "points 0-10", lambda m: _column(m, "sat_mean")),
    "churn_pct_year": ("Churn, trailing 12 months", "% of customers a year", lambda m: _trailing_churn_pct(m)),
    "calls_offered": ("Phone calls offered", "calls a month", lambda m: _column(m, "calls_offered")),
    "asa_s": ("Average speed of answer", "seconds", lambda m: _column(m, "asa_s")),
    "cost_to_serve": ("Cost to serve", "USD a month", lambda m: _column(m, "cost_to_serve")),
    "profit": ("Profit (after CX spend)", "USD a month", lambda m: _column(m, "profit")),
    "cum_npv": ("Cumulative discounted profit", "USD", lambda m: np.cumsum(_column(m, "profit_discounted"))),
}
TRAILING_MONTHS = 12


def _column(m: Monthly, name: str) -> np.ndarray:
    return np.asarray(m[name], dtype=float)


def trailing_sum(x: np.ndarray, months: int = TRAILING_MONTHS) -> np.ndarray:
    """Sum of each month and the ``months - 1`` before it (fewer at the start), each window added
    oldest first: ``months`` vector additions instead of a rolling window per run."""
    out = np.zeros_like(x, dtype=float)
    n = len(x)
    for lag in range(min(months, n) - 1, -1, -1):
        out[lag:] += x[:n - lag]
    return out


def _trailing_churn_pct(m: Monthly) -> np.ndarray:
    """Leavers per customer-month over the last 12 months (fewer at the start), as % a year."""
    leavers, exposed = trailing_sum(_column(m, "new_churn")), trailing_sum(_column(m, "customers_start"))
    return 1200.0 * leavers / np.maximum(exposed, 1)


_ALWAYS_READ = {"month", "customers_start", "customers", "nps", "sat_mean", "new_churn", "churn_rate",
                "calls_offered", "asa_s", "service_level", "fcr", "revenue", "profit", "discount_factor",
                "profit_discounted", "new_acquired_paid", "new_acquired_referred"}


def kpi_info(name: str) -> Kpi:
    """Label, unit and better direction of a KPI name used in the comparison tables."""
    for table in (_SUMMARY_KPIS, _FINAL_YEAR_KPIS, MONEY_KPIS):
        if name in table:
            return table[name]
    prefix, _, rest = name.partition(".")
    if prefix in _SUMMARY_FAMILIES and rest:
        label, unit, better = _SUMMARY_FAMILIES[prefix]
        return Kpi(label.format(rest.replace("_", " ")), unit, better)
    return traj_info(name)


def traj_info(name: str) -> Kpi:
    """Label and unit of a trajectory (a monthly series in trajectories.parquet)."""
    if name.startswith("adopt_"):
        return Kpi(f"Adoption: {name[6:].replace('_', ' ')}", "% of customers", +1)
    if name in TRAJECTORIES:
        label, unit, _ = TRAJECTORIES[name]
        return Kpi(label, unit, 0)
    return Kpi(name, "", 0)


def _wanted_column(c: str) -> bool:
    return (c in _ALWAYS_READ or c.startswith(("adopt_", "new_churn_"))
            or (c.startswith("cost_") and not c.startswith("cost_programme_")))


def read_run(run_dir: Path, months: int | None = None) -> tuple[dict[str, Any], MonthlyColumns]:
    """summary.json and the columns a comparison uses of monthly.parquet of one (intact) run;
    ``months``, the manifest's, is checked against the table (sim.run_reader.read_run)."""
    return read_run_folder(run_dir, _wanted_column, months)


def _mean_skipping_nan(x: np.ndarray) -> float:
    """pandas' Series.mean: NaN left out of the sum and the count (NaN when all are)."""
    missing = np.isnan(x)
    if not missing.any():
        return float(x.mean())
    n = len(x) - int(missing.sum())
    return float(np.where(missing, 0.0, x).sum() / n) if n else math.nan


def seed_values(summary: dict[str, Any], monthly: Monthly) -> dict[str, float]:
    """The scalar KPIs of one run: summary figures and final-year means of monthly KPIs."""
    def number(v: Any) -> float:  # JSON writes a missing number as null
        return math.nan if v is None else float(v)

    out: dict[str, float] = {k: number(summary[k]) for k in _SUMMARY_KPIS if k in summary}
    for prefix in _SUMMARY_FAMILIES:
        for k, v in (summary.get(prefix) or {}).items():
            out[f"{prefix}.{k}"] = number(v)
    for k in _FINAL_YEAR_KPIS:
        col = k.split(".", 1)[1]
        if col in monthly:
            out[k] = _mean_skipping_nan(_column(monthly, col)[-12:])
    return out


def money_values(scenario: Monthly, baseline: Monthly) -> dict[str, float]:
    """The paired money view of one seed, from ``sim.roi.compare_runs`` (None -> NaN)."""
    roi = compare_runs(scenario, baseline)
    return {k: (math.nan if roi[k] is None else float(roi[k])) for k in MONEY_KPIS}


def trajectories(monthly: Monthly) -> dict[str, np.ndarray]:
    out = {k: f(monthly) for k, (_, _, f) in TRAJECTORIES.items()}
    for c in monthly.columns:
        if c.startswith("adopt_"):
            out[c] = 100.0 * _column(monthly, c)
    return out


# ---------------------------------------------------------------------------------------------
# statistics


def t_star(n: int, level: float = LEVEL) -> float:
    return float(stdtrit(n - 1, 0.5 + level / 2)) if n >= 2 else math.nan  # Student's t quantile


def power(n: int, mean: float, sd: float, level: float = LEVEL) -> float:
    """Chance that a two-sided paired t-test at ``level`` over n seeds finds a true mean difference
    ``mean`` with seed-to-seed sd ``sd``: the noncentral t distribution's tail beyond the critical t."""
    if n < 2:
        return 0.0
    t_crit, shift = t_star(n, level), math.sqrt(n) * abs(mean) / sd
    return float(1.0 - nctdtr(n - 1, shift, t_crit) + nctdtr(n - 1, shift, -t_crit))


def seeds_needed(mean: float, sd: float, level: float = LEVEL, target_power: float = POWER) -> float:
    """The fewest seeds at which the paired t-test at ``level`` has ``target_power`` (80%) to tell
    a true difference of ``mean`` from zero, taking the observed mean and sd as true.

    (Seeds for the interval merely to exclude zero at the observed mean, n ~ (t * sd / |mean|)^2,
    is the 50% answer: half the reruns at that n would still cross zero.) inf when the mean
    difference is zero but seeds disagree; NaN when every seed gives exactly the same difference of
    zero (nothing to separate).
    """
    if mean == 0 or not np.isfinite(mean):
        return math.nan if sd == 0 else math.inf
    if sd == 0:
        return 2.0
    def enough(n: int) -> bool:
        return power(n, mean, sd, level) >= target_power

    z = ndtri(0.5 + level / 2) + ndtri(target_power)
    lo = max(2, math.ceil((z * sd / abs(mean)) ** 2))  # the normal approximation: t needs at least this
    if enough(lo):
        return float(lo)
    hi = 2 * lo
    while not enough(hi):  # half-width shrinks as n grows: double, then bisect
        lo, hi = hi, 2 * hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if enough(mid) else (mid, hi)
    return float(hi)


def paired_stats(diffs: np.ndarray, better: int, level: float = LEVEL) -> dict[str, float]:
    """Mean paired difference over seeds, its t-interval, share of seeds better/worse, seeds needed."""
    d = np.asarray(diffs, dtype=float)
    d = d[np.isfinite(d)]
    n = len(d)
    mean = float(d.mean()) if n else math.nan
    sd = float(d.std(ddof=1)) if n >= 2 else math.nan
    half = t_star(n, level) * sd / math.sqrt(n) if n >= 2 else math.nan
    lo, hi = mean - half, mean + half
    if better:
        share_better = float(np.mean(better * d > 0)) if n else math.nan
        share_worse = float(np.mean(better * d < 0)) if n else math.nan
    else:
        share_better = share_worse = math.nan
    return {"n_seeds": n, "mean_diff": mean, "sd_diff": sd, "ci_low": lo, "ci_high": hi,
            "share_better": share_better, "share_worse": share_worse,
            "crosses_zero": bool(n >= 2 and lo <= 0 <= hi and not (sd == 0 and mean == 0)),
            "n_seeds_needed": seeds_needed(mean, sd, level) if n >= 2 else math.nan}


class Running:
    """Mean and variance of equal-length series, updated one run at a time (Welford)."""

    def __init__(self) -> None:
        self.n: dict[str, int] = {}
        self.mean: dict[str, np.ndarray] = {}
        self.m2: dict[str, np.ndarray] = {}

    def add(self, series: dict[str, np.ndarray]) -> None:
        for k, x in series.items():
            if k not in self.n:
                self.n[k], self.mean[k], self.m2[k] = 0, np.zeros_like(x, dtype=float), np.zeros_like(x, dtype=float)
            self.n[k] += 1
            delta = x - self.mean[k]
            self.mean[k] = self.mean[k] + delta / self.n[k]
            self.m2[k] = self.m2[k] + delta * (x - self.mean[k])

    def _t_sd(self, k: str, level: float) -> np.ndarray:
        """t quantile x the seeds' sd of series ``k`` (NaN under two seeds)."""
        n = self.n[k]
        if n < 2:
            return np.full_like(self.mean[k], np.nan)
        return t_star(n, level) * np.sqrt(np.maximum(self.m2[k], 0) / (n - 1))

    def interval(self, k: str, level: float = LEVEL) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        n, mean = self.n[k], self.mean[k]
        half = self._t_sd(k, level) / math.sqrt(n)
        return n, mean, mean - half, mean + half

    def spread(self, k: str, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
        """Where one more seed's series would fall (the 95% prediction interval over seeds,
        mean +/- t * sd * sqrt(1 + 1/n)): the seed-to-seed spread, not the uncertainty of the mean."""
        n, mean = self.n[k], self.mean[k]
        half = self._t_sd(k, level) * math.sqrt(1.0 + 1.0 / n)
        return mean - half, mean + half


# possible values of each trajectory: bands are clipped to them (a churn band below 0% is not a band)
TRAJECTORY_RANGE: dict[str, tuple[float, float]] = {
    "customers": (0.0, math.inf), "nps": (-100.0, 100.0), "sat_mean": (0.0, 10.0), "churn_pct_year": (0.0, math.inf),
    "calls_offered": (0.0, math.inf), "asa_s": (0.0, math.inf), "cost_to_serve": (0.0, math.inf),
}


def trajectory_range(kpi: str) -> tuple[float, float]:
    if kpi.startswith("adopt_"):
        return 0.0, 100.0
    return TRAJECTORY_RANGE.get(kpi, (-math.inf, math.inf))


# ---------------------------------------------------------------------------------------------
# finding runs on disk


def discover_cells(root: Path) -> dict[tuple[str, str], Path]:
    """Every (point, scenario) folder under a results root that holds seed=<N> run folders."""
    cells: dict[tuple[str, str], Path] = {}
    if not root.is_dir():
        return cells
    for scen in sorted(p for p in root.iterdir() if p.is_dir()):
        if scen.name.startswith(".") or scen.name in NOT_RUN_FOLDERS:
            continue
        for point in sorted(p for p in scen.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if any(c.name.startswith("seed=") for c in point.iterdir()):
                cells[(point.name, scen.name)] = point
    return cells


@dataclass
class CellRuns:
    seeds: dict[int, Path] = field(default_factory=dict)
    months: dict[int, int] = field(default_factory=dict)  # what each seed's manifest says it simulated
    skipped: list[str] = field(default_factory=list)  # "path: reason"
    config_hash: str | None = None
    years: int | None = None
    manifest: dict[str, Any] | None = None  # one manifest, for labels and scope


def cell_runs(cell_dir: Path) -> CellRuns:
    """The intact runs of one (point, scenario) folder, by seed; the rest listed with the reason.

    If the seeds disagree on the config hash (the folder was reused with a different config),
    the hash most seeds share wins (ties: the smallest hash) and the others are skipped.
    """
    out = CellRuns()
    recover_all(cell_dir)
    found: dict[int, tuple[Path, dict[str, Any]]] = {}
    for d in sorted(cell_dir.glob("seed=*")):
        if not d.is_dir():
            continue
        problem, m = sealed_run(d)
        if problem:
            out.skipped.append(f"{d}: {problem}")
            continue
        found[int(m["seed"])] = (d, m)
    if not found:
        return out
    counts = Counter(m["config_hash"] for _, m in found.values())
    top = max(sorted(counts), key=lambda h: counts[h])
    for seed, (d, m) in sorted(found.items()):
        if m["config_hash"] != top:
            out.skipped.append(f"{d}: config hash {m['config_hash']} differs from the other seeds' {top}")
            continue
        out.seeds[seed] = d
        out.months[seed] = m.get("months")
        if out.manifest is None:
            out.manifest = m
    out.config_hash = top
    out.years = out.manifest["config"].get("years") if out.manifest else None
    return out


_SAFE = re.compile(r"[^A-Za-z0-9._=,+@-]")


def default_name(scenarios: Iterable[str], points: Iterable[str], baseline: str = "baseline") -> str:
    """A deterministic folder name from what is compared: '<scenarios>_vs_<baseline>[@<point>]'."""
    others = sorted(set(scenarios) - {baseline})
    pts = sorted(set(points))
    name = "+".join(others) + f"_vs_{baseline}" if others else baseline
    if pts and pts != ["default"]:
        name += "@" + (pts[0] if len(pts) == 1 else f"{len(pts)}_points")
    full = name + "|" + "|".join(pts)
    name = _SAFE.sub("_", name)
    if len(name) > 160 or len(pts) > 1:  # several points, or too long: keep it unique with a hash
        name = name[:140] + "-" + hashlib.sha256(full.encode()).hexdigest()[:8]
    return name


# ---------------------------------------------------------------------------------------------
# building the comparison


def _fmt_money(x: float, signed: bool = True) -> str:
    """USD for people: -$1.25M, +$845.3k, $120."""
    if x is None or not np.isfinite(x):
        return "n/a"
    sign = "-" if x < 0 else ("+" if signed and x > 0 else "")
    a = abs(x)
    if a >= 1e6:
        return f"{sign}${a / 1e6:,.2f}M"
    if a >= 1e3:
        return f"{sign}${a / 1e3:,.1f}k"
    return f"{sign}${a:,.0f}"


def _fmt_value(x: float, unit: str) -> str:
    from sim.report import fmt

    return fmt(x, unit, signed=True)


def _needed_text(n: float) -> str:
    if math.isinf(n):
        return "no finite number of seeds would (mean difference is 0)"
    if math.isnan(n):
        return "n/a"
    return f"about {int(n):,} seeds (at {POWER:.0%} power) would"


def build_comparison(root: str | Path, cells: Iterable[tuple[str, str]] | None = None,
                     baseline: str = "baseline", name: str | None = None,
                     out_dir: str | Path | None = None, figures: bool = True,
                     log: Callable[[str], None] | None = print) -> Path:
    """Compare the scenarios of ``cells`` ((point, scenario) pairs; None: every run under ``root``)
    with ``baseline`` seed by seed; write the tables, comparison.json and the report.

    Returns the comparison folder, ``<root>/comparisons/<name>`` unless ``out_dir`` is given.
    """
    root = Path(root)
    on_disk = discover_cells(root)
    wanted = sorted(on_disk) if cells is None else sorted(set(cells))
    say = log or (lambda _msg: None)
    warnings: list[str] = []
    missing = [c for c in wanted if c not in on_disk]
    for point, scen in missing:
        warnings.append(f"no runs on disk for scenario '{scen}' at point '{point}' under {root}")
    wanted = [c for c in wanted if c in on_disk]
    points = sorted({p for p, _ in wanted})
    scenarios_all = sorted({s for _, s in wanted})
    name = name or default_name(scenarios_all or [baseline], points, baseline)
    if _SAFE.search(name) or name.startswith("."):
        raise OutputError(f"name={name!r} is not allowed: a comparison name of letters, digits and . _ = , + @ - "
                          "(it names a folder under <root>/comparisons/)")
    out_dir = Path(out_dir) if out_dir else root / "comparisons" / name
    check_target(out_dir, "comparison folder")  # before reading a single run
    _check_same_scope(out_dir, wanted, baseline)

    seed_rows: dict[str, list] = defaultdict(list)
    summary_rows: list[dict[str, Any]] = []
    traj_rows: list[pd.DataFrame] = []
    scope: dict[str, Any] = {"points": {}}
    ranking: dict[str, list[dict[str, Any]]] = {}
    n_read = n_skipped = 0
    labels: dict[str, Any] = {}
    programmes: dict[str, list[dict[str, Any]]] = {}  # scenario -> its programmes as run

    def read_checked(cr: CellRuns, seed: int) -> tuple[dict[str, Any], MonthlyColumns] | None:
        """The run of ``seed``, or None (dropped from the cell, with a warning) if its checksums
        match but its tables do not read as a run."""
        nonlocal n_skipped
        try:
            return reads.take((id(cr), seed))
        except RunUnreadable as err:
            n_skipped += 1
            warnings.append(f"not read (incomplete or damaged; a sweep that includes it redoes it): "
                            f"{cr.seeds.pop(seed)}: {err}")
            return None

    for point in points:
        runs = {s: cell_runs(on_disk[(p, s)]) for p, s in wanted if p == point}
        # the baseline is needed for pairing even if the sweep did not name it: use it if on disk
        if baseline not in runs and (point, baseline) in on_disk:
            runs[baseline] = cell_runs(on_disk[(point, baseline)])
        for s, cr in sorted(runs.items()):
            n_skipped += len(cr.skipped)
            for item in cr.skipped:
                warnings.append(f"not read (incomplete or damaged; a sweep that includes it redoes it): {item}")
            if cr.manifest and not labels:
                labels = _labels(cr.manifest)
            if cr.manifest and s not in programmes:
                programmes[s] = _programmes(cr.manifest)
        base = runs.get(baseline)
        if base is None or not base.seeds:
            warnings.append(f"point '{point}': no complete '{baseline}' runs to pair with; "
                            f"run the baseline at the same seeds (scenario={baseline}) for paired figures")
            base = CellRuns()
        scenarios = [baseline] + sorted(s for s in runs if s != baseline) if base.seeds else sorted(runs)
        years = {s: runs[s].years for s in scenarios if runs.get(s) and runs[s].seeds}
        if len(set(years.values())) > 1:
            warnings.append(f"point '{point}': scenarios differ in length {years}; only equal lengths are paired")
        traj = {s: Running() for s in scenarios}
        diff = {s: Running() for s in scenarios if s != baseline}
        all_seeds = sorted(set().union(*(runs[s].seeds for s in scenarios if s in runs)))
        # the runs in the order the loop below takes them: each seed's baseline, then its scenarios
        order = [(cr, seed) for seed in all_seeds
                 for cr in [base] + [runs[s] for s in scenarios if s != baseline and s in runs]
                 if seed in cr.seeds]
        reads = ReadAhead([((id(cr), seed), partial(read_run, cr.seeds[seed], cr.months.get(seed)))
                           for cr, seed in order])
        try:
            for seed in all_seeds:
                b = read_checked(base, seed) if seed in base.seeds else None
                b_traj = trajectories(b[1]) if b else None
                b_vals = seed_values(*b) if b else None
                for s in scenarios:
                    cr = runs.get(s)
                    if cr is None or seed not in cr.seeds:
                        continue
                    own = s == baseline and b is not None  # the baseline's run, read and reduced above
                    run_read = b if own else read_checked(cr, seed)
                    if run_read is None:
                        continue
                    summary, monthly = run_read
                    n_read += 1
                    s_traj = b_traj if own else trajectories(monthly)
                    traj[s].add(s_traj)
                    vals = b_vals if own else seed_values(summary, monthly)
                    paired = b is not None and len(monthly) == len(b[1])
                    if paired and s != baseline:
                        diff[s].add({k: s_traj[k] - b_traj[k] for k in s_traj if k in b_traj})
                    for k, v in vals.items():
                        bv = b_vals.get(k, math.nan) if paired else math.nan
                        _seed_row(seed_rows, point, s, seed, k, v, bv, v - bv)
                    if paired:
                        for k, v in money_values(monthly, b[1]).items():
                            _seed_row(seed_rows, point, s, seed, k, v, math.nan, v)
        finally:
            reads.close()
        scope["points"][point] = {s: sorted(runs[s].seeds) for s in scenarios if s in runs}
        say_seeds = ", ".join(f"{s} {len(runs[s].seeds)}" for s in scenarios if s in runs)
        say(f"cxsim-compare: point '{point}': seeds per scenario: {say_seeds}")
        traj_rows.append(_trajectory_frame(point, scenarios, traj, diff))

    seeds_df = pd.DataFrame(seed_rows, columns=["point", "scenario", "seed", "kpi", "value",
                                                "baseline_value", "diff"])
    for (point, scen, kpi), g in seeds_df.groupby(["point", "scenario", "kpi"], sort=True):
        if scen == baseline:
            continue
        info = kpi_info(kpi)
        row = {"point": point, "scenario": scen, "baseline": baseline, "kpi": kpi, "label": info.label,
               "unit": info.unit, "better": {1: "higher", -1: "lower", 0: "neither"}[info.better],
               "group": _group(kpi),
               "mean_scenario": float(g["value"].mean()) if kpi not in MONEY_KPIS else math.nan,
               "mean_baseline": float(g["baseline_value"].mean()) if kpi not in MONEY_KPIS else math.nan}
        row.update(paired_stats(g["diff"].to_numpy(), info.better))
        summary_rows.append(row)
    comp = pd.DataFrame(summary_rows)
    if comp.empty:
        comp = pd.DataFrame(columns=["point", "scenario", "baseline", "kpi", "label", "unit", "better", "group",
                                     "mean_scenario", "mean_baseline", "n_seeds", "mean_diff", "sd_diff",
                                     "ci_low", "ci_high", "share_better", "share_worse", "crosses_zero",
                                     "n_seeds_needed"])
    for point in points:
        ranking[point] = _ranking(comp[comp["point"] == point], seeds_df[seeds_df["point"] == point], warnings)
        for _, r in comp[(comp["point"] == point) & comp["kpi"].isin(HEADLINE)].iterrows():
            if r["crosses_zero"]:
                warnings.append(
                    f"point '{point}', {r['scenario']} vs {baseline}: {r['label']} difference "
                    f"{_fmt_value(r['mean_diff'], r['unit'])} has a 95% interval "
                    f"[{_fmt_value(r['ci_low'], r['unit'])}, {_fmt_value(r['ci_high'], r['unit'])}] that crosses "
                    f"zero with {r['n_seeds']} seeds; {_needed_text(r['n_seeds_needed'])} separate it")
            elif r["n_seeds"] < 2 and r["kpi"] == "incremental_npv":
                warnings.append(f"point '{point}', {r['scenario']}: one paired seed only, no intervals; run more seeds")
    trajectories_df = pd.concat(traj_rows, ignore_index=True) if traj_rows else pd.DataFrame()

    meta = {
        "name": name, "baseline": baseline, "level": LEVEL,
        "root": os.path.relpath(root.resolve(), out_dir.resolve()),  # relative: the folder can move with its runs
        "cells": [list(c) for c in wanted], "scope": scope,
        "runs_read": n_read, "runs_skipped": n_skipped, "ranking": ranking, "warnings": warnings,
        "labels": labels, "programmes": programmes,
        "scenario_labels": {s: scenario_label(s, p) for s, p in programmes.items()},
    }
    _write_atomic(out_dir, comp, seeds_df, trajectories_df, meta, figures)
    say(f"cxsim-compare: {n_read} runs read, {n_skipped} not complete and skipped -> {out_dir}"
        + (f" ({len(warnings)} warnings in the report)" if warnings else ""))
    return out_dir


def _seed_row(rows: dict[str, list], point: str, scen: str, seed: int, kpi: str, v: float, bv: float, d: float) -> None:
    for k, x in (("point", point), ("scenario", scen), ("seed", seed), ("kpi", kpi), ("value", v),
                 ("baseline_value", bv), ("diff", d)):
        rows[k].append(x)


def _group(kpi: str) -> str:
    if kpi in MONEY_KPIS:
        return "money"
    if kpi.startswith("final_year."):
        return "final_year"
    return "summary"


def _labels(manifest: dict[str, Any]) -> dict[str, Any]:
    cfg = manifest.get("config", {})
    pop = cfg.get("population", {})
    n_customers, n_agents = pop.get("n_customers"), pop.get("n_agents")
    if n_agents is None and isinstance(n_customers, int):  # the default rule, as the run applied it
        n_agents = PopulationConfig(n_customers=n_customers).agents
    return {
        "preset": pop.get("name"),
        "n_customers": n_customers,
        "n_agents": n_agents,
        "years": cfg.get("years"),
        "rate_discount_year": cfg.get("economics", {}).get("rate_discount_year"),
        "behaviours": {k: (v or {}).get("label") or k for k, v in cfg.get("adoption", {}).get("behaviours", {}).items()},
        "channels": {k: (v or {}).get("label") or k for k, v in cfg.get("channels", {}).get("channels", {}).items()},
    }


def _programmes(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """A scenario's programmes as its run had them: timing, costs and effects (for the report)."""
    keys = ("label", "start_month", "dur_ramp_months", "end_month", "cost_one_off", "cost_per_month",
            "cost_per_customer_month", "cost_per_new_adopter", "target_segments", "effects")
    out = []
    for name, p in (manifest.get("config", {}).get("interventions") or {}).items():
        out.append({"name": name, **{k: p.get(k) for k in keys}})
    return out


def scenario_label(scenario: str, programmes: list[dict[str, Any]]) -> str:
    """What a scenario is in words: its programmes' labels, or 'No programme' for a baseline."""
    if not programmes:
        return "No programme (baseline)" if scenario == "baseline" else f"{scenario} (no programme)"
    return " + ".join(p.get("label") or p["name"] for p in programmes)


def _trajectory_frame(point: str, scenarios: list[str], traj: dict[str, Running],
                      diff: dict[str, Running]) -> pd.DataFrame:
    parts = []
    for s in scenarios:
        for k in traj[s].n:
            n, mean, lo, hi = traj[s].interval(k)
            s_lo, s_hi = traj[s].spread(k)
            low, high = trajectory_range(k)
            part = {"point": point, "scenario": s, "kpi": k, "month": np.arange(len(mean)), "n": n,
                    "mean": mean, "ci_low": np.clip(lo, low, high), "ci_high": np.clip(hi, low, high),
                    "spread_low": np.clip(s_lo, low, high), "spread_high": np.clip(s_hi, low, high)}
            if s in diff and k in diff[s].n:
                dn, dm, dlo, dhi = diff[s].interval(k)
                ds_lo, ds_hi = diff[s].spread(k)
                part.update(diff_n=dn, diff_mean=dm, diff_ci_low=dlo, diff_ci_high=dhi,
                            diff_spread_low=ds_lo, diff_spread_high=ds_hi)
            else:
                part.update(diff_n=0, diff_mean=np.nan, diff_ci_low=np.nan, diff_ci_high=np.nan,
                            diff_spread_low=np.nan, diff_spread_high=np.nan)
            parts.append(pd.DataFrame(part))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _ranking(comp: pd.DataFrame, seeds: pd.DataFrame, warnings: list[str]) -> list[dict[str, Any]]:
    """Scenarios by mean incremental NPV, with whether each is separated from the next one down."""
    npv = comp[comp["kpi"] == "incremental_npv"].sort_values("mean_diff", ascending=False)
    rows = []
    get = lambda scen, kpi, col: (comp[(comp["scenario"] == scen) & (comp["kpi"] == kpi)][col].tolist() or [math.nan])[0]  # noqa: E731
    for rank, (_, r) in enumerate(npv.iterrows(), start=1):
        rows.append({
            "rank": rank, "scenario": r["scenario"], "n_seeds": int(r["n_seeds"]),
            "incremental_npv": r["mean_diff"], "incremental_npv_ci": [r["ci_low"], r["ci_high"]],
            "share_seeds_positive": r["share_better"],
            "roce": get(r["scenario"], "roce", "mean_diff"),
            "roce_ci": [get(r["scenario"], "roce", "ci_low"), get(r["scenario"], "roce", "ci_high")],
            "payback_month": get(r["scenario"], "payback_month", "mean_diff"),
            "payback_ci": [get(r["scenario"], "payback_month", "ci_low"), get(r["scenario"], "payback_month", "ci_high")],
            "payback_seeds": get(r["scenario"], "payback_month", "n_seeds"),
            "nps_end_diff": get(r["scenario"], "nps_end", "mean_diff"),
            "customers_end_diff": get(r["scenario"], "customers_end", "mean_diff"),
            "cx_spend_pv": get(r["scenario"], "cx_spend_pv", "mean_diff"),
        })
    npv_seeds = seeds[seeds["kpi"] == "incremental_npv"].pivot_table(index="seed", columns="scenario", values="diff")
    for upper, lower in zip(rows, rows[1:]):
        a, b = upper["scenario"], lower["scenario"]
        both = npv_seeds[[a, b]].dropna()
        st = paired_stats((both[a] - both[b]).to_numpy(), +1)
        upper["vs_next"] = {"scenario": b, "diff": st["mean_diff"], "ci": [st["ci_low"], st["ci_high"]],
                            "separated": not st["crosses_zero"] and st["n_seeds"] >= 2,
                            "n_seeds": st["n_seeds"], "n_seeds_needed": st["n_seeds_needed"]}
        if st["crosses_zero"]:
            point = comp["point"].iloc[0]
            warnings.append(
                f"point '{point}': {a} and {b} are not separated on incremental NPV with {st['n_seeds']} seeds "
                f"(difference {_fmt_money(st['mean_diff'])}, 95% interval [{_fmt_money(st['ci_low'])}, "
                f"{_fmt_money(st['ci_high'])}]); {_needed_text(st['n_seeds_needed'])} separate them")
    return rows


def _json_ready(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_ready(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def _check_same_scope(out_dir: Path, cells: list[tuple[str, str]], baseline: str) -> None:
    """Refuse to replace a comparison of a different study (other cells or baseline)."""
    try:
        old = json.loads((out_dir / "comparison.json").read_text())
    except (OSError, ValueError):
        return  # nothing there, or not a comparison: atomic_dir decides whether it may go
    if sorted(tuple(c) for c in old.get("cells", [])) != sorted(cells) or old.get("baseline") != baseline:
        raise OutputError(
            f"{out_dir} holds the comparison of another study ({len(old.get('cells', []))} cells, baseline "
            f"{old.get('baseline')!r}); cxsim will not replace it with this one ({len(cells)} cells, baseline "
            f"{baseline!r}). Give this one its own name (cxsim-compare --name, or "
            f"hydra.callbacks.compare.name=...) or move the old one away.")


def _write_atomic(out_dir: Path, comp: pd.DataFrame, seeds: pd.DataFrame, traj: pd.DataFrame,
                  meta: dict[str, Any], figures: bool) -> None:
    from sim import __version__
    from sim.report import write_report
    from sim.tables import write_tables

    with atomic_dir(out_dir, "comparison folder") as tmp:
        comp.to_parquet(tmp / "comparison.parquet", index=False)
        seeds.to_parquet(tmp / "seeds.parquet", index=False)
        traj.to_parquet(tmp / "trajectories.parquet", index=False)
        write_tables(tmp, comp, seeds)
        (tmp / "comparison.json").write_text(json.dumps(_json_ready(meta), indent=2) + "\n")
        write_report(tmp, comp, traj, meta, figures=figures)
        files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
        content = {"complete": True, "package": "cxsim", "version": __version__, "kind": "comparison",
                   "name": meta["name"]}
        (tmp / "manifest.json").write_text(sealed_manifest(content, tmp, files))


# ---------------------------------------------------------------------------------------------
# cxsim-compare


def _scope_of(path: Path) -> tuple[Path, list[tuple[str, str]] | None, dict[str, Any]]:
    """(results root, cells or None for all, remembered options) for a path given on the command line."""
    if (path / "comparison.json").is_file():  # an earlier comparison: rebuild the same scope
        meta = json.loads((path / "comparison.json").read_text())
        root = (path / meta["root"]).resolve()
        return root, [tuple(c) for c in meta["cells"]], {"baseline": meta["baseline"], "name": meta["name"],
                                                          "out_dir": path}
    if (path / "multirun.yaml").is_file():  # a Hydra sweep folder: the sweep's scenarios and points
        from sim.sweep_callback import sweep_scope

        sc = sweep_scope(path / "multirun.yaml")
        return sc["root"], sc["cells"], {"baseline": sc["baseline"], "name": sc["name"]}
    return path, None, {}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="cxsim-compare",
        description="Rebuild the paired comparison of scenarios from run folders on disk. PATH is a "
                    "results root (every run under it), a sweep folder holding multirun.yaml (that "
                    "sweep's scenarios and points) or an earlier comparison folder (the same scope again).")
    p.add_argument("path", nargs="?", default="results",
                   help="results root, sweep folder (or the multirun folder holding several), or comparison folder")
    p.add_argument("--baseline", help="scenario every other is compared with (default: baseline)")
    p.add_argument("--scenarios", help="comma-separated scenarios to keep (default: all in scope)")
    p.add_argument("--point", action="append", help="parameter point (folder under the scenario) to keep; repeatable")
    p.add_argument("--name", help="folder name under <root>/comparisons/ (default: derived from the scenarios)")
    p.add_argument("--out", help="write the comparison here instead")
    p.add_argument("--no-figures", action="store_true", help="tables and JSON only, no figures in the report")
    a = p.parse_args(argv)
    path = Path(a.path)
    if not path.is_dir():
        print(f"cxsim-compare: {path} is not a folder", file=sys.stderr)
        return 2
    sweeps = sorted(d for d in path.iterdir() if (d / "multirun.yaml").is_file()) \
        if not (path / "multirun.yaml").is_file() and not (path / "comparison.json").is_file() else []
    if sweeps:  # the multirun folder: one record per sweep, each rebuilt with its own scope
        rcs = [_compare_scope(s, a) for s in sweeps]
        return max(rcs)
    return _compare_scope(path, a)


def _compare_scope(path: Path, a: argparse.Namespace) -> int:
    root, cells, remembered = _scope_of(path)
    if cells is None:
        cells = sorted(discover_cells(root))
    if a.scenarios:
        keep = {s.strip() for s in a.scenarios.split(",") if s.strip()}
        cells = [c for c in cells if c[1] in keep]
    if a.point:
        cells = [c for c in cells if c[0] in set(a.point)]
    if not cells:
        print(f"cxsim-compare: no run folders (<scenario>/<point>/seed=<N>/) under {root}", file=sys.stderr)
        return 1
    baseline = a.baseline or remembered.get("baseline", "baseline")
    if a.scenarios or a.point or a.baseline:  # a different scope: a different (derived) name
        remembered.pop("name", None)
        remembered.pop("out_dir", None)
    try:
        build_comparison(root, cells, baseline=baseline, name=a.name or remembered.get("name"),
                         out_dir=a.out or remembered.get("out_dir"), figures=not a.no_figures)
    except OutputError as err:
        print(f"cxsim-compare: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
