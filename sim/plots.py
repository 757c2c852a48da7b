"""The figure a strategist opens first: the run's main KPIs over time."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display is needed or wanted
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from sim.config import RunConfig  # noqa: E402


def kpi_figure(monthly: pd.DataFrame, cfg: RunConfig, path: str | Path) -> Path:
    m = monthly
    t = (m["month"] + 1) / 12.0
    fig, ax = plt.subplots(2, 3, figsize=(15, 8.5), constrained_layout=True)
    fig.suptitle(f"cxsim - {cfg.population.name} preset, scenario '{cfg.scenario}', seed {cfg.seed}")

    a = ax[0, 0]
    a.plot(t, m["customers"] / 1000, color="k")
    a.set(title="Customers", ylabel="thousand customers")

    a = ax[0, 1]
    for reason, colour in (("service", "tab:red"), ("price", "tab:blue"), ("other", "tab:grey")):
        a.plot(t, 100 * 12 * m[f"new_churn_{reason}"] / m["customers_start"], label=reason, color=colour)
    a.set(title="Churn by reason (annualised)", ylabel="% of customers a year")
    a.legend(frameon=False)

    a = ax[0, 2]
    a.plot(t, m["nps"], color="tab:green")
    a.axhline(0, color="0.7", lw=0.8)
    a.set(title="Net promoter score", ylabel="NPS (-100 to 100)")
    b = a.twinx()
    b.plot(t, m["sat_mean"], color="tab:olive", ls="--")
    b.set_ylabel("mean satisfaction (0-10), dashed")

    a = ax[1, 0]
    for col in [c for c in m.columns if c.startswith("adopt_")]:
        a.plot(t, 100 * m[col], label=col[len("adopt_"):].replace("_", " "))
    a.set(title="Behaviour adoption", ylabel="% of customers", ylim=(0, 100))
    a.legend(frameon=False, fontsize=7, ncol=2)

    a = ax[1, 1]
    a.plot(t, m["calls_offered"] / 1000, color="tab:purple")
    a.set(title="Phone calls and speed of answer", ylabel="thousand calls a month")
    b = a.twinx()
    b.plot(t, m["asa_s"], color="tab:orange", ls="--")
    b.set_ylabel("average speed of answer (s), dashed")

    a = ax[1, 2]
    a.plot(t, (m["revenue"] - m["cost_products"]) / 1e6, label="gross margin (revenue - product cost)")
    a.plot(t, m["cost_to_serve"] / 1e6, label="cost to serve")
    a.plot(t, m["profit"] / 1e6, label="profit")
    a.set(title="Money per month", ylabel="USD million")
    a.legend(frameon=False)

    for a in ax.flat:
        a.set_xlabel("year")
        a.grid(alpha=0.3)
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
