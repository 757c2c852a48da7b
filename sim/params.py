"""Read and write a run config's values by dotted key ("contact_centre.rel_staffing").

Interventions name the parameters they change this way, so every effect is a config key a
strategist can look up, and an unknown key is an error at start-up rather than a silent no-op.
A list item is named by its index: ``interventions.ebilling_campaign.effects.0.value``.
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
    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return node[int(part)]
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
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        setattr(node, last, value)


def has_numeric_param(cfg: Any, key: str) -> bool:
    try:
        value = get_param(cfg, key)
    except KeyError:
        return False
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def future_applies(cfg: Any, key: str) -> bool:
    """Whether a future's ``key`` acts in ``cfg``: a programme's own keys act only where it is on,
    so one future can be given to the baseline and to every scenario alike."""
    parts = key.split(".")
    return not (parts[0] == "interventions" and len(parts) > 1 and parts[1] not in cfg.interventions)


def apply_future(cfg: Any) -> Any:
    """Set every value of ``cfg.future`` on ``cfg`` (in place; returns it). Unknown keys and keys
    that do not hold a float are left for ``sim.config.validate`` to refuse by name."""
    for key, value in cfg.future.values.items():
        if not future_applies(cfg, key):
            continue
        try:
            current = get_param(cfg, key)
        except KeyError:
            continue
        if isinstance(current, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
            set_param(cfg, key, float(value))
    return cfg
