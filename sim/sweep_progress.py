"""One progress bar for a whole `cxsim -m` sweep: runs complete on disk out of the runs planned.

The bar counts run folders whose manifest (written last, so it marks a finished run) appeared
after the sweep started, plus those complete before it that the sweep will skip. Reading the
disk rather than counting jobs means it moves the same under every launcher: jobs in this
process, joblib or Ray workers, SLURM nodes sharing the file system.

While the bar is on a terminal, everything this process prints goes above it (``tqdm.write``);
a launcher's worker processes start their lines by clearing the bar's line (``line_prefix``) and
keep their own per-run bars off, since bars from several processes cannot share one line.
Off a terminal there is no bar: each job's line says where the sweep stands instead.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

BAR_PID = "CXSIM_SWEEP_BAR_PID"  # set while a sweep bar is shown: the pid of the process drawing it
_POLL_S = 0.5


def _manifest_time(run_dir: Path) -> float | None:
    try:
        return (run_dir / "manifest.json").stat().st_mtime
    except OSError:
        return None


class _AboveTheBar:
    """A text stream that writes whole lines above the bar instead of into it."""

    def __init__(self, stream, bar):
        self.stream, self.bar = stream, bar
        self._partial = ""

    def write(self, text: str) -> int:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        if lines:
            with self.bar.get_lock():
                self.bar.clear(nolock=True)
                self.stream.write("".join(line + "\n" for line in lines))
                self.stream.flush()
                self.bar.refresh(nolock=True)
        return len(text)

    def flush(self) -> None:
        if self._partial:
            self.write("\n")
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def __getattr__(self, name):
        return getattr(self.stream, name)


class SweepProgress:
    """A live bar (runs done / planned, ETA) for the run folders of a sweep; a context manager.

    ``skip_complete``: runs complete before the sweep are skipped by it, so they count as done.
    The bar is drawn only when ``interactive`` (default: stderr is a terminal).
    """

    def __init__(self, run_dirs: list[Path], skip_complete: bool = True, interactive: bool | None = None):
        self.run_dirs = list(dict.fromkeys(Path(d) for d in run_dirs))
        self.started = time.time()
        self.before = {d for d in self.run_dirs if _manifest_time(d) is not None} if skip_complete else set()
        self.interactive = sys.stderr.isatty() if interactive is None else interactive
        self._stop = threading.Event()
        self._bar = self._thread = None
        self._streams = None

    def done(self) -> int:
        """Runs of the sweep complete on disk: skipped as complete, or finished since it started."""
        count = 0
        for d in self.run_dirs:
            if d in self.before:
                count += 1
            else:
                t = _manifest_time(d)
                count += t is not None and t >= self.started - 1.0  # file times can be coarser than time()
        return count

    def __enter__(self) -> SweepProgress:
        if not self.interactive or len(self.run_dirs) < 2:
            return self
        from tqdm import tqdm

        self._streams = sys.stdout, sys.stderr
        self._bar = tqdm(total=len(self.run_dirs), initial=len(self.before), unit="run", desc="sweep",
                         file=sys.stderr, dynamic_ncols=True, smoothing=0.1, position=0)
        sys.stdout, sys.stderr = _AboveTheBar(sys.stdout, self._bar), _AboveTheBar(sys.stderr, self._bar)
        os.environ[BAR_PID] = str(os.getpid())
        self._thread = threading.Thread(target=self._watch, name="cxsim-sweep-progress", daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(_POLL_S):
            self._bar.update(self.done() - self._bar.n)

    def __exit__(self, *exc) -> None:
        if self._bar is None:
            return
        self._stop.set()
        self._thread.join()
        self._bar.update(self.done() - self._bar.n)
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = self._streams
        self._bar.close()
        os.environ.pop(BAR_PID, None)


def bar_shown() -> bool:
    """A sweep bar is on the terminal (drawn by this process or by the launcher's)."""
    return bool(os.environ.get(BAR_PID))


def in_worker() -> bool:
    """This process is a launcher's worker while the sweep bar is drawn by another process."""
    pid = os.environ.get(BAR_PID)
    return bool(pid) and pid != str(os.getpid())


def line_prefix() -> str:
    """What a worker's line starts with so it does not run on from the bar: return and clear line."""
    return "\r\x1b[K" if in_worker() and sys.stdout.isatty() else ""


def real_stderr():
    """The terminal's stream under the bar's wrapper: another bar in this process draws there."""
    return sys.stderr.stream if isinstance(sys.stderr, _AboveTheBar) else sys.stderr
