"""Needs arise: per customer and need type, a Poisson count each month.

Rate = base rate x segment multiplier x abuser multiplier x behaviour multipliers (e-billing
and autopay remove most billing and payment needs) x process-failure index for need types
that are process failures (domain.md: most failures are process, not people, failures) x what
root-cause elimination of documented complaints has removed so far.
"""

from __future__ import annotations

import numpy as np

from sim.kernels import CHUNK, COMPILED, chunked, n_chunks, poisson_at, prange, shows, uniform_at
from sim.population import flag_of
from sim.rng import poisson_icdf

_MAX_TABLE_BITS = 16  # distinct behaviours acting on needs beyond which the kernel's tables would be too large


class Needs:
    name = "needs"

    def __init__(self, model):
        self.names = list(model.cfg.needs.types)
        # lowered over the run by root-cause elimination of documented complaints
        self.rel_root_cause = np.ones(len(self.names))
        self.refresh(model)

    def refresh(self, model) -> None:
        """Re-read parameters (programmes change them between months)."""
        cfg = model.cfg
        types = [cfg.needs.types[n] for n in self.names]
        self.rate = np.array([t.rate for t in types])
        self.is_failure = np.array([t.is_process_failure for t in types])
        behaviours = [cfg.adoption.behaviours[b] for b in model.pop.behaviour_names]
        # (behaviour, need) pairs that change a rate; most pairs do not, so keep the list short
        self.effects = [
            [(b, beh.rel_need[need]) for b, beh in enumerate(behaviours)
             if need in beh.rel_need and beh.rel_need[need] != 1.0]
            for need in self.names
        ]
        # The kernel reads the behaviours that act on any need once per customer, as a bit mask,
        # and looks up each need type's code bits for that mask (one small table) instead of
        # walking the need's effects for every need type (a third of the stage's time).
        self.mask_behaviour = np.array(sorted({b for e in self.effects for b, _ in e}), dtype=np.int64)
        bit_of = {b: k for k, b in enumerate(self.mask_behaviour)}
        masks = np.arange(1 << len(self.mask_behaviour), dtype=np.int64)
        self.code_bits = np.zeros((len(self.names), len(masks)), dtype=np.int64)
        for j, effects in enumerate(self.effects):
            for b, _ in effects:  # first effect most significant, as in rate_table
                self.code_bits[j] = 2 * self.code_bits[j] + ((masks >> bit_of[b]) & 1)
        self.code_shift = np.array([len(e) for e in self.effects], dtype=np.int64)
        # rate_tables' last answer and what it was computed from
        self._tables: tuple[tuple[bytes, bytes], np.ndarray, np.ndarray] | None = None

    def rate_factors(self, cfg) -> np.ndarray:
        """Per need type, the rate before customer multipliers: base x root causes x process failure."""
        rel_failure = cfg.needs.rel_process_failure
        return np.array([self.rate[j] * self.rel_root_cause[j] * (rel_failure if self.is_failure[j] else 1.0)
                         for j in range(len(self.names))], dtype=np.float64)

    def rate_table(self, cfg, pop) -> np.ndarray:
        """Every rate a customer can have, by need type and customer code (the kernel's layout).

        A customer's rate depends only on their segment, whether they abuse the service and which
        of the need type's behaviours they show, so the month's rates (and their exp) come from
        one small table. Code = (2 x segment + abuser) x 2^E + the E behaviour bits, first effect
        most significant. Each entry is computed with the reference's operations in its order.
        """
        rel_abuser = cfg.population.rel_need_rate_abuser
        base = np.array([pop.seg_need_rate[s] * (rel_abuser if abuser else 1.0)
                         for s in range(len(pop.segment_names)) for abuser in (False, True)])
        factors = self.rate_factors(cfg)
        n_bits = [len(e) for e in self.effects]
        table = np.zeros((len(self.names), len(base) << max(n_bits, default=0)))
        for j, effects in enumerate(self.effects):
            bits = np.arange(1 << n_bits[j])
            lam = np.repeat((base * factors[j])[:, None], len(bits), axis=1)
            for e, (_, rel) in enumerate(effects):
                lam[:, (bits >> (n_bits[j] - 1 - e)) & 1 == 1] *= rel
            table[j, : lam.size] = lam.ravel()
        return table

    def rate_tables(self, cfg, pop) -> tuple[np.ndarray, np.ndarray]:
        """rate_table and its P(0) (numpy's exp, as poisson_icdf computes it in the reference), kept
        while nothing they are computed from moves: most months."""
        rel_abuser = cfg.population.rel_need_rate_abuser
        key = (np.array([pop.seg_need_rate, np.full(len(pop.seg_need_rate), rel_abuser)]).tobytes(),
               self.rate_factors(cfg).tobytes())
        if self._tables is None or self._tables[0] != key:
            lam = self.rate_table(cfg, pop)
            self._tables = (key, lam, np.exp(-lam))
        return self._tables[1], self._tables[2]

    def step(self, model, ms) -> None:
        if not COMPILED or len(self.mask_behaviour) > _MAX_TABLE_BITS:
            return self.step_numpy(model, ms)
        cfg, pop = model.cfg, model.pop
        keys = np.array([model.streams.key(f"needs.{name}", ms.month) for name in self.names], dtype=np.uint64)
        totals = np.zeros(len(self.names), dtype=np.int64)
        lam, p_zero = self.rate_tables(cfg, pop)
        _needs_kernel(ms.act, pop.uid, pop.segment, pop.is_abuser, pop.adoption, self.mask_behaviour, self.code_bits,
                      self.code_shift, lam, p_zero, keys, ms.needs, totals)
        for j, name in enumerate(self.names):
            ms.kpis[f"needs_{name}"] = int(totals[j])

    def step_numpy(self, model, ms) -> None:
        """The reference the kernel must match."""
        cfg, pop, act = model.cfg, model.pop, ms.act
        ms.needs.fill(0)  # counts are written below only where they are not zero
        base = pop.seg_need_rate[pop.segment[act]]
        base = base * np.where(pop.is_abuser[act], cfg.population.rel_need_rate_abuser, 1.0)
        flags = pop.adoption[act]
        factors = self.rate_factors(cfg)
        for j, name in enumerate(self.names):
            lam = base * factors[j]
            for b, rel in self.effects[j]:
                lam[flag_of(flags, b)] *= rel
            u = pop.uniform(f"needs.{name}", ms.month, act)
            # most customers draw zero (u below P(0)); invert the CDF only for the rest
            rows = np.flatnonzero(u >= np.exp(-lam))
            counts = poisson_icdf(u[rows], lam[rows])
            ms.needs[rows, j] = counts
            ms.kpis[f"needs_{name}"] = int(counts.sum())


@chunked
def _needs_kernel(act, uid, segment, is_abuser, adopted, mask_behaviour, code_bits, code_shift, lam, p_zero, keys,
                  needs, totals):
    """Needs.step_numpy one customer at a time, rates and P(0) read from Needs.rate_table; chunks
    of customers on several cores, their counts per need type joined in chunk order."""
    n_needs = lam.shape[0]
    n = act.shape[0]
    # each byte of the adoption flags' part of the behaviour mask, tabled once: a lookup a byte for
    # each customer instead of a test a behaviour (a fifth of the kernel's time)
    n_bytes = adopted.itemsize
    mask_of_byte = np.zeros((n_bytes, 256), dtype=np.int64)
    for k in range(mask_behaviour.shape[0]):
        b = mask_behaviour[k]
        for value in range(256):
            if shows(value, b % 8):
                mask_of_byte[b // 8, value] |= np.int64(1) << k
    chunk_totals = np.zeros((n_chunks(n), n_needs), dtype=np.int64)  # a chunk's own row: no store shared
    for c in prange(n_chunks(n)):
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            slot = act[i]
            base_code = 2 * segment[slot] + (1 if is_abuser[slot] else 0)
            flags = np.int64(adopted[slot])
            mask = 0
            for byte in range(n_bytes):
                mask |= mask_of_byte[byte, (flags >> (8 * byte)) & 255]
            customer = uid[slot]
            for j in range(n_needs):
                code = (base_code << code_shift[j]) | code_bits[j, mask]
                u = uniform_at(keys[j], customer)
                count = 0
                if u >= p_zero[j, code]:  # most customers raise no need of a type in a month
                    count = poisson_at(u, lam[j, code], p_zero[j, code])
                    chunk_totals[c, j] += count
                needs[i, j] = count
    for c in range(chunk_totals.shape[0]):
        for j in range(n_needs):
            totals[j] += chunk_totals[c, j]
