"""The money view of one scenario against its baseline at the same seed (paired).

Both runs share every random number, so month-by-month differences are the programmes' effect.
Definitions (monthly series; Delta = scenario - baseline; d_t = end-of-month discount factor):
  incremental NPV      = sum_t Delta profit_t * d_t         (profit is already net of CX spend)
  CX spend (PV)        = sum_t cx_spend_t * d_t
  incremental value    = incremental NPV + CX spend (PV)     (value created before paying for it)
  ROCE                 = incremental value / CX spend (PV)   (return on customer experience; >1 pays)
  payback month        = first month from which cumulative undiscounted Delta profit stays >= 0
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sim.config import CHURN_REASONS

_MONEY = ("revenue", "cost_products", "cost_to_serve", "cost_acquisition", "cost_cx_programmes", "profit")


def payback_month(delta_profit: np.ndarray) -> int | None:
    """First month index after which cumulative Delta profit never falls below zero again."""
    cum = np.cumsum(delta_profit)
    negative = np.flatnonzero(cum < 0)
    if len(negative) == 0:
        return 0
    first_after = int(negative[-1]) + 1
    return first_after if first_after < len(cum) else None


def compare_runs(scenario: pd.DataFrame, baseline: pd.DataFrame) -> dict[str, Any]:
    """Paired incremental figures of ``scenario`` over ``baseline`` (same seed, same months).

    Either may also be a run read from disk (``sim.run_reader.MonthlyColumns``): only columns by
    name, ``columns`` and ``len`` (months) are used."""
    if len(scenario) != len(baseline):
        raise ValueError(f"runs differ in length: {len(scenario)} vs {len(baseline)} months")
    s, b = scenario, baseline

    def col(frame, name: str) -> np.ndarray:  # numpy on the columns: pandas arithmetic costs 50 us a call
        return np.asarray(frame[name])

    d = col(s, "discount_factor")
    delta = {c: col(s, c) - col(b, c) for c in _MONEY}
    cx = col(s, "cost_cx_programmes")

    def total_change(column: str) -> float:
        return float(np.sum(col(s, column) - col(b, column)))

    npv = float(np.sum(delta["profit"] * d))
    cx_pv = float(np.sum(cx * d))
    value = npv + cx_pv
    categories = sorted(c for c in s.columns if c.startswith("cost_") and c in b.columns
                        and c not in _MONEY and not c.startswith("cost_programme_"))
    return {
        "incremental_npv": npv,
        "cx_spend": float(cx.sum()),
        "cx_spend_pv": cx_pv,
        "incremental_value": value,
        "roce": value / cx_pv if cx_pv > 0 else None,
        "payback_month": payback_month(delta["profit"]),
        "incremental": {c: float(delta[c].sum()) for c in _MONEY},
        "incremental_cost_to_serve_by_category": {c[len("cost_"):]: total_change(c) for c in categories},
        "incremental_churn_by_reason": {r: total_change(f"new_churn_{r}") for r in CHURN_REASONS},
        "incremental_acquired": {"paid": total_change("new_acquired_paid"),
                                 "referred": total_change("new_acquired_referred")},
        "customers_end": {"scenario": float(col(s, "customers")[-1]), "baseline": float(col(b, "customers")[-1])},
        "nps_end": {"scenario": float(col(s, "nps")[-1]), "baseline": float(col(b, "nps")[-1])},
        "adoption_end": {c[len("adopt_"):]: {"scenario": float(col(s, c)[-1]), "baseline": float(col(b, c)[-1])}
                         for c in s.columns if c.startswith("adopt_")},
    }


def roi_report(scenario, baseline) -> dict[str, Any]:
    """compare_runs plus lifetime value by segment, from two RunResults at the same seed."""
    if scenario.config.seed != baseline.config.seed:
        raise ValueError("a paired comparison needs runs at the same seed")
    pop = scenario.config.population
    report = {"scenario": scenario.config.scenario, "seed": scenario.config.seed,
              "n_customers": int(pop.n_customers), "n_agents": int(pop.agents),
              "customers_per_agent": float(scenario.summary["customers_per_agent"]),
              "programmes": {n: iv.label or n for n, iv in scenario.config.interventions.items()}}
    report.update(compare_runs(scenario.monthly, baseline.monthly))
    report["lifetime_value_by_segment"] = {
        seg: {"scenario": v["lifetime_value"],
              "baseline": baseline.summary["lifetime_value_by_segment"].get(seg, {}).get("lifetime_value")}
        for seg, v in scenario.summary["lifetime_value_by_segment"].items()}
    return report


def baseline_of(cfg):
    """The same run with every programme switched off: the paired counterfactual."""
    import dataclasses

    return dataclasses.replace(cfg, interventions={}, scenario="baseline")
