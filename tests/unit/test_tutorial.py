"""The Python tutorial runs as written (at a small size), so it never rots."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIAL = Path(__file__).resolve().parents[2] / "experiments" / "tutorial.py"


def test_the_tutorial_runs_and_draws_its_figure(tmp_path):
    env = {**os.environ, "CXSIM_TUTORIAL_AGENTS": "1500", "CXSIM_TUTORIAL_YEARS": "2",
           "CXSIM_TUTORIAL_SEEDS": "3", "CXSIM_TUTORIAL_OUT": str(tmp_path)}
    done = subprocess.run([sys.executable, str(TUTORIAL)], env=env, cwd=tmp_path, capture_output=True, text=True,
                          check=False, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "incremental NPV over 3 seeds" in done.stdout
    assert (tmp_path / "cumulative_npv.png").stat().st_size > 10_000


def test_the_tutorial_runs_as_a_notebook(tmp_path, monkeypatch):
    """Opened in Jupyter (jupytext), cell by cell in a kernel, as a reader meets it."""
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    for key, value in {"CXSIM_TUTORIAL_AGENTS": "1500", "CXSIM_TUTORIAL_YEARS": "2", "CXSIM_TUTORIAL_SEEDS": "3",
                       "CXSIM_TUTORIAL_OUT": str(tmp_path)}.items():
        monkeypatch.setenv(key, value)  # the kernel starts with this process's environment
    notebook = jupytext.read(TUTORIAL)
    assert sum(c.cell_type == "code" for c in notebook.cells) >= 3  # cells, not one script blob
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(out.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                      for out in cell.get("outputs", []))
    assert "incremental NPV over 3 seeds" in printed
    assert (tmp_path / "cumulative_npv.png").stat().st_size > 10_000
