"""A killed joblib sweep takes its workers with it.

Loky's worker processes (and its resource trackers) hold each other's pipes open, so when the
sweep process is killed they wait forever, some of them in the middle of a run nobody will
collect. Before a joblib sweep starts, `cxsim` marks its environment with a token every worker
inherits and starts this small watcher as its child; once the sweep is gone (killed or
finished), the watcher kills every process that carries the token. Linux only (it reads
/proc); elsewhere it does nothing.
A run cut short this way writes nothing: its folder is swapped in only when complete.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

MARK = "CXSIM_SWEEP_MARK"
_WATCHER = r"""
import os, signal, sys, time
sweep, token = int(sys.argv[1]), sys.argv[2].encode()
while os.getppid() == sweep:
    time.sleep(0.25)
for entry in os.listdir("/proc"):
    if not entry.isdigit() or int(entry) == os.getpid():
        continue
    try:
        with open(f"/proc/{entry}/environ", "rb") as f:
            marked = token in f.read().split(b"\0")
        if marked:
            os.kill(int(entry), signal.SIGKILL)
    except OSError:
        pass
"""


def reap_workers_when_gone() -> None:
    """Start the watcher for this (sweep) process; a no-op where /proc is not available."""
    if not Path(f"/proc/{os.getpid()}/environ").exists():
        return
    os.environ[MARK] = f"{os.getpid()}-{uuid.uuid4().hex}"  # unique to this sweep; inherited by its workers
    token = f"{MARK}={os.environ[MARK]}"
    subprocess.Popen([sys.executable, "-S", "-c", _WATCHER, str(os.getpid()), token], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True)
