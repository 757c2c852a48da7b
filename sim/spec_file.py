"""Reading the YAML specs the command-line tools take (cxsim-regress, cxsim-calibrate, cxsim-explore)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def read_yaml(path: Path, error: type[Exception], what: str) -> Any:
    """The parsed file, or ``error`` naming the file and why it cannot be read."""
    import yaml

    try:
        return yaml.safe_load(path.read_text())
    except OSError as err:
        raise error(f"cannot read the {what} {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise error(f"the {what} {path} is not valid YAML: {err}") from None


def find_spec(name_or_path: str, group: str) -> Path:
    """A spec file by path, or by name in configs/<group>/ (calibration, uncertainty)."""
    from sim.cli import CONFIG_DIR

    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    return Path(CONFIG_DIR) / group / f"{name_or_path}.yaml"


def whole_number(value: Any, key: str, where: Path, error: type[Exception], least: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise error(f"{where}: {key}={value!r} is not allowed: an integer >= {least}")
    return value


def finite_number(value: Any, key: str, where: Path, error: type[Exception]) -> float:
    import math

    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise error(f"{where}: {key}={value!r} is not allowed: a finite number")
    return float(value)
