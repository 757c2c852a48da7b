"""The `cxsim` command: Hydra composes the config, the library does the rest.

Hydra is imported here and in the sweep callback (sim/sweep_callback.py), nowhere else in the
library: sim.run(config, seed) takes plain dataclasses.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from sim.config import ConfigError, NoisyRunWarning, RunConfig, noise_warning, validate

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "configs")

ConfigStore.instance().store(name="base_config", node=RunConfig)


def to_run_config(cfg: DictConfig) -> RunConfig:
    """The composed Hydra config as plain dataclasses, validated (raises ConfigError)."""
    plain = OmegaConf.to_object(cfg)
    if isinstance(plain, dict):  # composed without the schema: build it from the dict
        plain = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(RunConfig), cfg))
    return validate(plain)


def load_config(overrides: list[str] | None = None, config_name: str = "config") -> RunConfig:
    """Compose configs/ with command-line style overrides, outside any Hydra app (tests, notebooks)."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=list(overrides or []))
    return to_run_config(cfg)


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
    import os

    from hydra.types import RunMode

    if os.environ.get("CXSIM_RERUN", "") not in ("", "0"):
        return False
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


@hydra.main(config_path=CONFIG_DIR, config_name="config", version_base="1.3")
def _app(cfg: DictConfig) -> float:
    try:
        run_cfg = to_run_config(cfg)
    except ConfigError as err:
        print(f"cxsim: {err}", file=sys.stderr)
        sys.exit(2)
    import warnings

    from sim.results import write_run
    from sim.runner import run

    noisy = noise_warning(run_cfg)
    if noisy:
        print(f"cxsim: warning: {noisy}", file=sys.stderr)
        warnings.simplefilter("ignore", NoisyRunWarning)  # said once, in the CLI's own words
    out = default_run_dir(run_cfg)
    if _skip_complete():
        from sim.results import reusable_run

        done = reusable_run(out, run_cfg)
        if done is not None:
            print(f"cxsim: {run_cfg.scenario} seed={run_cfg.seed}: skipped: complete -> {out}")
            return done["npv"]
    result = run(run_cfg)
    extra, roi_line = {}, ""
    if run_cfg.roi and run_cfg.interventions:
        from sim.roi import baseline_of, roi_report

        roi = roi_report(result, run(baseline_of(run_cfg)))
        extra["roi.json"] = roi
        roce = f"{roi['roce']:.2f}" if roi["roce"] is not None else "n/a"
        roi_line = (f"\n  vs baseline at the same seed: incremental NPV ${roi['incremental_npv'] / 1e6:,.2f}M, "
                    f"CX spend ${roi['cx_spend'] / 1e6:,.2f}M, ROCE {roce}, payback month {roi['payback_month']}")
    write_run(result, out, extra_json=extra)
    s = result.summary
    years = f"{run_cfg.years} year{'s' if run_cfg.years != 1 else ''}"
    print(f"cxsim: {run_cfg.scenario} seed={run_cfg.seed}: {scale_line(run_cfg, s['customers_per_agent'])}: {s['customers_start']:,.0f} -> "
          f"{s['customers_end']:,.0f} customers over {years}, NPS {s['nps_end']:+.1f}, "
          f"NPV ${s['npv'] / 1e6:,.1f}M, {result.wall_time_s:.1f} s -> {out}{roi_line}")
    return s["npv"]


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


def main() -> None:
    _check_overrides(sys.argv[1:])
    _app()


if __name__ == "__main__":
    main()
