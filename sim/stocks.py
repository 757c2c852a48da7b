"""End-of-month stocks: customers, satisfaction and its spread, NPS classes, behaviour shares,
segment sizes and segment NPS, over the customers still active when the month ends."""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.kernels import COMPILED, kernel
from sim.modules.satisfaction import DETRACTOR_BELOW, PROMOTER_MIN

_PERCENTILES = (10, 50, 90)
_BINS = 4096  # histogram bins the kernel uses to find order statistics (any number gives exact ones)


def record_stocks(pop, k: dict[str, Any]) -> None:
    """Write the month's stocks into ``k`` (sim.kpis documents each)."""
    if not COMPILED:
        return record_stocks_numpy(pop, k)
    # the kernel walks the active flags in slot order, the order of pop.active_slots(), without
    # that list of every customer (8 B a customer at the month's end)
    active = pop.active
    n, n_seg, n_beh = int(np.count_nonzero(active)), len(pop.segment_names), len(pop.behaviour_names)
    adopters = np.zeros(n_beh, dtype=np.int64)
    per_segment = np.zeros(n_seg, dtype=np.int64)
    net = np.zeros(n_seg, dtype=np.int64)
    ranks = np.array(sorted({r for q in _PERCENTILES for r in _ranks(n, q)}), dtype=np.int64)
    picked = np.zeros(len(ranks))
    sat_sum, promoters, detractors = _stocks_kernel(active, n, pop.satisfaction, pop.adoption, pop.segment,
                                                    PROMOTER_MIN, DETRACTOR_BELOW, adopters, per_segment,
                                                    net, ranks, picked, _BINS)
    k["customers"] = n
    if n:
        at = dict(zip(ranks.tolist(), picked.tolist(), strict=True))
        k["sat_mean"] = sat_sum / n
        for q in _PERCENTILES:
            k[f"sat_p{q}"] = _linear_percentile(n, q, at)
    else:
        k["sat_mean"] = k["sat_p10"] = k["sat_p50"] = k["sat_p90"] = float("nan")
    _shares(k, pop, n, promoters / n if n else 0.0, detractors / n if n else 0.0, adopters, per_segment, net)


def _shares(k: dict[str, Any], pop, n: int, promoters: float, detractors: float, adopters: np.ndarray,
            per_segment: np.ndarray, net: np.ndarray) -> None:
    """NPS classes, behaviour shares and segment sizes and NPS, from the month's counts."""
    k["share_promoters"] = promoters
    k["share_passives"] = 1.0 - promoters - detractors if n else 0.0
    k["share_detractors"] = detractors
    k["nps"] = 100.0 * (promoters - detractors)
    for b, name in enumerate(pop.behaviour_names):
        k[f"adopt_{name}"] = float(adopters[b] / n) if n else 0.0
    for s, name in enumerate(pop.segment_names):
        k[f"customers_{name}"] = int(per_segment[s])
        k[f"segment_{name}_nps"] = 100.0 * net[s] / per_segment[s] if per_segment[s] else 0.0


def _ranks(n: int, q: float) -> tuple[int, ...]:
    """The two order statistics numpy's linear percentile interpolates between (none of nobody)."""
    if n == 0:
        return ()
    lo = int(np.floor((n - 1) * (q / 100)))
    return lo, min(lo + 1, n - 1)


def _linear_percentile(n: int, q: float, at: dict[int, float]) -> float:
    """numpy.percentile's default ('linear') from the order statistics it needs."""
    index = (n - 1) * (q / 100)
    lo, hi = _ranks(n, q)
    a, b, t = at[lo], at[hi], index - lo
    return float(b - (b - a) * (1 - t)) if t >= 0.5 else float(a + (b - a) * t)


def record_stocks_numpy(pop, k: dict[str, Any]) -> None:
    """The reference the kernel must match."""
    act = pop.active_slots()
    sat = pop.satisfaction[act].astype(np.float64)
    n = len(act)
    k["customers"] = n
    if n:
        promoters = float(np.mean(sat >= PROMOTER_MIN))
        detractors = float(np.mean(sat < DETRACTOR_BELOW))
        k["sat_mean"] = float(sat.mean())
        k["sat_p10"], k["sat_p50"], k["sat_p90"] = (float(x) for x in np.percentile(sat, _PERCENTILES))
    else:
        promoters = detractors = 0.0
        k["sat_mean"] = k["sat_p10"] = k["sat_p50"] = k["sat_p90"] = float("nan")
    adopters = np.count_nonzero(pop.shows_matrix(act), axis=0)
    n_seg = len(pop.segment_names)
    seg = pop.segment[act]
    per_segment = np.bincount(seg, minlength=n_seg)
    net = np.bincount(seg, weights=(sat >= PROMOTER_MIN).astype(float) - (sat < DETRACTOR_BELOW), minlength=n_seg)
    _shares(k, pop, n, promoters, detractors, adopters, per_segment, net)


@kernel
def _stocks_kernel(active, n, satisfaction, adopted, segment, promoter_min, detractor_below, adopters, per_segment,
                   net, ranks, picked, n_bins):
    """One pass for the counts and sums, a histogram pass and a small sort for the order statistics
    at ``ranks`` (ascending): exact, without sorting every customer. The customers are the slots
    where ``active`` holds (``n`` of them), taken in slot order.

    A customer bumps two tallies, not a counter per behaviour and class: their segment's class
    (promoter, detractor, passive) and, for flags of a byte, their flag value. Each counter in
    memory that every customer adds to is a chain of stores and loads; a counter per behaviour
    made the first pass 9 ms at a million customers, the tallies 5-6 ms. The totals are integer
    sums of the tallies: the same numbers."""
    n_seg = per_segment.shape[0]
    n_beh = adopters.shape[0]
    sat_sum = 0.0
    lo, hi = np.inf, -np.inf
    classes = np.zeros(3 * n_seg, dtype=np.int64)  # per segment: promoters, detractors, passives
    by_value = adopted.itemsize == 1  # a tally per flag value (256); wider flags: a counter per bit
    values = np.zeros(256 if by_value else 1, dtype=np.int64)
    bits = np.zeros(n_beh, dtype=np.int64)
    for slot in range(active.shape[0]):
        if not active[slot]:
            continue
        sat = satisfaction[slot]
        sat_sum += sat
        lo = min(lo, sat)
        hi = max(hi, sat)
        # without branches: promoter or not is a coin toss the CPU cannot predict
        cls = 2 - 2 * np.int64(sat >= promoter_min) - np.int64(sat < detractor_below)
        classes[3 * segment[slot] + cls] += 1
        flags = np.int64(adopted[slot])  # as kernels.shows reads them, without its branch
        if by_value:
            values[flags] += 1
        else:
            for b in range(n_beh):
                bits[b] += (flags >> b) & 1
    if by_value:
        for v in range(256):
            for b in range(n_beh):
                bits[b] += values[v] * ((v >> b) & 1)
    adopters += bits  # the outputs start at zero (record_stocks)
    promoters = 0
    detractors = 0
    for s in range(n_seg):
        per_segment[s] += classes[3 * s] + classes[3 * s + 1] + classes[3 * s + 2]
        net[s] += classes[3 * s] - classes[3 * s + 1]
        promoters += classes[3 * s]
        detractors += classes[3 * s + 1]
    if n == 0 or ranks.shape[0] == 0:
        return sat_sum, promoters, detractors
    per_unit = n_bins / (hi - lo) if hi > lo else 1.0  # bins are monotone in the value, whatever rounding
    counts = np.zeros(n_bins + 1, dtype=np.int64)
    bin_lo = np.full(n_bins + 1, np.inf)
    bin_hi = np.full(n_bins + 1, -np.inf)
    bin_of = np.empty(n, dtype=np.int16)
    i = 0
    for slot in range(active.shape[0]):
        if not active[slot]:
            continue
        sat = satisfaction[slot]
        bin_ = min(int((sat - lo) * per_unit), n_bins)
        bin_of[i] = bin_
        i += 1
        counts[bin_] += 1
        bin_lo[bin_] = min(bin_lo[bin_], sat)
        bin_hi[bin_] = max(bin_hi[bin_], sat)
    # the bins holding each wanted rank, and how many values lie below each of them
    wanted = np.zeros(n_bins + 1, dtype=np.bool_)
    below = 0
    r = 0
    for bin_ in range(n_bins + 1):
        while r < ranks.shape[0] and ranks[r] < below + counts[bin_]:
            wanted[bin_] = True
            r += 1
        below += counts[bin_]
    # a bin of equal values (satisfaction clipped at 10, say) needs no sorting: its value is known
    for bin_ in range(n_bins + 1):
        if wanted[bin_] and bin_lo[bin_] == bin_hi[bin_]:
            wanted[bin_] = False
    n_kept = 0
    for bin_ in range(n_bins + 1):
        if wanted[bin_]:
            n_kept += counts[bin_]
    kept = np.empty(n_kept)
    j = 0
    i = 0
    for slot in range(active.shape[0]):
        if not active[slot]:
            continue
        if wanted[bin_of[i]]:
            kept[j] = satisfaction[slot]
            j += 1
        i += 1
    # bins are ordered by value, so sorting the kept values orders them across their bins too
    kept.sort()
    below = 0
    j = 0  # position in kept of the first value of the current wanted bin
    r = 0
    for bin_ in range(n_bins + 1):
        while r < ranks.shape[0] and ranks[r] < below + counts[bin_]:
            picked[r] = kept[j + ranks[r] - below] if wanted[bin_] else bin_lo[bin_]
            r += 1
        below += counts[bin_]
        if wanted[bin_]:
            j += counts[bin_]
    return sat_sum, promoters, detractors
