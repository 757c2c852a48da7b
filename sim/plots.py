"""The figure a strategist opens first: the run's main KPIs over time, beside its baseline.

One quantity per panel (no twin axes, where one line hides behind another's scale); a scenario
run with ``roi`` also draws the baseline at the same seed, dashed in the same colour, so the
programme's effect is the gap between the two lines.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display is needed or wanted
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from sim.config import RunConfig  # noqa: E402


def _years(m: pd.DataFrame):
    return (m["month"] + 1) / 12.0


def kpi_figure(monthly: pd.DataFrame, cfg: RunConfig, path: str | Path,
               baseline: pd.DataFrame | None = None) -> Path:
    fig = build_kpi_figure(monthly, cfg, baseline)
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def build_kpi_figure(monthly: pd.DataFrame, cfg: RunConfig, baseline: pd.DataFrame | None = None):
    runs = [(monthly, "-", 1.6, True)] + ([(baseline, "--", 1.0, False)] if baseline is not None else [])
    fig, ax = plt.subplots(3, 3, figsize=(16, 12))
    # fixed margins, room for six-digit ticks beside a label: a constrained layout looked the same
    # and doubled the save (0.6 -> 1.2 s, most of a short run's wall time)
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.05, top=0.94, wspace=0.24, hspace=0.3)
    beside = " (solid) beside the baseline at the same seed (dashed)" if baseline is not None else ""
    fig.suptitle(f"cxsim - {cfg.population.name} preset, scenario '{cfg.scenario}'{beside}, seed {cfg.seed}")

    def lines(a, series, colour, label=None):
        for m, ls, lw, labelled in runs:  # the title says which line is the baseline: one legend entry each
            a.plot(_years(m), series(m), color=colour, ls=ls, lw=lw, label=label if labelled else None)

    a = ax[0, 0]
    lines(a, lambda m: m["customers"] / 1000, "k")
    a.set(title="Customers", ylabel="thousand customers")

    a = ax[0, 1]
    for reason, colour in (("service", "tab:red"), ("price", "tab:blue"), ("other", "tab:grey")):
        lines(a, lambda m, r=reason: 100 * 12 * m[f"new_churn_{r}"] / m["customers_start"], colour, reason)
    a.set(title="Churn by reason (annualised)", ylabel="% of customers a year")
    a.legend(frameon=False, fontsize=8)

    a = ax[0, 2]
    lines(a, lambda m: m["nps"], "tab:green")
    a.axhline(0, color="0.7", lw=0.8)
    a.set(title="Net promoter score", ylabel="NPS (-100 to 100)")

    a = ax[1, 0]
    lines(a, lambda m: m["sat_mean"], "tab:olive")
    a.set(title="Mean satisfaction", ylabel="points (0-10)")

    a = ax[1, 1]
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, col in enumerate(c for c in monthly.columns if c.startswith("adopt_")):
        lines(a, lambda m, c=col: 100 * m[c], cycle[i % len(cycle)], col[len("adopt_"):].replace("_", " "))
    a.set(title="Behaviour adoption", ylabel="% of customers", ylim=(0, 100))
    a.legend(frameon=False, fontsize=7, ncol=2)

    a = ax[1, 2]
    lines(a, lambda m: m["calls_offered"] / 1000, "tab:purple")
    a.set(title="Phone calls offered", ylabel="thousand calls a month")

    a = ax[2, 0]
    lines(a, lambda m: m["asa_s"], "tab:orange")
    a.set(title="Average speed of answer", ylabel="seconds")

    a = ax[2, 1]  # jumps in speed of answer line up with whole agents added or removed here
    lines(a, lambda m: m["agents_staffed"], "tab:brown")
    a.set(title="Contact-centre staffing", ylabel="agents staffed in open hours")

    a = ax[2, 2]
    for label, colour, series in (("gross margin (revenue - product cost)", "tab:blue",
                                   lambda m: (m["revenue"] - m["cost_products"]) / 1e6),
                                  ("cost to serve", "tab:orange", lambda m: m["cost_to_serve"] / 1e6),
                                  ("profit", "tab:green", lambda m: m["profit"] / 1e6)):
        lines(a, series, colour, label)
    a.set(title="Money per month", ylabel="USD million")
    a.legend(frameon=False, fontsize=8)

    for a in ax.flat:
        a.set_xlabel("year")
        a.grid(alpha=0.3)
    return fig
