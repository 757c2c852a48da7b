"""Benchmark: wall time, throughput and peak memory of whole runs at several numbers of agents,
beside a Mesa version of the model's core and Starsim's SIS model (sim.bench_references).

    cxsim-bench                                # 10k x 20y, 100k x 20y, 1M agents x 1y, the references
    cxsim-bench --quick                        # a few seconds: 2k agents x 1 year, no references
    cxsim-bench --sizes 10000000 --years 1     # the 10M-customer run (about 3 GB of memory)
    cxsim-bench --no-references                # cxsim only
    cxsim-bench --sizes 50000 --years 20       # the preset's firm as `cxsim` simulates it
    cxsim-bench --sizes 100000 --years 5       # one size, 5 years
    cxsim-bench --sizes 10000 100000 --years 20 2 -- seed=3 scenario=ebilling_push
    cxsim-bench --explore -- hydra/launcher=joblib   # a Morris screen of 8 keys x 10 trajectories (418 runs)
    python -m sim.bench ...                    # the same without the console script

A size is ``population.n_agents``: the preset's firm (population.n_customers) simulated by that
many agents, or a firm of exactly that many customers when the size is larger than the preset's.
Each size runs in a fresh Python process, so one run's memory cannot hide in another's peak.
Columns: customers each agent stands for; wall time of run() alone (imports and config
composition excluded); agent-months per second (the sum over months of agents active at the
start of the month, warm-up months counted at the starting number of agents, divided by that
time), and the same in the loop over months alone (model build and result tables excluded, as
the references are timed); peak memory per agent (the child's peak resident set size minus its
size once imports, config and the compiled kernels are loaded, a tiny run loading the kernels
first, divided by the starting number of agents; small runs show mostly fixed costs there).

The references run in fresh processes too, after cxsim: the Mesa slice at 100k agents for 12
months, Starsim's SIS (when installed) at the largest size for 24 monthly steps. Their rates are
agent-months (agent-steps) per second of the stepping loop, and the last lines give cxsim's rate
at the largest size as a multiple of each: its loop over months against theirs, then its whole run.

``--explore [SPEC]`` times a whole exploration instead: the Morris screen of SPEC (default
ebilling_or_resolved: 8 keys x 10 trajectories x 2 scenarios and the baseline x 2 seeds, 20,000
agents x 10 years) from an empty results folder to its report, through the launcher given after
``--``, and prints runs, wall time and runs a minute.

This is a measurement, not a test: numbers depend on the machine and on what else runs on it
(the load average is printed first). Thread settings (OPENBLAS_NUM_THREADS and the like) are left
exactly as the environment has them; set them yourself to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
QUICK = ((2_000, 1),)
MESA_SLICE = (100_000, 12)  # agents, months: its rate hardly depends on size, and 1M would take minutes
STARSIM_MONTHS = 24


def _default_years(size: int) -> int:
    return 1 if size >= 1_000_000 else 20


def _child(size: int, years: int, overrides: list[str]) -> None:
    """Run one size in this (fresh) process and print its measurements as one JSON line."""
    from sim import load_config, run

    firm = load_config([f"years={years}", *overrides]).population.n_customers
    bigger = [f"population.n_customers={size}"] if size > firm else []
    cfg = load_config([f"population.n_agents={size}", f"years={years}", *overrides, *bigger])
    # a tiny run first loads the compiled kernels (about 70 MB, once a process, like the imports),
    # a second one the parallel twins of the chunked kernels (sim.kernels.Chunked)
    tiny = load_config([*overrides, "population.n_agents=500", "years=1"])
    run(tiny, progress=False)
    _load_parallel_kernels(tiny)
    _load_compaction_kernels()
    base_kb = _resident_kb()
    started = time.perf_counter()
    result = run(cfg, progress=False)
    wall = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    w = result.summary["customers_per_agent"]
    # warm-up months are simulated too (not reported): counted at the starting number of agents
    warmup = cfg.n_warmup_months * cfg.population.agents
    print(json.dumps({"wall_s": wall, "loop_s": result.loop_time_s,
                      "agent_months": float(result.monthly["customers_start"].sum() / w) + warmup,
                      "customers_per_agent": w, "peak_delta_bytes": (peak_kb - base_kb) * 1024,
                      "base_bytes": base_kb * 1024}))


def _load_parallel_kernels(cfg) -> None:
    """Run ``cfg`` with every chunked kernel on its parallel twin, so a large measured run does not
    load (or, after an install, compile) them inside its time."""
    from sim import kernels, run

    lowest = kernels.PARALLEL_MIN_ROWS
    kernels.PARALLEL_MIN_ROWS = 0
    try:
        run(cfg, progress=False)
    finally:
        kernels.PARALLEL_MIN_ROWS = lowest


def _load_compaction_kernels() -> None:
    """Close up a small model's rows once. A tiny run never does (rows are closed up once 4,096 of
    them are churned customers), so without this the measured run would load compaction's kernels
    (about 20 ms, 2-3% of a 10k x 20 run), or on a fresh install compile them and
    count LLVM's memory as the run's."""
    from sim import load_config
    from sim.model import CXModel

    model = CXModel(load_config(["population.n_agents=500", "years=1", "warmup_years=0", "progress=false"]))
    for _ in range(3):
        model.step()
    model._compact()


def _reference_child(name: str, size: int, months: int) -> None:
    from sim import bench_references as refs

    rate = (refs.mesa_slice_rate if name == "mesa" else refs.starsim_sis_rate)(size, months)
    print(json.dumps({"rate": rate}))


def _resident_kb() -> int:
    """This process's resident size now, in kilobytes (the peak so far is ru_maxrss)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # no /proc: the peak, an overestimate


def _measure(size: int, years: int, overrides: list[str], reference: str | None = None) -> dict:
    if reference:
        cmd = [sys.executable, "-m", "sim.bench", "--reference", reference, str(size), str(years)]
    else:
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
    ap.add_argument("--sizes", type=int, nargs="+", help="agents per run (default: 10k 100k 1M)")
    ap.add_argument("--years", type=int, nargs="+",
                    help="years per size, one value for all or one per size (default: 20, and 1 from 1M)")
    ap.add_argument("--quick", action="store_true", help="one tiny run, to check the benchmark works")
    ap.add_argument("--no-references", action="store_true", help="skip the Mesa slice and Starsim's SIS")
    ap.add_argument("--explore", nargs="?", const="ebilling_or_resolved", metavar="SPEC",
                    help="time the Morris screen of an exploration spec (default ebilling_or_resolved); "
                         "overrides after -- choose its launcher")
    ap.add_argument("--child", type=int, nargs=2, metavar=("SIZE", "YEARS"), help=argparse.SUPPRESS)
    ap.add_argument("--reference", nargs=3, metavar=("NAME", "SIZE", "MONTHS"), help=argparse.SUPPRESS)
    ap.add_argument("overrides", nargs="*", help="config overrides for every run, after --")
    args = ap.parse_args(argv)
    if args.child:
        _child(*args.child, args.overrides)
        return 0
    if args.reference:
        _reference_child(args.reference[0], int(args.reference[1]), int(args.reference[2]))
        return 0
    if args.explore:
        return _explore_benchmark(args.explore, args.overrides)
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

    print(_machine_line())
    header = (f"{'agents':>10} {'cust/agent':>10} {'years':>5} {'wall s':>8} {'agent-months/s':>15} "
              f"{'in the loop':>12} {'peak MB':>8} {'bytes/agent':>11}")
    print(header)
    print("-" * len(header), flush=True)
    failed = 0
    rates: dict[int, tuple[float, float]] = {}  # size -> agent-months/s of the whole run, of its months alone
    for size, years in plan:
        try:
            m = _measure(size, years, args.overrides)
        except RuntimeError as err:
            failed += 1
            print(f"{size:>10} {'':>10} {years:>5}  FAILED: {err}", flush=True)
            continue
        rates[size] = (m["agent_months"] / m["wall_s"], m["agent_months"] / m["loop_s"])
        print(f"{size:>10} {m['customers_per_agent']:>10.2f} {years:>5} {m['wall_s']:>8.2f} "
              f"{rates[size][0]:>15,.0f} {rates[size][1]:>12,.0f} {m['peak_delta_bytes'] / 2**20:>8.0f} "
              f"{m['peak_delta_bytes'] / size:>11,.0f}", flush=True)
    if args.quick or args.no_references or not rates:
        return 1 if failed else 0
    return 1 if failed + _references(rates) else 0


def _machine_line() -> str:
    """The first line of every benchmark: the machine and how busy it is (this is a measurement)."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    from sim import kernels

    threads = kernels.numba.get_num_threads() if kernels.numba is not None else 1
    return (f"cxsim-bench on {os.cpu_count()} cores, load average {load} (1, 5, 15 min); cxsim's chunked kernels "
            f"on {threads} thread{'s' if threads != 1 else ''} from {kernels.PARALLEL_MIN_ROWS:,} agents "
            "(CXSIM_THREADS=1: one), the references on one")


def _explore_benchmark(spec_name: str, launcher_args: list[str]) -> int:
    """Wall time of an exploration's Morris screen from nothing on disk to its report."""
    import tempfile

    from sim.explore.cli import main as explore
    from sim.explore.design import design_table
    from sim.explore.spec import ExploreError, load_spec
    from sim.explore.sweep import runs_to_simulate

    try:
        spec = load_spec(spec_name)
    except ExploreError as err:
        print(f"cxsim-bench: {err}", file=sys.stderr)
        return 2
    if "morris" not in spec.analyses:
        print(f"cxsim-bench: --explore {spec_name} is not allowed: the spec has no Morris analysis", file=sys.stderr)
        return 2
    opts = spec.analyses["morris"]
    design = design_table(spec, ["morris"])
    futures = len(design)
    runs = runs_to_simulate(spec, design)
    print(_machine_line())
    print(f"exploration {spec.name}: Morris screen of {len(spec.keys)} keys x {opts['trajectories']} trajectories "
          f"= {futures} futures x {len(spec.arms)} arms x {spec.seeds} seeds = "
          f"{futures * len(spec.arms) * spec.seeds} runs, {runs} to simulate, of {spec.agents:,} agents, "
          f"overrides {' '.join(spec.overrides) or 'none'}; launcher: {' '.join(launcher_args) or 'basic'}", flush=True)
    with tempfile.TemporaryDirectory(prefix="cxsim-bench-explore-") as root:
        t0 = time.perf_counter()
        code = explore([spec_name, "--only", "morris", "--output-root", root, "--no-progress", *launcher_args])
        wall = time.perf_counter() - t0
    if code not in (0, 1):
        print(f"exploration FAILED (exit {code})")
        return 1
    print(f"wall {wall:,.1f} s ({wall / 60:.1f} min) to the report: {runs / wall * 60:,.1f} runs a minute, "
          f"{wall / runs:.2f} s a run", flush=True)
    return 0


def _references(rates: dict[int, tuple[float, float]]) -> int:
    """Time the references and print cxsim's rate at its largest size as a multiple of each: loop
    against loop, as the references are timed (set-up excluded), and cxsim's whole run against it."""
    from sim.bench_references import starsim_available

    largest = max(rates)
    wanted = [("Mesa slice (one mesa.Agent per customer)", "mesa", *MESA_SLICE)]
    if starsim_available():
        wanted.append(("Starsim SIS on a random network", "starsim", largest, STARSIM_MONTHS))
    else:
        print("Starsim is not installed (pip install starsim): its SIS rate is not measured")
    failed = 0
    print()
    for label, name, size, months in wanted:
        try:
            rate = _measure(size, months, [], reference=name)["rate"]
        except RuntimeError as err:
            failed += 1
            print(f"{label}: FAILED: {err}", flush=True)
            continue
        whole, loop = rates[largest]
        print(f"{label}, {size:,} agents x {months} months: {rate:,.0f} agent-months/s; cxsim at {largest:,} "
              f"agents is {loop / rate:.2f}x that (its months alone, as the reference is timed; "
              f"{whole / rate:.2f}x with its build and tables)", flush=True)
    return failed


if __name__ == "__main__":
    sys.exit(main())
