"""Hydra callback: when a multirun ends, build the paired comparison of its scenarios.

Configured in configs/config.yaml under ``hydra.callbacks.compare``. The scope of a comparison
is the sweep's (parameter point, scenario) cells, worked out from the sweep's overrides the
way Hydra's basic sweeper expands them (so any launcher gives the same scope); the baseline of
each point is added when it is on disk. Every complete seed on disk in those cells is used, so a
sweep run in pieces (``seed='range(0,10)'`` today, ``seed='range(10,20)'`` tomorrow) compares all
of them. The comparison is written to ``<output.root>/comparisons/<name>/`` (``sim.compare``).

Like sim/cli.py, this module imports Hydra; the rest of the library does not.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def config_loader(config_dir: str | None = None):
    """Hydra's config loader over configs/ (and a --config-dir, searched after it, before the schema)."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path
    from hydra.core.config_search_path import SearchPathQuery

    from sim.cli import CONFIG_DIR

    search = create_config_search_path(CONFIG_DIR)
    if config_dir:  # as Hydra adds --config-dir
        search.prepend(provider="command-line", path=f"file://{os.path.realpath(config_dir)}",
                       anchor=SearchPathQuery(provider="schema"))
    return ConfigLoaderImpl(config_search_path=search)


def override_parser(loader=None):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create(config_loader=loader or config_loader())  # the loader expands glob()


def grid_jobs(hydra_cfg: DictConfig, parser) -> list[list[str]]:
    """The jobs of a grid sweep as Hydra's basic sweeper expands them: sweeper params, then overrides."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    params = OmegaConf.select(hydra_cfg, "sweeper.params") or {}
    args = [f"{k}={v}" for k, v in params.items()] + list(hydra_cfg.overrides.task)
    return [list(job) for job in BasicSweeper.split_arguments(parser.parse_overrides(args), None)[0]]


def point_name(parsed_overrides, hydra_cfg: DictConfig) -> str:
    """The run folder's parameter point: Hydra's override_dirname of a job, or "default"."""
    from hydra._internal.config_loader_impl import get_overrides_dirname

    od = hydra_cfg.job.config.override_dirname
    return get_overrides_dirname(overrides=parsed_overrides, exclude_keys=list(od.exclude_keys),
                                 item_sep=od.item_sep, kv_sep=od.kv_sep) or "default"


def load_multirun_yaml(path: str | Path) -> DictConfig:
    """The config a sweep saved as multirun.yaml, as OmegaConf.load reads it: only the parts
    ``sweep_scope`` reads (Hydra's settings, output and scenario) are made a DictConfig."""
    import yaml

    from sim.fast_yaml import omegaconf_loader

    with open(path, encoding="utf-8") as f:
        data = yaml.load(f, Loader=omegaconf_loader())  # noqa: S506 - OmegaConf's safe rules
    return OmegaConf.create({k: data[k] for k in ("hydra", "output", "scenario") if k in data})


def sweep_scope(config: DictConfig | str | Path, baseline: str | None = None,
                name: str | None = None) -> dict[str, Any] | None:
    """Results root, (point, scenario) cells, baseline and name of a multirun.

    ``config`` is the multirun's config (as the callback gets it) or the path of the
    ``multirun.yaml`` Hydra saved in the sweep folder. None if the sweeper is not Hydra's basic
    grid sweeper (an Optuna search has no fixed grid to compare).
    """
    cfg = load_multirun_yaml(config) if isinstance(config, (str, Path)) else config
    hydra_cfg = cfg.hydra
    if OmegaConf.select(hydra_cfg, "sweeper._target_") != BASIC_SWEEPER:
        return None
    parser = override_parser()
    jobs = grid_jobs(hydra_cfg, parser)
    cwd = Path(OmegaConf.select(hydra_cfg, "runtime.cwd") or os.getcwd())
    cb = OmegaConf.select(hydra_cfg, "callbacks.compare") or {}
    baseline = baseline or cb.get("baseline") or "baseline"
    roots, cells = set(), set()
    known: dict[str, Any] = {}  # each distinct override parsed once (a seed list repeats the others)
    for job in jobs:
        parsed = [known[o] if o in known else known.setdefault(o, parser.parse_overrides([o])[0]) for o in job]
        values = {o.key_or_group: o.value() for o in parsed}
        if values.get("output.run_dir", cfg.output.run_dir):
            continue  # written to an explicit folder, outside the <root>/<scenario>/<point> layout
        scenario = str(values.get("scenario", cfg.scenario))
        roots.add(str(values.get("output.root", cfg.output.root)))
        cells.add((point_name(parsed, hydra_cfg), scenario))
    if len(roots) > 1:
        print(f"cxsim: the sweep writes under several roots {sorted(roots)}; comparing {sorted(roots)[0]} only",
              file=sys.stderr)
    root = Path(sorted(roots)[0]) if roots else Path(cfg.output.root)
    root = root if root.is_absolute() else cwd / root
    return {"root": root, "cells": sorted(cells), "baseline": baseline, "name": name or cb.get("name")}


class CompareCallback(Callback):
    """``on_multirun_end``: compare the sweep's scenarios with the baseline, seed by seed.

    Options (``hydra.callbacks.compare.<option>=...`` on the command line):
      baseline  scenario every other scenario is compared with (default "baseline")
      name      folder under <output.root>/comparisons/ (default: derived from the scenarios)
      enabled   false to skip the comparison
      figures   false for tables and JSON only (faster)
    A failure here is reported and does not fail the sweep: its runs are on disk, and
    ``cxsim-compare`` builds the comparison from them.
    """

    def __init__(self, baseline: str = "baseline", name: str | None = None, enabled: bool = True,
                 figures: bool = True) -> None:
        self.baseline, self.name, self.enabled, self.figures = baseline, name, enabled, figures

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not self.enabled:
            return
        try:
            scope = sweep_scope(config, self.baseline, self.name)
            if scope is None:
                print("cxsim: no comparison: the sweeper is not the grid sweeper (hydra/sweeper=basic)")
                return
            if not scope["cells"]:
                print("cxsim: no comparison: the sweep wrote no run under output.root")
                return
            from sim.compare import build_comparison

            build_comparison(scope["root"], scope["cells"], baseline=scope["baseline"], name=scope["name"],
                             figures=self.figures)
        except Exception as err:  # the runs are safe on disk; say how to build it later
            print(f"cxsim: comparison not built ({type(err).__name__}: {err}); "
                  f"build it from disk with: cxsim-compare <output.root>", file=sys.stderr)
