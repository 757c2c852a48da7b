"""Named random streams with common random numbers (CRN).

Why this shape: a scenario comparison is only paired if customer 17's churn draw in month 40
is the same number in every scenario that shares the seed. So:

* every decision has its own named stream; its seed is a stable hash of (run seed, name),
  never Python's salted ``hash()``;
* each stream is re-seeded from (run seed, name, month) whenever it is used, so what one month
  draws never depends on how much earlier months drew;
* draws are made for every slot ever allocated and then indexed by slot, so a customer's
  number does not depend on who else is active.

Only inverse-CDF transforms of per-slot uniforms are used for per-customer draws: numpy's
array-parameter samplers (poisson, binomial) consume a variable amount of randomness per
element, which would shift every later customer's draw.
"""

from __future__ import annotations

import hashlib

import numpy as np
from scipy.special import ndtri


def stable_hash(name: str) -> int:
    """A 64-bit hash of ``name`` that is the same in every process and on every machine."""
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "little")


class Streams:
    """Factory of month-indexed generators for one run seed."""

    def __init__(self, seed: int):
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.seed = int(seed)

    def generator(self, name: str, month: int) -> np.random.Generator:
        """A fresh generator for decision ``name`` in ``month`` (-1 is the set-up phase)."""
        key = [self.seed, stable_hash(name), month + 1]
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence(key)))

    def uniform(self, name: str, month: int, slots: np.ndarray, n_slots: int) -> np.ndarray:
        """Uniforms in [0, 1) for ``slots``; draw k of month m is fixed by (seed, name, m, slot).

        ``n_slots`` is the number of slots ever allocated: draws cover all of them so the
        value for a slot is independent of which other slots are requested.
        """
        u = self.generator(name, month).random(n_slots)
        return u[slots]

    def uniform_all(self, name: str, month: int, n_slots: int) -> np.ndarray:
        """Uniforms for every slot ever allocated (index by slot or by a boolean mask)."""
        return self.generator(name, month).random(n_slots)


def poisson_icdf(u: np.ndarray, lam: np.ndarray, max_k: int = 64) -> np.ndarray:
    """Poisson(lam) quantile of ``u``, vectorised; one uniform per element keeps CRN intact.

    Monthly rates here are small (well under 5), so the loop stops after a few terms.
    """
    lam = np.broadcast_to(np.asarray(lam, dtype=np.float64), u.shape)
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
    return k


def normal_icdf(u: np.ndarray) -> np.ndarray:
    """Standard normal quantile of ``u`` (u is clipped away from 0 and 1)."""
    return ndtri(np.clip(u, 1e-12, 1 - 1e-12))
