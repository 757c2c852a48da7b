"""Read and write a run config's values by dotted key ("contact_centre.rel_staffing").

Interventions name the parameters they change this way, so every effect is a config key a
strategist can look up, and an unknown key is an error at start-up rather than a silent no-op.
"""

from __future__ import annotations

import dataclasses
from typing import Any


def _step(node: Any, part: str) -> Any:
    if dataclasses.is_dataclass(node):
        if not any(f.name == part for f in dataclasses.fields(node)):
            raise KeyError(part)
        return getattr(node, part)
    if isinstance(node, dict):
        return node[part]
    raise KeyError(part)


def get_param(cfg: Any, key: str) -> Any:
    node = cfg
    for part in key.split("."):
        node = _step(node, part)
    return node


def set_param(cfg: Any, key: str, value: Any) -> None:
    *head, last = key.split(".")
    node = cfg
    for part in head:
        node = _step(node, part)
    _step(node, last)  # raises KeyError for a key that does not exist: effects never add keys
    if isinstance(node, dict):
        node[last] = value
    else:
        setattr(node, last, value)


def has_numeric_param(cfg: Any, key: str) -> bool:
    try:
        value = get_param(cfg, key)
    except KeyError:
        return False
    return isinstance(value, (int, float)) and not isinstance(value, bool)
