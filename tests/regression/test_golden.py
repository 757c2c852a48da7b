"""Seeded regression: small runs must reproduce their checked-in summaries.

A change that moves these numbers changes what every user's seeded run reports. If the change
is intended, regenerate the files and commit them with the reason in the message:

    CXSIM_UPDATE_GOLDEN=1 python -m pytest tests/regression

Integers must match exactly; floats to 1e-9 relative (room only for last-bit differences in
vectorised math libraries, not for any model change). A golden marked ``subset`` predates some
summary keys; only its own keys are compared, and it is never rewritten.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from sim import load_config, run

GOLDEN_DIR = Path(__file__).parent / "golden"
SMALL = ["population.n_customers=3000", "years=3", "seed=11"]
CASES = {
    # the default model
    "utility_small.json": SMALL,
    # the core engine without the complaint journey and the abuse policy (re-recorded 2026-12 when
    # the settled baseline changed every preset; before that it pinned the pre-complaint engine)
    "utility_small_core.json": SMALL + ["complaints.enabled=false", "abuse.enabled=false",
                                        "referral.rate_paid_acquisition=0.008"],
    # the preset's firm of 463,900 customers simulated by 3,000 agents (154.6 customers each):
    # pins the firm-scale path (scaled counts, the firm's call centre, money at firm scale)
    "utility_firm_3000_agents.json": ["population.n_agents=3000", "years=3", "seed=11"],
    "utility_firm_3000_agents_des.json": ["population.n_agents=3000", "years=1", "seed=11",
                                          "contact_centre.mode=des"],
}


def _compare(expected, actual, path="summary"):
    if isinstance(expected, dict):
        missing = set(expected) - set(actual)
        assert not missing, f"{path}: keys missing: {sorted(missing)}"
        for k in expected:
            _compare(expected[k], actual[k], f"{path}.{k}")
    elif isinstance(expected, float) or isinstance(actual, float):
        if math.isnan(expected) or math.isinf(expected):
            assert str(expected) == str(actual), f"{path}: {actual} != {expected}"
        else:
            assert math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12), f"{path}: {actual} != {expected}"
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_small_run_matches_golden_summary(name):
    path = GOLDEN_DIR / name
    overrides = CASES[name]
    summary = json.loads(json.dumps(run(load_config(overrides), progress=False).summary))
    subset = path.exists() and json.loads(path.read_text()).get("subset", False)
    if os.environ.get("CXSIM_UPDATE_GOLDEN") == "1" and not subset:
        path.write_text(json.dumps({"overrides": overrides, "summary": summary}, indent=2) + "\n")
    golden = json.loads(path.read_text())
    assert golden["overrides"] == overrides
    if not golden.get("subset"):
        assert set(golden["summary"]) == set(summary), "summary keys changed: regenerate on purpose"
    _compare(golden["summary"], summary)
