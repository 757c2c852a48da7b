"""The cxsim dashboard (Solara): set up a paired comparison, watch it grow, open results from disk.

Served by `cxsim-dashboard` (sim/dashboard/cli.py), which passes its defaults in CXSIM_DASHBOARD_*
environment variables. Solara is Mesa's own dashboard stack (SolaraViz), so a Mesa user meets the
same widgets; it is pinned with solara-assets so the page's front end is served from the package,
with no CDN (this must run on a machine without internet).
"""

from __future__ import annotations

import copy
import html
import os
from pathlib import Path

import solara
from solara.lab import task

from sim.cli import config_options, load_config
from sim.config import ConfigError
from sim.dashboard.live import SERIES, LiveComparison

RESULTS = Path(os.environ.get("CXSIM_DASHBOARD_RESULTS", "results"))
PRESETS = config_options("population")
SCENARIOS = [s for s in config_options("scenario") if s != "baseline"]

preset = solara.reactive(os.environ.get("CXSIM_DASHBOARD_PRESET", "utility"))
chosen = solara.reactive([os.environ.get("CXSIM_DASHBOARD_SCENARIO", "ebilling_push")])
agents = solara.reactive(int(os.environ.get("CXSIM_DASHBOARD_AGENTS", "5000")))
years = solara.reactive(int(os.environ.get("CXSIM_DASHBOARD_YEARS", "5")))
seeds = solara.reactive(int(os.environ.get("CXSIM_DASHBOARD_SEEDS", "3")))
settings = solara.reactive({})  # programme -> {"on": bool, "start_month": int, "effects": {index: value}}
live = solara.reactive(None)  # the LiveComparison's frame so far
status = solara.reactive("Choose scenarios and press Run.")


def _compose(scenario: str):
    return load_config([f"population={preset.value}", f"scenario={scenario}", f"population.n_agents={agents.value}",
                        f"years={years.value}", "progress=false"])


def _programmes(configs: dict) -> dict[str, object]:
    out = {}
    for cfg in configs.values():
        for name, p in cfg.interventions.items():
            out.setdefault(name, p)
    return out


def _effect_range(effect) -> tuple[float, float]:
    """Slider bounds for an effect's value: probabilities stay in [0, 1], the rest up to twice."""
    last = effect.param.rsplit(".", 1)[-1]
    if effect.op == "set" and (last.startswith("p_") or last == "share"):
        return 0.0, 1.0
    if effect.op == "add":
        span = max(abs(effect.value), 1e-6) * 2
        return -span, span
    return 0.0, max(abs(effect.value), 1e-6) * 2


def scenario_configs() -> dict:
    """The chosen scenarios as configs, with the programme switches and sliders applied."""
    out = {}
    for scenario in chosen.value:
        cfg = _compose(scenario)
        for name, s in settings.value.items():
            if name not in cfg.interventions:
                continue
            if not s.get("on", True):
                del cfg.interventions[name]
                continue
            p = cfg.interventions[name]
            p.start_month = int(s.get("start_month", p.start_month))
            for i, value in s.get("effects", {}).items():
                p.effects[int(i)].value = float(value)
        out[scenario] = cfg
    return out


@task
def simulate() -> None:
    try:
        configs = scenario_configs()
        configs = {k: v for k, v in configs.items() if v.interventions}
        if not configs:
            status.set("Every programme is switched off: nothing to compare with the baseline.")
            return
        lc = LiveComparison(configs, list(range(seeds.value)))
    except (ConfigError, ValueError) as err:
        status.set(f"Cannot run: {err}")
        return
    status.set(f"Running {len(configs)} scenario(s) and the baseline at {seeds.value} seeds ...")
    step = max(1, lc.months // 20)
    while not lc.done:
        lc.advance(step)
        live.set(lc.frame())
        status.set(f"month {lc.month} of {lc.months}")
    frame = lc.frame()
    last = frame[(frame["series"] == "cum_npv") & (frame["month"] == lc.months - 1)]
    parts = []
    for _, r in last.iterrows():
        band = "" if r["low"] != r["low"] else f" (95% interval {r['low']:+.2f} to {r['high']:+.2f})"
        parts.append(f"{r['scenario']}: {r['mean']:+.2f} $M{band}")
    status.set(f"Done: incremental NPV after {lc.months} months, paired over {seeds.value} seeds: " + "; ".join(parts))


@solara.component
def ProgrammeControls(programmes: dict) -> None:
    for name, p in programmes.items():
        s = settings.value.get(name, {})

        def update(key, value, name=name):
            new = copy.deepcopy(settings.value)
            new.setdefault(name, {"on": True, "effects": {}})
            if key == "effects":
                new[name]["effects"].update(value)
            else:
                new[name][key] = value
            settings.set(new)

        with solara.Card(p.label or name, margin=0, elevation=1):
            solara.Checkbox(label="switched on", value=s.get("on", True), on_value=lambda v, u=update: u("on", v))
            start = int(s.get("start_month", p.start_month))
            solara.SliderInt(f"start month: {start}", value=start, min=0,
                             max=max(0, years.value * 12 - 1), on_value=lambda v, u=update: u("start_month", v))
            for i, e in enumerate(p.effects):
                low, high = _effect_range(e)
                current = float(s.get("effects", {}).get(i, e.value))
                solara.SliderFloat(f"{e.param} ({e.op}): {current:.3g}", value=current, min=low, max=high,
                                   step=(high - low) / 100, on_value=lambda v, i=i, u=update: u("effects", {i: v}))


@solara.component
def LivePlot() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = live.value
    if frame is None or frame.empty:
        solara.Markdown("*The paired difference against the baseline appears here, month by month.*")
        return
    fig, axes = plt.subplots(1, len(SERIES), figsize=(14, 3.8))
    for ax, (key, (label, unit, _)) in zip(axes, SERIES.items()):
        for scenario, g in frame[frame["series"] == key].groupby("scenario"):
            x = (g["month"] + 1) / 12
            ax.plot(x, g["mean"], label=scenario)
            ax.fill_between(x, g["low"], g["high"], alpha=0.2)
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set(title=label, xlabel="year", ylabel=unit)
    axes[0].legend(fontsize=8)
    fig.suptitle("Scenario minus baseline at the same seed: mean over seeds, 95% interval shaded", fontsize=10)
    fig.tight_layout()
    solara.FigureMatplotlib(fig)
    plt.close(fig)


def saved_results() -> dict[str, Path]:
    """Finished comparisons and explorations under the results root, by a readable name."""
    out = {}
    for kind in ("comparisons", "explorations"):
        for folder in sorted((RESULTS / kind).glob("*")):
            if (folder / "manifest.json").is_file() and (folder / "report.html").is_file():
                out[f"{kind[:-1]}: {folder.name}"] = folder
    return out


@solara.component
def FromDisk() -> None:
    found = saved_results()
    picked, set_picked = solara.use_state(None)
    if not found:
        solara.Markdown(f"No finished comparison or exploration under `{RESULTS}` yet.")
        return
    solara.Select("open", values=list(found), value=picked, on_value=set_picked)
    if picked in found:
        page = (found[picked] / "report.html").read_text()
        solara.HTML(tag="iframe", attributes={"srcdoc": page, "style": "width:100%;height:900px;border:0",
                                               "title": html.escape(picked)})


@solara.component
def Page() -> None:
    solara.Title("cxsim dashboard")
    configs = solara.use_memo(lambda: {s: _compose(s) for s in chosen.value},
                              dependencies=[preset.value, tuple(chosen.value), agents.value, years.value])
    with solara.Sidebar():
        solara.Markdown("## cxsim dashboard")
        solara.Select("preset", values=PRESETS, value=preset)
        solara.SelectMultiple("scenarios", chosen, SCENARIOS)
        solara.SliderInt(f"agents: {agents.value:,}", value=agents, min=500, max=50_000, step=500)
        solara.SliderInt(f"years: {years.value}", value=years, min=1, max=20)
        solara.SliderInt(f"seeds: {seeds.value}", value=seeds, min=1, max=10)
        solara.Button("Run", on_click=simulate, disabled=simulate.pending, color="primary")
    with solara.lab.Tabs():
        with solara.lab.Tab("Compare live"):
            solara.Markdown(status.value)
            LivePlot()
            solara.Markdown("### Programmes")
            ProgrammeControls(_programmes(configs))
        with solara.lab.Tab("Open from disk"):
            FromDisk()
