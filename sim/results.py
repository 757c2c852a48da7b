"""What a run leaves on disk, written atomically and sealed with checksums.

A run folder is assembled under a hidden temporary name and swapped into place only when every
file is written, ``manifest.json`` (with the SHA-256 of every file) last; ``sim.safe_write`` has
the rules that keep a user's own folders safe. ``run_problem`` is the test readers use: a run
is read or reused only if every byte is what was written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from sim.config import RunConfig
from sim.kpis import describe
from sim.safe_write import atomic_dir, read_manifest, recover, sealed_manifest, verify

FILES = ("monthly.parquet", "summary.json", "config.yaml", "manifest.json")
# settings that decide where and how results are shown, not what they are
_NOT_HASHED = ("seed", "progress", "roi", "output", "benchmarks")


def config_dict(cfg: RunConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def config_hash(cfg: RunConfig) -> str:
    """Hash of everything that changes results except the seed (runs of one sweep point share it).

    Dictionaries are hashed with sorted keys: that is sound because nothing in the model depends
    on the order of a mapping (programmes compose in a fixed order, ``sim.interventions.base``).
    """
    d = {k: v for k, v in config_dict(cfg).items() if k not in _NOT_HASHED}
    blob = json.dumps(d, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _finite(obj: Any) -> Any:
    """NaN and infinities as null: JSON has no such numbers, and strict readers reject them."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _json(obj: Any) -> str:
    return json.dumps(_finite(obj), indent=2, sort_keys=False, allow_nan=False, default=str) + "\n"


def _to_yaml(cfg: RunConfig) -> str:
    """The resolved config as YAML: the same text OmegaConf.to_yaml writes for it, at a twentieth
    of the cost (OmegaConf.structured re-validates every field, 0.1 s a run)."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(config_dict(cfg), Dumper=dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)


def manifest(result) -> dict[str, Any]:
    from sim import __version__

    cfg = result.config
    return {
        "complete": True,
        "package": "cxsim",
        "version": __version__,
        "scenario": cfg.scenario,
        "seed": cfg.seed,
        "config_hash": config_hash(cfg),
        "wall_time_s": round(result.wall_time_s, 3),
        "months": int(len(result.monthly)),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "kind": "run",
        "config": config_dict(cfg),
    }


def write_run(result, run_dir: str | Path, plots: bool | None = None,
              extra_json: dict[str, Any] | None = None, baseline=None) -> Path:
    """Write a run's tables, summary, config, manifest (and figure) to ``run_dir`` atomically.

    ``extra_json`` maps further file names (e.g. "roi.json") to JSON-ready content; ``baseline``
    (the baseline's RunResult at the same seed) is drawn beside the run in kpis.png.
    """
    run_dir = Path(run_dir)
    with atomic_dir(run_dir, "run folder") as tmp:
        table = pa.Table.from_pandas(result.monthly, preserve_index=False)
        units = {c: describe(c)[0] for c in result.monthly.columns if describe(c)}
        pop = result.config.population
        scale = {"n_customers": pop.n_customers, "n_agents": pop.agents,
                 "customers_per_agent": result.summary["customers_per_agent"]}
        table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                               b"cxsim.units": json.dumps(units).encode(),
                                               b"cxsim.scale": json.dumps(scale).encode()})
        pq.write_table(table, tmp / "monthly.parquet")
        (tmp / "summary.json").write_text(_json(result.summary))
        (tmp / "config.yaml").write_text(_to_yaml(result.config))
        files = [f for f in FILES if f != "manifest.json"]
        for name, content in (extra_json or {}).items():
            (tmp / name).write_text(_json(content))
            files.append(name)
        if plots if plots is not None else result.config.output.plots is not False:
            from sim.plots import kpi_figure

            kpi_figure(result.monthly, result.config, tmp / "kpis.png",
                       baseline=baseline.monthly if baseline is not None else None)
            files.append("kpis.png")
        (tmp / "manifest.json").write_text(sealed_manifest(manifest(result), tmp, files))  # last: marks complete
    return run_dir


def is_complete(run_dir: str | Path) -> bool:
    """True if ``run_dir`` holds a finished run exactly as cxsim wrote it."""
    return run_problem(run_dir) is None


def sealed_run(run_dir: str | Path) -> tuple[str | None, dict[str, Any] | None]:
    """(why ``run_dir`` is not a run exactly as cxsim wrote it, or None; its parsed manifest).

    Every file must match the checksum its sealed manifest recorded (``sim.safe_write.verify``)
    and the manifest must describe a run. The manifest is read and parsed once, for the check and
    for the caller (seed, config hash, months)."""
    m = read_manifest(Path(run_dir))
    problem = verify(run_dir, manifest=m)
    if problem:
        return f"damaged or incomplete: {problem}", None
    if m.get("kind", "run") != "run" or not all(f in m.get("files", []) for f in FILES):
        return "not a run folder (its manifest lists no run files)", None
    return None, m


def run_problem(run_dir: str | Path) -> str | None:
    """Why ``run_dir`` cannot be read as a finished run, or None if it can.

    The folder must be sealed and intact (``sealed_run``), the Parquet footer must hold one row
    per month and summary.json must parse.
    """
    run_dir = Path(run_dir)
    problem, m = sealed_run(run_dir)
    if problem:
        return problem
    try:
        rows = pq.read_metadata(run_dir / "monthly.parquet").num_rows
        json.loads((run_dir / "summary.json").read_text())
    except Exception as err:  # truncated or garbled file: the run has to be redone
        return f"unreadable ({type(err).__name__}: {err})"
    if rows != m.get("months"):
        return f"monthly.parquet has {rows} rows, the manifest says {m.get('months')} months"
    return None


def reusable_run(run_dir: str | Path, cfg: RunConfig) -> dict[str, Any] | None:
    """The summary of the finished run in ``run_dir`` if it is ``cfg`` at ``cfg.seed``, else None.

    Reusable means: intact (``run_problem`` is None), the same seed and config hash, and
    roi.json present when ``cfg`` asks for it. Anything else is to be (re)computed.
    """
    run_dir = Path(run_dir)
    recover(run_dir)  # a previous run a killed swap left hidden is put back first
    if run_problem(run_dir) is not None:
        return None
    m = json.loads((run_dir / "manifest.json").read_text())
    if m.get("seed") != cfg.seed or m.get("config_hash") != config_hash(cfg):
        return None
    if cfg.roi and cfg.interventions and "roi.json" not in m.get("files", []):
        return None
    return json.loads((run_dir / "summary.json").read_text())
