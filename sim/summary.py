"""Headline figures of one run, computed from its monthly table (deterministic, JSON-ready).

Counts and money are the firm's (the monthly table is at firm scale already, see sim.kpis), so
with more than one customer per agent they are expected values, not whole numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sim.config import CHURN_REASONS, RunConfig


def _f(x: Any) -> float:
    return float(x)


def build_summary(cfg: RunConfig, monthly: pd.DataFrame, model) -> dict[str, Any]:
    m = monthly
    last = m.iloc[-1]
    churned = _f(m["new_churn"].sum())
    by_reason = {r: _f(m[f"new_churn_{r}"].sum()) for r in CHURN_REASONS}
    not_serving = ("cost_to_serve", "cost_products", "cost_acquisition", "cost_cx_programmes")
    cost_cols = [c for c in m.columns
                 if c.startswith("cost_") and c not in not_serving and not c.startswith("cost_programme_")]
    programme_cols = [c for c in m.columns if c.startswith("cost_programme_")]
    customer_months = float(m["customers_start"].sum())
    return {
        "scenario": cfg.scenario,
        "preset": cfg.population.name,
        "seed": cfg.seed,
        "months": int(len(m)),
        "n_customers": int(cfg.population.n_customers),
        "n_agents": int(cfg.population.agents),
        "customers_per_agent": _f(model.customers_per_agent),
        "warmup_years": int(cfg.warmup_years),
        "customers_start": _f(m["customers_start"].iloc[0]),
        "customers_end": _f(last["customers"]),
        "churned": churned,
        "churn_rate_annual": _f(1.0 - (1.0 - churned / customer_months) ** 12) if customer_months else 0.0,
        "churn_by_reason": by_reason,
        "churn_share_by_reason": {r: (v / churned if churned else 0.0) for r, v in by_reason.items()},
        "acquired_paid": _f(m["new_acquired_paid"].sum()),
        "acquired_referred": _f(m["new_acquired_referred"].sum()),
        "nps_end": _f(last["nps"]),
        "nps_mean": _f(m["nps"].mean()),
        "sat_mean_end": _f(last["sat_mean"]),
        "adoption_end": {b: _f(last[f"adopt_{b}"]) for b in model.pop.behaviour_names},
        "complaints": _f(m["complaints"].sum()),
        "recoveries_attempted": _f(m["recoveries_attempted"].sum()),
        "recoveries_succeeded": _f(m["recoveries_succeeded"].sum()),
        "churn_after_failed_recovery": _f(m["new_churn_after_failed_recovery"].sum()),
        "calls_offered": _f(m["calls_offered"].sum()),
        "agents_staffed_mean": _f(m["agents_staffed"].mean()),
        "agents_rostered_mean": _f(m["agents_rostered"].mean()),
        "cost_per_call": _f(m["cost_contacts_phone"].sum() / m["calls_offered"].sum()) if m["calls_offered"].sum() else 0.0,
        "asa_s_mean": _f(np.average(m["asa_s"], weights=np.maximum(m["calls_offered"], 1))),
        "service_level_mean": _f(np.average(m["service_level"], weights=np.maximum(m["calls_offered"], 1))),
        "revenue": _f(m["revenue"].sum()),
        "cost_products": _f(m["cost_products"].sum()),
        "cost_to_serve": _f(m["cost_to_serve"].sum()),
        "cost_to_serve_by_category": {c[len("cost_"):]: _f(m[c].sum()) for c in cost_cols},
        "cost_acquisition": _f(m["cost_acquisition"].sum()),
        "cx_spend": _f(m["cost_cx_programmes"].sum()),
        "cx_spend_by_programme": {c[len("cost_programme_"):]: _f(m[c].sum()) for c in programme_cols},
        "profit": _f(m["profit"].sum()),
        "npv": _f(m["profit_discounted"].sum()),
        "rate_discount_year": cfg.economics.rate_discount_year,
        "lifetime_value_by_segment": model.economics.lifetime_value(model.pop.segment_names),
        "by_segment": _by_segment(m, model.pop.segment_names),
        # per segment: NPV of what the segment brings before CX programmes (their spend is shared)
        "npv_by_segment": {s: _f(((m[f"segment_{s}_margin"] - m[f"segment_{s}_cost_to_serve"]
                                   - m[f"segment_{s}_acquisition"]) * m["discount_factor"]).sum())
                           for s in model.pop.segment_names},
    }


def _by_segment(m: pd.DataFrame, segments: list[str]) -> dict[str, dict[str, float]]:
    """Churn, NPS, margin and cost to serve of each segment over the run."""
    out = {}
    for s in segments:
        months = float(m[f"customers_{s}"].shift(1, fill_value=m[f"customers_{s}"].iloc[0]).sum())
        churned = float(m[f"segment_{s}_churn"].sum())
        out[s] = {
            "customers_end": _f(m[f"customers_{s}"].iloc[-1]),
            "churn_rate_annual": _f(1.0 - (1.0 - churned / months) ** 12) if months else 0.0,
            "nps_mean": _f(m[f"segment_{s}_nps"].mean()),
            "nps_end": _f(m[f"segment_{s}_nps"].iloc[-1]),
            "margin": _f(m[f"segment_{s}_margin"].sum()),
            "cost_to_serve": _f(m[f"segment_{s}_cost_to_serve"].sum()),
        }
    return out
