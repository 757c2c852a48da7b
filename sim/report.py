"""The comparison report: one HTML page with its figures embedded (and saved beside it as PNG).

Reads only what ``sim.compare`` computed (the summary table, the trajectory table and the
comparison metadata), never the runs. Every figure says what is plotted, in which unit, over how
many seeds, and what the shaded band or whisker is, so it can be read without the code.
"""

from __future__ import annotations

import base64
import html
import math
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import matplotlib.pyplot as plt


def pyplot():
    """matplotlib, for files only; imported when a figure is drawn (0.5 s a process otherwise)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot

    return matplotlib.pyplot

BASELINE_COLOUR = "black"
_PALETTE = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
            "tab:olive", "tab:cyan", "tab:grey"]


def _colours(scenarios: list[str], baseline: str) -> dict[str, str]:
    others = [s for s in scenarios if s != baseline]
    out = {s: _PALETTE[i % len(_PALETTE)] for i, s in enumerate(others)}
    out[baseline] = BASELINE_COLOUR
    return out


def _scale(unit: str, values: np.ndarray) -> tuple[float, str]:
    """(divisor, unit label) so that axis numbers stay short."""
    finite = np.abs(values[np.isfinite(values)]) if len(values) else np.array([])
    top = float(finite.max()) if len(finite) else 0.0
    if unit.startswith("USD"):
        rest = unit[3:]
        if top >= 1e6:
            return 1e6, f"USD million{rest}"
        if top >= 1e3:
            return 1e3, f"USD thousand{rest}"
        return 1.0, unit
    if unit.split()[0] in ("customers", "calls") and top >= 1e4:
        return 1e3, f"thousand {unit}"
    return 1.0, unit


def _years(month: np.ndarray) -> np.ndarray:
    return (np.asarray(month) + 1) / 12.0


def _money(x: float, signed: bool = False) -> str:
    from sim.compare import _fmt_money

    return _fmt_money(x, signed)


def fmt(x: Any, unit: str, signed: bool = False) -> str:
    """A value for a table cell, in the KPI's unit."""
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "n/a"
    x = float(x)
    if unit.startswith("USD"):
        return _money(x, signed)
    sign = "+" if signed and x > 0 else ""
    if unit.startswith("share"):
        return f"{sign}{100 * x:.2f}{' pp' if signed else '%'}"
    if unit in ("customers", "calls", "complaints") or unit.startswith("calls"):
        return f"{sign}{x:,.0f}" if abs(x) >= 100 else f"{sign}{x:,.1f}"
    if unit == "month index":
        return f"{sign}{x:.1f}"
    if unit == "ratio":
        return f"{sign}{x:.2f}"
    return f"{sign}{x:,.2f}"


def _pretty(name: str, labels: dict[str, Any]) -> str:
    if name.startswith("contacts_"):
        ch = name[len("contacts_"):]
        return f"{labels.get('channels', {}).get(ch, ch.replace('_', ' '))} contacts"
    return name.replace("_", " ")


# ---------------------------------------------------------------------------------------------
# figures


def _band(ax, x, mean, lo, hi, colour, label, lw=1.6, spread=None):
    ax.plot(x, mean, color=colour, lw=lw, label=label)
    if spread is not None and np.isfinite(spread[0]).any():  # seed spread: light, dashed edges
        ax.fill_between(x, spread[0], spread[1], color=colour, alpha=0.07, lw=0)
        ax.plot(x, spread[0], color=colour, lw=0.6, ls=":")
        ax.plot(x, spread[1], color=colour, lw=0.6, ls=":")
    if np.isfinite(lo).any():
        ax.fill_between(x, lo, hi, color=colour, alpha=0.22, lw=0)


def _series(traj: pd.DataFrame, scen: str, kpi: str) -> pd.DataFrame:
    return traj[(traj["scenario"] == scen) & (traj["kpi"] == kpi)].sort_values("month")


def _n_text(traj: pd.DataFrame, point: str) -> str:
    ns = sorted(set(traj.loc[traj["point"] == point, "n"].astype(int)))
    return f"{ns[0]}" if len(ns) == 1 else f"{ns[0]}-{ns[-1]}"


def fig_trajectories(traj: pd.DataFrame, point: str, scenarios: list[str], meta: dict[str, Any],
                     kpis: list[str], title: str, diff: bool = False, ncols: int = 3) -> plt.Figure:
    from sim.compare import traj_info

    t = traj[traj["point"] == point]
    baseline = meta["baseline"]
    colours = _colours(scenarios, baseline)
    shown = [s for s in scenarios if not (diff and s == baseline)]
    nrows = math.ceil(len(kpis) / ncols)
    plt = pyplot()
    width = 5.0 * ncols
    title = textwrap.fill(title, int(width * 10))  # about 10 characters an inch at 12 pt
    n_title = title.count("\n") + 1
    n_legend = math.ceil(len(shown) / 5)
    height = 3.6 * nrows + 0.9 + 0.2 * (n_title - 1) + 0.25 * (n_legend - 1)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False)
    _grid_margins(fig, nrows, ncols, top_in=0.38 + 0.22 * n_title, bottom_in=0.55 + 0.3 * n_legend)
    col_mean, col_lo, col_hi = ("diff_mean", "diff_ci_low", "diff_ci_high") if diff else ("mean", "ci_low", "ci_high")
    col_s_lo, col_s_hi = ("diff_spread_low", "diff_spread_high") if diff else ("spread_low", "spread_high")
    for ax, kpi in zip(axes.flat, kpis):
        info = traj_info(kpi)
        label = meta.get("labels", {}).get("behaviours", {}).get(kpi[6:], info.label) if kpi.startswith("adopt_") else info.label
        if kpi == "cum_npv" and diff:
            label, unit = "Cumulative incremental NPV", "USD, discounted"
        else:
            unit = info.unit
        cols = [c for c in (col_lo, col_hi, col_mean, col_s_lo, col_s_hi) if c in t]
        vals = np.concatenate([_series(t, s, kpi)[cols].to_numpy().ravel() for s in shown] or [np.array([])])
        div, unit_label = _scale(unit, vals)
        for s in shown:
            d = _series(t, s, kpi)
            if d.empty or d[col_mean].isna().all():
                continue
            spread = (d[col_s_lo] / div, d[col_s_hi] / div) if col_s_lo in d else None
            _band(ax, _years(d["month"]), d[col_mean] / div, d[col_lo] / div, d[col_hi] / div, colours[s], s,
                  spread=spread)
        if diff:
            ax.axhline(0, color="0.4", lw=0.9)
            ax.set_ylabel(f"difference vs {baseline}\n({unit_label})")
        else:
            ax.set_ylabel(unit_label)
        ax.set_title(label, fontsize=11)
        ax.set_xlabel("year")
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(pyplot().MaxNLocator(integer=True))
    for ax in list(axes.flat)[len(kpis):]:
        ax.set_visible(False)
    handles, labels_ = axes.flat[0].get_legend_handles_labels()
    if handles:  # a point with nothing to draw (e.g. no baseline runs for a difference) has none
        fig.legend(handles, labels_, loc="lower center", bbox_to_anchor=(0.5, 0.0), ncol=min(len(labels_), 5),
                   frameon=False, fontsize=10.5)
    fig.suptitle(title, fontsize=12, y=1.0 - 0.1 / height, va="top")
    return fig


def _grid_margins(fig, nrows: int, ncols: int, top_in: float, bottom_in: float) -> None:
    """Fixed margins for a grid of panels, in inches: room left of each panel for a two-line axis
    label and six-digit ticks, above it for its title, below it for its year axis. A constrained
    layout drew the same grid at twice the cost (0.86 against 0.46 s to save a 4 x 2 grid)."""
    w, h = fig.get_size_inches()
    left, right, gap_x, gap_y = 1.05, 0.25, 1.05, 0.85
    panel_w = (w - left - right - gap_x * (ncols - 1)) / ncols
    panel_h = (h - top_in - bottom_in - gap_y * (nrows - 1)) / nrows
    fig.subplots_adjust(left=left / w, right=1 - right / w, top=1 - top_in / h, bottom=bottom_in / h,
                        wspace=gap_x / panel_w, hspace=gap_y / panel_h)


def fig_npv_bars(comp: pd.DataFrame, point: str, meta: dict[str, Any]) -> plt.Figure | None:
    d = comp[(comp["point"] == point) & (comp["kpi"] == "incremental_npv")].sort_values("mean_diff")
    if d.empty:
        return None
    vals = d[["mean_diff", "ci_low", "ci_high"]].to_numpy().ravel()
    div, unit_label = _scale("USD", vals)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.7 * len(d)), constrained_layout=True)
    y = np.arange(len(d))
    colour = np.where(d["ci_low"] > 0, "tab:green", np.where(d["ci_high"] < 0, "tab:red", "0.6"))
    err = np.vstack([(d["mean_diff"] - d["ci_low"]).to_numpy(), (d["ci_high"] - d["mean_diff"]).to_numpy()]) / div
    ax.barh(y, d["mean_diff"] / div, color=colour, height=0.6)
    ax.errorbar(d["mean_diff"] / div, y, xerr=np.nan_to_num(err), fmt="none", ecolor="k", capsize=5, lw=1.2)
    ax.axvline(0, color="k", lw=0.9)
    ax.set_yticks(y, d["scenario"])
    for yi, (_, r) in zip(y, d.iterrows()):
        note = (f"  {_money(r['mean_diff'], True)} [{_money(r['ci_low'], True)}, {_money(r['ci_high'], True)}], "
                f"better in {r['share_better'] * 100:.0f}% of {int(r['n_seeds'])} seeds")
        right = r["ci_high"] if np.isfinite(r["ci_high"]) else r["mean_diff"]
        ax.annotate(note, (max(0.0, right) / div, yi), xytext=(6, 0), textcoords="offset points", ha="left",
                    va="center", fontsize=8.5)
    finite = vals[np.isfinite(vals)] / div
    lo, hi = min(0.0, *finite), max(0.0, *finite)
    span = (hi - lo) or 1.0
    ax.set_xlim(lo - 0.05 * span, hi + 0.8 * span)  # room on the right for the labels
    ax.set_ylim(-0.6, len(d) - 0.2)
    lab = meta.get("labels", {})
    rate = lab.get("rate_discount_year")
    disc = f", discounted at {rate * 100:.0f}% a year" if rate is not None else ""
    ax.set_xlabel(f"incremental NPV vs {meta['baseline']} over {lab.get('years', '?')} years ({unit_label}{disc})")
    ax.set_title("Incremental NPV by scenario: mean over seeds, whiskers 95% confidence interval\n"
                 "green: interval above zero, red: below zero, grey: crosses zero (not separated from the baseline)",
                 fontsize=10.5)
    ax.grid(axis="x", alpha=0.3)
    return fig


def fig_churn_by_reason(comp: pd.DataFrame, point: str, scenarios: list[str], meta: dict[str, Any]) -> plt.Figure | None:
    d = comp[(comp["point"] == point) & comp["kpi"].str.startswith("churn_by_reason.")]
    if d.empty:
        return None
    baseline = meta["baseline"]
    reasons = [r for r in ("service", "price", "other") if f"churn_by_reason.{r}" in set(d["kpi"])]
    others = [s for s in scenarios if s != baseline and s in set(d["scenario"])]
    colours = {"service": "tab:red", "price": "tab:blue", "other": "tab:grey"}
    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(14, 4.8), constrained_layout=True)
    names = [baseline] + others
    x = np.arange(len(names))
    bottom = np.zeros(len(names))
    for r in reasons:
        rows = d[d["kpi"] == f"churn_by_reason.{r}"].set_index("scenario")
        base_v = float(rows["mean_baseline"].iloc[0])
        v = np.array([base_v] + [float(rows.loc[s, "mean_scenario"]) for s in others])
        a.bar(x, v, bottom=bottom, color=colours[r], label=f"{r}", width=0.6)
        bottom += v
    a.set_xticks(x, names, rotation=20, ha="right")
    a.set_ylabel(f"customers lost over {meta.get('labels', {}).get('years', '?')} years\n(mean over seeds)")
    a.set_title("Customers lost, by reason", fontsize=11)
    a.set_ylim(0, bottom.max() * 1.18)
    a.legend(title="reason", frameon=False, ncol=3, loc="upper center")
    a.grid(axis="y", alpha=0.3)
    width = 0.8 / max(len(reasons), 1)
    for i, r in enumerate(reasons):
        rows = d[d["kpi"] == f"churn_by_reason.{r}"].set_index("scenario")
        m = np.array([float(rows.loc[s, "mean_diff"]) for s in others])
        lo = np.array([float(rows.loc[s, "ci_low"]) for s in others])
        hi = np.array([float(rows.loc[s, "ci_high"]) for s in others])
        xs = np.arange(len(others)) + (i - (len(reasons) - 1) / 2) * width
        b.bar(xs, m, width=width, color=colours[r], label=r)
        b.errorbar(xs, m, yerr=np.nan_to_num(np.vstack([m - lo, hi - m])), fmt="none", ecolor="k", capsize=3, lw=1)
    b.axhline(0, color="k", lw=0.9)
    b.set_xticks(np.arange(len(others)), others, rotation=20, ha="right")
    b.set_ylabel(f"difference vs {baseline} (customers)\nbelow zero = fewer lost")
    b.set_title("Paired difference in customers lost: mean, whiskers 95% CI", fontsize=11)
    b.legend(title="reason", frameon=False)
    b.grid(axis="y", alpha=0.3)
    return fig


def fig_waterfall(comp: pd.DataFrame, point: str, scenarios: list[str], meta: dict[str, Any],
                  max_steps: int = 7) -> plt.Figure | None:
    d = comp[(comp["point"] == point)]
    baseline = meta["baseline"]
    others = [s for s in scenarios if s != baseline and not d[(d["scenario"] == s) & (d["kpi"] == "cost_to_serve")].empty]
    if not others:
        return None
    labels = meta.get("labels", {})
    plt = pyplot()
    fig, axes = plt.subplots(len(others), 1, figsize=(12, 4.4 * len(others)), squeeze=False, constrained_layout=True)
    for ax, s in zip(axes[:, 0], others):
        ds = d[d["scenario"] == s].set_index("kpi")
        total = ds.loc["cost_to_serve"]
        cats = ds[ds.index.str.startswith("cost_to_serve_by_category.")].copy()
        cats["name"] = [_pretty(k.split(".", 1)[1], labels) for k in cats.index]
        cats = cats.reindex(cats["mean_diff"].abs().sort_values(ascending=False).index)
        steps = [(r["name"], r["mean_diff"], r["ci_low"], r["ci_high"]) for _, r in cats.head(max_steps).iterrows()]
        rest = cats.iloc[max_steps:]
        if len(rest):
            steps.append((f"{len(rest)} other categories", float(rest["mean_diff"].sum()), math.nan, math.nan))
        start, end = float(total["mean_baseline"]), float(total["mean_scenario"])
        div, unit_label = _scale("USD", np.array([start, end]))
        level = start
        xs = np.arange(len(steps) + 2)
        ax.bar(0, start / div, color="0.35", width=0.6)
        tops = [start, end]
        marks = [start, end]
        for i, (name, delta, lo, hi) in enumerate(steps, start=1):
            bottom = min(level, level + delta)
            ax.bar(i, abs(delta) / div, bottom=bottom / div, color="tab:green" if delta < 0 else "tab:red", width=0.6)
            top = max(level, level + delta)
            if np.isfinite(lo):
                ax.errorbar(i, (level + delta) / div, yerr=[[(delta - lo) / div], [(hi - delta) / div]],
                            fmt="none", ecolor="k", capsize=3, lw=1)
                top = max(top, level + hi)
                marks += [level + lo, level + hi]
            ax.annotate(_money(delta, True), (i, top / div), xytext=(0, 3),
                        textcoords="offset points", ha="center", va="bottom", fontsize=8)
            ax.plot([i - 0.7, i - 0.3], [level / div] * 2, color="0.5", lw=0.7)  # connector from the bar before
            level += delta
            tops += [level, level - delta]
        ax.plot([len(steps) + 0.3, len(steps) + 0.7], [level / div] * 2, color="0.5", lw=0.7)
        ax.bar(len(steps) + 1, end / div, color="0.35", width=0.6)
        ax.set_xticks(xs, [f"{baseline}\n(total)"] + [n for n, *_ in steps] + [f"{s}\n(total)"],
                      rotation=25, ha="right", fontsize=8.5)
        lo_y, hi_y = min(tops + marks), max(tops + marks)
        pad = max(hi_y - lo_y, 1e-9 * max(abs(hi_y), 1.0)) * 0.35 or 1.0
        ax.set_ylim((lo_y - pad) / div, (hi_y + pad) / div)
        ax.set_ylabel(f"cost to serve over {labels.get('years', '?')} years\n({unit_label}, undiscounted)")
        diff_total = float(total["mean_diff"])
        ax.set_title(f"Cost to serve, {baseline} -> {s}: {_money(diff_total, True)} "
                     f"[95% CI {_money(float(total['ci_low']), True)}, {_money(float(total['ci_high']), True)}]\n"
                     f"steps: mean paired difference by category, whiskers 95% CI; green saves, red costs more; "
                     f"the axis does not start at zero", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    return fig


# ---------------------------------------------------------------------------------------------
# page


def figure_html(title: str, fig: plt.Figure, path: Path, alt: str | None = None) -> str:
    """A figure under its heading, embedded in the page and saved beside it as ``path``."""
    b64 = embed_png(fig, path)
    return (f"<h3>{html.escape(title)}</h3><img alt='{html.escape(alt or title)}' "
            f"src='data:image/png;base64,{b64}'>")


def embed_png(fig: plt.Figure, path: Path) -> str:
    fig.savefig(path, dpi=100)
    pyplot().close(fig)
    return base64.b64encode(path.read_bytes()).decode()


def html_table(rows: list[list[str]], header: list[str], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _interval(r: pd.Series) -> str:
    return f"{fmt(r['mean_diff'], r['unit'], True)} <span class=ci>[{fmt(r['ci_low'], r['unit'], True)}, {fmt(r['ci_high'], r['unit'], True)}]</span>"


def _flag(r: pd.Series) -> str:
    if r["n_seeds"] < 2:
        return "one seed: no interval"
    if r["crosses_zero"]:
        n = r["n_seeds_needed"]
        need = "never (mean 0)" if math.isinf(n) else f"~{int(n):,} seeds" if np.isfinite(n) else "n/a"
        return f'<span class=warn>crosses 0; need {need}</span>'
    if r["sd_diff"] == 0 and r["mean_diff"] == 0:
        return "identical"
    return "separated"


def _kpi_rows(d: pd.DataFrame) -> list[list[str]]:
    rows = []
    for _, r in d.iterrows():
        share = "" if not np.isfinite(r["share_better"]) else f"{100 * r['share_better']:.0f}%"
        rows.append([html.escape(r["scenario"]), html.escape(r["label"]), html.escape(r["unit"]), r["better"],
                     fmt(r["mean_baseline"], r["unit"]), fmt(r["mean_scenario"], r["unit"]), _interval(r),
                     share, str(int(r["n_seeds"])), _flag(r)])
    return rows


_KPI_HEADER = ["scenario", "KPI", "unit", "better", "baseline mean", "scenario mean",
               "paired difference [95% CI]", "seeds better", "seeds", "status"]

CSS = """
h1{overflow-wrap:anywhere}
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1180px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em} h2{margin-top:1.8em;border-bottom:1px solid #ccc} h3{margin-top:1.4em}
table{border-collapse:collapse;margin:.8em 0;font-size:.86em} th,td{border:1px solid #ddd;padding:.3em .55em;text-align:right}
th{background:#f3f3f3} td:first-child,td:nth-child(2){text-align:left}
.ci{color:#666} .warn{color:#a33} img{max-width:100%;border:1px solid #eee;margin:.6em 0}
.note{color:#555;font-size:.92em} ul.warnings li{margin:.25em 0}
.verdict{font-size:1.08em;background:#f6f8fa;border-left:4px solid #4a7;padding:.5em .8em}
"""


def _scale_text(lab: dict[str, Any]) -> str:
    """The firm and what one agent stands for, as the report's header says it."""
    n, agents = lab.get("n_customers"), lab.get("n_agents")
    if not isinstance(n, int):
        return "customers at the start unknown"
    if not isinstance(agents, int) or agents <= 0 or agents == n:
        return f"a firm of {n:,} customers at the start, every one simulated"
    return (f"a firm of {n:,} customers at the start, simulated by {agents:,} agents (1 agent = "
            f"{n / agents:,.2f} customers; every count and dollar is the firm's)")


def fig_response_curves(comp: pd.DataFrame, meta: dict[str, Any]) -> list[tuple[str, plt.Figure]]:
    """Each scenario's incremental NPV (mean and 95% interval over seeds) against every numeric key
    a sweep varied; when other keys vary too, one line per combination of their values."""
    from sim.tables import parameter_frame

    npv = comp[comp["kpi"] == "incremental_npv"]
    if npv.empty or npv["point"].nunique() < 2:
        return []
    params = parameter_frame(sorted(npv["point"].unique()))
    names = meta.get("scenario_labels", {})
    d = npv.merge(params, on="point")
    out = []
    for key in [c for c in params.columns if c != "point"]:
        values = pd.to_numeric(params[key], errors="coerce")
        if values.isna().any() or values.nunique() < 2:
            continue
        others = [c for c in params.columns if c not in ("point", key) and params[c].nunique() > 1]
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(7.5, 4.2))
        for i, ((scen, *rest), g) in enumerate(d.groupby(["scenario", *others], sort=True)):
            g = g.sort_values(key)
            label = names.get(scen, scen) + "".join(f", {o}={v}" for o, v in zip(others, rest))
            colour = _PALETTE[i % len(_PALETTE)]
            ax.errorbar(g[key].astype(float), g["mean_diff"] / 1e6,
                        yerr=[(g["mean_diff"] - g["ci_low"]) / 1e6, (g["ci_high"] - g["mean_diff"]) / 1e6],
                        marker="o", capsize=3, color=colour, label=label)
        ax.axhline(0, color="#888", lw=0.8)
        ax.set_xlabel(key)
        ax.set_ylabel("incremental NPV (USD million)")
        ax.set_title(f"Incremental NPV against {key}\n(mean over seeds; whiskers: 95% interval)", fontsize=10)
        ax.legend(fontsize=8)
        fig.tight_layout()
        out.append((key, fig))
    return out


def _named(scenario: str, names: dict[str, str]) -> str:
    label, code = names.get(scenario), f"<code>{html.escape(scenario)}</code>"
    return f"<b>{html.escape(label)}</b><br>{code}" if label else code


def _title(meta: dict[str, Any]) -> str:
    names = meta.get("scenario_labels", {})
    baseline = meta["baseline"]
    scenarios = sorted({s for pts in meta["scope"]["points"].values() for s in pts if s != baseline})
    lab = meta.get("labels", {})
    shown = ", ".join(names.get(s, s) for s in scenarios) or "no scenario"
    firm = f"{lab['preset']} firm" if lab.get("preset") else "the firm"
    y = lab.get("years")
    years = f", {y} year{'' if y == 1 else 's'}" if y else ""
    return f"{shown} against {names.get(baseline, baseline).replace(' (baseline)', '').lower()}: {firm}{years}"


def verdict(rank: list[dict[str, Any]], names: dict[str, str], years: Any) -> str:
    """The ranking in one plain sentence, saying so when nothing pays back."""
    horizon = f"the {years}-year horizon" if years else "the horizon"

    def name(s: str) -> str:
        return f"<b>{html.escape(names.get(s, s))}</b>"

    top = rank[0]
    npv, (lo, hi) = top["incremental_npv"], top["incremental_npv_ci"]
    interval = (f" (95% interval {_money(lo, True)} to {_money(hi, True)})"
                if np.isfinite(lo) and np.isfinite(hi) else "")
    if not np.isfinite(npv):
        return "No incremental NPV could be computed: no seed pairs a scenario with the baseline."
    if npv <= 0:
        return (f"At these assumptions no programme pays back within {horizon}: doing nothing has the largest "
                f"NPV. The least costly is {name(top['scenario'])}, {_money(npv, True)}{interval}.")
    text = f"At these assumptions, {name(top['scenario'])} has the largest incremental NPV, {_money(npv, True)}{interval}"
    if np.isfinite(lo) and lo <= 0:
        text += ", but its interval includes zero: it may not pay back"
    nxt = top.get("vs_next")
    if nxt:
        if nxt["separated"]:
            text += f"; its lead over {name(nxt['scenario'])} is clear of zero (95% paired interval)"
        else:
            n = nxt.get("n_seeds_needed")
            need = f" (about {int(n):,} seeds would separate them)" if n is not None and np.isfinite(n) else ""
            text += f"; it is not yet separated from {name(nxt['scenario'])}{need}"
    losers = [r["scenario"] for r in rank if np.isfinite(r["incremental_npv"]) and r["incremental_npv"] <= 0]
    if losers:
        text += ". " + ", ".join(name(s) for s in losers) + (" does" if len(losers) == 1 else " do") + \
            f" not pay back within {horizon}"
    return text + "."


def _programme_table(meta: dict[str, Any]) -> str:
    """What each scenario switches on: timing, costs and effects, as the runs had them."""
    rows = []
    for scenario, progs in sorted(meta.get("programmes", {}).items()):
        for p in progs:
            end = "end of run" if p.get("end_month", -1) == -1 else f"month {p['end_month']}"
            costs = [f"{_money(p[k])} {label}" for k, label in (
                ("cost_one_off", "once"), ("cost_per_month", "a month"), ("cost_per_customer_month", "per customer-month"),
                ("cost_per_new_adopter", "per new adopter")) if p.get(k)]
            effects = "<br>".join(f"<code>{html.escape(str(e.get('param')))}</code> {html.escape(str(e.get('op')))} "
                                  f"{e.get('value'):g}" for e in (p.get("effects") or []))
            segments = ", ".join(p.get("target_segments") or []) or "all"
            rows.append([f"<code>{html.escape(scenario)}</code>", html.escape(p.get("label") or p["name"]),
                         f"month {p.get('start_month', 0)}", f"{p.get('dur_ramp_months', 0):g} months", end,
                         "<br>".join(costs) or "none", html.escape(segments), effects or "none"])
    if not rows:
        return ""
    return "<h2>What each scenario switches on</h2>" + html_table(rows, [
        "scenario", "programme", "starts", "ramp to full effect", "ends", "costs", "customers", "effects at full strength"])


def write_report(out_dir: Path, comp: pd.DataFrame, traj: pd.DataFrame, meta: dict[str, Any],
                 figures: bool = True) -> Path:
    """Write report.html (and figures/*.png) into ``out_dir``; returns the HTML path."""
    out_dir = Path(out_dir)
    fig_dir = out_dir / "figures"
    baseline = meta["baseline"]
    lab = meta.get("labels", {})
    names = meta.get("scenario_labels", {})
    title = _title(meta)
    parts = [f"<h1>{html.escape(title)}</h1>",
             f"<p class=note>cxsim comparison <code>{html.escape(meta['name'])}</code></p>"]
    parts.append(_programme_table(meta))
    points = list(meta["scope"]["points"])
    preset = lab.get("preset") or "?"
    skipped = f", {meta['runs_skipped']} incomplete runs skipped" if meta["runs_skipped"] else ""
    parts.append(
        f"<p>Preset <b>{html.escape(str(preset))}</b>: {_scale_text(lab)}, "
        f"{lab.get('years', '?')} years of monthly steps. Every scenario is compared with <b>{html.escape(baseline)}</b> "
        f"<i>at the same seed</i>: both runs draw the same random numbers (common random numbers), so the "
        f"seed-by-seed difference is the scenario's effect. Intervals are 95% t-intervals over seeds of that "
        f"paired difference; \"seeds better\" is the share of seeds in which the scenario beats the baseline in "
        f"the KPI's better direction; \"need ~N seeds\" is the fewest seeds at which a paired t-test would "
        f"separate the observed difference from zero with 80% power (taking the observed mean and spread "
        f"as true). {meta['runs_read']} runs read{skipped}.</p>")
    if meta["warnings"]:
        items = "".join(f"<li>{html.escape(w)}</li>" for w in meta["warnings"][:60])
        more = f"<li>... and {len(meta['warnings']) - 60} more in comparison.json</li>" if len(meta["warnings"]) > 60 else ""
        parts.append(f"<h2>Warnings</h2><ul class=warnings>{items}{more}</ul>")
    if figures:
        fig_dir.mkdir(exist_ok=True)
        curves = fig_response_curves(comp, meta) if not comp.empty else []
        if curves:
            parts.append("<h2>Response curves</h2><p class=note>How each scenario's incremental NPV changes with each "
                         "key the sweep varied (each point paired with the baseline at that point).</p>")
        for ci, (key, fig) in enumerate(curves):
            parts.append(figure_html(key, fig, fig_dir / f"response_{ci}.png", alt=f"response to {key}"))
    for pi, point in enumerate(points):
        scen_seeds = meta["scope"]["points"][point]
        scenarios = list(scen_seeds)
        slug = f"p{pi}_" if len(points) > 1 else ""
        n_text = _n_text(traj, point) if not traj.empty else "0"
        parts.append(f"<h2>Parameter point: <code>{html.escape(point)}</code></h2>" if len(points) > 1 or point != "default"
                     else "<h2>Results</h2>")
        parts.append("<p class=note>Seeds per scenario: " + ", ".join(
            f"{html.escape(s)} {len(v)}" for s, v in scen_seeds.items()) + "</p>")
        if baseline not in scen_seeds:
            # nothing is paired here: say so instead of drawing empty comparisons
            parts.append(f"<p class=note>No <b>{html.escape(baseline)}</b> runs at this point, so there is "
                         f"nothing to compare with; run the baseline with the same overrides and seeds.</p>")
            continue
        d = comp[comp["point"] == point]
        rank = meta["ranking"].get(point, [])
        if rank:
            parts.append(f"<p class=verdict>{verdict(rank, names, lab.get('years'))}</p>")
            rows = []
            for r in rank:
                nxt = r.get("vs_next")
                if nxt:
                    sep = "yes" if nxt["separated"] else (
                        f'<span class=warn>no; need ~{int(nxt["n_seeds_needed"]):,} seeds</span>'
                        if nxt["n_seeds_needed"] is not None and np.isfinite(nxt["n_seeds_needed"]) else "<span class=warn>no</span>")
                    nxt_txt = f"{html.escape(nxt['scenario'])}: {_money(nxt['diff'], True)} " \
                              f"<span class=ci>[{_money(nxt['ci'][0], True)}, {_money(nxt['ci'][1], True)}]</span>; {sep}"
                else:
                    nxt_txt = ""
                pb = r["payback_month"]
                pb_txt = "never in horizon" if not r["payback_seeds"] else (
                    f"{fmt(pb, 'month index')} <span class=ci>[{fmt(r['payback_ci'][0], 'month index')}, "
                    f"{fmt(r['payback_ci'][1], 'month index')}]</span> ({int(r['payback_seeds'])}/{r['n_seeds']} seeds)")
                rows.append([str(r["rank"]), _named(r["scenario"], names),
                             f"{_money(r['incremental_npv'], True)} <span class=ci>[{_money(r['incremental_npv_ci'][0], True)}, "
                             f"{_money(r['incremental_npv_ci'][1], True)}]</span>",
                             f"{100 * r['share_seeds_positive']:.0f}%" if np.isfinite(r["share_seeds_positive"]) else "n/a",
                             f"{fmt(r['roce'], 'ratio')} <span class=ci>[{fmt(r['roce_ci'][0], 'ratio')}, {fmt(r['roce_ci'][1], 'ratio')}]</span>",
                             pb_txt, fmt(r["nps_end_diff"], "points", True), fmt(r["customers_end_diff"], "customers", True),
                             _money(r["cx_spend_pv"]), nxt_txt])
            parts.append("<h3>Ranking by incremental NPV</h3>" + html_table(rows, [
                "rank", "scenario", "incremental NPV [95% CI]", "seeds > 0", "ROCE [95% CI]",
                "payback month [95% CI] (seeds paying back)", "NPS end diff", "customers end diff",
                "CX spend (PV)", "vs next ranked: NPV difference [95% CI]; separated?"]))
            parts.append("<p class=note>ROCE = (incremental NPV + CX spend PV) / CX spend PV: above 1 the programme pays "
                         "for itself. Payback month: first month from which the cumulative profit difference stays "
                         "at or above zero (mean over the seeds that pay back within the horizon).</p>")
        figs: list[tuple[str, str, plt.Figure | None]] = []
        if figures and not traj.empty:
            sub = (f"mean of {n_text} seeds; dark band: 95% interval of the mean; light band between dotted "
                   "lines: where one seed's run falls (95%)")
            figs.append(("npv", "Incremental NPV", fig_npv_bars(comp, point, meta)))
            figs.append(("trajectories", "KPIs over time", fig_trajectories(
                traj, point, scenarios, meta, ["customers", "nps", "churn_pct_year", "calls_offered", "cost_to_serve", "profit"],
                f"KPIs over time by scenario ({sub})")))
            here = traj["point"] == point
            if any(s != baseline for s in scenarios) and traj.loc[here, "diff_mean"].notna().any():
                figs.append(("differences", "Paired difference over time", fig_trajectories(
                    traj, point, scenarios, meta, ["customers", "nps", "churn_pct_year", "cost_to_serve", "profit", "cum_npv"],
                    f"Paired difference, scenario minus {baseline} at the same seed ({sub})", diff=True)))
            figs.append(("churn_by_reason", "Churn by reason", fig_churn_by_reason(comp, point, scenarios, meta)))
            adopt = sorted(k for k in set(traj.loc[traj["point"] == point, "kpi"]) if k.startswith("adopt_"))
            if adopt:
                figs.append(("adoption", "Adoption of each behaviour", fig_trajectories(
                    traj, point, scenarios, meta, adopt, f"Share of customers showing each behaviour ({sub})", ncols=4)))
            figs.append(("cost_waterfall", "Cost to serve, baseline to scenario", fig_waterfall(comp, point, scenarios, meta)))
        for key, title, fig in figs:
            if fig is None:
                continue
            parts.append(figure_html(title, fig, fig_dir / f"{slug}{key}.png"))
        if not d.empty:
            head = d[d["kpi"].isin(["incremental_npv", "nps_end", "customers_end", "churn_rate_annual", "cost_to_serve",
                                    "profit", "final_year.asa_s", "final_year.calls_offered"])]
            parts.append("<h3>Headline KPIs</h3>" + html_table(_kpi_rows(head.sort_values(["scenario", "group", "kpi"])), _KPI_HEADER))
            parts.append("<details><summary>All KPIs</summary>"
                         + html_table(_kpi_rows(d.sort_values(["scenario", "group", "kpi"])), _KPI_HEADER) + "</details>")
    parts.append("<h2>Files</h2><p class=note><code>comparison.parquet</code>: one row per point, scenario and KPI "
                 "(means, paired difference, interval, share of seeds better, seeds needed); <code>seeds.parquet</code>: "
                 "the seed-level values behind it; <code>trajectories.parquet</code>: monthly means and intervals; "
                 "<code>comparison.json</code>: scope, ranking and warnings; <code>figures/</code>: these figures as PNG. "
                 "Rebuild with <code>cxsim-compare &lt;this folder&gt;</code>.</p>")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>\n")
    path = out_dir / "report.html"
    path.write_text(page)
    return path
