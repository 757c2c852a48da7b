"""run(config, seed) -> RunResult: the library's one entry point for a simulation."""

from __future__ import annotations

import dataclasses
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from sim.config import NoisyRunWarning, RunConfig, noise_warning, validate
from sim.model import CXModel
from sim.summary import build_summary
from sim.sweep_progress import in_worker, real_stderr


@dataclass
class RunResult:
    config: RunConfig
    monthly: pd.DataFrame  # one row per month; columns documented in sim.kpis
    summary: dict[str, Any]  # headline figures (deterministic: no timings)
    wall_time_s: float  # the whole call: model build, months, tables
    customers: pd.DataFrame | None = None  # with run(..., customers=True): sim.customers.customer_records
    loop_time_s: float = 0.0  # the months alone, warm-up included (what cxsim-bench's references time)


def _fill_empty_months(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every month with every column: a month with no customers reports 0, never a gap or NaN.

    Stages skip their work (and some of their keys) when no one is active, and means over no one
    are NaN; either would turn an integer column into floats in some runs and not others.
    """
    kinds: dict[str, type] = {}
    for rec in records:
        for k, v in rec.items():
            if k not in kinds or (kinds[k] is not float and isinstance(v, float)):
                kinds[k] = float if isinstance(v, float) else type(v)
    out = []
    for rec in records:
        empty = rec.get("customers_start") == 0 or rec.get("customers") == 0
        if not empty and len(rec) == len(kinds) and None not in rec.values():
            out.append(rec)  # every column there (most months): nothing to fill
            continue
        row = {}
        for k, kind in kinds.items():
            v = rec.get(k)
            if v is None or (empty and isinstance(v, float) and v != v):
                v = kind() if kind in (int, float, bool) else v
            row[k] = v
        out.append(row)
    return out


def run(cfg: RunConfig, seed: int | None = None, progress: bool | None = None,
        customers: bool = False) -> RunResult:
    """Simulate ``cfg`` (with ``seed`` replacing cfg.seed if given); a pure function of both.

    ``customers`` also returns one survival record per customer observed (``RunResult.customers``).

    ``progress`` None follows cfg.progress; the bar appears only on an interactive terminal and
    only once a run has taken two seconds, so short runs stay quiet.
    """
    if not isinstance(cfg, RunConfig):
        validate(cfg)  # raises ConfigError naming what was passed
    if seed is not None:
        cfg = dataclasses.replace(cfg, seed=seed)
    validate(cfg)
    noisy = noise_warning(cfg)
    if noisy:
        warnings.warn(noisy, NoisyRunWarning, stacklevel=2)
    started = time.perf_counter()
    model = CXModel(cfg)
    show = cfg.progress if progress is None else progress
    bar = tqdm(total=cfg.n_warmup_months + cfg.n_months, unit="month", desc=f"{cfg.scenario} seed={cfg.seed}",
               disable=not (show and sys.stderr.isatty()) or in_worker(), leave=False, delay=2.0,
               file=real_stderr())
    with bar:
        looping = time.perf_counter()
        while model.running:
            model.step()
            bar.update(1)
        loop_time = time.perf_counter() - looping
    monthly = pd.DataFrame.from_records(_fill_empty_months(model.records))
    summary = build_summary(cfg, monthly, model)
    records = None
    if customers:
        from sim.customers import customer_records

        records = customer_records(model)
    return RunResult(cfg, monthly, summary, time.perf_counter() - started, records, loop_time)
