"""The tidy table of an exploration: one row per future, scenario and seed, one column per
uncertain key and per outcome, read from the run folders on disk.

An outcome is the scenario's paired difference from the baseline at the same future and seed:
incremental NPV from the money view (``sim.roi.compare_runs``), any other KPI as scenario minus
baseline. ``<outcome>_unpaired`` is the same difference taken against the baseline at the next
seed (same future, other random numbers): what the outcome would be without common random
numbers. Its mean over all seeds equals the paired mean; at one seed it shows how much the
pairing narrows the indices' intervals (``sim.explore.analysis``).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict

import numpy as np
import pandas as pd

from sim.explore.spec import ExploreSpec
from sim.explore.sweep import PlannedRun

UNPAIRED = "_unpaired"


def missing_runs(spec: ExploreSpec, runs: list[PlannedRun], design: pd.DataFrame) -> dict[str, list[PlannedRun]]:
    """Planned runs not complete and intact on disk, or not of their source future (its name and
    exactly its values, as the run's own manifest records them), by analysis."""
    from sim.results import run_problem

    keys = spec.keys
    values = {f: dict(zip(keys, map(float, v))) for f, v in zip(design["future"], design[keys].to_numpy())}
    out: dict[str, list[PlannedRun]] = defaultdict(list)
    intact: dict = {}  # a shared run folder is checked once
    for r in runs:
        if r.run_dir not in intact:
            intact[r.run_dir] = run_problem(r.run_dir) is None and _is_of(r, values[r.source])
        if not intact[r.run_dir]:
            out[r.analysis].append(r)
    return out


def _is_of(r: PlannedRun, values: dict[str, float]) -> bool:
    m = json.loads((r.run_dir / "manifest.json").read_text())
    future = m.get("config", {}).get("future") or {}
    return m.get("seed") == r.seed and future.get("name") == r.source and future.get("values") == values


def _read(run_dir) -> tuple[pd.DataFrame, dict[str, float]]:
    """A run's monthly table and its scalar KPIs (sim.compare.seed_values), each computed once."""
    from sim.compare import read_run, seed_values

    summary, monthly = read_run(run_dir)
    return monthly, seed_values(summary, monthly)


def _outcomes(spec: ExploreSpec, scen: tuple[pd.DataFrame, dict[str, float]],
              base: tuple[pd.DataFrame, dict[str, float]]) -> dict[str, float]:
    from sim.compare import MONEY_KPIS, money_values

    money = money_values(scen[0], base[0]) if any(o in MONEY_KPIS for o in spec.outcomes) else {}
    return {o: money[o] if o in MONEY_KPIS else scen[1].get(o, math.nan) - base[1].get(o, math.nan)
            for o in spec.outcomes}


def experiments_table(spec: ExploreSpec, design: pd.DataFrame, runs: list[PlannedRun],
                      analyses: list[str]) -> pd.DataFrame:
    """The table for ``analyses`` (whose runs must all be complete: see ``missing_runs``)."""
    by_future: dict[str, dict[tuple[str, int], PlannedRun]] = defaultdict(dict)
    for r in runs:
        if r.analysis in analyses:
            by_future[r.future][(r.arm, r.seed)] = r
    values = design.set_index("future")
    read: dict = {}  # a run shared by several futures is read once

    def cached(run_dir):
        if run_dir not in read:
            read[run_dir] = _read(run_dir)
        return read[run_dir]

    rows = []
    for future, cell in by_future.items():
        d = values.loc[future]
        base = {k: cached(cell[(spec.baseline, k)].run_dir) for k in range(spec.seeds)}
        for scenario in spec.scenarios:
            for seed in range(spec.seeds):
                scen = cached(cell[(scenario, seed)].run_dir)
                row = {"analysis": d["analysis"], "sample": int(d["sample"]), "future": future,
                       "scenario": scenario, "seed": seed, **{k: float(d[k]) for k in spec.keys}}
                row.update(_outcomes(spec, scen, base[seed]))
                if spec.seeds > 1:
                    other = _outcomes(spec, scen, base[(seed + 1) % spec.seeds])
                    row.update({f"{o}{UNPAIRED}": v for o, v in other.items()})
                rows.append(row)
    table = pd.DataFrame(rows)
    return table.sort_values(["analysis", "sample", "scenario", "seed"], kind="stable", ignore_index=True)


def sample_means(table: pd.DataFrame, analysis: str, scenario: str, column: str,
                 seed: int | None = None) -> np.ndarray:
    """The outcome of each future of an analysis (mean over seeds, or at one seed), in sample order."""
    part = table[(table["analysis"] == analysis) & (table["scenario"] == scenario)]
    if seed is not None:
        part = part[part["seed"] == seed]
    return part.groupby("sample", sort=True)[column].mean().to_numpy(float)
