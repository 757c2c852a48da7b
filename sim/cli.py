"""The `cxsim` command: Hydra composes the config, the library does the rest.

Hydra is imported here and in the sweep callback (sim/sweep_callback.py), nowhere else in the
library: sim.run(config, seed) takes plain dataclasses.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import sys
import typing
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from sim.config import ConfigError, NoisyRunWarning, RunConfig, noise_warning, validate
from sim.sweep_compose import run_config_of, share_compositions_across_seeds

share_compositions_across_seeds()  # a sweep's seeds of one point share its composition (here and in workers)
BASIC_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"
CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "configs")

ConfigStore.instance().store(name="base_config", node=RunConfig)


def config_options(group: str) -> list[str]:
    """The options of a shipped config group (population presets, scenarios, ...), sorted."""
    return sorted(p.stem for p in (Path(CONFIG_DIR) / group).glob("*.yaml"))


def sweep_folder_name(task_overrides: list[str]) -> str:
    """The sweep's record folder under <root>/multirun/: its overrides, readable and unique."""
    import hashlib
    import re

    items = sorted(str(o) for o in task_overrides)
    shown = [o for o in items if not o.lstrip("+~").startswith(("output.", "roi=", "progress="))]
    readable = re.sub(r"[^A-Za-z0-9._=,+@-]", "_", ",".join(shown))[:60] or "default"
    return f"{readable}-{hashlib.sha256('|'.join(items).encode()).hexdigest()[:8]}"


_ENV = re.compile(r"\$\{\s*oc\.env\s*:")


def _unknown_keys(node: Any, schema: type, prefix: str = "") -> list[str]:
    """Keys of the composed ``node`` that its dataclass ``schema`` does not declare.

    Hydra's ``+key=value`` adds a key even to a typed config, and the dataclass conversion then
    drops it without a word; this finds such keys so a typo never runs as if it were not there.
    """
    hints = typing.get_type_hints(schema)
    found = []
    for key in node.keys():
        name = f"{prefix}{key}"
        if key not in hints:
            close = difflib.get_close_matches(str(key), list(hints), n=1)
            found.append(f"{name} is not allowed: not a key of {schema.__name__} (sim.config)"
                         + (f"; did you mean {prefix}{close[0]}?" if close else ""))
            continue
        hint, value = hints[key], node[key]
        if dataclasses.is_dataclass(hint) and isinstance(value, DictConfig):
            found += _unknown_keys(value, hint, f"{name}.")
        elif typing.get_origin(hint) is dict and isinstance(value, DictConfig):
            inner = typing.get_args(hint)[1]
            if dataclasses.is_dataclass(inner):
                for k in value.keys():
                    if isinstance(value[k], DictConfig):
                        found += _unknown_keys(value[k], inner, f"{name}.{k}.")
        elif typing.get_origin(hint) is list and isinstance(value, ListConfig):
            inner = typing.get_args(hint)[0]
            if dataclasses.is_dataclass(inner):
                for i, item in enumerate(value):
                    if isinstance(item, DictConfig):
                        found += _unknown_keys(item, inner, f"{name}.{i}.")
    return found


def _env_values(node: Any, prefix: str = "") -> list[str]:
    """Keys whose value reads an environment variable (``${oc.env:...}``), which would be written
    into config.yaml, manifest.json and summary.json for anyone the results are shared with."""
    found = []
    items = node.items_ex(resolve=False) if isinstance(node, DictConfig) else enumerate(node)
    for k, v in items:
        key = f"{prefix}{k}"
        if isinstance(v, (DictConfig, ListConfig)):
            found += _env_values(v, f"{key}.")
        elif isinstance(v, str) and _ENV.search(v):
            found.append(key)
    return found


def to_run_config(cfg: DictConfig, scenario_file: str | None = None) -> RunConfig:
    """The composed Hydra config as plain dataclasses, validated (raises ConfigError).

    ``scenario_file`` is the scenario config the user chose (Hydra's runtime choice): its
    ``scenario:`` name must be its file name, so a copied file that kept the original's name
    cannot write into the original's folders.
    """
    task = cfg
    if "hydra" in cfg:  # a copy without Hydra's own node keeps the schema type (a masked copy would not)
        task = cfg.copy()
        with open_dict(task):
            del task["hydra"]
    problems = _unknown_keys(task, RunConfig)
    problems += [f"{k} is not allowed: reads an environment variable (${{oc.env:...}}), which would be "
                 "written into the run's config and manifest; put the value itself" for k in _env_values(task)]
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    plain = OmegaConf.to_object(task)
    if isinstance(plain, dict):  # composed without the schema: build it from the dict
        plain = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(RunConfig), task))
    if scenario_file and isinstance(plain.scenario, str) and plain.scenario != scenario_file:
        raise ConfigError(
            f"invalid configuration:\n  scenario={plain.scenario!r} is not allowed: the scenario file "
            f"configs/scenario/{scenario_file}.yaml must name itself (scenario: {scenario_file}); a copied "
            f"file that keeps the original's name would write into {plain.scenario!r}'s folders")
    from sim.params import apply_future

    return validate(apply_future(plain))


def load_config(overrides: list[str] | None = None, config_name: str = "config") -> RunConfig:
    """Compose configs/ with command-line style overrides, outside any Hydra app (tests, notebooks)."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=list(overrides or []), return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(f"invalid configuration: {composition_message(err)}") from None
    return to_run_config(cfg, OmegaConf.select(cfg, "hydra.runtime.choices.scenario"))


def composition_message(err: BaseException) -> str:
    """Hydra's or OmegaConf's complaint about an override, in one or two plain lines."""
    skip = ("full_key", "object_type", "reference_type", "To append to your config")

    def lines(e: BaseException) -> list[str]:
        return [ln.strip() for ln in str(e).splitlines() if ln.strip() and not ln.strip().startswith(skip)]

    text = lines(err)
    cause = err.__cause__ or err.__context__
    if cause is not None:
        text += [ln for ln in lines(cause) if ln not in text]
    return "\n  ".join(text)


def default_run_dir(run_cfg: RunConfig) -> Path:
    if run_cfg.output.run_dir:
        return Path(run_cfg.output.run_dir)
    key = "default"
    if HydraConfig.initialized():
        key = HydraConfig.get().job.override_dirname or "default"
    return Path(run_cfg.output.root) / run_cfg.scenario / key / f"seed={run_cfg.seed}"


def _skip_complete() -> bool:
    """In a multirun, a run whose finished results are already on disk is not redone (resume).

    Set CXSIM_RERUN=1 to recompute anyway (e.g. after changing the model code, which the
    config hash cannot see).
    """
    return _in_multirun() and not _rerun_asked()


def _rerun_asked() -> bool:
    import os

    return os.environ.get("CXSIM_RERUN", "") not in ("", "0")


def _in_multirun() -> bool:
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


@hydra.main(config_path=CONFIG_DIR, config_name="config", version_base="1.3")
def _app(cfg: DictConfig) -> float:
    try:
        hydra_cfg = HydraConfig.get()
        run_cfg = run_config_of(cfg, hydra_cfg, lambda c: to_run_config(c, hydra_cfg.runtime.choices.get("scenario")))
    except ConfigError as err:
        print(f"cxsim: {err}", file=sys.stderr)
        sys.exit(2)
    import warnings

    from sim.results import write_run
    from sim.runner import run
    from sim.safe_write import OutputError, check_target
    from sim.sweep_progress import line_prefix

    if _in_multirun() and hydra_cfg.launcher.get("_target_") != BASIC_LAUNCHER:
        # a launcher's workers run side by side on the cores already: one thread each
        from sim.kernels import threads_for_this_process

        threads_for_this_process(1)
    noisy = noise_warning(run_cfg)
    if noisy:
        print(f"cxsim: warning: {noisy}", file=sys.stderr)
        warnings.simplefilter("ignore", NoisyRunWarning)  # said once, in the CLI's own words
    out = default_run_dir(run_cfg)
    try:
        check_target(out, "run folder")  # before the work, not after it
    except OutputError as err:
        print(f"cxsim: {err}", file=sys.stderr)
        sys.exit(2)
    if _skip_complete():
        from sim.results import reusable_run

        done = reusable_run(out, run_cfg)
        if done is not None:
            print(f"{line_prefix()}cxsim: {run_cfg.scenario} seed={run_cfg.seed}: skipped: complete -> {out}"
                  f"{_sweep_progress()}")
            return done["npv"]
    result = run(run_cfg)
    extra, roi_line, base = {}, "", None
    if run_cfg.roi and run_cfg.interventions:
        from sim.roi import baseline_of, roi_report

        base = run(baseline_of(run_cfg))
        roi = roi_report(result, base)
        extra["roi.json"] = roi
        roce = f"{roi['roce']:.2f}" if roi["roce"] is not None else "n/a"
        payback = f"payback month {roi['payback_month']}" if roi["payback_month"] is not None \
            else "payback not within the horizon"
        roi_line = (f"\n  vs baseline at the same seed: incremental NPV {_musd(roi['incremental_npv'], signed=True)}, "
                    f"CX spend {_musd(roi['cx_spend'])}, ROCE {roce}, {payback}")
    plots = run_cfg.output.plots
    write_run(result, out, plots=(not _in_multirun()) if plots is None else plots, extra_json=extra, baseline=base)
    s = result.summary
    years = f"{run_cfg.years} year{'s' if run_cfg.years != 1 else ''}"
    print(f"{line_prefix()}cxsim: {run_cfg.scenario} seed={run_cfg.seed}: {scale_line(run_cfg, s['customers_per_agent'])}: {s['customers_start']:,.0f} -> "
          f"{s['customers_end']:,.0f} customers over {years}, NPS {s['nps_end']:+.1f}, "
          f"NPV {_musd(s['npv'], digits=1)}, {result.wall_time_s:.1f} s -> {out}{roi_line}{_sweep_progress()}")
    return s["npv"]


def _sweep_progress() -> str:
    """Where a grid sweep stands after this job: "\n  sweep: 5 of 8 runs, about 12 s left".

    Counted by job number, which is the order jobs start in: exact one job at a time, a little
    behind with parallel workers. The estimate is elapsed time per run so far times the runs
    left; it is printed only, never written into results. Nothing while the sweep's bar is shown.
    """
    import os
    import time

    from sim.sweep_progress import bar_shown

    total, started = os.environ.get("CXSIM_SWEEP_RUNS"), os.environ.get("CXSIM_SWEEP_STARTED")
    if not (total and started and _in_multirun()) or bar_shown():
        return ""
    done, total = HydraConfig.get().job.num + 1, int(total)
    left = (time.time() - float(started)) / done * (total - done)
    return f"\n  sweep: {done} of {total} runs" + (f", about {_duration(left)} left" if done < total else ", done")


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _musd(x: float, signed: bool = False, digits: int = 2) -> str:
    """Millions of USD as people write them: -$0.53M, +$1.20M, $12.3M."""
    sign = "-" if x < 0 else ("+" if signed and x > 0 else "")
    return f"{sign}${abs(x) / 1e6:,.{digits}f}M"


def scale_line(cfg: RunConfig, customers_per_agent: float) -> str:
    """What was simulated and what one agent stands for at month 0, in words."""
    pop = cfg.population
    if pop.agents == pop.n_customers:
        return f"{pop.name} firm, all {pop.n_customers:,} customers simulated"
    return (f"{pop.name} firm of {pop.n_customers:,} customers simulated by {pop.agents:,} agents "
            f"(1 agent = {customers_per_agent:,.2f} customers)")


def _check_overrides(args: list[str]) -> None:
    """Reject a malformed override before Hydra starts, naming the argument that is wrong."""
    from hydra._internal.utils import get_args_parser
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    known, _ = get_args_parser().parse_known_args(args)
    parser = OverridesParser.create()
    for arg in known.overrides:
        key = arg.split("=", 1)[0]
        try:
            if not key.strip("+~"):
                raise OverrideParseException(override=arg, message="the key before '=' is empty")
            parser.parse_overrides([arg])
        except OverrideParseException as err:
            print(f"cxsim: cannot read the override {arg!r} for key {key!r}: {err.message.splitlines()[0]}\n"
                  "  overrides look like key=value, e.g. years=30 or population.n_customers=200000",
                  file=sys.stderr)
            sys.exit(2)


def _skip_hydra_revalidation() -> None:
    """The basic sweeper composes every job once to validate it and again to run it; the
    preflight has composed and validated every point of the sweep already, so the first
    composition (a quarter of a small run's time) is skipped. Other sweepers keep theirs: the
    preflight can check only their fixed part."""
    import os

    if os.environ.get("CXSIM_HYDRA_VALIDATE", "") not in ("", "0"):
        return
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    BasicSweeper.validate_batch_is_legal = lambda self, batch: None


def main() -> None:
    from sim.preflight import PreflightError, check_command

    if any(a in ("--help", "-h") for a in sys.argv[1:]):
        from sim.cli_help import help_text

        print(help_text(CONFIG_DIR))
        return
    _check_overrides(sys.argv[1:])
    try:
        import sim.kernels  # noqa: F401  (reads CXSIM_KERNELS: a bad value stops here, before any work)
    except ValueError as err:
        print(f"cxsim: {err}", file=sys.stderr)
        sys.exit(2)
    try:
        plan = check_command(sys.argv[1:])
    except PreflightError as err:
        lines = err.problems
        if len(lines) == 1 and lines[0].startswith("invalid configuration"):
            print(f"cxsim: {lines[0]}", file=sys.stderr)
        else:
            print("cxsim: invalid configuration:\n  " + "\n  ".join(lines), file=sys.stderr)
        sys.exit(2)
    sys.argv += plan.extra_overrides
    from sim.sweep_progress import SweepProgress

    shown = plan.first is None or plan.first.progress
    progress = SweepProgress(plan.run_dirs, skip_complete=not _rerun_asked(),
                             interactive=plan.multirun and shown and sys.stderr.isatty())
    starting = start_line(plan, found=len(progress.before))
    if starting:  # within a second, before Hydra's own first line
        print(starting, flush=True)
    if plan.multirun and plan.run_dirs:  # read by each job (here or in a worker) for its progress line
        import os
        import time

        os.environ["CXSIM_SWEEP_RUNS"] = str(len(plan.run_dirs))
        os.environ["CXSIM_SWEEP_STARTED"] = repr(time.time())
    _skip_hydra_revalidation()
    if "joblib" in plan.launcher:
        from sim.worker_reaper import reap_workers_when_gone

        reap_workers_when_gone()
    with progress:  # a bar only for a sweep on a terminal
        _app()


def start_line(plan, found: int = 0) -> str:
    """What the command is about to do, printed before the first run starts ("" when it runs
    nothing: Hydra only prints, as for --cfg job, whose output may be piped into a file).
    ``found``: the sweep's run folders complete on disk already, which it reuses if unchanged."""
    if not plan.multirun:
        cfg = plan.first
        if cfg is None:
            return ""
        warm = f"{cfg.warmup_years} warm-up + " if cfg.warmup_years else ""
        return (f"cxsim: running {cfg.scenario} seed={cfg.seed}: {cfg.population.agents:,} agents, "
                f"{warm}{cfg.years} year{'s' if cfg.years != 1 else ''} -> {plan.run_dirs[0]}")
    if not plan.run_dirs:
        return "cxsim: starting the sweep (its sweeper picks the runs as it goes)"
    n = len(plan.run_dirs)
    already = f", {found} found on disk (each reused if complete and unchanged)" if found else ""
    roi = ("\n  no roi.json per run: the sweep runs each programme run's baseline itself, and the comparison "
           "pairs them (roi=true writes it anyway)") if plan.roi_in_sweep else ""
    return f"cxsim: sweep of {n} run{'s' if n != 1 else ''}{already}{roi}"


if __name__ == "__main__":
    main()
