"""Adoption of the "perfect customer" behaviours (Bass-style diffusion gated by trust).

Monthly hazard for an eligible customer not yet showing behaviour b:
    h = rel_incentive * (p + q * F) * exp(slope * (satisfaction - 7)),   zero below the
    permission threshold (a smart meter or load-control device needs a good relationship),
Eligibility is a fixed draw per customer: a share ``p_ceiling`` can ever adopt (no email, no
smart-meter coverage, renters who cannot change appliances), Bass's market potential; programmes
raise adoption towards it, never past it.
where F is the share of the customer's active ties who show b (mixing="network") or the share
of all active customers (mixing="global", the fully mixed limit in which the expected adoption
curve is Bass's). Adoption is absorbing: nobody gives up autopay in this model.

mixing="cascade" is the independent cascade (Goldenberg, Libai and Muller 2001; Kempe, Kleinberg
and Tardos 2003): F is the number of the customer's active ties who adopted b last month (the
starting adopters count as last month's at month 0). Each new adopter tells each tie once, in
the month after adopting, and a tie told by k of them adopts with probability 1 - exp(-q k) (with
rel_incentive 1, no trust tilt and p = 0): T = 1 - exp(-q) per tie. The spread is then bond
percolation on the tie network, with its epidemic threshold T_c = <k> / (<k^2> - <k>) and its
final size (tests/validation/test_word_of_mouth_cascade.py). How the two modes differ: a share
is the mean-field of Bass (a customer with 20 ties feels what one with 2 feels when the same share
adopted, and adopters go on persuading for ever), a cascade gives hubs more chances and each
adopter one chance per tie, so it can die out; churned customers count in neither.

Why the step looks the way it does (speed, with results identical to computing every hazard):
a customer adopts when their uniform u < 1 - exp(-h), and h has a cheap upper bound over the
whole base (F <= 1, satisfaction within this month's range). Each month only the few percent
of customers whose u falls below the bound's probability can adopt, so only they need F, read
from their own ties, and an exact hazard. Nothing is kept between months, so there is no state
to go stale when slots, ties or behaviours change.
"""

from __future__ import annotations

import math

import numpy as np

from sim.kernels import (
    CHUNK,
    COMPILED,
    all_fit,
    chunked,
    close_up,
    kernel,
    listed_in_room,
    n_chunks,
    prange,
    shows,
    uniform_at,
)

# Relative slack on the upper bound of the adoption probability: far above the few-ulp rounding
# of the hazard arithmetic, far below anything that would make the screen let everyone through.
_BOUND_SLACK = 1e-9


class Adoption:
    name = "adoption"

    def __init__(self, model):
        self.names = model.pop.behaviour_names
        self._tellers: list[np.ndarray] | None = None  # cascade: last month's adopters, per behaviour
        self.refresh(model)

    def refresh(self, model) -> None:
        """Re-read the behaviours' rates (programmes such as campaigns change them between months)."""
        cfg = model.cfg.adoption
        bs = [cfg.behaviours[n] for n in self.names]
        self.p = np.array([b.rate_innovation for b in bs], dtype=np.float64)
        self.q = np.array([b.rate_imitation for b in bs], dtype=np.float64)
        self.incentive = np.array([b.rel_incentive for b in bs], dtype=np.float64)
        self.threshold = np.array([b.sat_threshold for b in bs], dtype=np.float64)
        self.ceiling = np.array([b.p_ceiling for b in bs], dtype=np.float64)
        self.slope = np.array([b.rel_sat_slope for b in bs], dtype=np.float64)
        self.mixing = cfg.mixing

    def shares(self, model, act: np.ndarray, rows: dict[int, np.ndarray]) -> dict[int, np.ndarray | float]:
        """F of behaviour b for customers act[rows[b]], for each b in ``rows``.

        Network mixing: the share of each customer's active ties (with multiplicity) showing b,
        0 without any; the ties of all the customers asked about are read in one pass, so this
        costs O(their ties), not O(graph). Global mixing: the share of ``act`` active and showing b.
        """
        pop = model.pop
        if self.mixing == "global":
            live = pop.active[act]
            return {b: float((pop.shows(b, act) & live).mean()) if len(act) else 0.0 for b in rows}
        out: dict[int, np.ndarray | float] = {}
        if not rows:
            return out
        asked = list(rows)
        if COMPILED:  # the step's own path: every (row, behaviour) pair in customer order
            which = np.concatenate([np.full(len(rows[b]), b, dtype=np.int64) for b in asked])
            flat = np.concatenate([np.asarray(rows[b], dtype=np.int64) for b in asked])
            order = np.lexsort((which, flat))
            has_share = np.zeros(len(self.names), dtype=np.bool_)
            has_share[asked] = True
            f = np.zeros(len(flat))
            self._network_shares(model, act, flat[order], which[order], has_share, f)
            f[order] = f.copy()
            ends = np.cumsum([len(rows[b]) for b in asked])
            return dict(zip(asked, np.split(f, ends[:-1]), strict=True))
        in_union = np.zeros(len(act), dtype=np.bool_)
        for r in rows.values():
            in_union[r] = True
        union = np.flatnonzero(in_union)  # sorted positions in act
        pos, other, mult = model.graph.ties_of(act[union])
        live = pop.active[other]
        pos, other, mult = pos[live], other[live], mult[live]
        n_ties = np.bincount(pos, weights=mult, minlength=len(union))
        at = {b: np.searchsorted(union, rows[b]) for b in asked}
        wants = np.zeros((len(union), len(asked)), dtype=np.bool_)
        for j, b in enumerate(asked):
            wants[at[b], j] = True
        # (tie, behaviour): the customer at this end asked about b and the tie shows b
        counted = wants[pos] & pop.shows_matrix(other)[:, asked]
        for j, b in enumerate(asked):
            keep = np.flatnonzero(counted[:, j])
            n_shows = np.bincount(pos[keep], weights=mult[keep], minlength=len(union))[at[b]]
            share = np.zeros(len(at[b]))
            np.divide(n_shows, n_ties[at[b]], out=share, where=n_ties[at[b]] > 0)
            out[b] = share
        return out

    def _max_probability(self, b: int, sat_range: tuple[float, float], rel_segment: float = 1.0,
                         f_max: float = 1.0) -> float:
        """An upper bound on this month's adoption probability of b over every customer (F <= f_max)."""
        inc = float(self.incentive[b]) * max(rel_segment, 1.0)
        p, q, slope = float(self.p[b]), float(self.q[b]), float(self.slope[b])
        if not (inc >= 0 and all(math.isfinite(x) for x in (inc, p, q, slope))):
            return np.inf  # no usable bound: screen nobody out
        base = max(p + max(q, 0.0) * f_max, 0.0)
        tilt = max(slope * (sat_range[0] - 7.0), slope * (sat_range[1] - 7.0)) if slope else 0.0
        bound = -np.expm1(-(inc * base * np.exp(tilt)))
        return bound * (1.0 + _BOUND_SLACK)

    def step(self, model, ms) -> None:
        pop = model.pop
        act = ms.act
        for name in self.names:
            ms.new_adopters[name] = np.empty(0, dtype=np.int64)
            ms.kpis[f"new_adopt_{name}"] = 0
        # behaviour shares are the preset's month-0 figures: warming up settles what has no such
        # figure (expectations, satisfaction, tenure) and leaves the behaviour mix as stated
        if len(self.names) == 0 or len(act) == 0 or ms.run_month < 0:
            return
        # segment-targeted campaigns: an incentive multiplier per (segment, behaviour)
        targeted = model.programmes.targeted
        seg_incentive = model.programmes.segment_incentive
        # fmin/fmax skip NaN, whose hazard is NaN anyway (never adopts), as in the exact rule. The
        # kernel path reads satisfaction where it is held: a float64 copy of the base's would be the
        # month's largest temporary (12 B a customer at the month's peak memory)
        if COMPILED:
            sat = None
            sat_range = _range_at(pop.satisfaction, act)
        else:
            sat = pop.satisfaction[act].astype(np.float64)
            sat_range = (float(np.fmin.reduce(sat)), float(np.fmax.reduce(sat)))
        # Screen first: only customers whose uniform falls below the bound on their adoption
        # probability can adopt, and only those who do not show b yet and pass the trust gate.
        told = self._told(model, act) if self.mixing == "cascade" else None
        bounds = np.array([self._max_probability(b, sat_range, seg_incentive[:, b].max() if targeted else 1.0,
                                                 float(told[b].max()) if told is not None and len(told[b]) else 1.0)
                           for b in range(len(self.names))])
        if COMPILED:
            self._decide(model, ms, act, bounds, told)
            return
        draws, screened = self._screen_numpy(model, ms, act, sat, bounds)
        # Then the exact rule on them, with every F taken before anyone adopts this month.
        asked = {b: screened[b] for b in range(len(self.names)) if self.q[b] != 0}
        if told is not None:
            shares = {b: told[b][act[rows]].astype(np.float64) for b, rows in asked.items()}
        else:
            shares = self.shares(model, act, asked)
        for b, name in enumerate(self.names):
            rows = screened[b]
            base = self.p[b] + self.q[b] * shares[b] if b in shares else self.p[b]
            hazard = self.incentive[b] * np.broadcast_to(base, rows.shape)
            if targeted:
                hazard = hazard * seg_incentive[pop.segment[act[rows]], b]
            if self.slope[b] != 0:
                hazard = hazard * np.exp((sat[rows] - 7.0) * self.slope[b])
            new = act[rows[draws[b] < -np.expm1(-hazard)]]
            pop.adopt(b, new)
            ms.new_adopters[name] = new
            ms.kpis[f"new_adopt_{name}"] = int(new.size)
        if self.mixing == "cascade":
            self._tellers = [ms.new_adopters[name] for name in self.names]

    def _decide(self, model, ms, act, bounds, told) -> None:
        """The kernel path of step after the bounds: the screen, each screened customer's F and the
        exact rule, in a few passes over the screened (rows, behaviour) pairs instead of numpy
        calls per behaviour (a month's fixed cost: about 0.4 ms of a 10k-customer month)."""
        pop, programmes = model.pop, model.programmes
        rows, which, u = self._screen(model, ms, act, bounds)
        has_share = self.q != 0
        f = np.zeros(len(rows))
        if has_share.any() and len(rows):
            if told is not None:
                for b in np.flatnonzero(has_share):
                    mine = np.flatnonzero(which == b)
                    f[mine] = told[b][act[rows[mine]]]
            elif self.mixing == "global":
                share = np.zeros(len(self.names))
                for b, value in self.shares(model, act, dict.fromkeys(np.flatnonzero(has_share).tolist())).items():
                    share[b] = value
                f = share[which]
            else:
                self._network_shares(model, act, rows, which, has_share, f)
        picked = np.empty(len(rows), dtype=np.int64)
        n = _decide_kernel(act, rows, which, u, f, has_share, self.p, self.q, self.incentive,
                           bool(programmes.targeted), programmes.segment_incentive, pop.segment, self.slope,
                           pop.satisfaction, picked)
        picked = picked[:n]
        new_which = which[picked]
        new_slots = act[rows[picked]]
        # per behaviour, in customer order (a stable sort keeps the screen's order within each)
        order = np.argsort(new_which, kind="stable")
        ends = np.cumsum(np.bincount(new_which, minlength=len(self.names)))
        by_behaviour = np.split(new_slots[order], ends[:-1])
        for b, name in enumerate(self.names):
            new = by_behaviour[b]
            pop.adopt(b, new)
            ms.new_adopters[name] = new
            ms.kpis[f"new_adopt_{name}"] = int(new.size)
        if self.mixing == "cascade":
            self._tellers = by_behaviour

    def _network_shares(self, model, act, rows, which, has_share, f) -> None:
        """F of each screened pair (mixing="network"): the customer's live ties showing the
        behaviour over their live ties (0 without any), read for all screened customers at once."""
        columns = np.flatnonzero(has_share)
        column_of = np.full(len(self.names), -1, dtype=np.int64)
        column_of[columns] = np.arange(len(columns))
        union = np.empty(len(rows), dtype=np.int64)
        at = np.empty(len(rows), dtype=np.int64)
        wants = np.zeros((len(rows), len(columns)), dtype=np.bool_)
        n = _asked_union_kernel(rows, which, column_of, union, at, wants)
        if n == 0:
            return
        pop = model.pop
        n_ties, n_shows = model.graph.live_tie_counts(act[union[:n]], pop.active, pop.adoption,
                                                      columns.astype(np.int64), wants[:n])
        _pair_shares_kernel(which, at, column_of, n_ties, n_shows, f)

    def _screen(self, model, ms, act, bounds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The screen of every behaviour in one pass over the customers (the kernel path, which
        reads satisfaction per slot): the (row, behaviour, draw) triples that pass it, rows
        (positions in act) ascending and each row's behaviours ascending."""
        pop, streams = model.pop, model.streams
        keys = np.array([streams.key(f"adoption.{name}", ms.month) for name in self.names], dtype=np.uint64)
        eligible_keys = np.array([pop.eligibility_key(name) for name in self.names], dtype=np.uint64)
        finite = np.where(np.isfinite(bounds), np.clip(bounds, 0.0, 1.0), 1.0)
        # room per chunk of customers: no more pass, on average, than the bounds let through

        def screen(per_chunk, room):
            rows, which, u = np.empty(room, dtype=np.int64), np.empty(room, dtype=np.int64), np.empty(room)
            n = _screen_kernel(act, pop.uid, keys, bounds, pop.adoption, pop.satisfaction, self.threshold,
                               self.ceiling, eligible_keys, per_chunk, rows, which, u)
            return None if n < 0 else (rows[:n], which[:n], u[:n])

        return listed_in_room(float(finite.sum()), len(act), screen, every_row=CHUNK * len(self.names))

    def _screen_numpy(self, model, ms, act, sat, bounds) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The reference _screen must match, a behaviour at a time."""
        pop, draws, screened = model.pop, [], []
        for b, name in enumerate(self.names):
            u = pop.uniform(f"adoption.{name}", ms.month, act)
            rows = np.flatnonzero(u < bounds[b])
            rows = rows[~pop.shows(b, act[rows]) & ~(sat[rows] < self.threshold[b])]
            if self.ceiling[b] < 1.0:  # only the eligible can adopt (the Bass market potential)
                rows = rows[pop.eligibility_uniform(name, act[rows]) < self.ceiling[b]]
            draws.append(u[rows])
            screened.append(rows)
        return draws, screened

    def renumber(self, new_slot: np.ndarray) -> None:
        """Slots closed up (sim.population.Population.compact): last month's adopters follow;
        those who left since tell nobody anyway."""
        if self._tellers is not None:
            self._tellers = [new_slot[t][new_slot[t] >= 0] for t in self._tellers]

    def _told(self, model, act: np.ndarray) -> list[np.ndarray]:
        """Per behaviour, each slot's ties to last month's adopters still active (the cascade's F)."""
        pop = model.pop
        tellers = self._tellers
        if tellers is None:  # month 0: the starting adopters tell first
            tellers = [act[pop.shows(b, act)] for b in range(len(self.names))]
        out = []
        for b in range(len(self.names)):
            # reused from month to month (32 bits: a customer's ties to this month's tellers)
            heard = model.scratch(f"adoption.heard.{b}", pop.n_slots, np.int32, 0)
            speaking = tellers[b][pop.active[tellers[b]]] if len(tellers[b]) else tellers[b]
            if len(speaking) and self.q[b] != 0:
                if COMPILED:
                    model.graph.count_ties_to(np.sort(speaking), heard)
                else:
                    flags = np.zeros(pop.n_slots, dtype=bool)
                    flags[speaking] = True
                    heard = np.rint(model.graph.neighbour_sum(flags)).astype(np.int64)
            out.append(heard)
        return out


@chunked
def _screen_kernel(act, uid, keys, bounds, adopted, satisfaction, threshold, ceiling, eligible_keys, per_chunk, rows,
                   which, draws):
    """The screen of Adoption.step for every behaviour in one pass over the customers: fills
    (rows, which behaviour, draw) in customer order and returns how many, or -1 if a chunk's
    ``per_chunk`` entries did not hold its pairs. Chunks of customers run on several cores, each
    filling its own ``per_chunk`` entries; the lists are joined in chunk order."""
    n_rows = act.shape[0]
    found = np.zeros(n_chunks(n_rows), dtype=np.int64)  # each chunk's pairs (-1: did not fit)
    for c in prange(n_chunks(n_rows)):
        start = c * per_chunk
        n = start
        for i in range(c * CHUNK, min(n_rows, (c + 1) * CHUNK)):
            slot = act[i]
            for b in range(keys.shape[0]):
                # the draw first: its test is almost always false, which the CPU predicts; testing the
                # flags first, to skip adopters' draws, mispredicts (40 ms a month at 1M, against 27)
                u = uniform_at(keys[b], uid[slot])
                if u < bounds[b] and not shows(adopted[slot], b) and not np.float64(satisfaction[slot]) < threshold[b]:
                    if ceiling[b] < 1.0 and not uniform_at(eligible_keys[b], uid[slot]) < ceiling[b]:
                        continue
                    if n == start + per_chunk:
                        n = start - 1  # the sign that it did not fit
                        break
                    rows[n] = i
                    which[n] = b
                    draws[n] = u
                    n += 1
            if n < start:
                break
        found[c] = n - start
    if not all_fit(found):
        return -1
    close_up(found, per_chunk, which)
    close_up(found, per_chunk, draws)
    return close_up(found, per_chunk, rows)


@kernel
def _range_at(values, act):
    """(np.fmin.reduce, np.fmax.reduce) of values[act] without gathering it: NaN skipped, and NaN
    for both when every one is NaN."""
    lo, hi = np.inf, -np.inf
    seen = False
    for i in range(act.shape[0]):
        v = np.float64(values[act[i]])
        if v == v:
            seen = True
            lo = min(lo, v)
            hi = max(hi, v)
    if not seen:
        return np.nan, np.nan
    return lo, hi


@kernel
def _asked_union_kernel(rows, which, column_of, union, at, wants):
    """The distinct rows of the screened pairs whose behaviour has a share (column_of >= 0), in
    order, each pair's index among them (``at``, -1 for the others) and ``wants``: which columns
    each of them is asked about. Returns how many distinct rows."""
    n = 0
    last = -1
    for e in range(rows.shape[0]):
        j = column_of[which[e]]
        if j < 0:
            at[e] = -1
            continue
        if rows[e] != last:
            union[n] = rows[e]
            last = rows[e]
            n += 1
        at[e] = n - 1
        wants[n - 1, j] = True
    return n


@kernel
def _pair_shares_kernel(which, at, column_of, n_ties, n_shows, f):
    """F of each asked pair: its live ties showing the behaviour over its live ties, 0 without any
    (the share Adoption.shares computes)."""
    for e in range(which.shape[0]):
        i = at[e]
        if i >= 0 and n_ties[i] > 0:
            f[e] = n_shows[i, column_of[which[e]]] / n_ties[i]


@kernel
def _decide_kernel(act, rows, which, u, f, has_share, p, q, incentive, targeted, seg_incentive, segment, slope,
                   satisfaction, picked):
    """The exact adoption rule of Adoption.step for each screened pair, with its arithmetic in the
    reference's order; writes the indices of the pairs that adopt, returns how many."""
    n = 0
    for e in range(rows.shape[0]):
        b = which[e]
        slot = act[rows[e]]
        base = p[b] + q[b] * f[e] if has_share[b] else p[b]
        hazard = incentive[b] * base
        if targeted:
            hazard = hazard * seg_incentive[segment[slot], b]
        if slope[b] != 0:
            hazard = hazard * np.exp((np.float64(satisfaction[slot]) - 7.0) * slope[b])
        if u[e] < -np.expm1(-hazard):
            picked[n] = e
            n += 1
    return n
