"""One row per customer observed in the reported months: the survival records of a run.

The same shape as a firm's customer table (tenure in months, churned yes/no), so a simulated
retention curve can be set beside the data's Kaplan-Meier curve. Customers already with the
firm at month 0 enter the record at their tenure then (left truncation: they are only known
to have survived that long), newcomers at tenure 0; customers still active at the end are
censored at their tenure then. Customers who left during the warm-up were never observed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.config import CHURN_REASONS


def customer_records(model) -> pd.DataFrame:
    """Columns: segment, entry_tenure, tenure (months), churned (bool), reason ('' if censored),
    join_month (reported months; negative for the starting base), contract (its label, when the
    config has contracts), and one bool column per behaviour (adopted at the end of the record)."""
    pop, start = model.pop, model.cfg.n_warmup_months
    rec = pop.records()  # every customer ever, in uid order
    join = rec["join_month"].astype(np.int64)
    churn = rec["churn_month"].astype(np.int64)
    churned = churn >= 0
    seen = ~churned | (churn >= start)  # still here, or left during the reported months
    end = np.where(churned, churn, model.month)  # the clock month the record stops
    tenure = rec["tenure_months"].astype(np.int64)
    observed = end - np.maximum(join, start)  # months survived inside the reported window
    entry = np.maximum(tenure - observed, 0)
    reasons = np.array(list(CHURN_REASONS) + [""], dtype=object)
    frame = pd.DataFrame({
        "segment": np.array(pop.segment_names, dtype=object)[rec["segment"]],
        "entry_tenure": entry,
        "tenure": tenure,
        "churned": churned,
        "reason": reasons[np.where(churned, rec["churn_reason"], len(CHURN_REASONS))],
        "join_month": join - start,
    })
    if pop.contract_names:
        frame["contract"] = np.array(pop.contract_names, dtype=object)[rec["contract"]]
    adopted = rec["adopted"]
    for b, name in enumerate(pop.behaviour_names):
        frame[name] = adopted[:, b]
    return frame[seen].reset_index(drop=True)
