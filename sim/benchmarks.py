"""A preset's baseline against published figures: the KPIs its benchmark table names, computed
from runs, and the table as Markdown.

    python -m sim.benchmarks utility --seeds 3      # the README's table for a preset

Each preset YAML carries ``benchmarks``: KPI -> (low, high, unit, source). The KPIs are computed
here from a run's monthly table over the reported years; ``tests/validation/test_baselines.py``
checks every one against its range.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from sim.config import CHANNELS


def _share(num: float, den: float) -> float:
    return float(num / den) if den else 0.0


def benchmark_values(monthly: pd.DataFrame) -> dict[str, float]:
    """Every KPI a benchmark table may name, from one run's monthly table."""
    m = monthly
    customer_months = float(m["customers_start"].sum())
    churned = float(m["new_churn"].sum())
    out: dict[str, float] = {
        "churn_annual": 1.0 - (1.0 - churned / customer_months) ** 12 if customer_months else 0.0,
        "churn_share_service": _share(m["new_churn_service"].sum(), churned),
        "churn_share_price": _share(m["new_churn_price"].sum(), churned),
        "nps": float(m["nps"].mean()),
        "contacts_per_customer_year": 12 * _share(sum(m[f"contacts_{c}"].sum() for c in CHANNELS), customer_months),
        "calls_per_customer_year": 12 * _share(m["calls_offered"].sum(), customer_months),
        "fcr": float(np.average(m["fcr"], weights=np.maximum(m["calls_offered"], 1))),
        "service_level": float(np.average(m["service_level"], weights=np.maximum(m["calls_offered"], 1))),
        "abandon_rate": float(np.average(m["abandon_rate"], weights=np.maximum(m["calls_offered"], 1))),
        "cost_per_call": _share(m["cost_contacts_phone"].sum(), m["calls_offered"].sum()),
        "complaints_per_unhappy_customer": _share(m["complaints"].sum(), m["customers_bad_experience"].sum()),
        "referral_share_of_acquisition": _share(m["new_acquired_referred"].sum(),
                                                m["new_acquired_referred"].sum() + m["new_acquired_paid"].sum()),
    }
    years = len(m) / 12.0
    for col in [c for c in m.columns if c.startswith("adopt_")]:
        name = col[len("adopt_"):]
        out[f"share_{name}"] = float(m[col].iloc[0])
        out[f"drift_{name}"] = 100.0 * float(m[col].iloc[-1] - m[col].iloc[0]) / years  # points a year
    return out


EVENT_MODE_KPIS = ("abandon_rate",)  # measured in the event-mode centre (the fast mode has no abandonment)


def preset_values(preset: str, seeds: list[int], overrides: list[str] | None = None) -> dict[str, list[float]]:
    """Benchmark KPIs of a preset's baseline at each seed (event-mode KPIs from 2-year event-mode runs)."""
    from sim import load_config, run

    common = [f"population={preset}", "progress=false", *(overrides or [])]
    cfg = load_config(common)
    des = load_config([*common, "years=2", "contact_centre.mode=des"])
    values: dict[str, list[float]] = {}
    for seed in seeds:
        for k, v in benchmark_values(run(cfg, seed=seed, progress=False).monthly).items():
            if k not in EVENT_MODE_KPIS:
                values.setdefault(k, []).append(v)
        for k, v in benchmark_values(run(des, seed=seed, progress=False).monthly).items():
            if k in EVENT_MODE_KPIS:
                values.setdefault(k, []).append(v)
    return values


def markdown(preset: str, seeds: list[int], overrides: list[str] | None = None) -> str:
    from sim import load_config

    cfg = load_config([f"population={preset}", *(overrides or [])])
    values = preset_values(preset, seeds, overrides)
    rows = [f"| KPI | {preset} baseline (mean of {len(seeds)} seeds) | published range | source |",
            "|---|---|---|---|"]
    for kpi, b in cfg.benchmarks.items():
        v = values.get(kpi)
        shown = _fmt(np.mean(v), b.unit) if v else "n/a"
        rows.append(f"| {kpi} | {shown} | {_fmt(b.low, b.unit, bare=True)} to {_fmt(b.high, b.unit)} | {b.source} |")
    return "\n".join(rows)


def _fmt(x: float, unit: str, bare: bool = False) -> str:
    """A value in its unit; ``bare`` leaves the unit off (the first end of a range)."""
    if unit == "share":
        return f"{100 * x:.1f}" if bare else f"{100 * x:.1f}%"
    if unit == "USD":
        return f"${x:,.2f}"
    return f"{x:,.2f}" if bare or not unit else f"{x:,.2f} {unit}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim.benchmarks", description=__doc__.split("\n\n")[0])
    ap.add_argument("preset")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("overrides", nargs="*")
    a = ap.parse_args(argv)
    print(markdown(a.preset, list(range(a.seeds)), a.overrides))
    return 0


if __name__ == "__main__":
    sys.exit(main())
