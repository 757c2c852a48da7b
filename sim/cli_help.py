"""`cxsim --help`: what a user can choose, read from configs/ so it never drifts from them.

Hydra's own page ("powered by Hydra", every config group including the ``intervention`` files
that only scenarios use, and the whole resolved config) stays available as ``--hydra-help``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

_WIDTH = 100


def _summary(path: Path) -> str:
    """The first comment line after ``# @package``: what the file is, in its own words."""
    for line in path.read_text().splitlines():
        text = line.strip()
        if text.startswith("#") and "@package" not in text:
            return text.lstrip("# ").strip()
        if text and not text.startswith("#"):
            break
    return ""


def _choices(folder: Path, indent: str = "  ") -> list[str]:
    rows = []
    names = sorted(folder.glob("*.yaml"))
    width = max((len(p.stem) for p in names), default=0)
    for p in names:
        line = f"{indent}{p.stem:<{width}}  {_summary(p)}"
        rows.append(line if len(line) <= _WIDTH else line[: _WIDTH - 3] + "...")
    return rows


def help_text(config_dir: str) -> str:
    from sim.config import RunConfig

    cfg = Path(config_dir)
    sections = [f for f in RunConfig.__dataclass_fields__ if f not in ("seed", "years", "warmup_years", "scenario",
                                                                        "progress", "roi")]
    lines = [
        "cxsim: agent-based what-if simulator for customer-experience strategy",
        "",
        "Usage:",
        "  cxsim [key=value ...]                 one run (defaults: the utility preset, 20 years, seed 0)",
        "  cxsim -m key=a,b seed='range(0,10)'   a sweep: every combination, then a paired comparison",
        "  cxsim +experiment=<study>             a ready study (a sweep)",
        "  cxsim --cfg job                       print the resolved config and stop",
        "",
        "Examples:",
        "  cxsim population=telecom years=10 seed=3",
        "  cxsim scenario=ebilling_push population.n_agents=5000",
        "  cxsim -m scenario=baseline,ebilling_push,resolved_programme seed='range(0,20)' roi=false",
        "",
        "Presets (population=<name>):",
        *_choices(cfg / "population"),
        "",
        "Scenarios (scenario=<name>; each switches programmes on over the preset):",
        *_choices(cfg / "scenario"),
        "",
        "Ready studies (+experiment=<name>):",
        *_choices(cfg / "experiment"),
        "",
        "Contract terms (+contracts=<name>):",
        *_choices(cfg / "contracts"),
        "",
        *textwrap.wrap("Top-level keys: seed, years, warmup_years, scenario, progress, roi; sections: "
                       + ", ".join(sections) + ".", _WIDTH),
        "Every key, its unit and its default: sim/config.py, or `cxsim --cfg job`. Naming: rate_* per",
        "month, p_* probabilities, dur_* durations (unit in the name), cost_* USD, rel_* multipliers,",
        "sat_* points on the 0-10 scale.",
        "",
        "Other commands: cxsim-compare (paired comparison from disk), cxsim-regress (seeded regression",
        "for CI), cxsim-calibrate (fit parameters to data), cxsim-explore (which assumptions drive the",
        "ranking: Morris, Sobol', robustness), cxsim-dashboard (live paired comparisons in a browser),",
        "cxsim-bench (speed). Each has --help.",
        "Hydra's own options and help: cxsim --hydra-help.",
    ]
    return "\n".join(lines)
