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
    whole, loop = (float(x.replace(",", "")) for x in row[4:6])  # agent-months/s: whole run, months alone
    assert row[0] == "2000" and 0 < whole <= loop


def test_mesa_slice_steps_every_agent_each_month():
    assert mesa_slice_rate(300, 2) > 0


@pytest.mark.skipif(not starsim_available(), reason="starsim is not installed")
def test_starsim_reference_runs():
    assert starsim_sis_rate(2_000, 3) > 0


def test_explore_benchmark_refuses_a_spec_it_cannot_time(tmp_path, capsys):
    assert bench.main(["--explore", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read the exploration spec" in capsys.readouterr().err


def test_a_runs_loop_time_is_the_part_of_its_wall_time_spent_in_months():
    from sim import load_config, run

    result = run(load_config(["population.n_customers=2000", "years=1"]), progress=False)
    # the references are timed over their steps alone; cxsim's ratio to them uses this
    assert 0 < result.loop_time_s < result.wall_time_s
