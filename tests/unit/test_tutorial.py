"""The Python tutorial runs as written (at a small size), so it never rots."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TUTORIAL = Path(__file__).resolve().parents[2] / "experiments" / "tutorial.py"


def test_the_tutorial_runs_and_draws_its_figure(tmp_path):
    env = {**os.environ, "CXSIM_TUTORIAL_AGENTS": "1500", "CXSIM_TUTORIAL_YEARS": "2",
           "CXSIM_TUTORIAL_SEEDS": "3", "CXSIM_TUTORIAL_OUT": str(tmp_path)}
    done = subprocess.run([sys.executable, str(TUTORIAL)], env=env, cwd=tmp_path, capture_output=True, text=True,
                          check=False, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "incremental NPV over 3 seeds" in done.stdout
    assert (tmp_path / "cumulative_npv.png").stat().st_size > 10_000
