"""Seeded regression: a small baseline run must reproduce its checked-in summary.

A change that moves these numbers changes what every user's seeded run reports. If the change
is intended, regenerate the file and commit it with the reason in the message:

    CXSIM_UPDATE_GOLDEN=1 python -m pytest tests/regression

Integers must match exactly; floats to 1e-9 relative (room only for last-bit differences in
vectorised math libraries, not for any model change).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from sim import load_config, run

GOLDEN = Path(__file__).parent / "golden" / "utility_small.json"
OVERRIDES = ["population.n_customers=3000", "years=3", "seed=11"]


def _compare(expected, actual, path="summary"):
    if isinstance(expected, dict):
        assert set(expected) == set(actual), f"{path}: keys differ"
        for k in expected:
            _compare(expected[k], actual[k], f"{path}.{k}")
    elif isinstance(expected, float) or isinstance(actual, float):
        if math.isnan(expected) or math.isinf(expected):
            assert str(expected) == str(actual), f"{path}: {actual} != {expected}"
        else:
            assert math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12), f"{path}: {actual} != {expected}"
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def test_small_baseline_matches_golden_summary():
    summary = json.loads(json.dumps(run(load_config(OVERRIDES), progress=False).summary))
    if os.environ.get("CXSIM_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps({"overrides": OVERRIDES, "summary": summary}, indent=2) + "\n")
    golden = json.loads(GOLDEN.read_text())
    assert golden["overrides"] == OVERRIDES
    _compare(golden["summary"], summary)
