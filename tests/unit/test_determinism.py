"""A run is a pure function of (config, seed): in this process, in a fresh one, under any
PYTHONHASHSEED. Comparisons are exact (no tolerance): the same inputs must give the same bits."""

from __future__ import annotations

import copy
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import sim
from sim import run

OVERRIDES = ("population.n_customers=2000", "years=2", "progress=false", "seed=7")

# run in a fresh interpreter: argv[1] is the parquet path, the rest are config overrides
CHILD = (
    "import sys\n"
    "from sim import load_config, run\n"
    "run(load_config(sys.argv[2:])).monthly.to_parquet(sys.argv[1])\n"
)


def _source_digest() -> str:
    """Digest of the library's source, to tell a real failure from an edit made mid-session."""
    h = hashlib.sha256()
    for path in sorted(Path(sim.__file__).parent.rglob("*.py")):
        h.update(path.read_bytes())
    return h.hexdigest()


DIGEST_AT_IMPORT = _source_digest()  # taken at collection, just after this process imported sim


@pytest.fixture(scope="module")
def reference(small_config):
    cfg = small_config(*OVERRIDES)
    return cfg, run(cfg)


def test_same_config_and_seed_give_identical_tables(reference):
    cfg, first = reference
    before = copy.deepcopy(cfg)
    again = run(cfg)
    assert_frame_equal(first.monthly, again.monthly, check_exact=True)
    assert first.summary == again.summary
    assert cfg == before, "run() must not modify the config it is given"


def test_seed_argument_equals_seed_in_config(small_config, reference):
    cfg, first = reference
    via_argument = run(small_config(*OVERRIDES, "seed=0"), seed=7)
    assert_frame_equal(first.monthly, via_argument.monthly, check_exact=True)


def test_different_seeds_give_different_tables(reference):
    cfg, first = reference
    other = run(cfg, seed=8)
    assert first.monthly.shape == other.monthly.shape
    assert not first.monthly.equals(other.monthly)
    # the difference is in the random outcomes themselves, not just one column
    for col in ("new_churn", "needs_bill_query", "calls_offered", "sat_mean"):
        assert (first.monthly[col] != other.monthly[col]).any(), col


def test_fresh_processes_under_any_hash_seed_give_identical_tables(reference, tmp_path):
    """Python salts str hashes per process (PYTHONHASHSEED): a stream keyed with hash() would
    differ between these two children, and set/dict iteration order could too."""
    _, first = reference
    children = {}
    for hash_seed in ("0", "4242"):
        out = tmp_path / f"monthly_hashseed_{hash_seed}.parquet"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(out), *OVERRIDES], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        children[hash_seed] = (proc, out)
    for hash_seed, (proc, out) in children.items():
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"PYTHONHASHSEED={hash_seed} child failed:\n{stderr}"
        table = pd.read_parquet(out)
        edited = "" if _source_digest() == DIGEST_AT_IMPORT else " (sim/ edited mid-session: rerun)"
        assert_frame_equal(first.monthly, table, check_exact=True,
                           obj=f"child with PYTHONHASHSEED={hash_seed}{edited}")
