"""Nothing a user owns is replaced, a swap leaves the old or the new folder, every byte is checked."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import pytest

from sim import load_config, run
from sim.results import is_complete, reusable_run, run_problem, write_run
from sim.safe_write import OutputError, atomic_dir, check_target, recover, verify


@pytest.fixture(scope="module")
def result():
    return run(load_config(["population.n_customers=400", "years=1", "warmup_years=0", "seed=2"]), progress=False)


@pytest.mark.parametrize("setup, why", [
    (lambda p: p.write_text("my thesis"), "is a file"),
    (lambda p: (p.mkdir(), (p / "data.csv").write_text("a,b")), "did not write (data.csv)"),
    (lambda p: (p.mkdir(), (p / "sub").mkdir(), (p / "sub" / "x").write_text("1")), "did not write (sub)"),
])
def test_a_folder_cxsim_did_not_write_is_refused_and_left_alone(tmp_path, result, setup, why):
    target = tmp_path / "run"
    setup(target)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    with pytest.raises(OutputError, match=re.escape(why)):
        write_run(result, target, plots=False)
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


def test_an_empty_folder_may_be_written(tmp_path, result):
    (tmp_path / "run").mkdir()
    assert is_complete(write_run(result, tmp_path / "run", plots=False))


def test_a_file_on_the_way_to_the_target_is_refused_before_work(tmp_path):
    (tmp_path / "results").write_text("not a folder")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_target(tmp_path / "results" / "baseline" / "default" / "seed=0")
    assert (tmp_path / "results").read_text() == "not a folder"


def test_manifest_seals_every_file_and_itself(tmp_path, result):
    out = write_run(result, tmp_path / "run", plots=False)
    m = json.loads((out / "manifest.json").read_text())
    assert set(m["checksums"]) == {"monthly.parquet", "summary.json", "config.yaml"}
    assert verify(out) is None
    m["seed"] = 99  # a plausible edit of the manifest itself
    (out / "manifest.json").write_text(json.dumps(m))
    assert "manifest.json was changed" in run_problem(out)


def test_edited_but_valid_summary_is_not_reused(tmp_path, result):
    out = write_run(result, tmp_path / "run", plots=False)
    s = json.loads((out / "summary.json").read_text())
    s["npv"] = s["npv"] * 2
    (out / "summary.json").write_text(json.dumps(s, indent=2))
    assert reusable_run(out, result.config) is None
    assert "summary.json differs" in run_problem(out)


def test_every_single_byte_overwrite_is_caught(tmp_path, result):
    """201 single 8-byte overwrites spread over every file of a run: none may pass as intact."""
    out = write_run(result, tmp_path / "run", plots=False)
    files = ["monthly.parquet", "summary.json", "config.yaml", "manifest.json"]
    originals = {f: (out / f).read_bytes() for f in files}
    missed = []
    for i in range(201):
        name = files[i % len(files)]
        data = bytearray(originals[name])
        at = (i * 7919) % max(1, len(data) - 8)
        new = bytes((b ^ 0x5A) for b in data[at:at + 8])
        data[at:at + 8] = new
        (out / name).write_bytes(bytes(data))
        if run_problem(out) is None:
            missed.append((name, at))
        (out / name).write_bytes(originals[name])
    assert run_problem(out) is None
    assert missed == []


_KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import sim.safe_write as sw
    from sim import load_config, run, write_run
    mode, target = sys.argv[1], sys.argv[2]
    result = run(load_config(["population.n_customers=400", "years=1", "warmup_years=0", "seed=3"]), progress=False)
    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "between_renames":  # no atomic exchange here: die after moving the old folder away
        sw._exchange = lambda a, b: False
        real = os.rename
        calls = []
        def rename(a, b):
            real(a, b)
            calls.append(b)
            if len(calls) == 1:
                die()
        sw.os.rename = rename
    elif mode == "after_exchange":
        sw.shutil.rmtree = die
    elif mode == "while_writing":
        import sim.plots
        sim.plots.kpi_figure = die
    write_run(result, target, plots=(mode == "while_writing"))
""")


@pytest.mark.parametrize("mode", ["while_writing", "between_renames", "after_exchange"])
def test_a_kill_at_any_point_leaves_the_old_or_the_new_run(tmp_path, result, mode):
    target = tmp_path / "run"
    write_run(result, target, plots=False)
    old_summary = (target / "summary.json").read_text()
    proc = subprocess.run([sys.executable, "-c", _KILL_SCRIPT, mode, str(target)], capture_output=True)
    assert proc.returncode == -9
    recover(target)  # what the next write or read does first
    assert run_problem(target) is None
    new = json.loads((target / "manifest.json").read_text())["seed"]
    if mode == "after_exchange":
        assert new == 3
    else:
        assert new == 2 and (target / "summary.json").read_text() == old_summary
    with atomic_dir(tmp_path / "other"):
        pass  # a later write beside them clears what the killed writer left
    write_run(result, target, plots=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other", "run"]
