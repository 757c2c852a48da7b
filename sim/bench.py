"""Benchmark: wall time, throughput and peak memory of whole runs at several base sizes.

    cxsim-bench                                # 10k x 20y, 100k x 20y, 1M x 1y
    cxsim-bench --quick                        # a few seconds: 2k customers x 1 year
    cxsim-bench --sizes 100000 --years 5       # one size, 5 years
    cxsim-bench --sizes 10000 100000 --years 20 2 -- seed=3 scenario=ebilling_push
    python -m sim.bench ...                    # the same without the console script

Each size runs in a fresh Python process, so one run's memory cannot hide in another's peak.
Columns: wall time of run() alone (imports and config composition excluded); customer-months
per second (the sum over months of customers active at the start of the month, divided by that
time); peak memory per customer (the child's peak resident set size minus its size once
imports and config are done, divided by the starting number of customers; small bases show
mostly fixed costs there).

This is a measurement, not a test: numbers depend on the machine and on what else runs on it.
Thread settings (OPENBLAS_NUM_THREADS and the like) are left exactly as the environment has
them; set them yourself to compare.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
QUICK = ((2_000, 1),)


def _default_years(size: int) -> int:
    return 1 if size >= 1_000_000 else 20


def _child(size: int, years: int, overrides: list[str]) -> None:
    """Run one size in this (fresh) process and print its measurements as one JSON line."""
    from sim import load_config, run

    cfg = load_config([f"population.n_customers={size}", f"years={years}", *overrides])
    base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    started = time.perf_counter()
    result = run(cfg, progress=False)
    wall = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"wall_s": wall, "customer_months": int(result.monthly["customers_start"].sum()),
                      "peak_delta_bytes": (peak_kb - base_kb) * 1024}))


def _measure(size: int, years: int, overrides: list[str]) -> dict:
    cmd = [sys.executable, "-m", "sim.bench", "--child", str(size), str(years), "--", *overrides]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["no output"]
        errors = [ln for ln in lines if ln[:1].isalpha() and ("Error" in ln or "Exception" in ln)]
        last = errors[-1] if errors else lines[-1]  # the exception line, and any hint after it
        raise RuntimeError(last if last == lines[-1] else f"{last} {lines[-1]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="cxsim-bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", help="starting customers per run (default: 10k 100k 1M)")
    ap.add_argument("--years", type=int, nargs="+",
                    help="years per size, one value for all or one per size (default: 20, and 1 from 1M)")
    ap.add_argument("--quick", action="store_true", help="one tiny run, to check the benchmark works")
    ap.add_argument("--child", type=int, nargs=2, metavar=("SIZE", "YEARS"), help=argparse.SUPPRESS)
    ap.add_argument("overrides", nargs="*", help="config overrides for every run, after --")
    args = ap.parse_args(argv)
    if args.child:
        _child(*args.child, args.overrides)
        return 0
    if args.quick:
        plan = list(QUICK)
    else:
        sizes = args.sizes or list(DEFAULT_SIZES)
        years = args.years or [_default_years(s) for s in sizes]
        if len(years) == 1:
            years = years * len(sizes)
        if len(years) != len(sizes):
            ap.error(f"--years takes one value or one per size ({len(sizes)}), got {len(years)}")
        plan = list(zip(sizes, years))

    header = (f"{'customers':>10} {'years':>5} {'wall s':>8} {'cust-months/s':>14} "
              f"{'peak MB':>8} {'bytes/cust':>10}")
    print(header)
    print("-" * len(header), flush=True)
    failed = 0
    for size, years in plan:
        try:
            m = _measure(size, years, args.overrides)
        except RuntimeError as err:
            failed += 1
            print(f"{size:>10} {years:>5}  FAILED: {err}", flush=True)
            continue
        print(f"{size:>10} {years:>5} {m['wall_s']:>8.2f} {m['customer_months'] / m['wall_s']:>14,.0f} "
              f"{m['peak_delta_bytes'] / 2**20:>8.0f} {m['peak_delta_bytes'] / size:>10,.0f}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
