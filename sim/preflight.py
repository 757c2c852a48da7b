"""Everything `cxsim` checks before Hydra starts a single job, so bad input fails at once, whole.

A sweep is expanded the way Hydra's grid sweeper will expand it, and every point is composed and
validated (types, unknown keys, ranges, programmes at full effect, memory) with its run folder
checked: writable, inside the results root, and not something cxsim must not replace. Every
problem of every point is reported together and nothing runs (exit 2). The Hydra settings a
config file can carry are a trust boundary: only the project's own callback and Hydra's own
launcher and sweeper plugins may be instantiated, and logging configs may not name factories.

Like sim/cli.py, this module imports Hydra; the rest of the library does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from sim.config import SEED_ALLOWED, ConfigError, RunConfig, valid_seed
from sim.sweep_callback import (
    BASIC_SWEEPER,
    config_loader,
    grid_jobs,
    override_parser,
    point_name,
)

ALLOWED_CALLBACKS = {"sim.sweep_callback.CompareCallback"}
PLUGIN_PREFIXES = ("hydra_plugins.", "hydra._internal.core_plugins.")
INFO_FLAGS = ("help", "hydra_help", "cfg", "info", "shell_completion", "resolve")
_SEED_KEY = "seed"


class PreflightError(Exception):
    """The command cannot run as given; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]):
        super().__init__("\n  ".join(problems))
        self.problems = problems


def trust_problems(hydra_cfg: DictConfig) -> list[str]:
    """Hydra settings that would make Hydra call code that is not the project's or Hydra's own."""
    problems = []
    for name, cb in (OmegaConf.select(hydra_cfg, "callbacks") or {}).items():
        target = OmegaConf.select(cb, "_target_") if isinstance(cb, DictConfig) else None
        if target not in ALLOWED_CALLBACKS:
            problems.append(f"hydra.callbacks.{name}._target_={target!r} is not allowed: cxsim runs only its own "
                            f"callbacks {sorted(ALLOWED_CALLBACKS)} (a callback is arbitrary code)")
    for part in ("launcher", "sweeper"):
        target = OmegaConf.select(hydra_cfg, f"{part}._target_")
        if target is not None and not str(target).startswith(PLUGIN_PREFIXES):
            problems.append(f"hydra.{part}._target_={target!r} is not allowed: a Hydra {part} plugin "
                            f"(a class under {' or '.join(PLUGIN_PREFIXES)}), e.g. hydra/{part}=basic")
    for part in ("job_logging", "hydra_logging"):
        node = OmegaConf.select(hydra_cfg, part)
        if node is not None:
            problems += _logging_problems(OmegaConf.to_container(node, resolve=False), f"hydra.{part}")
    return problems


def _logging_problems(node: Any, prefix: str) -> list[str]:
    """Python logging configs can name a factory ('()') or any class: only logging's own are allowed."""
    found = []
    if isinstance(node, dict):
        for k, v in node.items():
            key = f"{prefix}.{k}"
            if k == "()":
                found.append(f"{key}={v!r} is not allowed: logging factories are arbitrary code")
            elif k == "class" and not str(v).startswith("logging."):
                found.append(f"{key}={v!r} is not allowed: a class of Python's logging package (logging.*)")
            else:
                found += _logging_problems(v, key)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += _logging_problems(v, f"{prefix}.{i}")
    return found


@dataclass(frozen=True)
class CommandPlan:
    """What a checked `cxsim` command will do.

    ``extra_overrides``: to add to the command line (the sweep's own record folder, and ``roi=false``
    when ``roi_in_sweep``);
    ``launcher``: the sweep's launcher class ("" for one run); ``run_dirs``: the run folder of every
    job of a grid sweep or of the single run, in job order (empty when another sweeper picks its
    points as it goes, or Hydra only prints); ``first``: the first job's config (None likewise).
    """

    extra_overrides: list[str] = field(default_factory=list)
    launcher: str = ""
    run_dirs: list[Path] = field(default_factory=list)
    first: RunConfig | None = None
    multirun: bool = False
    roi_in_sweep: bool = False  # every roi.json's baseline run is a run of the sweep: not run twice


def run_folder(run_cfg: RunConfig, point: str) -> Path:
    """Where a job writes: output.run_dir, else <root>/<scenario>/<point>/seed=<seed>."""
    out = run_cfg.output
    if out.run_dir:
        return Path(out.run_dir)
    return Path(out.root) / run_cfg.scenario / point / f"seed={run_cfg.seed}"


def run_folder_problems(run_cfg: RunConfig, point: str, where: str = "") -> list[str]:
    """Why this job could not write its run folder (``point``: its overrides folder name)."""
    from sim.safe_write import OutputError, check_target, inside

    out = run_cfg.output
    key, value = ("output.run_dir", out.run_dir) if out.run_dir else ("output.root", out.root)
    target = run_folder(run_cfg, point)
    if not out.run_dir:
        if "/" in point or "\\" in point or point in (".", ".."):
            return [f"{where}{point} is not allowed: the overrides would put a path separator into the run "
                    "folder's name (only output.root and output.run_dir name folders)"]
        if not inside(target, Path(out.root)):
            return [f"{where}{key}={value!r} is not allowed: the run folder {target} would lie outside it"]
    try:
        check_target(target, "run folder")
    except OutputError as err:
        return [f"{where}{key}={value!r} is not allowed: {err}"]
    return []


def check_command(argv: list[str]) -> CommandPlan:
    """Validate a `cxsim` command line; raises PreflightError listing every problem."""
    from hydra._internal.utils import get_args_parser
    from hydra.errors import HydraException
    from hydra.types import RunMode
    from omegaconf.errors import OmegaConfBaseException

    from sim.cli import composition_message, sweep_folder_name

    args, _ = get_args_parser().parse_known_args(argv)
    if any(getattr(args, flag, None) for flag in INFO_FLAGS) or args.config_path:
        return CommandPlan()  # Hydra prints and stops, or composes from a folder this check cannot see
    loader = config_loader(args.config_dir)
    config_name = args.config_name or "config"
    overrides = list(args.overrides)
    parser = override_parser(loader)
    try:
        # as Hydra decides: --multirun, else the config's own hydra.mode (a ready study sets it), else one run
        master = loader.load_configuration(config_name=config_name, overrides=overrides, run_mode=RunMode.MULTIRUN,
                                           validate_sweep_overrides=False)
        mode = RunMode.MULTIRUN if args.multirun else (OmegaConf.select(master, "hydra.mode") or RunMode.RUN)
        if mode == RunMode.RUN and any(o.is_sweep_override() for o in parser.parse_overrides(overrides)):
            # without sweep values the two compositions are the same; with them, Hydra's own refusal
            master = loader.load_configuration(config_name=config_name, overrides=overrides, run_mode=mode)
    except (HydraException, OmegaConfBaseException, ValueError) as err:
        raise PreflightError([f"invalid configuration: {composition_message(err)}"]) from None
    hydra_cfg = master.hydra
    problems = trust_problems(hydra_cfg)
    if problems:
        raise PreflightError(problems)

    task = list(hydra_cfg.overrides.task)
    hydra_overrides = list(hydra_cfg.overrides.hydra)
    if mode == RunMode.MULTIRUN and OmegaConf.select(hydra_cfg, "sweeper._target_") == BASIC_SWEEPER:
        jobs = grid_jobs(hydra_cfg, parser)
    elif mode == RunMode.MULTIRUN:  # another sweeper picks its points as it goes: check the fixed part
        jobs = [[o for o in task if not parser.parse_override(o).is_sweep_override()]]
    else:
        jobs = [task]

    problems, checked, run_dirs, first, job_configs = [], {}, [], None, []
    grid = mode == RunMode.RUN or OmegaConf.select(hydra_cfg, "sweeper._target_") == BASIC_SWEEPER
    for job in jobs:
        parsed = parser.parse_overrides(job)
        values = {o.key_or_group: o.value() for o in parsed}
        rest = tuple(sorted(o for o, p in zip(job, parsed) if p.key_or_group != _SEED_KEY))
        point = point_name(parsed, hydra_cfg)
        at_point = f"point {point!r}: " if len(jobs) > 1 else ""
        where = f"point {point!r}, seed {values.get(_SEED_KEY, '(default)')}: " if len(jobs) > 1 else ""
        future = _future_file(args.config_dir, values.get(_FUTURE_GROUP))
        if rest not in checked and future is not None:
            # an exploration's future only sets future.*: compose the job without it once, then
            # apply each future in Python (a composition costs 0.2 s; thousands of futures share one)
            base = tuple(sorted(o for o, p in zip(job, parsed)
                                if p.key_or_group not in (_SEED_KEY, _FUTURE_GROUP)))
            if base not in checked:
                checked[base] = _compose(loader, config_name, list(base) + hydra_overrides, problems, at_point)
            checked[rest] = _with_future(checked[base], future, problems, at_point)
        if rest not in checked:
            checked[rest] = _compose(loader, config_name, job + hydra_overrides, problems, at_point,
                                     composed=master if mode == RunMode.RUN else None)
        run_cfg = checked[rest]
        if run_cfg is None:
            continue
        if _SEED_KEY in values:
            seed = values[_SEED_KEY]
            if not valid_seed(seed):
                problems.append(f"{where}seed={seed!r} is not allowed: {SEED_ALLOWED}")
                continue
            run_cfg = _with_seed(run_cfg, values[_SEED_KEY])
        problems += run_folder_problems(run_cfg, point, where)
        job_configs.append((rest, run_cfg))
        if grid:
            first = first or run_cfg
            run_dirs.append(run_folder(run_cfg, point))
    if problems:
        unique = list(dict.fromkeys(problems))
        if len(jobs) > 1:
            unique.insert(0, f"{len(unique)} problem{'s' if len(unique) > 1 else ''} in a sweep of "
                             f"{len(jobs)} runs; nothing was run:")
        raise PreflightError(unique)
    multirun = mode == RunMode.MULTIRUN
    launcher = str(OmegaConf.select(hydra_cfg, "launcher._target_") or "") if multirun else ""
    extra = [f"hydra.sweep.dir='${{output.root}}/multirun/{sweep_folder_name(task)}'"] \
        if multirun and not any(o.startswith("hydra.sweep.dir=") for o in overrides) else []
    roi_in_sweep = multirun and grid and not _roi_asked(task, parser) and roi_baselines_in_sweep(job_configs)
    if roi_in_sweep:
        extra.append("roi=false")
    return CommandPlan(extra, launcher, run_dirs, first, multirun, roi_in_sweep)


def _roi_asked(task: list[str], parser) -> bool:
    """The command (or the study's config) sets ``roi`` itself: its choice stands."""
    return any(o.key_or_group == "roi" for o in parser.parse_overrides(task))


def roi_baselines_in_sweep(jobs: list[tuple[tuple[str, ...], RunConfig]]) -> bool:
    """Whether every job that would write roi.json (programmes on, ``roi``) would run, for it, a run
    the sweep runs anyway: its baseline (``sim.roi.baseline_of``: the same config without the
    programmes) at the same seed. ``jobs``: (the job's overrides other than its seed, its config),
    jobs of one ``rest`` sharing a config but for the seed. False when no job writes roi.json."""
    from sim.results import config_hash
    from sim.roi import baseline_of

    hashes: dict[tuple[str, ...], str] = {}  # one hash per distinct config, not per seed
    wanted_hashes: dict[tuple[str, ...], str] = {}
    swept, wanted = set(), set()
    for rest, cfg in jobs:
        if rest not in hashes:
            hashes[rest] = config_hash(cfg)
        swept.add((hashes[rest], cfg.seed))
        if cfg.roi and cfg.interventions:
            if rest not in wanted_hashes:
                wanted_hashes[rest] = config_hash(baseline_of(cfg))
            wanted.add((wanted_hashes[rest], cfg.seed))
    return bool(wanted) and wanted <= swept


_FUTURE_GROUP = "future"


def _future_file(config_dir: str | None, name: Any) -> Path | None:
    """The YAML of an exploration's future in the --config-dir, if it is one cxsim-explore wrote."""
    if not config_dir or not isinstance(name, str):
        return None
    path = Path(config_dir) / _FUTURE_GROUP / f"{name}.yaml"
    return path if path.is_file() else None


def _config_problems(err: ConfigError, at_point: str) -> list[str]:
    """A ConfigError's lines (one per problem), each prefixed with the sweep point."""
    return [f"{at_point}{line.strip()}" for line in str(err).splitlines()[1:] or [str(err)]]


def _compose(loader, config_name: str, overrides: list[str], problems: list[str], at_point: str,
             composed: DictConfig | None = None) -> RunConfig | None:
    """One job's validated RunConfig (None, with ``problems`` extended, if it has none);
    ``composed``: the job's Hydra config when it is composed already."""
    from hydra.errors import HydraException
    from hydra.types import RunMode
    from omegaconf.errors import OmegaConfBaseException

    from sim.cli import composition_message, to_run_config

    try:
        cfg = composed if composed is not None else loader.load_configuration(
            config_name=config_name, overrides=overrides, run_mode=RunMode.RUN)
        return to_run_config(cfg, OmegaConf.select(cfg, "hydra.runtime.choices.scenario"))
    except ConfigError as err:
        problems += _config_problems(err, at_point)
    except (HydraException, OmegaConfBaseException, ValueError) as err:
        problems.append(f"{at_point}invalid configuration: {composition_message(err)}")
    return None


def _with_future(base: RunConfig | None, path: Path, problems: list[str], at_point: str) -> RunConfig | None:
    """``base`` with the future in ``path`` applied and validated, as composing it would give."""
    import copy

    from sim.config import FutureConfig, validate
    from sim.params import apply_future

    if base is None:
        return None
    node = OmegaConf.to_container(OmegaConf.load(path))
    if not isinstance(node, dict) or set(node) - {"name", "values"}:
        problems.append(f"{at_point}{path} is not allowed: a future holds only name and values")
        return None
    cfg = copy.deepcopy(base)
    try:
        cfg.future = FutureConfig(name=str(node.get("name", "")),
                                  values={str(k): float(v) for k, v in (node.get("values") or {}).items()})
    except (TypeError, ValueError, AttributeError):
        problems.append(f"{at_point}{path} is not allowed: its values must be numbers by dotted key")
        return None
    try:
        return validate(apply_future(cfg))
    except ConfigError as err:
        problems += _config_problems(err, at_point)
        return None


def _with_seed(cfg: RunConfig, seed: int) -> RunConfig:
    import dataclasses

    return dataclasses.replace(cfg, seed=seed)
