"""Named random streams with common random numbers (CRN).

Why this shape: a scenario comparison is only paired if customer 17's churn draw in month 40
is the same number in every scenario that shares the seed. So:

* every decision has its own named stream; its key is a stable hash of (run seed, name, month),
  never Python's salted ``hash()``, so what one month draws never depends on earlier months;
* a customer's uniform is a pure function of (stream key, slot): a counter-based generator
  (the SplitMix64 output function applied to key + slot * golden gamma). It does not depend on
  who else is drawn, so it costs O(customers asked about) rather than O(slots ever allocated),
  which matters once churned slots outnumber active ones in a long run.

Only inverse-CDF transforms of per-slot uniforms are used for per-customer draws: numpy's
array-parameter samplers (poisson, binomial) consume a variable amount of randomness per
element, which would shift every later customer's draw.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
from scipy.special import ndtri

from sim import kernels

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TO_UNIT = 1.0 / float(1 << 53)


def stable_hash(name: str) -> int:
    """A 64-bit hash of ``name`` that is the same in every process and on every machine."""
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "little")


def _splitmix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's output mix, in place on ``z`` (a hot path: no temporaries beyond one)."""
    t = z >> np.uint64(30)
    z ^= t
    z *= _M1
    np.right_shift(z, np.uint64(27), out=t)
    z ^= t
    z *= _M2
    np.right_shift(z, np.uint64(31), out=t)
    z ^= t
    return z


class Streams:
    """Month-indexed named streams for one run seed."""

    def __init__(self, seed: int):
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.seed = int(seed)

    def key(self, name: str, month: int) -> int:
        """64-bit key of decision ``name`` in ``month`` (-1 is the set-up phase)."""
        return stable_hash(f"{self.seed}/{name}/{month}")

    def generator(self, name: str, month: int) -> np.random.Generator:
        """A numpy generator for draws that are not per customer (set-up, scalar counts)."""
        seq = np.random.SeedSequence([self.seed, stable_hash(name), month + 1])
        return np.random.Generator(np.random.PCG64(seq))

    def uniform(self, name: str, month: int, slots: np.ndarray) -> np.ndarray:
        """Uniforms in [0, 1) for ``slots``: draw for (seed, name, month, slot), whoever else asks."""
        return self.uniform_of_key(self.key(name, month), slots)

    def uniform_of_key(self, key: int, slots: np.ndarray) -> np.ndarray:
        """``uniform`` for the stream whose key is ``key`` (for a key hashed once and kept)."""
        if kernels.COMPILED:
            slots = np.asarray(slots)
            out = np.empty(slots.shape)
            kernels.uniforms(np.uint64(key), slots.astype(np.int64, copy=False).ravel(), out.ravel())
            return out
        return self._uniform_numpy_of_key(key, slots)

    def uniform_numpy(self, name: str, month: int, slots: np.ndarray) -> np.ndarray:
        """The reference ``uniform`` must match (and its definition, in numpy)."""
        return self._uniform_numpy_of_key(self.key(name, month), slots)

    @staticmethod
    def _uniform_numpy_of_key(key: int, slots: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            z = np.asarray(slots).astype(np.uint64)  # a fresh array: mixed in place below
            z *= _GAMMA
            z += np.uint64(key)
            z = _splitmix64(z)
            z >>= np.uint64(11)
            u = z.astype(np.float64)
            u *= _TO_UNIT
            return u


def poisson_icdf(u: np.ndarray, lam: np.ndarray, max_k: int | None = None) -> np.ndarray:
    """Poisson(lam) quantile of ``u``, vectorised; one uniform per element keeps CRN intact.

    Monthly rates here are small (well under 5), so the loop stops after a few terms. The
    default cap on terms (64, or 20 standard deviations above the largest mean) leaves a tail of
    less than 1e-40 uncounted; validation keeps means below sim.config.MAX_NEED_RATE, far from
    where exp(-lam) underflows.
    """
    lam = np.broadcast_to(np.asarray(lam, dtype=np.float64), u.shape)
    if max_k is None:
        top = float(lam.max()) if lam.size else 0.0
        max_k = max(64, int(top + 20.0 * math.sqrt(top) + 20.0))
    k = np.zeros(u.shape, dtype=np.int32)
    p = np.exp(-lam)
    cdf = p.copy()
    todo = u >= cdf
    j = 0
    while todo.any() and j < max_k:
        j += 1
        idx = np.flatnonzero(todo)
        p_idx = p[idx] * lam[idx] / j
        p[idx] = p_idx
        cdf[idx] += p_idx
        k[idx] += 1
        todo[idx] = u[idx] >= cdf[idx]
    return k


def binomial_icdf(u: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Binomial(n, p) quantile of ``u``, vectorised over elements with small ``n``."""
    n = np.asarray(n, dtype=np.int64)
    p = np.broadcast_to(np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0), u.shape)
    k = np.zeros(u.shape, dtype=np.int32)
    q = 1.0 - p
    with np.errstate(divide="ignore", invalid="ignore"):
        pmf = np.power(q, n)
        cdf = pmf.copy()
        todo = (u >= cdf) & (n > 0)
        j = 0
        while todo.any():
            idx = np.flatnonzero(todo)
            j += 1
            ratio = (n[idx] - j + 1) / j * np.where(q[idx] > 0, p[idx] / q[idx], np.inf)
            pmf[idx] = np.where(q[idx] > 0, pmf[idx] * ratio, 1.0)
            cdf[idx] = np.where(q[idx] > 0, cdf[idx] + pmf[idx], 1.0)
            k[idx] += 1
            todo[idx] = (u[idx] >= cdf[idx]) & (k[idx] < n[idx])
    # p = 1: every trial succeeds (the loop above would stop after one)
    return np.where(q <= 0, n, k).astype(np.int32)


def normal_icdf(u: np.ndarray) -> np.ndarray:
    """Standard normal quantile of ``u`` (u is clipped away from 0 and 1)."""
    return ndtri(np.clip(u, 1e-12, 1 - 1e-12))
