"""Reading the YAML specs the command-line tools take (cxsim-regress, cxsim-calibrate)."""

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
