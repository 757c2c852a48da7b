"""cxsim-bench measures what it says: a tiny run end to end, and the Mesa reference at toy size."""

from __future__ import annotations

import pytest

from sim import bench
from sim.bench_references import mesa_slice_rate, starsim_available, starsim_sis_rate


def test_quick_benchmark_prints_a_row_with_a_positive_rate(capsys):
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("cxsim-bench on") and "load average" in out[0]
    row = out[-1].split()
    assert row[0] == "2000" and float(row[4].replace(",", "")) > 0  # agents, agent-months/s


def test_mesa_slice_steps_every_agent_each_month():
    assert mesa_slice_rate(300, 2) > 0


@pytest.mark.skipif(not starsim_available(), reason="starsim is not installed")
def test_starsim_reference_runs():
    assert starsim_sis_rate(2_000, 3) > 0


def test_explore_benchmark_refuses_a_spec_it_cannot_time(tmp_path, capsys):
    assert bench.main(["--explore", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read the exploration spec" in capsys.readouterr().err
