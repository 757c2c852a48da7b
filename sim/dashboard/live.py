"""A paired comparison that grows month by month: what the dashboard draws while it runs.

Every scenario and the baseline run at the same seeds, stepped in lockstep (all models advance one
month before any advances the next), so at every moment the paired differences of all seeds
cover the same months and their band means something. Pure Python and numpy: the dashboard only
draws ``frame()``; tests use this directly.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from sim.compare import t_star
from sim.config import RunConfig, validate
from sim.model import CXModel
from sim.roi import baseline_of

# the series drawn: name -> (label, unit, monthly value of a run's last record)
SERIES = {
    "cum_npv": ("Cumulative incremental NPV", "USD million", lambda r: r["profit_discounted"] / 1e6),
    "nps": ("NPS difference", "points", lambda r: r["nps"]),
    "customers": ("Customers difference", "customers", lambda r: r["customers"]),
}


class LiveComparison:
    """``scenarios`` (name -> RunConfig with programmes) against their baseline, at ``seeds``."""

    def __init__(self, scenarios: dict[str, RunConfig], seeds: list[int]) -> None:
        if not scenarios:
            raise ValueError("scenarios: at least one scenario to compare with the baseline")
        first = next(iter(scenarios.values()))
        self.baseline_cfg = validate(baseline_of(first))
        self.seeds = list(seeds)
        self.months = first.n_months
        self.names = list(scenarios)
        cfgs = {"baseline": self.baseline_cfg, **{n: validate(c) for n, c in scenarios.items()}}
        self.models = {(name, s): CXModel(replace(cfg, seed=s, progress=False)) for name, cfg in cfgs.items()
                       for s in self.seeds}
        self.month = 0  # reported months completed by every model

    @property
    def done(self) -> bool:
        return self.month >= self.months

    def advance(self, months: int = 1) -> None:
        """Step every model until ``months`` more reported months are complete (or the run ends)."""
        target = min(self.months, self.month + months)
        for model in self.models.values():
            while model.running and len(model.records) < target:
                model.step()
        self.month = target

    def frame(self) -> pd.DataFrame:
        """Per scenario, series and month so far: mean paired difference over seeds and its 95%
        interval (NaN with one seed)."""
        rows = []
        n = len(self.seeds)
        for name in self.names:
            for key, (_, _, value) in SERIES.items():
                diffs = np.array([[value(rs) - value(rb) for rs, rb in
                                   zip(self.models[(name, s)].records[:self.month],
                                       self.models[("baseline", s)].records[:self.month])] for s in self.seeds])
                if key == "cum_npv":
                    diffs = np.cumsum(diffs, axis=1)
                mean = diffs.mean(axis=0) if self.month else np.array([])
                half = (t_star(n) * diffs.std(axis=0, ddof=1) / math.sqrt(n)) if n >= 2 and self.month \
                    else np.full(len(mean), np.nan)
                rows.append(pd.DataFrame({"scenario": name, "series": key, "month": np.arange(self.month),
                                          "mean": mean, "low": mean - half, "high": mean + half}))
        return pd.concat(rows, ignore_index=True)
