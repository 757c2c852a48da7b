"""cxsim-dashboard: serve the dashboard (sim/dashboard/app.py) on this machine.

    cxsim-dashboard                         # http://localhost:8765
    cxsim-dashboard --port 9000 --results results --agents 2000 --years 3 --seeds 2

Needs the dashboard extra: pip install -e ".[dashboard]".
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).with_name("app.py")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cxsim-dashboard", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="localhost", help="address to serve on (default: localhost only)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--results", default="results", help="results root whose comparisons and explorations it opens")
    p.add_argument("--preset", default="utility")
    p.add_argument("--scenario", default="ebilling_push", help="the scenario selected at start")
    p.add_argument("--agents", type=int, default=5000, help="agents at start (the slider moves it)")
    p.add_argument("--years", type=int, default=5)
    p.add_argument("--seeds", type=int, default=3)
    a = p.parse_args(argv)
    try:
        import solara  # noqa: F401
    except ImportError:
        print('cxsim-dashboard: the dashboard needs Solara: pip install -e ".[dashboard]"', file=sys.stderr)
        return 2
    from sim.cli import config_options

    for key, group in (("preset", "population"), ("scenario", "scenario")):
        names = config_options(group)
        if getattr(a, key) not in names:
            print(f"cxsim-dashboard: --{key}={getattr(a, key)!r} is not allowed: one of {names}", file=sys.stderr)
            return 2
    for key, low, high in (("agents", 500, 50_000), ("years", 1, 20), ("seeds", 1, 10), ("port", 1, 65535)):
        if not low <= getattr(a, key) <= high:
            print(f"cxsim-dashboard: --{key}={getattr(a, key)} is not allowed: from {low} to {high}", file=sys.stderr)
            return 2
    env = {**os.environ, "CXSIM_DASHBOARD_RESULTS": str(Path(a.results).resolve()),
           "CXSIM_DASHBOARD_PRESET": a.preset, "CXSIM_DASHBOARD_SCENARIO": a.scenario,
           "CXSIM_DASHBOARD_AGENTS": str(a.agents), "CXSIM_DASHBOARD_YEARS": str(a.years),
           "CXSIM_DASHBOARD_SEEDS": str(a.seeds)}
    print(f"cxsim-dashboard: serving on http://{a.host}:{a.port} (Ctrl-C stops it)", flush=True)
    cmd = [sys.executable, "-m", "solara", "run", str(APP), "--host", a.host, "--port", str(a.port),
           "--production", "--no-open", "--no-check-version"]  # no network: never ask PyPI for news
    server = subprocess.Popen(cmd, env=env)
    # a stop sent to this process (kill, a service manager, a test's terminate) must stop the
    # server too: without this it would live on as an orphan holding the port. Ctrl-C reaches
    # both already (the terminal signals the whole process group).
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), lambda signum, _frame: server.send_signal(signum))
    try:
        return server.wait()
    except KeyboardInterrupt:
        server.wait()
        return 0


if __name__ == "__main__":
    sys.exit(main())
