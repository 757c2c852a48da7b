"""A comparison as tables people open in a spreadsheet: CSV always, XLSX when openpyxl is installed.

A sweep's parameter point is one folder name (``churn.rel_competitor_pressure=1.5,years=10``);
here it becomes one column per swept key, typed (numbers stay numbers), in the layout BehaviorSpace
and EMA Workbench users know:

  runs.csv         one row per point, scenario and seed: the swept keys, then every KPI's value
                   and its paired difference from the baseline at the same seed (<kpi>_vs_baseline)
  comparison.csv   one row per point, scenario and KPI: comparison.parquet with the swept keys
  comparison.xlsx  both, as the sheets "runs" and "comparison" (pip install -e ".[xlsx]")
"""

from __future__ import annotations

import datetime
import io
import math
import zipfile
from pathlib import Path

import pandas as pd

# KPIs paired by construction (their value is the difference already) get no _vs_baseline column
from sim.compare import MONEY_KPIS

# what comparison.xlsx says it was created and modified at (and its zip members' times): a
# spreadsheet's bytes then depend on its tables only
_FIXED_MOMENT = datetime.datetime(2000, 1, 1)


def split_point(point: str) -> dict[str, object]:
    """``a=1,b=[x,y],+experiment=s`` -> {"a": 1, "b": "[x,y]", "experiment": "s"}; "default" -> {}.

    Commas inside brackets or quotes belong to a value (Hydra's override_dirname joins items
    with ',' and does not escape them)."""
    if point == "default":
        return {}
    items, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(point):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(point[start:i])
            start = i + 1
    items.append(point[start:])
    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            continue
        out[key.lstrip("+~")] = _typed(value)
    return out


def _typed(text: str) -> object:
    try:
        number = float(text)
    except ValueError:
        return text
    if math.isfinite(number) and number == int(number) and text.lstrip("+-").isdigit():
        return int(number)
    return number


def parameter_frame(points: list[str]) -> pd.DataFrame:
    """One row per point, one column per key swept anywhere in ``points`` (missing: empty)."""
    rows = [{"point": p, **split_point(p)} for p in points]
    return pd.DataFrame(rows, columns=["point", *sorted({k for r in rows for k in r if k != "point"})])


def runs_table(seeds: pd.DataFrame, params: pd.DataFrame) -> pd.DataFrame:
    """seeds.parquet (long: one row per KPI) as one row per point, scenario and seed."""
    if seeds.empty:
        return params.iloc[0:0]
    value = seeds.pivot_table(index=["point", "scenario", "seed"], columns="kpi", values="value", aggfunc="first")
    diff = seeds.pivot_table(index=["point", "scenario", "seed"], columns="kpi", values="diff", aggfunc="first",
                             dropna=False)
    diff = diff[[k for k in diff.columns if k not in MONEY_KPIS]].add_suffix("_vs_baseline")
    wide = value.join(diff).reset_index()
    kpis = sorted(value.columns)
    ordered = ["point", "scenario", "seed"] + [c for k in kpis for c in (k, f"{k}_vs_baseline") if c in wide]
    wide = wide[ordered]
    return params.merge(wide, on="point", how="right")[[*params.columns, *ordered[1:]]]


def summary_table(comp: pd.DataFrame, params: pd.DataFrame) -> pd.DataFrame:
    if comp.empty:
        return comp
    return params.merge(comp, on="point", how="right")[[*params.columns, *[c for c in comp.columns if c != "point"]]]


def xlsx_available() -> bool:
    try:
        import openpyxl  # noqa: F401
    except ImportError:
        return False
    return True


def write_tables(folder: Path, comp: pd.DataFrame, seeds: pd.DataFrame) -> list[str]:
    """Write runs.csv, comparison.csv (and comparison.xlsx) into ``folder``; returns their names."""
    points = sorted(set(comp["point"]) | set(seeds["point"])) if not (comp.empty and seeds.empty) else []
    params = parameter_frame(points)
    runs, summary = runs_table(seeds, params), summary_table(comp, params)
    runs.to_csv(folder / "runs.csv", index=False)
    summary.to_csv(folder / "comparison.csv", index=False)
    written = ["runs.csv", "comparison.csv"]
    if xlsx_available():
        _write_xlsx(folder / "comparison.xlsx", {"runs": runs, "comparison": summary})
        written.append("comparison.xlsx")
    return written


def _write_xlsx(path: Path, sheets: dict[str, pd.DataFrame]) -> None:
    """One sheet per frame, header row first, a missing number as an empty cell (what pandas'
    to_excel writes), streamed by openpyxl's write-only workbook: half the time of to_excel.

    The same tables give the same bytes: openpyxl stamps the workbook's properties and every
    member of its zip with the wall clock, so both are set to one fixed moment here."""
    from openpyxl import Workbook
    from openpyxl.xml.functions import tostring

    book = Workbook(write_only=True)
    book.properties.created = _FIXED_MOMENT
    for name, frame in sheets.items():
        sheet = book.create_sheet(name)
        sheet.append([str(c) for c in frame.columns])
        for row in frame.itertuples(index=False, name=None):
            sheet.append([None if isinstance(v, float) and v != v else v for v in row])
    made = io.BytesIO()
    book.save(made)
    book.properties.modified = _FIXED_MOMENT  # save() stamps it with the clock: rewritten below
    with zipfile.ZipFile(made) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for member in src.infolist():
            data = src.read(member)
            if member.filename == "docProps/core.xml":
                data = tostring(book.properties.to_tree())
            stamped = zipfile.ZipInfo(member.filename, date_time=_FIXED_MOMENT.timetuple()[:6])
            stamped.compress_type = zipfile.ZIP_DEFLATED
            stamped.create_system = 3  # as on Unix wherever it is written (ZipInfo's default follows the OS)
            stamped.external_attr = 0o644 << 16
            out.writestr(stamped, data)
