"""Compiled kernels: the hot stages in one pass per customer, with their uniforms drawn inside it.

Why numba: the stages are short loops over customers with a few branches each (a Poisson
inversion, a categorical choice, a hazard). As numpy expressions they make a temporary array per
operation and pass over every customer many times; compiled, each customer is read once and the
counter-based uniforms (sim.rng) cost 1-2 ns instead of 10. numba compiles plain Python loops,
Starsim relies on it for the same reason, and the compiled code is cached on disk.

Rules every kernel keeps, so results stay a pure function of (config, seed):
- the same arithmetic in the same order as the stage's numpy reference, per customer: no
  fastmath, no reordered sums of floats;
- a kernel that runs on several cores (``chunked``) splits the customers into chunks of a fixed
  size, never one that depends on the number of threads: each chunk writes only its own rows and
  its own slot of any total, and the chunks' totals and lists are joined in chunk order after
  the parallel loop, so the answer is the same on one thread or many, to the bit. Only integer
  totals and lists are joined this way; a sum of floats stays in a sequential kernel;
- uniforms from ``uniform_at`` (the same SplitMix64 numbers as sim.rng.Streams.uniform);
- one kernel per stage, next to the numpy reference it must match (tests/unit/test_kernels.py
  runs both).

``CXSIM_KERNELS=numpy`` runs the numpy references instead (also what happens, with a warning,
where numba is not installed). The two agree on every count; floats may differ in the last bits
(numpy's vectorised exp and pow are not always the C library's), far inside the 1e-9 the
golden tests allow.
"""

from __future__ import annotations

import math
import os
import threading
import types
import warnings

import numpy as np

_CHOICE = os.environ.get("CXSIM_KERNELS", "numba").strip().lower()
if _CHOICE not in ("numba", "numpy"):
    raise ValueError(f"the environment variable CXSIM_KERNELS={_CHOICE!r} is not allowed: "
                     "use 'numba' (compiled stages, the default) or 'numpy' (their references)")
_THREADS_TEXT = os.environ.get("CXSIM_THREADS", "").strip()
if _THREADS_TEXT and not (_THREADS_TEXT.isdigit() and int(_THREADS_TEXT) >= 1):
    raise ValueError(f"the environment variable CXSIM_THREADS={_THREADS_TEXT!r} is not allowed: a whole number "
                     "of threads, 1 or more, for the chunked kernels (unset: every core numba may use)")
THREADS = int(_THREADS_TEXT) if _THREADS_TEXT else None  # asked for by the user: every process, workers too
# OpenMP's threads sleep between parallel stages instead of spinning on a core: a run's serial
# numpy code and other processes (a sweep's workers, a test suite's) keep the cores (measured: 8%
# slower a 1M month, 37% less CPU time). Set before numba loads its OpenMP layer; a user's setting stands.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

try:
    if _CHOICE == "numba":
        import numba
    else:
        numba = None
except ImportError:  # pragma: no cover - numba is a dependency; this is for odd platforms
    numba = None
    warnings.warn("numba is not installed: cxsim runs its numpy reference stages (slower, same counts)",
                  RuntimeWarning, stacklevel=2)

COMPILED = numba is not None


def _stamped_cache():
    """numba's on-disk cache, its entries keyed also by this file's contents.

    numba checks a cached kernel against its own source file only, so a kernel in
    sim/modules/needs.py would keep the machine code of an old ``poisson_at`` after this file
    changed (seen here: a stale kernel after editing a helper). Every kernel inlines helpers from
    this file, so its stamp joins theirs. None where numba's cache classes are not as expected
    (then numba's own cache is used)."""
    try:
        import hashlib

        from numba.core.caching import (
            CompileResultCacheImpl,
            FunctionCache,
            InTreeCacheLocator,
            UserWideCacheLocator,
        )

        with open(__file__, "rb") as source:
            helpers = hashlib.sha256(source.read()).hexdigest()

        def stamped(locator):
            class Stamped(locator):
                def get_source_stamp(self):
                    return super().get_source_stamp(), helpers
            return Stamped

        class Impl(CompileResultCacheImpl):
            _locator_classes = [stamped(InTreeCacheLocator), stamped(UserWideCacheLocator)]

        class Cache(FunctionCache):
            _impl_class = Impl

        return Cache, helpers
    except (ImportError, AttributeError, OSError):  # pragma: no cover - another numba's internals
        return None, None


_CACHE, HELPERS_DIGEST = _stamped_cache() if numba is not None else (None, None)


def _compiled(fn, **options):
    dispatcher = numba.njit(cache=True, fastmath=False, error_model="numpy", **options)(fn)
    if _CACHE is not None:
        try:
            dispatcher._cache = _CACHE(fn)  # what Dispatcher.enable_caching sets, stamped
        except RuntimeError:  # no writable cache location: numba's own choice stands
            pass
    return dispatcher


def kernel(fn):
    """Compile ``fn`` (cached on disk); without numba, ``fn`` stays Python and is never called on
    the hot path (stages use their numpy reference when COMPILED is False)."""
    if numba is None:
        return fn
    return _compiled(fn, nogil=True)


# Customers a chunked kernel's task takes. A constant: results must not depend on how many threads
# share the chunks. 16,384 rows keep a task's data in a core's cache and give a million customers
# 62 tasks to balance between cores.
CHUNK = 16384
# Below this many rows a chunked kernel runs its sequential twin. Two threads gain little under
# four chunks (100k customers: 4% of a run), and the parallel twins compile on their first use
# (about 14 s after an install), which the default 50,000-agent run should not pay. Tests lower
# it to run the parallel twins.
PARALLEL_MIN_ROWS = 4 * CHUNK
_PARALLEL = threading.Lock()  # one parallel kernel at a time per process, whatever the threading layer


class Chunked:
    """A chunked kernel's two compiled twins: sequential (``prange`` runs as ``range``) and
    parallel. Both run the same chunked code, so they give the same numbers; the call takes the
    parallel one when its first argument (the rows it loops over) makes at least
    ``PARALLEL_MIN_ROWS / CHUNK`` of the kernel's chunks (``PARALLEL_MIN_ROWS`` rows for chunks of
    ``CHUNK``, fewer for a kernel whose rows are heavier and its chunks shorter) and numba has more
    than one thread."""

    def __init__(self, fn, rows_per_chunk: int = CHUNK):
        self.py_func = fn
        self.rows_per_chunk = rows_per_chunk
        self.sequential = _compiled(fn, nogil=True)
        # a twin function of its own name: numba's disk cache keys entries by the function's name
        # and signature, not by the compile options, so the two must not share a name
        twin = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
        twin.__qualname__ = f"{fn.__qualname__}_parallel"
        self.parallel = _compiled(twin, nogil=True, parallel=True)

    def __call__(self, *args):
        if len(args[0]) * CHUNK >= PARALLEL_MIN_ROWS * self.rows_per_chunk and numba.get_num_threads() > 1:
            with _PARALLEL:
                return self.parallel(*args)
        return self.sequential(*args)


def room_per_chunk(share: float, n_rows: int) -> int:
    """Entries to leave each chunk of a kernel that lists some of its rows (leavers, referrers,
    screened pairs) when a row is listed ``share`` times on average: a chunk's mean, 8 standard
    deviations above it and 256 more. Lists sized for every row are mostly empty, but numpy asks
    for huge pages for large arrays, so each chunk's first write pages in 2 MB and the whole array
    ends up resident (16 B a customer for the referrers' two lists). A kernel whose chunk lists
    more returns -1 and its caller runs it again with room for every row: the same answer."""
    expected = share * min(n_rows, CHUNK)
    return int(expected + 8.0 * math.sqrt(expected) + 256)


def listed_in_room(share: float, n_rows: int, attempt, every_row: int = CHUNK):
    """What ``attempt(per_chunk, room)`` returns: a listing kernel run with ``per_chunk`` entries a
    chunk (``room`` in all, for the caller's arrays), first room_per_chunk(share, n_rows) of them,
    and, if ``attempt`` returns None (a chunk's list did not fit: its kernel returned -1),
    ``every_row``, as many as a chunk can list. Either way the answer is the same."""
    for per_chunk in (room_per_chunk(share, n_rows), every_row):
        result = attempt(per_chunk, per_chunk * max(1, n_chunks(n_rows)))
        if result is not None:
            return result
    raise RuntimeError(f"a chunk listed more than every_row={every_row} entries, as many as it can hold")


def chunked(fn=None, *, rows_per_chunk: int = CHUNK):
    """Compile a kernel that loops over ``n_chunks(len(rows))`` chunks with ``numba.prange`` (see
    the rules above) into its sequential and parallel twins (``Chunked``); without numba, ``fn``.
    ``@chunked(rows_per_chunk=n)`` for a kernel whose chunks are ``n`` rows (its own constant)."""
    if fn is None:
        return lambda f: chunked(f, rows_per_chunk=rows_per_chunk)
    if numba is None:
        return fn
    return Chunked(fn, rows_per_chunk)


def threads_for_this_process(n: int | None) -> None:
    """Let chunked kernels use ``n`` threads (None: every core numba may use); CXSIM_THREADS,
    when set, wins. Results do not depend on it."""
    if numba is not None:
        most = numba.config.NUMBA_NUM_THREADS
        wanted = THREADS if THREADS is not None else (most if n is None else n)
        numba.set_num_threads(max(1, min(wanted, most)))


if numba is not None and THREADS is not None:
    threads_for_this_process(THREADS)


class Beside:
    """``fn(*args)`` run on a thread of its own while the caller goes on (compiled kernels release
    the interpreter lock, so the two run side by side on two cores); ``result()`` waits for it and
    returns what it returned, or raises what it raised."""

    def __init__(self, fn, *args):
        self._value, self._error = None, None
        self._thread = threading.Thread(target=self._run, args=(fn, args), name="cxsim-beside", daemon=True)
        self._thread.start()

    def _run(self, fn, args) -> None:
        try:
            self._value = fn(*args)
        except BaseException as error:  # handed to the caller of result()
            self._error = error

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


if numba is not None:
    prange = numba.prange
else:  # pragma: no cover - without numba the chunked kernels are never called
    prange = range


def inline(fn):
    """A helper that kernels call: compiled and inlined into them."""
    if numba is None:
        return fn
    return _compiled(fn, inline="always")


_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TO_UNIT = 1.0 / float(1 << 53)


@inline
def uniform_at(key, slot):
    """The uniform sim.rng.Streams.uniform gives slot ``slot`` of the stream with ``key``."""
    z = np.uint64(slot) * _GAMMA + key
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    z = z ^ (z >> _S31)
    return np.float64(z >> _S11) * _TO_UNIT


def _scipy_ndtri():
    """scipy's normal quantile (ndtri, from scipy.special.cython_special) as a function kernels
    call, so they draw normals with sim.rng.normal_icdf's numbers to the bit. It is linked by
    name, not by address, which keeps the kernels that use it in numba's disk cache. None where
    scipy does not export it (those stages then run their numpy reference)."""
    try:
        import llvmlite.binding
        from numba import types
        from numba.extending import get_cython_function_address

        address = get_cython_function_address("scipy.special.cython_special", "ndtri")
    except (ImportError, ValueError, AttributeError):  # pragma: no cover - another scipy's internals
        return None
    llvmlite.binding.add_symbol("cxsim_scipy_ndtri", address)
    return types.ExternalFunction("cxsim_scipy_ndtri", types.float64(types.float64))


_NDTRI = _scipy_ndtri() if numba is not None else None
NDTRI_COMPILED = _NDTRI is not None


@inline
def normal_at(u):
    """sim.rng.normal_icdf for one element (u clipped away from 0 and 1 the same way)."""
    return _NDTRI(min(max(u, 1e-12), 1.0 - 1e-12))


@inline
def n_chunks(n_rows, rows_per_chunk=CHUNK):
    """How many chunks of ``rows_per_chunk`` rows ``n_rows`` rows make (the last may be shorter)."""
    return (n_rows + rows_per_chunk - 1) // rows_per_chunk


@inline
def close_up(counts, region, values):
    """Move the chunks' lists to the front of ``values`` in chunk order (chunk c listed ``counts[c]``
    entries from ``c * region`` on); returns how many there are in all."""
    total = 0
    for c in range(counts.shape[0]):
        for k in range(c * region, c * region + counts[c]):
            values[total] = values[k]
            total += 1
    return total


@inline
def all_fit(listed):
    """Whether every chunk's list fit in its room (a chunk that ran out of room records -1; see
    room_per_chunk)."""
    for c in range(listed.shape[0]):
        if listed[c] < 0:
            return False
    return True


@inline
def shows(bits, b):
    """Whether adoption flags ``bits`` (sim.population: bit b set = shows behaviour b) include b."""
    return (np.int64(bits) >> b) & 1 == 1  # through int64: shifts of every width type alike


@kernel
def uniforms(key, slots, out):
    """Fill ``out`` with the stream's uniforms for ``slots`` (the kernel twin of Streams.uniform)."""
    for i in range(slots.shape[0]):
        out[i] = uniform_at(key, slots[i])


@inline
def poisson_at(u, lam, p_zero):
    """Poisson(lam) quantile of ``u`` as sim.rng.poisson_icdf computes it, for one element;
    ``p_zero`` is exp(-lam), computed by the caller (numpy's exp, as in the reference)."""
    if u < p_zero:  # most draws: no square root for the cap
        return 0
    p = p_zero
    cdf = p
    k = 0
    cap = max(64, int(lam + 20.0 * np.sqrt(lam) + 20.0))
    while u >= cdf and k < cap:
        k += 1
        p = p * lam / k
        cdf += p
    return k


@inline
def binomial_at(u, n, p):
    """Binomial(n, p) quantile of ``u`` as sim.rng.binomial_icdf computes it, for one element."""
    p = min(max(p, 0.0), 1.0)
    q = 1.0 - p
    if q <= 0.0:
        return n
    # one trial is the common case: q ** 1.0 is q exactly, without a call to pow
    pmf = q if n == 1 else q ** np.float64(n)
    cdf = pmf
    k = 0
    while u >= cdf and k < n:
        k += 1
        pmf = pmf * ((n - k + 1) / k * (p / q))
        cdf = cdf + pmf
    return k
