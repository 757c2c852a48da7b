"""What the futures say: Morris screening, Sobol' indices (SALib) and the robustness of the ranking.

Each works on the experiments table (``sim.explore.outcomes``): the outcome of a future is the
mean over seeds of the scenario's paired difference from the baseline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.explore.design import unit_problem
from sim.explore.outcomes import UNPAIRED, sample_means
from sim.explore.spec import ExploreSpec

LEVEL = 0.95
DO_NOTHING = "do nothing"  # the option every scenario must beat: the baseline, incremental NPV 0


def _columns(spec: ExploreSpec, table: pd.DataFrame) -> list[tuple[str, str, str, int | None]]:
    """(outcome, pairing, column, seed) for every outcome.

    "paired" is the published index: the outcome averaged over seeds. Averaged over every seed, a
    difference against the baseline at another seed has the same mean, so pairing shows in a
    one-seed design: "paired_seed0" takes seed 0 against the baseline at seed 0, "unpaired_seed0"
    seed 0 against the baseline at seed 1 (same futures, other random numbers).
    """
    out = []
    for o in spec.outcomes:
        out.append((o, "paired", o, None))
        if f"{o}{UNPAIRED}" in table:
            out += [(o, "paired_seed0", o, 0), (o, "unpaired_seed0", f"{o}{UNPAIRED}", 0)]
    return out


def morris_indices(spec: ExploreSpec, design: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """mu, mu*, its bootstrap interval and sigma per scenario, outcome and key (per unit quantile)."""
    from SALib.analyze import morris

    opts, problem = spec.analyses["morris"], unit_problem(spec)
    d = design[design["analysis"] == "morris"].sort_values("sample")
    x = d[[f"q.{k}" for k in spec.keys]].to_numpy(float)
    rows = []
    for scenario in spec.scenarios:
        for outcome, pairing, col, seed in _columns(spec, table):
            y = sample_means(table, "morris", scenario, col, seed)
            r = morris.analyze(problem, x, y, num_resamples=1000, conf_level=LEVEL, num_levels=opts["levels"],
                               seed=spec.design_seed)
            for j, key in enumerate(spec.keys):
                rows.append({"analysis": "morris", "scenario": scenario, "outcome": outcome, "pairing": pairing,
                             "key": key, "mu": float(r["mu"][j]), "mu_star": float(r["mu_star"][j]),
                             "mu_star_conf": float(r["mu_star_conf"][j]), "sigma": float(r["sigma"][j])})
    return pd.DataFrame(rows)


def sobol_indices(spec: ExploreSpec, design: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """First-order and total Sobol' indices with bootstrap intervals per scenario, outcome and key."""
    from SALib.analyze import sobol

    opts, problem = spec.analyses["sobol"], unit_problem(spec)
    rows = []
    for scenario in spec.scenarios:
        for outcome, pairing, col, seed in _columns(spec, table):
            y = sample_means(table, "sobol", scenario, col, seed)
            if np.ptp(y) == 0:  # nothing moves this outcome: every index is 0, not 0/0
                r = {k: np.zeros(len(spec.keys)) for k in ("S1", "S1_conf", "ST", "ST_conf")}
            else:
                # a Generator, not the int: SALib 1.6's Sobol' analysis tests `if seed:`, so seed 0
                # (the default design_seed) would bootstrap from numpy's global generator
                r = sobol.analyze(problem, y, calc_second_order=False, num_resamples=opts["resamples"],
                                  conf_level=LEVEL, seed=np.random.default_rng(spec.design_seed))
            for j, key in enumerate(spec.keys):
                rows.append({"analysis": "sobol", "scenario": scenario, "outcome": outcome, "pairing": pairing,
                             "key": key, "S1": float(r["S1"][j]), "S1_conf": float(r["S1_conf"][j]),
                             "ST": float(r["ST"][j]), "ST_conf": float(r["ST_conf"][j])})
    return pd.DataFrame(rows)


def pairing_gain(indices: pd.DataFrame) -> pd.DataFrame:
    """How many times narrower the Morris mu* intervals are with pairing, per scenario and outcome:
    the one-seed design's median interval width against the baseline at another seed divided by
    against the baseline at the same seed (the same runs).

    Morris only: mu* is in the outcome's unit, so its interval is a yardstick. Sobol' indices are
    shares of the variance; noise shrinks them all, so their intervals are not one.
    """
    rows = []
    morris = indices[indices["analysis"] == "morris"] if not indices.empty else indices
    for (scenario, outcome), g in (morris.groupby(["scenario", "outcome"], sort=True) if not morris.empty else []):
        paired = g.loc[g["pairing"] == "paired_seed0", "mu_star_conf"].median()
        unpaired = g.loc[g["pairing"] == "unpaired_seed0", "mu_star_conf"].median()
        if not np.isfinite(unpaired):
            continue
        rows.append({"analysis": "morris", "scenario": scenario, "outcome": outcome,
                     "median_paired": paired, "median_unpaired": unpaired,
                     "narrowing": unpaired / paired if paired > 0 else np.nan})
    return pd.DataFrame(rows)


def robustness(spec: ExploreSpec, design: pd.DataFrame, table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Over the Latin hypercube futures: per option (each scenario and doing nothing) the share of
    futures in which its incremental NPV is positive, the share in which it is best, its regret
    (best NPV in that future minus its own) and its NPV spread; and per uncertain key, those shares
    in equal-width bins of the key's quantile range (the win-share curves)."""
    d = design[design["analysis"] == "robustness"].sort_values("sample")
    npv = np.column_stack([np.zeros(len(d))] + [sample_means(table, "robustness", s, "incremental_npv")
                                                 for s in spec.scenarios])
    options = [DO_NOTHING, *spec.scenarios]
    best = npv.max(axis=1)
    winner = npv.argmax(axis=1)  # ties go to the first option: doing nothing, then the spec's order
    regret = best[:, None] - npv
    summary = []
    for j, option in enumerate(options):
        summary.append({"option": option, "futures": len(d),
                        "share_positive": float(np.mean(npv[:, j] > 0)) if j else np.nan,
                        "share_best": float(np.mean(winner == j)),
                        "npv_mean": float(npv[:, j].mean()), "npv_p05": float(np.quantile(npv[:, j], 0.05)),
                        "npv_p95": float(np.quantile(npv[:, j], 0.95)),
                        "regret_mean": float(regret[:, j].mean()),
                        "regret_p90": float(np.quantile(regret[:, j], 0.9)), "regret_max": float(regret[:, j].max())})
    bins = spec.analyses["robustness"]["bins"]
    curves = []
    for key in spec.keys:
        q = d[f"q.{key}"].to_numpy(float)
        values = d[key].to_numpy(float)
        which = np.minimum((q * bins).astype(int), bins - 1)
        for b in range(bins):
            inside = which == b
            if not inside.any():
                continue
            for j, option in enumerate(options):
                curves.append({"key": key, "bin": b, "q_low": b / bins, "q_high": (b + 1) / bins,
                               "value_low": float(values[inside].min()), "value_high": float(values[inside].max()),
                               "value_mid": float(np.median(values[inside])), "futures": int(inside.sum()),
                               "option": option, "share_best": float(np.mean(winner[inside] == j)),
                               "share_positive": float(np.mean(npv[inside, j] > 0)) if j else np.nan})
    return pd.DataFrame(summary), pd.DataFrame(curves)
