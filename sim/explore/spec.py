"""An exploration spec: which assumptions are uncertain, which scenarios compete, what is measured.

Read from ``configs/uncertainty/<name>.yaml`` (or any path). Every problem is found before a run
starts and reported with the key, the value and what is allowed.

    preset: utility                   # population=<preset>
    baseline: baseline                # the "do nothing" every scenario is paired with
    scenarios: [ebilling_push, resolved_programme]   # the levers
    overrides: [years=10]             # further key=value overrides of every run
    agents: 20000                     # population.n_agents of every run
    seeds: 2                          # every future runs every scenario and the baseline at seeds 0..seeds-1
    outcomes: [incremental_npv, nps_end]   # incremental NPV and any comparison KPI (scenario - baseline)
    design_seed: 0                    # seeds the samplers: the same spec gives the same futures
    uncertainties:
      adoption.behaviours.ebill.cost_per_year_without:
        {dist: triangular, low: 6, mode: 11, high: 16, source: "domain: $11 a customer-year"}
      churn.rel_price_elasticity: {dist: uniform, low: 1.5, high: 4.5, source: assumption}
      referral.rate_referral_promoter: {dist: log_uniform, low: 0.001, high: 0.01, source: assumption}
    analyses:                         # any of the three
      morris: {trajectories: 10, levels: 4}
      sobol: {n: 64, resamples: 200}  # n a power of 2; n x (keys + 2) futures
      robustness: {n: 100, bins: 4}   # Latin hypercube futures; win shares in `bins` bins of each key
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DISTRIBUTIONS = ("uniform", "log_uniform", "triangular")
ANALYSES = ("morris", "sobol", "robustness")
_ANALYSIS_KEYS = {"morris": {"trajectories": 10, "levels": 4},
                  "sobol": {"n": 64, "resamples": 200},
                  "robustness": {"n": 100, "bins": 4}}
_TOP = {"preset", "baseline", "scenarios", "overrides", "agents", "seeds", "outcomes", "design_seed",
        "uncertainties", "analyses"}


class ExploreError(ValueError):
    """The spec cannot be explored; the message names the file or key, the value and what is allowed."""


@dataclass
class Uncertainty:
    key: str
    dist: str
    low: float
    high: float
    mode: float | None = None  # triangular only
    source: str = "assumption"

    def from_unit(self, u):
        """The value at quantile ``u`` (an array in [0, 1]) of this key's distribution."""
        import numpy as np

        u = np.asarray(u, dtype=float)
        if self.dist == "uniform":
            return self.low + u * (self.high - self.low)
        if self.dist == "log_uniform":
            return np.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        # triangular: the inverse of its piecewise-quadratic CDF
        span, c = self.high - self.low, (self.mode - self.low) / (self.high - self.low)
        return np.where(u < c, self.low + np.sqrt(u * span * (self.mode - self.low)),
                        self.high - np.sqrt((1.0 - u) * span * (self.high - self.mode)))

    def describe(self) -> str:
        if self.dist == "triangular":
            return f"triangular {self.low:g} to {self.high:g}, most likely {self.mode:g}"
        return f"{self.dist.replace('_', '-')} {self.low:g} to {self.high:g}"


@dataclass
class ExploreSpec:
    name: str
    path: Path
    preset: str = "utility"
    baseline: str = "baseline"
    scenarios: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    agents: int = 20_000
    seeds: int = 2
    outcomes: list[str] = field(default_factory=lambda: ["incremental_npv"])
    design_seed: int = 0
    uncertainties: list[Uncertainty] = field(default_factory=list)
    analyses: dict[str, dict[str, int]] = field(default_factory=dict)
    # per arm, the keys that act in it (a programme's keys only where it is on); filled from the
    # model when the spec is loaded; an arm missing here has every key act
    acting: dict[str, list[str]] = field(default_factory=dict, repr=False)

    @property
    def arms(self) -> list[str]:
        return [self.baseline, *self.scenarios]

    @property
    def keys(self) -> list[str]:
        return [u.key for u in self.uncertainties]

    def model_overrides(self) -> list[str]:
        """The overrides every run of the exploration shares (scenario, seed and future vary)."""
        return [f"population={self.preset}", *self.overrides, f"population.n_agents={self.agents}"]

    def identity(self) -> dict[str, Any]:
        """Everything that decides the futures and the runs (not the name or the file's place)."""
        d = asdict(self)
        d.pop("name"), d.pop("path"), d.pop("acting")  # acting: derived from the rest and the model
        for u in d["uncertainties"]:
            u.pop("source")  # documentation: changes no number
        return d

    def digest(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def find_spec(name_or_path: str) -> Path:
    from sim import spec_file

    return spec_file.find_spec(name_or_path, "uncertainty")


def _int(value: Any, key: str, where: Path, least: int = 1) -> int:
    from sim.spec_file import whole_number

    return whole_number(value, key, where, ExploreError, least)


def _number(value: Any, key: str, where: Path) -> float:
    from sim.spec_file import finite_number

    return finite_number(value, key, where, ExploreError)


def _names(value: Any, key: str, where: Path) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ExploreError(f"{where}: {key}={value!r} is not allowed: a list of names, at least one")
    if len(set(value)) != len(value):
        raise ExploreError(f"{where}: {key}={value!r} is not allowed: each name once")
    return list(value)


def load_spec(name_or_path: str) -> ExploreSpec:
    """Read and check a spec, including that the model accepts every scenario, key, bound and outcome."""
    from sim.spec_file import read_yaml

    path = find_spec(name_or_path)
    raw = read_yaml(path, ExploreError, "exploration spec")
    if not isinstance(raw, dict):
        raise ExploreError(f"{path}: an exploration spec is a mapping with keys {sorted(_TOP)}")
    unknown = sorted(set(raw) - _TOP)
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(_TOP), n=1)
        raise ExploreError(f"{path}: {unknown[0]} is not allowed: the keys are {sorted(_TOP)}"
                           + (f"; did you mean {close[0]}?" if close else ""))
    spec = ExploreSpec(name=path.stem, path=path)
    for key in ("preset", "baseline"):
        if key in raw:
            if not isinstance(raw[key], str) or not raw[key]:
                raise ExploreError(f"{path}: {key}={raw[key]!r} is not allowed: a name")
            setattr(spec, key, raw[key])
    spec.scenarios = _names(raw.get("scenarios"), "scenarios", path)
    if spec.baseline in spec.scenarios:
        raise ExploreError(f"{path}: scenarios={spec.scenarios!r} is not allowed: the baseline "
                           f"{spec.baseline!r} is run anyway; list only the scenarios compared with it")
    overrides = raw.get("overrides", [])
    if not isinstance(overrides, list) or not all(isinstance(o, str) and "=" in o for o in overrides):
        raise ExploreError(f"{path}: overrides={overrides!r} is not allowed: a list of key=value strings")
    for o in overrides:
        if o.lstrip("+~").split("=", 1)[0] in ("scenario", "seed", "future", "population", "population.n_agents"):
            raise ExploreError(f"{path}: overrides entry {o!r} is not allowed: scenario, seed, preset and agents "
                               "have their own keys (scenarios, seeds, preset, agents) and futures are sampled")
    spec.overrides = list(overrides)
    spec.agents = _int(raw.get("agents", spec.agents), "agents", path)
    spec.seeds = _int(raw.get("seeds", spec.seeds), "seeds", path)
    spec.design_seed = _int(raw.get("design_seed", 0), "design_seed", path, least=0)
    outcomes = _names(raw.get("outcomes", ["incremental_npv"]), "outcomes", path)
    spec.outcomes = outcomes if "incremental_npv" in outcomes else ["incremental_npv", *outcomes]
    spec.uncertainties = _uncertainties(raw.get("uncertainties"), path)
    spec.analyses = _analyses(raw.get("analyses"), path, len(spec.uncertainties))
    _check_against_model(spec)
    return spec


def _uncertainties(raw: Any, path: Path) -> list[Uncertainty]:
    if not isinstance(raw, dict) or not raw:
        raise ExploreError(f"{path}: uncertainties={raw!r} is not allowed: a mapping of dotted config keys to "
                           "{dist, low, high[, mode][, source]}, at least one")
    out = []
    for key, b in raw.items():
        where = f"uncertainties.{key}"
        if not isinstance(b, dict):
            raise ExploreError(f"{path}: {where}={b!r} is not allowed: a mapping with dist, low, high")
        dist = b.get("dist", "uniform")
        if dist not in DISTRIBUTIONS:
            close = difflib.get_close_matches(str(dist), DISTRIBUTIONS, n=1)
            raise ExploreError(f"{path}: {where}.dist={dist!r} is not allowed: one of {list(DISTRIBUTIONS)}"
                               + (f"; did you mean {close[0]}?" if close else ""))
        allowed = {"dist", "low", "high", "source"} | ({"mode"} if dist == "triangular" else set())
        extra = sorted(set(b) - allowed)
        if extra:
            raise ExploreError(f"{path}: {where}.{extra[0]} is not allowed for dist {dist}: keys {sorted(allowed)}")
        for side in ("low", "high") + (("mode",) if dist == "triangular" else ()):
            if side not in b:
                raise ExploreError(f"{path}: {where}.{side} is missing: a {dist} uncertainty needs "
                                   f"{sorted(allowed - {'dist', 'source'})}")
        low, high = _number(b["low"], f"{where}.low", path), _number(b["high"], f"{where}.high", path)
        if not low < high:
            raise ExploreError(f"{path}: {where}.low={low!r} is not allowed: below {where}.high={high!r}")
        if dist == "log_uniform" and low <= 0:
            raise ExploreError(f"{path}: {where}.low={low!r} is not allowed: a value > 0 for log_uniform")
        mode = None
        if dist == "triangular":
            mode = _number(b["mode"], f"{where}.mode", path)
            if not low <= mode <= high:
                raise ExploreError(f"{path}: {where}.mode={mode!r} is not allowed: within [low={low!r}, high={high!r}]")
        source = b.get("source", "assumption")
        if not isinstance(source, str) or not source:
            raise ExploreError(f"{path}: {where}.source={source!r} is not allowed: where the range comes from, "
                               "or 'assumption'")
        out.append(Uncertainty(str(key), dist, low, high, mode, source))
    return out


def _analyses(raw: Any, path: Path, n_keys: int) -> dict[str, dict[str, int]]:
    if not isinstance(raw, dict) or not raw:
        raise ExploreError(f"{path}: analyses={raw!r} is not allowed: a mapping with any of {list(ANALYSES)}")
    out = {}
    for name, opts in raw.items():
        if name not in ANALYSES:
            raise ExploreError(f"{path}: analyses.{name} is not allowed: one of {list(ANALYSES)}")
        opts = opts or {}
        if not isinstance(opts, dict):
            raise ExploreError(f"{path}: analyses.{name}={opts!r} is not allowed: a mapping of "
                               f"{sorted(_ANALYSIS_KEYS[name])}")
        extra = sorted(set(opts) - set(_ANALYSIS_KEYS[name]))
        if extra:
            raise ExploreError(f"{path}: analyses.{name}.{extra[0]} is not allowed: keys {sorted(_ANALYSIS_KEYS[name])}")
        chosen = {k: _int(opts.get(k, d), f"analyses.{name}.{k}", path, least=2 if k != "bins" else 1)
                  for k, d in _ANALYSIS_KEYS[name].items()}
        if name == "sobol" and chosen["n"] & (chosen["n"] - 1):
            raise ExploreError(f"{path}: analyses.sobol.n={chosen['n']} is not allowed: a power of 2 (Sobol' "
                               "sequences balance only at powers of 2), e.g. 32, 64, 128")
        if name == "morris" and n_keys < 2:
            raise ExploreError(f"{path}: analyses.morris is not allowed with one uncertainty: screening ranks "
                               "two or more keys")
        out[name] = chosen
    return out


def _check_against_model(spec: ExploreSpec) -> None:
    """Compose every arm once: scenarios exist, every key is a float the model has, every bound is
    accepted, and every outcome is a KPI a comparison produces."""
    from sim.cli import config_options, load_config
    from sim.config import ConfigError, validate
    from sim.params import future_applies, get_param, set_param

    shipped = config_options("scenario")
    configs = {}
    for arm in spec.arms:
        if arm not in shipped:
            close = difflib.get_close_matches(arm, shipped, n=1)
            raise ExploreError(f"{spec.path}: scenario {arm!r} is not allowed: one of configs/scenario/ "
                               f"({', '.join(shipped)})" + (f"; did you mean {close[0]}?" if close else ""))
        try:
            configs[arm] = load_config([*spec.model_overrides(), f"scenario={arm}"])
        except ConfigError as err:
            raise ExploreError(f"{spec.path}: scenario {arm!r} is not allowed: {err}") from None
    for u in spec.uncertainties:
        where = f"uncertainties.{u.key}"
        acting = [arm for arm, cfg in configs.items() if future_applies(cfg, u.key)]
        if not acting:
            programme = u.key.split(".")[1]
            raise ExploreError(f"{spec.path}: {where} is not allowed: no scenario of {spec.scenarios} switches "
                               f"programme {programme!r} on")
        for arm in acting:
            try:
                current = get_param(configs[arm], u.key)
            except KeyError:
                raise ExploreError(f"{spec.path}: {where} is not allowed: not a key of the model config "
                                   f"(scenario {arm}), e.g. churn.rate_price") from None
            if isinstance(current, bool) or not isinstance(current, float):
                raise ExploreError(f"{spec.path}: {where} is not allowed: a key holding a number with decimals "
                                   f"(it holds {type(current).__name__} {current!r})")
            for side, value in (("low", u.low), ("high", u.high)):
                cfg = copy.deepcopy(configs[arm])
                set_param(cfg, u.key, value)
                try:
                    validate(cfg)
                except ConfigError as err:
                    reason = str(err).splitlines()[-1].strip()
                    raise ExploreError(f"{spec.path}: {where}.{side}={value!r} is not allowed: the model refuses "
                                       f"it in scenario {arm} ({reason})") from None
    spec.acting = {arm: [k for k in spec.keys if future_applies(cfg, k)] for arm, cfg in configs.items()}
    _check_outcomes(spec, configs[spec.baseline])


def _check_outcomes(spec: ExploreSpec, cfg) -> None:
    """Outcome names against the KPIs a tiny run of the preset actually reports."""
    import dataclasses

    from sim.compare import MONEY_KPIS, seed_values
    from sim.runner import run

    tiny = dataclasses.replace(copy.deepcopy(cfg), years=1, warmup_years=0, progress=False, roi=False,
                               population=dataclasses.replace(cfg.population, n_agents=min(200, cfg.population.agents)))
    import warnings

    from sim.config import NoisyRunWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoisyRunWarning)  # a 200-agent run only lists the KPI names
        result = run(tiny)
    known = set(MONEY_KPIS) | set(seed_values(result.summary, result.monthly))
    for name in spec.outcomes:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            raise ExploreError(f"{spec.path}: outcomes entry {name!r} is not allowed: a comparison KPI such as "
                               "incremental_npv, nps_end, churn_rate_annual, adoption_end.<behaviour>"
                               + (f"; did you mean {close[0]}?" if close else ""))
