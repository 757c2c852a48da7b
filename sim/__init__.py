"""cxsim: an agent-based what-if simulator for customer-experience strategy.

    from sim import load_config, run
    result = run(load_config(["population.n_customers=20000", "years=5"]), seed=3)
    result.monthly      # per-month KPI table (columns: sim.kpis.COLUMNS)
    result.summary      # headline figures
"""

from importlib.metadata import PackageNotFoundError, version

from sim.config import ConfigError, RunConfig, validate
from sim.runner import RunResult, run

try:
    __version__ = version("cxsim")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"


def load_config(overrides=None, config_name="config"):
    """Compose the shipped configs with overrides (imports Hydra only when called)."""
    from sim.cli import load_config as _load

    return _load(overrides, config_name)


__all__ = ["ConfigError", "RunConfig", "RunResult", "load_config", "run", "validate", "__version__"]
