"""The exploration report: one HTML page with its figures embedded (and saved beside it as PNG).

Reads only the tables the analysis wrote (indices, robustness, win shares, pairing gain), never
the runs.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.explore.analysis import DO_NOTHING
from sim.explore.spec import ExploreSpec
from sim.report import CSS, figure_html, fmt, html_table, pyplot


def _unit(outcome: str) -> str:
    from sim.compare import kpi_info

    return kpi_info(outcome).unit


def _label(outcome: str) -> str:
    from sim.compare import kpi_info

    return kpi_info(outcome).label


def short_key(key: str) -> str:
    """A figure label: 'ebilling_campaign effect 0', 'ebill.cost_per_year_without', 'churn.rate_price'."""
    parts = key.split(".")
    if parts[0] == "interventions" and len(parts) >= 3:
        if parts[2] == "effects" and len(parts) >= 4:
            return f"{parts[1]} effect {parts[3]}"
        return f"{parts[1]} {'.'.join(parts[2:])}"
    return ".".join(parts[-2:])


def fig_morris(ind: pd.DataFrame, spec: ExploreSpec, outcome: str):
    """mu* against sigma per key, one panel per scenario: far right matters, high up interacts."""
    plt = pyplot()
    d = ind[(ind["analysis"] == "morris") & (ind["pairing"] == "paired") & (ind["outcome"] == outcome)]
    fig, axes = plt.subplots(1, len(spec.scenarios), figsize=(5.2 * len(spec.scenarios), 4.4), squeeze=False)
    money = _unit(outcome).startswith("USD")
    div = 1e6 if money else 1.0
    for ax, scenario in zip(axes[0], spec.scenarios):
        g = d[d["scenario"] == scenario]
        ax.errorbar(g["mu_star"] / div, g["sigma"] / div, xerr=g["mu_star_conf"] / div, fmt="o", color="tab:blue",
                    ecolor="#9bbbd8", capsize=3)
        for _, r in g.iterrows():
            ax.annotate(short_key(r["key"]), (r["mu_star"] / div, r["sigma"] / div),
                        fontsize=7, xytext=(3, 3), textcoords="offset points")
        top = max(float((g["mu_star"] + g["mu_star_conf"]).max() / div), float(g["sigma"].max() / div), 1e-12)
        ax.plot([0, top], [0, top], color="#bbb", lw=0.8, ls="--")
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        unit = "USD million" if money else _unit(outcome)
        ax.set_xlabel(f"mu* ({unit} per full quantile range)")
        ax.set_ylabel(f"sigma ({unit})")
        ax.set_title(scenario, fontsize=10)
    fig.suptitle(f"Morris screening of {_label(outcome).lower()}, scenario minus baseline "
                 "(whiskers: 95% bootstrap interval of mu*; dashed: sigma = mu*)", fontsize=10)
    fig.tight_layout()
    return fig


def fig_sobol(ind: pd.DataFrame, spec: ExploreSpec, outcome: str):
    """First-order and total indices per key with their intervals, one panel per scenario."""
    plt = pyplot()
    d = ind[(ind["analysis"] == "sobol") & (ind["pairing"] == "paired") & (ind["outcome"] == outcome)]
    fig, axes = plt.subplots(1, len(spec.scenarios), figsize=(5.2 * len(spec.scenarios), 0.5 * len(spec.keys) + 2.0),
                             squeeze=False)
    y = np.arange(len(spec.keys))
    for ax, scenario in zip(axes[0], spec.scenarios):
        g = d[d["scenario"] == scenario].set_index("key").reindex(spec.keys)
        ax.barh(y + 0.2, g["ST"], height=0.4, xerr=g["ST_conf"], color="tab:orange", label="total (ST)", capsize=2)
        ax.barh(y - 0.2, g["S1"], height=0.4, xerr=g["S1_conf"], color="tab:blue", label="first order (S1)", capsize=2)
        ax.set_yticks(y, [short_key(k) for k in spec.keys], fontsize=8)
        ax.invert_yaxis()
        ax.axvline(0, color="#888", lw=0.8)
        ax.set_xlabel("share of the outcome's variance")
        ax.set_title(scenario, fontsize=10)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"Sobol' indices of {_label(outcome).lower()}, scenario minus baseline "
                 "(whiskers: 95% bootstrap interval)", fontsize=10)
    fig.tight_layout()
    return fig


def fig_win_shares(curves: pd.DataFrame, spec: ExploreSpec):
    """Share of futures in which each option is best, across each key's range."""
    plt = pyplot()
    n = len(spec.keys)
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.3 * rows), squeeze=False)
    options = [DO_NOTHING, *spec.scenarios]
    colours = ["black", "tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
    for i, key in enumerate(spec.keys):
        ax = axes[i // cols][i % cols]
        g = curves[curves["key"] == key]
        for j, option in enumerate(options):
            h = g[g["option"] == option].sort_values("bin")
            ax.plot(h["value_mid"], 100 * h["share_best"], marker="o", color=colours[j % len(colours)], label=option)
        ax.set_ylim(-3, 103)
        ax.set_title(short_key(key), fontsize=9)
        ax.set_ylabel("% of futures best")
    for k in range(n, rows * cols):
        axes[k // cols][k % cols].axis("off")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Win share across each uncertain key's range (futures binned by the key; median value per bin)",
                 fontsize=10)
    fig.tight_layout()
    return fig


def _verdict(robust: pd.DataFrame) -> str:
    r = robust.set_index("option")
    best = r["share_best"].idxmax()
    schemes = r.drop(index=DO_NOTHING)
    if (schemes["share_positive"] == 0).all():
        return (f"In none of the {int(r['futures'].iloc[0])} futures does any programme pay back: doing nothing "
                "has the largest incremental NPV throughout.")
    least_regret = r["regret_max"].idxmin()
    return (f"Across {int(r['futures'].iloc[0])} futures, <b>{html.escape(best)}</b> is best most often "
            f"({100 * r.loc[best, 'share_best']:.0f}% of futures); the option with the smallest worst-case regret is "
            f"<b>{html.escape(least_regret)}</b> ({fmt(r.loc[least_regret, 'regret_max'], 'USD')}).")


def write_report(out_dir: Path, spec: ExploreSpec, meta: dict[str, Any], indices: pd.DataFrame,
                 robust: pd.DataFrame | None, curves: pd.DataFrame | None, gain: pd.DataFrame) -> Path:
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(exist_ok=True)
    parts = [f"<h1>cxsim exploration: {html.escape(spec.name)}</h1>",
             (f"<p>Preset <b>{html.escape(spec.preset)}</b>, {spec.agents:,} agents, overrides "
             f"<code>{html.escape(' '.join(spec.overrides) or 'none')}</code>. Scenarios "
             f"<b>{html.escape(', '.join(spec.scenarios))}</b>, each paired with <b>{html.escape(spec.baseline)}</b>: "
             f"every future runs every scenario and the baseline at seeds 0-{spec.seeds - 1} (common random "
             f"numbers), and an outcome is the mean over seeds of the scenario-minus-baseline difference. "
             f"{meta['runs']:,} runs.</p>")]
    rows = [[html.escape(u.key), u.describe(), html.escape(u.source)] for u in spec.uncertainties]
    parts.append("<h2>Uncertain assumptions</h2>" + html_table(rows, ["key", "range", "source"]))
    for line in meta.get("warnings", []):
        parts.append(f"<p class=note>Not analysed yet: {html.escape(line)}</p>")
    if robust is not None:
        parts.append(f"<h2>Robustness over {int(robust['futures'].iloc[0])} Latin hypercube futures</h2>"
                     f"<p>{_verdict(robust)}</p>")
        rows = [[html.escape(r["option"]),
                 "n/a" if r["option"] == DO_NOTHING else f"{100 * r['share_positive']:.0f}%",
                 f"{100 * r['share_best']:.0f}%", fmt(r["npv_mean"], "USD", True),
                 f"{fmt(r['npv_p05'], 'USD', True)} to {fmt(r['npv_p95'], 'USD', True)}",
                 fmt(r["regret_mean"], "USD"), fmt(r["regret_p90"], "USD"), fmt(r["regret_max"], "USD")]
                for _, r in robust.iterrows()]
        parts.append(html_table(rows, ["option", "futures with NPV > 0", "futures where best", "mean incremental NPV",
                                       "5th to 95th percentile", "mean regret", "90th percentile regret",
                                       "worst regret"]))
        parts.append("<p class=note>Regret in a future: the best option's incremental NPV there minus this "
                     "option's. Doing nothing is an option with incremental NPV 0. A future's NPV is its mean over "
                     f"{spec.seeds} seeds, so a near-tie can fall either way by seed noise.</p>")
        parts.append(figure_html("Win share across each key's range", fig_win_shares(curves, spec),
                                 fig_dir / "win_shares.png", alt="win shares"))
    for analysis, title in (("morris", "Morris screening"), ("sobol", "Sobol' indices")):
        d = indices[indices["analysis"] == analysis] if not indices.empty else indices
        if d.empty:
            continue
        parts.append(f"<h2>{title}</h2>")
        if analysis == "morris":
            parts.append("<p class=note>mu*: mean absolute elementary effect of moving a key across its whole "
                         "quantile range (in the outcome's unit), sigma: their spread (interactions or curvature). "
                         f"{spec.analyses['morris']['trajectories']} trajectories, "
                         f"{spec.analyses['morris']['levels']} levels.</p>")
        else:
            parts.append(f"<p class=note>S1: share of the outcome's variance a key explains alone; ST: with all its "
                         f"interactions. {spec.analyses['sobol']['n']} base samples, "
                         f"{spec.analyses['sobol']['n'] * (len(spec.keys) + 2)} futures.</p>")
        g = gain[gain["analysis"] == analysis] if not gain.empty else gain
        if not g.empty:
            rows = [[html.escape(r["scenario"]), html.escape(_label(r["outcome"])),
                     f"{r['narrowing']:.1f}x" if np.isfinite(r["narrowing"]) else "n/a"] for _, r in g.iterrows()]
            parts.append("<p class=note>What pairing buys: the median width of the mu* intervals computed from one "
                         "seed per future, against the baseline at another seed divided by against the baseline at "
                         "the same seed (the same runs; the indices shown average every seed).</p>"
                         + html_table(rows, ["scenario", "outcome", "mu* intervals narrower by"]))
        for outcome in spec.outcomes:
            fig = fig_morris(d, spec, outcome) if analysis == "morris" else fig_sobol(d, spec, outcome)
            parts.append(figure_html(_label(outcome), fig, fig_dir / f"{analysis}_{outcome}.png",
                                     alt=f"{analysis} {outcome}"))
            unit = _unit(outcome)
            p = d[(d["outcome"] == outcome) & (d["pairing"] == "paired")]
            if analysis == "morris":
                p = p.sort_values(["scenario", "mu_star"], ascending=[True, False])
                rows = [[html.escape(r["scenario"]), html.escape(r["key"]), fmt(r["mu_star"], unit),
                         fmt(r["mu_star_conf"], unit), fmt(r["mu"], unit, True), fmt(r["sigma"], unit)]
                        for _, r in p.iterrows()]
                parts.append(html_table(rows, ["scenario", "key", "mu*", "95% interval +/-", "mu", "sigma"]))
            else:
                p = p.sort_values(["scenario", "ST"], ascending=[True, False])
                rows = [[html.escape(r["scenario"]), html.escape(r["key"]), f"{r['S1']:.3f} &plusmn; {r['S1_conf']:.3f}",
                         f"{r['ST']:.3f} &plusmn; {r['ST_conf']:.3f}"] for _, r in p.iterrows()]
                parts.append(html_table(rows, ["scenario", "key", "S1 [95%]", "ST [95%]"]))
    parts.append("<h2>Files</h2><p class=note><code>experiments.parquet</code>: one row per future, scenario and "
                 "seed, a column per uncertain key and per outcome (<code>&lt;outcome&gt;_unpaired</code>: against the "
                 "baseline at the next seed); <code>indices.parquet</code>: Morris and Sobol' indices (pairing "
                 "<code>paired</code>: averaged over seeds, as shown here; <code>paired_seed0</code> and "
                 "<code>unpaired_seed0</code>: the one-seed design with and without pairing); <code>robustness.parquet</code> and <code>win_shares.parquet</code>: the robustness tables; "
                 "<code>design.parquet</code>: every future's quantiles and values; <code>configs/future/</code>: the "
                 "futures as configs (<code>cxsim --config-dir &lt;this folder&gt;/configs +future=&lt;name&gt;</code> "
                 "reruns one). Rebuild with <code>cxsim-explore " + html.escape(spec.name) + "</code>.</p>")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>cxsim exploration: {html.escape(spec.name)}</title>"
            f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>\n")
    path = out_dir / "report.html"
    path.write_text(page)
    return path
