"""A sweep's jobs that differ only in their seed share one Hydra composition.

Hydra composes every job of a multirun from scratch (``ConfigLoaderImpl.load_sweep_config``):
some twenty YAML files merged into the schema, about 0.3 s a job here, more than a small run
takes. A seed override changes nothing in that composition but the ``seed`` value, the job's
override list and the name Hydra derives from it, so the jobs of one point at other seeds are made
from the first one's composition: a copy with those three set exactly as Hydra sets them. Any job
whose overrides are not "the same as an earlier job's but for ``seed=<integer>``" is composed by
Hydra as before. The same holds for the job's validated RunConfig (``run_config_of``: 50 ms a
job). ``tests/test_sweep.py`` checks that a shared composition equals Hydra's own, the Hydra node
included, and that the runs of a sweep are the same bytes as runs made one by one.

Installed by sim/cli.py when it is imported, so in the launching process and in a launcher's
workers (which import it to find the task function) alike.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from sim.config import RunConfig, valid_seed

_SEED_OVERRIDE = re.compile(r"seed=(\d+)")
_CACHE_SIZE = 64  # distinct points remembered per process (a composition is about 1 MB)
hydra_load_sweep_config = None  # Hydra's own, once share_compositions_across_seeds has replaced it


def _remember(cache: dict, key: Any, make) -> Any:
    """``cache[key]``, made by ``make()`` the first time; beyond _CACHE_SIZE entries the oldest goes."""
    if key not in cache:
        if len(cache) >= _CACHE_SIZE:
            cache.pop(next(iter(cache)))
        cache[key] = make()
    return cache[key]


def _seed_free(overrides: list[str]) -> tuple[tuple[str, ...], int] | None:
    """(the overrides with the seed's replaced by a placeholder, the seed), or None when they hold
    no plain ``seed=<integer>`` or more than one way of setting the seed."""
    at = [i for i, o in enumerate(overrides) if _SEED_OVERRIDE.fullmatch(o)]
    if len(at) != 1 or any(o.lstrip("+~").partition("=")[0] == "seed" for i, o in enumerate(overrides) if i != at[0]):
        return None
    i = at[0]
    return tuple(overrides[:i]) + ("<seed>",) + tuple(overrides[i + 1:]), int(_SEED_OVERRIDE.fullmatch(overrides[i])[1])


def _shared_key(master: DictConfig, overrides: list[str]) -> tuple[tuple[Any, ...], int] | None:
    """(what the job's composition depends on but its seed, the seed), or None (see _seed_free)."""
    free = _seed_free(overrides)
    if free is None:
        return None
    hydra_overrides = tuple(OmegaConf.to_container(master.hydra.overrides.hydra))
    return (master.hydra.job.config_name, hydra_overrides, free[0]), free[1]


def _with_seed(template: DictConfig, master: DictConfig, overrides: list[str], seed: int) -> DictConfig:
    """``template`` (a composition at another seed) as Hydra would compose it with ``overrides``."""
    from hydra._internal.config_loader_impl import get_overrides_dirname
    from hydra.core.override_parser.overrides_parser import OverridesParser

    cfg = copy.deepcopy(template)
    cfg.seed = seed
    parsed = OverridesParser.create().parse_overrides(overrides)
    app = [o for o in parsed if not o.is_hydra_override()]
    with open_dict(cfg.hydra):
        cfg.hydra.overrides.task = [o.input_line for o in app]
        dirname = cfg.hydra.job.config.override_dirname
        cfg.hydra.job.override_dirname = get_overrides_dirname(
            overrides=app, kv_sep=dirname.kv_sep, item_sep=dirname.item_sep, exclude_keys=dirname.exclude_keys)
    OmegaConf.copy_cache(from_config=master, to_config=cfg)
    return cfg


def share_compositions_across_seeds() -> None:
    """Make Hydra's sweep composition reuse a point's composition for its other seeds (idempotent)."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    global hydra_load_sweep_config
    compose = ConfigLoaderImpl.load_sweep_config
    if getattr(compose, "shares_across_seeds", False):
        return
    hydra_load_sweep_config = compose
    made: dict[tuple[Any, ...], DictConfig] = {}

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        overrides = list(sweep_overrides)
        shared = _shared_key(master_config, overrides)
        if shared is None:
            return compose(self, master_config, overrides)
        key, seed = shared
        if key not in made:
            # the launcher sets the job's number on what it gets: a copy, the template kept clean
            return copy.deepcopy(_remember(made, key, lambda: compose(self, master_config, overrides)))
        try:
            return _with_seed(made[key], master_config,
                              [*OmegaConf.to_container(master_config.hydra.overrides.hydra), *overrides], seed)
        except Exception:  # noqa: BLE001 - anything unforeseen: Hydra composes the job itself
            return compose(self, master_config, overrides)

    load_sweep_config.shares_across_seeds = True
    ConfigLoaderImpl.load_sweep_config = load_sweep_config


_RUN_CONFIGS: dict[tuple[Any, ...], RunConfig] = {}


def run_config_of(cfg: DictConfig, hydra_cfg: DictConfig, convert) -> RunConfig:
    """``convert(cfg)`` (the validated RunConfig of a job's config; ``hydra_cfg``: the job's Hydra
    settings), made once per point of a sweep in this process: a job at another seed of the same
    point gets the same RunConfig with its seed. ``convert`` raises for a config it refuses, as it
    would for each seed (a seed is checked here)."""
    free = _seed_free(list(hydra_cfg.overrides.task))
    if free is None or free[1] != cfg.seed or not valid_seed(cfg.seed):
        return convert(cfg)
    key = (hydra_cfg.job.config_name, tuple(hydra_cfg.overrides.hydra), free[0],
           hydra_cfg.runtime.choices.get("scenario"))
    return dataclasses.replace(_remember(_RUN_CONFIGS, key, lambda: convert(cfg)), seed=free[1])
