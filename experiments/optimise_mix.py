"""Search a mix of CX programmes for the largest incremental NPV within a CX budget (Optuna).

Each trial switches a set of programmes (configs/intervention/*.yaml that apply to the preset) on
or off, runs the mix at every seed of a fixed seed set and pairs each run with the baseline at the same seed (common
random numbers, sim.roi.compare_runs). The objective is the mean incremental NPV over the seeds;
a mix whose mean CX spend (present value) exceeds the budget is infeasible and ranked below every
feasible mix, the further over budget the lower. The first trials are the baseline and each
programme alone; then Optuna's TPE sampler combines them. The sampler is seeded, so the same
arguments give the same trials.

    pip install -e ".[optuna]"     # Optuna (and the Hydra Optuna sweeper); current Optuna works too
    python experiments/optimise_mix.py --budget-musd 3 --trials 40
    python experiments/optimise_mix.py --trials 8 --agents 5000 --years 5 --seeds 0,1   # quick look

Writes <out>/trials.csv (every trial), <out>/best.json and <out>/best_mix.yaml, a scenario file
for the best mix: copy it to configs/scenario/ and run it against the baseline with
`cxsim -m scenario=baseline,best_mix seed='range(0,20)'` for the full paired report.

Why not hydra/sweeper=optuna: a Hydra job is one run at one seed and returns one number, so the
sweeper cannot average a trial over a seed set or pair it with the baseline; driving Optuna from
this script can, and it works with the Optuna the sweeper installs (2.10) and with current Optuna.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from sim import load_config
from sim.compare import paired_stats
from sim.config import ConfigError
from sim.roi import compare_runs
from sim.runner import run

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
# not CX programmes to fund: a price cut and a policy relaxation are levers of another kind
NOT_CANDIDATES = {"price_change", "anti_abuse_relaxation"}


def candidates() -> list[str]:
    return sorted(p.stem for p in (CONFIGS / "intervention").glob("*.yaml") if p.stem not in NOT_CANDIDATES)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budget-musd", type=float, default=3.0, help="CX spend budget, USD million, present value over the run")
    p.add_argument("--trials", type=int, default=40)
    p.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seed set every trial is evaluated on")
    p.add_argument("--preset", default="utility")
    p.add_argument("--agents", type=int, default=50000,
                   help="agents simulated; the firm is the preset's population.n_customers")
    p.add_argument("--years", type=int, default=20)
    p.add_argument("--programmes", help="comma-separated candidates (default: every programme in configs/intervention "
                                        "except price_change and anti_abuse_relaxation)")
    p.add_argument("--sampler-seed", type=int, default=0)
    p.add_argument("--no-warm-start", dest="warm_start", action="store_false",
                   help="skip the first trials that try each programme alone (random mixes of many "
                        "programmes are mostly over budget, so the search learns slowly without them)")
    p.add_argument("--storage", help="Optuna storage URL, e.g. sqlite:///results/optimise_mix/study.db, to resume a search")
    p.add_argument("--out", default="results/optimise_mix")
    a = p.parse_args(argv)

    try:
        import optuna
    except ImportError:
        print("optimise_mix: Optuna is not installed: pip install -e \".[optuna]\" (or pip install optuna)", file=sys.stderr)
        return 2
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # enqueue_trial in Optuna 2

    seeds = [int(s) for s in a.seeds.split(",") if s.strip()]
    programmes = [s.strip() for s in a.programmes.split(",")] if a.programmes else candidates()
    unknown = sorted(set(programmes) - set(candidates()) - NOT_CANDIDATES)
    if unknown:
        print(f"optimise_mix: unknown programmes {unknown}; known: {', '.join(candidates())}", file=sys.stderr)
        return 2
    common = [f"population={a.preset}", f"population.n_agents={a.agents}", f"years={a.years}", "progress=false"]
    applicable = []
    for m in programmes:  # some programmes act on behaviours only one preset has
        try:
            load_config(common + [f"+intervention@interventions.{m}={m}"])
            applicable.append(m)
        except ConfigError:
            print(f"optimise_mix: {m} does not apply to the {a.preset} preset: left out")
    programmes = applicable
    budget = a.budget_musd * 1e6
    base_cfg = load_config(common)
    baseline = {s: run(base_cfg, seed=s).monthly for s in seeds}  # once per seed, shared by every trial
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []

    cache: dict[tuple[str, ...], dict] = {}  # TPE proposes the same mix again now and then

    def evaluate(mix: list[str]) -> dict:
        if tuple(mix) not in cache:
            cache[tuple(mix)] = simulate(mix)
        return cache[tuple(mix)]

    def simulate(mix: list[str]) -> dict:
        if not mix:
            return {"npv": np.zeros(len(seeds)), "spend": np.zeros(len(seeds))}
        cfg = load_config(common + [f"+intervention@interventions.{m}={m}" for m in mix])
        cfg = dataclasses.replace(cfg, scenario="mix")
        npv, spend = [], []
        for s in seeds:
            r = compare_runs(run(cfg, seed=s).monthly, baseline[s])
            npv.append(r["incremental_npv"])
            spend.append(r["cx_spend_pv"])
        return {"npv": np.array(npv), "spend": np.array(spend)}

    def objective(trial) -> float:
        mix = [m for m in programmes if trial.suggest_categorical(m, [False, True])]
        started = time.perf_counter()
        res = evaluate(mix)
        st = paired_stats(res["npv"], +1)
        spend = float(res["spend"].mean())
        feasible = spend <= budget
        # infeasible mixes rank below every feasible one, the further over budget the lower
        value = st["mean_diff"] if feasible else -1e12 - (spend - budget)
        row = {"trial": trial.number, "programmes": "+".join(mix) or "(none)", "feasible": feasible,
               "incremental_npv_mean": st["mean_diff"], "ci_low": st["ci_low"], "ci_high": st["ci_high"],
               "cx_spend_pv_mean": spend, "seconds": round(time.perf_counter() - started, 1)}
        rows.append(row)
        ci = "" if math.isnan(st["ci_low"]) else f" [{st['ci_low'] / 1e6:+.2f}, {st['ci_high'] / 1e6:+.2f}]"
        print(f"trial {trial.number:3d}: NPV {st['mean_diff'] / 1e6:+7.2f}M{ci}, spend {spend / 1e6:5.2f}M"
              f"{'' if feasible else ' OVER BUDGET'}  {row['programmes']}", flush=True)
        return value

    sampler = optuna.samplers.TPESampler(seed=a.sampler_seed)
    study = optuna.create_study(direction="maximize", sampler=sampler, storage=a.storage,
                                study_name="optimise_mix", load_if_exists=bool(a.storage))
    study.enqueue_trial({m: False for m in programmes})  # the baseline itself: always feasible
    if a.warm_start:  # each programme alone first: the sampler learns what each is worth and costs
        for m in programmes:
            study.enqueue_trial({k: k == m for k in programmes})
    study.optimize(objective, n_trials=a.trials)

    with (out / "trials.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    best = max((r for r in rows if r["feasible"]), key=lambda r: r["incremental_npv_mean"])
    best_mix = [] if best["programmes"] == "(none)" else best["programmes"].split("+")
    record = {**best, "budget_usd": budget, "seeds": seeds, "preset": a.preset, "agents": a.agents, "years": a.years}
    record = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in record.items()}  # JSON has no NaN
    (out / "best.json").write_text(json.dumps(record, indent=2, allow_nan=False) + "\n")
    lines = ["# @package _global_", f"# Best mix found by experiments/optimise_mix.py (budget ${a.budget_musd}M PV, "
             f"seeds {a.seeds}, {a.agents} agents, {a.years} years)."]
    if best_mix:
        lines += ["defaults:"] + [f"  - /intervention@interventions.{m}: {m}" for m in best_mix]
    lines += ["", "scenario: best_mix"]
    (out / "best_mix.yaml").write_text("\n".join(lines) + "\n")
    print(f"best within budget: {best['programmes']}: incremental NPV {best['incremental_npv_mean'] / 1e6:+.2f}M "
          f"[{best['ci_low'] / 1e6:+.2f}, {best['ci_high'] / 1e6:+.2f}] over {len(seeds)} seeds, CX spend "
          f"{best['cx_spend_pv_mean'] / 1e6:.2f}M PV -> {out}/best_mix.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
