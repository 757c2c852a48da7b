"""Word of mouth, referral and acquisition.

Detractors sometimes speak badly of the firm: each tie of a speaking detractor loses a little
satisfaction. Promoters bring new customers through their ties (a Poisson number per promoter),
and paid acquisition brings the rest: a fixed marketing budget's worth of customers from the market
(a share of the starting base, grown at the market's rate), deterred by the share of detractors.
Gross adds therefore do not compound with the base: it settles where they balance churn. New
customers take new slots at the end, a tie to their referrer and a few random ties.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import pdtr, pdtrik

from sim.kernels import (
    CHUNK,
    COMPILED,
    all_fit,
    chunked,
    close_up,
    listed_in_room,
    n_chunks,
    poisson_at,
    prange,
    uniform_at,
)
from sim.modules.satisfaction import DETRACTOR_BELOW, PROMOTER_MIN
from sim.network import attach_new_nodes, attach_settled_nodes, closure_probability
from sim.rng import poisson_icdf


class WordOfMouth:
    name = "word_of_mouth"

    def __init__(self, model):
        self.cfg = model.cfg.referral

    def step(self, model, ms) -> None:
        cfg, pop = self.cfg, model.pop
        if cfg.p_detractor_speaks <= 0 or cfg.sat_word_of_mouth_impact <= 0 or model.graph.n_edges == 0:
            ms.kpis["detractors_speaking"] = 0
            return
        act = ms.act
        if COMPILED:
            key, p_speaks = np.uint64(model.streams.key("word_of_mouth.speak", ms.month)), float(cfg.p_detractor_speaks)

            def speaking(per_chunk, room):
                speakers = np.empty(room, dtype=np.int64)
                n = _speakers_kernel(act, pop.uid, pop.satisfaction, DETRACTOR_BELOW, p_speaks, key, per_chunk,
                                     speakers)
                return None if n < 0 else speakers[:n]

            speakers = listed_in_room(p_speaks, len(act), speaking)  # at most every customer a detractor who speaks
            n = len(speakers)
            heard = model.scratch("word_of_mouth.heard", pop.n_slots, np.int32, 0)
            model.graph.count_ties_to(speakers, heard)
            _hear_kernel(act, heard, pop.satisfaction, float(cfg.sat_word_of_mouth_impact))
            ms.kpis["detractors_speaking"] = int(n)
            return
        detractors = act[pop.satisfaction[act].astype(np.float64) < DETRACTOR_BELOW]
        u = pop.uniform("word_of_mouth.speak", ms.month, detractors)
        speaking = np.zeros(pop.n_slots, dtype=bool)
        speaking[detractors[u < cfg.p_detractor_speaks]] = True
        heard = model.graph.neighbour_sum(speaking)[act]
        sat = pop.satisfaction
        sat[act] = np.maximum(sat[act] - cfg.sat_word_of_mouth_impact * heard, 0.0)
        ms.kpis["detractors_speaking"] = int(speaking.sum())


@chunked
def _speakers_kernel(act, uid, satisfaction, detractor_below, p_speaks, key, per_chunk, speakers):
    """Detractors whose uniform says they speak this month, in slot order; returns how many, or -1
    if a chunk's ``per_chunk`` entries did not hold its speakers. Chunks of customers run on
    several cores, each listing its speakers in its own entries; the lists are joined in chunk order."""
    n_rows = act.shape[0]
    listed = np.zeros(n_chunks(n_rows), dtype=np.int64)  # each chunk's speakers (-1: did not fit)
    for c in prange(n_chunks(n_rows)):
        start = c * per_chunk
        n = start
        for i in range(c * CHUNK, min(n_rows, (c + 1) * CHUNK)):
            slot = act[i]
            if satisfaction[slot] < detractor_below and uniform_at(key, uid[slot]) < p_speaks:
                if n == start + per_chunk:
                    n = start - 1  # the sign that it did not fit
                    break
                speakers[n] = slot
                n += 1
        listed[c] = n - start
    if not all_fit(listed):
        return -1
    return close_up(listed, per_chunk, speakers)


@chunked
def _hear_kernel(act, heard, satisfaction, impact):
    """Each customer loses impact x (their ties to speaking detractors), floored at 0; in chunks on
    several cores (each customer's own row: nothing to join)."""
    n = act.shape[0]
    for c in prange(n_chunks(n)):
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            slot = act[i]
            if heard[slot] != 0:
                satisfaction[slot] = max(satisfaction[slot] - impact * heard[slot], 0.0)


def _poisson_quantile(u: float, lam: float) -> float:
    """scipy.stats.poisson.ppf(u, lam) for 0 < u < 1, by its own method (scipy.special's pdtrik
    and pdtr), without importing scipy.stats (0.9 s in a run's first month); u = 0 gives 0."""
    k = math.ceil(pdtrik(u, lam))
    below = max(k - 1, 0)
    return float(below if pdtr(below, lam) >= u else k)


@chunked
def _referrals_kernel(act, uid, satisfaction, promoter_min, detractor_below, rate, p_zero, key, per_chunk,
                      promoters, referrals):
    """Promoters who refer this month and their referral counts (Poisson, by inversion of their own
    uniform), and the number of detractors, in one pass; returns (referring promoters, detractors),
    or -1 referring promoters if a chunk's ``per_chunk`` entries did not hold its list (half the
    base are promoters, a few in a hundred refer). Chunks of customers run on several cores, each
    listing its promoters in its own ``per_chunk`` entries; the lists are joined in chunk order."""
    n = act.shape[0]
    listed = np.zeros(n_chunks(n), dtype=np.int64)  # each chunk's referrers (-1: did not fit)
    detractors = np.zeros(n_chunks(n), dtype=np.int64)
    for c in prange(n_chunks(n)):
        start = c * per_chunk
        n_prom = start
        n_detractors = 0
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            slot = act[i]
            sat = satisfaction[slot]
            # every row's uniform, and the rare referrer found by one test: whether a customer is a
            # promoter is a coin toss the processor cannot predict, and a branch on it cost more
            # than the uniforms it saved (10 ms a 1M month on one core, against 6)
            u = uniform_at(key, uid[slot])
            if u >= p_zero and sat >= promoter_min:
                if n_prom == start + per_chunk:
                    n_prom = start - 1  # the sign that it did not fit
                    break
                promoters[n_prom] = slot
                referrals[n_prom] = poisson_at(u, rate, p_zero)
                n_prom += 1
            n_detractors += sat < detractor_below
        listed[c] = n_prom - start
        detractors[c] = n_detractors
    if not all_fit(listed):
        return -1, 0
    close_up(listed, per_chunk, referrals)
    return close_up(listed, per_chunk, promoters), detractors.sum()


class Acquisition:
    name = "acquisition"

    def __init__(self, model):
        self.cfg = model.cfg.referral

    def step(self, model, ms) -> None:
        cfg, pop, streams, month = self.cfg, model.pop, model.streams, ms.month
        act = pop.active_slots()
        if COMPILED:
            rate = float(cfg.rate_referral_promoter)
            # P(0) by numpy's exp over an array, as poisson_icdf computes it in the reference
            p_zero = float(np.exp(-np.full(1, rate))[0])
            key = np.uint64(streams.key("acquisition.referral", month))

            def referring(per_chunk, room):
                promoters, referrals = np.empty(room, dtype=np.int64), np.empty(room, dtype=np.int64)
                n_prom, n_detractors = _referrals_kernel(act, pop.uid, pop.satisfaction, PROMOTER_MIN, DETRACTOR_BELOW,
                                                         rate, p_zero, key, per_chunk, promoters, referrals)
                return None if n_prom < 0 else (promoters[:n_prom], referrals[:n_prom], n_detractors)

            # at most every customer refers, with P(1 - p_zero)
            promoters, referrals, n_detractors = listed_in_room(1.0 - p_zero, len(act), referring)
            anchors = np.repeat(promoters, referrals)
            detractor_share = n_detractors / len(act) if len(act) else 0.0
        else:
            sat = pop.satisfaction[act].astype(np.float64)
            promoters = act[sat >= PROMOTER_MIN]
            u_ref = pop.uniform("acquisition.referral", month, promoters)
            referrals = poisson_icdf(u_ref, cfg.rate_referral_promoter)
            anchors = np.repeat(promoters, referrals)
            detractor_share = float(np.mean(sat < DETRACTOR_BELOW)) if len(act) else 0.0
        # a fixed budget's worth of customers from the market (in agents), grown from month 0 at the
        # market's rate and converted less well the more of the base speaks ill of the firm
        growth = (1.0 + cfg.rate_market_growth_year) ** (max(ms.run_month, 0) / 12.0)
        reputation = max(0.0, 1.0 - cfg.rel_detractor_deterrence * detractor_share)
        lam = cfg.rate_paid_acquisition * model.cfg.population.agents * growth * reputation
        u_paid = streams.generator("acquisition.paid", month).random()
        n_paid = int(_poisson_quantile(u_paid, lam)) if lam > 0 else 0
        n_ref = len(anchors)
        referred = np.concatenate([np.ones(n_ref, bool), np.zeros(n_paid, bool)])
        new = pop.add(n_ref + n_paid, month, referred=referred)
        ms.joined = new
        model.graph.add_nodes(len(new))
        if len(new):
            anchors = np.concatenate([anchors, np.full(n_paid, -1)])
            ties = streams.generator("acquisition.ties", month)
            if cfg.n_random_ties_new is None:  # mean_degree ties in all: degree and clustering stand still
                attach_settled_nodes(model.graph, new, anchors, cfg.mean_degree, act, pop.active,
                                     closure_probability(cfg.mean_degree, cfg.clustering), ties)
            else:
                attach_new_nodes(model.graph, new, anchors, cfg.n_random_ties_new, act, ties)
        ms.kpis["new_acquired_referred"] = n_ref
        ms.kpis["new_acquired_paid"] = n_paid
