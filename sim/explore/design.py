"""The futures an exploration runs: SALib's samplers on the unit hypercube, mapped to each key's
distribution, and one Hydra config per future for the sweep to compose.

Sampling happens on quantiles (every key uniform on [0, 1]) and each key's inverse CDF maps a
quantile to its value. Sobol' indices do not change under such a per-key monotone map, and Morris
elementary effects are then taken per unit of a key's quantile range, the usual way to screen
non-uniform inputs (Saltelli et al. 2008, section 3.4): mu* is comparable across keys whatever
their units.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sim.explore.spec import ExploreSpec

FUTURE_GROUP = "future"  # the Hydra config group the futures are options of


def unit_problem(spec: ExploreSpec) -> dict:
    """SALib's problem on quantiles: every key on [0, 1]."""
    return {"num_vars": len(spec.keys), "names": list(spec.keys), "bounds": [[0.0, 1.0]] * len(spec.keys)}


def unit_samples(spec: ExploreSpec, analysis: str) -> np.ndarray:
    """The analysis's design on quantiles, one row per future, from SALib's sampler for it."""
    problem, opts, seed = unit_problem(spec), spec.analyses[analysis], spec.design_seed
    if analysis == "morris":
        from SALib.sample import morris

        return morris.sample(problem, opts["trajectories"], num_levels=opts["levels"], seed=seed)
    if analysis == "sobol":
        from SALib.sample import sobol

        return sobol.sample(problem, opts["n"], calc_second_order=False, scramble=True, seed=seed)
    from SALib.sample import latin

    return latin.sample(problem, opts["n"], seed=seed)


def future_name(spec: ExploreSpec, analysis: str, index: int) -> str:
    return f"{spec.name}_{analysis}_{index:05d}"


def future_glob(spec: ExploreSpec, analysis: str) -> str:
    """The pattern of ``future_name`` over every index: the futures of one analysis."""
    return f"{spec.name}_{analysis}_*"


def design_table(spec: ExploreSpec, analyses: list[str] | None = None) -> pd.DataFrame:
    """One row per future: analysis, sample index, future name, each key's quantile and value."""
    frames = []
    for analysis in analyses or list(spec.analyses):
        units = unit_samples(spec, analysis)
        frame = pd.DataFrame({"analysis": analysis, "sample": np.arange(len(units)),
                              "future": [future_name(spec, analysis, i) for i in range(len(units))]})
        for j, u in enumerate(spec.uncertainties):
            frame[f"q.{u.key}"] = units[:, j]
            frame[u.key] = u.from_unit(units[:, j])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def future_yaml(spec: ExploreSpec, row: pd.Series) -> str:
    """The config of one future: its name and the values of the uncertain keys, written so they read
    back as exactly the same floats (repr is the shortest round-trip text)."""
    lines = [f"# {spec.name}: future {row['sample']} of the {row['analysis']} design (cxsim-explore)",
             f"name: {row['future']}", "values:"]
    for key in spec.keys:
        text = repr(float(row[key]))
        if "e" in text and "." not in text.split("e")[0]:  # YAML 1.1 reads 1e-05 as text: write 1.0e-05
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent}"
        lines.append(f"  {key}: {text}")
    return "\n".join(lines) + "\n"


def write_futures(folder: Path, spec: ExploreSpec, design: pd.DataFrame) -> None:
    """configs/future/<future>.yaml under ``folder``: the config dir the sweep is given."""
    group = folder / FUTURE_GROUP
    group.mkdir(parents=True, exist_ok=True)
    for _, row in design.iterrows():
        (group / f"{row['future']}.yaml").write_text(future_yaml(spec, row))
