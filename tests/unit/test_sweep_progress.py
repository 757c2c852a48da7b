"""The sweep's progress count: runs complete on disk, whichever process or node wrote them."""

from __future__ import annotations

import io
import os
import time

from sim.sweep_progress import SweepProgress, _AboveTheBar


def _finish(run_dir, when: float | None = None) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "manifest.json").write_text("{}")
    if when is not None:
        os.utime(run_dir / "manifest.json", (when, when))


def test_runs_count_once_complete_and_a_resumed_sweep_counts_what_it_skips(tmp_path):
    dirs = [tmp_path / f"seed={i}" for i in range(4)]
    _finish(dirs[0], when=time.time() - 3600)  # from an earlier sweep
    progress = SweepProgress(dirs, skip_complete=True, interactive=False)
    assert progress.done() == 1
    (dirs[1]).mkdir()  # started, manifest not yet written: not done
    assert progress.done() == 1
    _finish(dirs[1])
    _finish(dirs[1])  # the same run seen twice still counts once
    assert progress.done() == 2


def test_with_rerun_asked_an_old_run_counts_only_once_rewritten(tmp_path):
    dirs = [tmp_path / f"seed={i}" for i in range(2)]
    _finish(dirs[0], when=time.time() - 3600)
    progress = SweepProgress(dirs, skip_complete=False, interactive=False)
    assert progress.done() == 0
    _finish(dirs[0])
    assert progress.done() == 1


class _Bar:
    def __init__(self, out):
        self.out = out

    def get_lock(self):
        import threading

        return threading.RLock()

    def clear(self, nolock=False):
        self.out.write("<clear>")

    def refresh(self, nolock=False):
        self.out.write("<bar>")


def test_printed_lines_go_above_the_bar_whole():
    out = io.StringIO()
    stream = _AboveTheBar(out, _Bar(out))
    stream.write("half a ")
    assert out.getvalue() == ""  # nothing drawn into the bar's line until the line is whole
    stream.write("line\nand another\n")
    assert out.getvalue() == "<clear>half a line\nand another\n<bar>"
