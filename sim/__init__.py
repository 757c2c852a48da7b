"""cxsim: an agent-based what-if simulator for customer-experience strategy.

    from sim import load_config, run
    result = run(load_config(["population.n_agents=20000", "years=5"]), seed=3)
    result.monthly      # per-month KPI table (columns documented in sim.kpis.COLUMNS)
    result.summary      # headline figures

Names are imported lazily so `python -m sim.<module>` and light imports stay cheap.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cxsim")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

_EXPORTS = {
    "ConfigError": "sim.config",
    "RunConfig": "sim.config",
    "validate": "sim.config",
    "RunResult": "sim.runner",
    "run": "sim.runner",
    "load_config": "sim.cli",
    "write_run": "sim.results",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'sim' has no attribute {name!r}")


__all__ = sorted(_EXPORTS) + ["__version__"]
