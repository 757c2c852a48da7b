"""Erlang A (M/M/n+M, the Palm queue): Erlang C with callers who hang up.

Calls arrive as a Poisson process (rate lambda), handle times are exponential (mean 1/mu), n
agents serve one first-come-first-served queue, and every waiting caller hangs up after an
exponential patience (mean 1/theta) unless an agent takes the call first. Abandonment keeps the
queue stable at any load, so unlike Erlang C there is always a steady state.

Closed forms (Garnett, Mandelbaum & Reiman 2002; Mandelbaum & Zeltyn, "The Palm/Erlang-A
queue"), with x = n*mu/theta, y = lambda/theta, rho = lambda/(n*mu), E = Erlang B(n, lambda/mu):

    A(x, y)   = sum_{k>=0} y^k / ((x+1)(x+2)...(x+k)) = x e^y y^-x gamma_lower(x, y)
    P(wait)   = A E / (1 + (A - 1) E)
    P(ab)     = P(wait) * (1/(rho A) + 1 - 1/rho)
    E[W]      = P(ab) / theta                      (time in queue over all callers: Little)

Waits of served callers and the service level come from the queue an arrival finds. Given that
k callers wait ahead of it, the caller is served with probability x/(x+k+1) (the rates telescope),
and a served caller's wait is a sum of exponentials with rates theta*(x+1), ..., theta*(x+k+1):
the time until k+1 of x+k+1 exponential(theta) clocks have rung, so
P(W <= t | served, k) = I_p(k+1, x+1) with p = 1 - exp(-theta t) (regularised incomplete beta)
and E[W | served, k] = (digamma(x+k+2) - digamma(x+1)) / theta. The queue an arrival finds,
given that it waits, has P(k) proportional to y^k / ((x+1)...(x+k)).

Numerics: every large product is formed in logarithms and normalised before exponentiating;
A(x, y) uses the regularised incomplete gamma function when it does not underflow and the
series above otherwise; the formulas are written with 1/A so that a heavily overloaded centre
(A astronomically large) gives the saturated limits instead of inf/inf. The module's tests
check all of it against an independent numerical solution of the birth-death chain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import betainc, digamma, gammainc, gammaln

from sim.contact_centre.erlang import _agents, _number, erlang_b, erlang_c_metrics


def _log_a_series(x: float, y: float) -> float:
    """ln A(x, y) by summing the series in logs (any x >= 0, y > 0)."""
    k = _queue_support(x, y)
    log_terms = k * math.log(y) + gammaln(x + 1.0) - gammaln(x + k + 1.0)
    top = log_terms.max()
    return float(top + math.log(np.exp(log_terms - top).sum()))


def _queue_support(x: float, y: float) -> np.ndarray:
    """Queue lengths k = 0..K that carry all but a negligible share of y^k / ((x+1)...(x+k)).

    The terms peak at k ~ max(0, y - x) and then fall faster than a Poisson(y) tail, so the
    peak plus 12 standard deviations of that Poisson (and a margin) covers them to ~1e-30.
    """
    k_max = int(max(y - x, 0.0) + 12.0 * math.sqrt(y + 1.0) + 60.0)
    return np.arange(k_max + 1, dtype=np.float64)


def log_a_function(x: float, y: float) -> float:
    """ln A(x, y), A(x, y) = x e^y y^-x gamma_lower(x, y) = sum_k y^k / prod_{i<=k} (x + i)."""
    if x < 0 or y < 0 or not (math.isfinite(x) and math.isfinite(y)):
        raise ValueError(f"A(x, y) needs finite x, y >= 0, got x={x!r}, y={y!r}")
    if y == 0.0:
        return 0.0
    if x > 0.0:
        p = float(gammainc(x, y))  # regularised lower incomplete gamma P(x, y)
        if p > 1e-250:
            return math.log(x) + y - x * math.log(y) + float(gammaln(x)) + math.log(p)
    return _log_a_series(x, y)


def _rates(arrival_rate_per_s, mean_handle_s, n_agents, mean_patience_s):
    lam = _number("arrival_rate_per_s", arrival_rate_per_s)
    h = _number("mean_handle_s", mean_handle_s, positive=True)
    n = _agents("n_agents", n_agents)
    pat = float(mean_patience_s)
    if not pat > 0:  # math.inf is allowed: callers who never hang up (Erlang C)
        raise ValueError(f"mean_patience_s must be > 0 (inf = never hangs up), got {mean_patience_s!r}")
    return lam, h, n, pat


def erlang_a_p_wait(arrival_rate_per_s: float, mean_handle_s: float, n_agents: int,
                    mean_patience_s: float) -> float:
    """Probability that an arriving call finds every agent busy (closed form)."""
    lam, h, n, pat = _rates(arrival_rate_per_s, mean_handle_s, n_agents, mean_patience_s)
    a = lam * h
    if lam == 0.0:
        return 0.0
    if n == 0:
        return 1.0
    if math.isinf(pat):
        return erlang_c_metrics(lam, h, n, 0.0).p_wait
    e = erlang_b(n, a)
    inv_a = math.exp(-log_a_function(n * pat / h, lam * pat))
    return e / (e + (1.0 - e) * inv_a)


def erlang_a_p_abandon(arrival_rate_per_s: float, mean_handle_s: float, n_agents: int,
                       mean_patience_s: float) -> float:
    """Share of arriving calls that hang up before an agent answers (closed form)."""
    lam, h, n, pat = _rates(arrival_rate_per_s, mean_handle_s, n_agents, mean_patience_s)
    if lam == 0.0 or math.isinf(pat):
        return 0.0  # no traffic, or Erlang C: nobody hangs up
    if n == 0:
        return 1.0
    rho = lam * h / n
    p_wait = erlang_a_p_wait(lam, h, n, pat)
    # 1/(rho A) + 1 - 1/rho = 1 - (1 - 1/A)/rho; expm1 keeps 1 - 1/A accurate when A ~ 1
    one_minus_inv_a = -math.expm1(-log_a_function(n * pat / h, lam * pat))
    return p_wait * max(0.0, 1.0 - one_minus_inv_a / rho)


@dataclass(frozen=True)
class ErlangAMetrics:
    """Steady-state Erlang A figures; times in seconds, shares of all arriving calls.

    mean_wait_s is the mean time in queue over every caller (served or not); the ASA of answered
    calls is mean_wait_served_s. service_level counts calls answered within the threshold among
    all arrivals (a caller who hangs up counts as missed, however early).
    """

    n_agents: int
    offered_load: float
    mean_patience_s: float
    p_wait: float
    p_abandon: float
    mean_wait_s: float
    mean_wait_served_s: float
    mean_wait_abandoned_s: float
    service_level: float
    p_virtual_wait_gt_threshold: float  # P(an infinitely patient caller would wait > threshold)
    occupancy: float
    mean_queue: float
    p_abandon_within_threshold: float = 0.0  # P(a caller hangs up before the threshold has passed)


def erlang_a_metrics(arrival_rate_per_s: float, mean_handle_s: float, n_agents: int,
                     mean_patience_s: float, answer_threshold_s: float) -> ErlangAMetrics:
    """All Erlang A figures for one stationary interval (mean_patience_s=inf gives Erlang C)."""
    lam, h, n, pat = _rates(arrival_rate_per_s, mean_handle_s, n_agents, mean_patience_s)
    t = _number("answer_threshold_s", answer_threshold_s)
    a = lam * h
    if lam == 0.0:
        return ErlangAMetrics(n, 0.0, pat, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)
    if math.isinf(pat):
        c = erlang_c_metrics(lam, h, n, t)
        if not c.stable:
            return ErlangAMetrics(n, a, pat, 1.0, 0.0, math.inf, math.inf, math.nan, 0.0, 1.0,
                                  c.occupancy, math.inf)
        return ErlangAMetrics(n, a, pat, c.p_wait, 0.0, c.mean_wait_s, c.mean_wait_s, math.nan,
                              c.service_level, c.p_wait * math.exp(-c.decay_rate_per_s * t),
                              c.occupancy, lam * c.mean_wait_s)
    theta = 1.0 / pat
    x, y = n * pat / h, lam * pat
    p_wait = erlang_a_p_wait(lam, h, n, pat)
    p_ab = erlang_a_p_abandon(lam, h, n, pat)

    # the queue a waiting arrival finds: P(k ahead) ~ y^k / ((x+1)...(x+k)), normalised in logs
    k = _queue_support(x, y)
    log_q = k * math.log(y) + gammaln(x + 1.0) - gammaln(x + k + 1.0)
    q = np.exp(log_q - log_q.max())
    q /= q.sum()
    served = x / (x + k + 1.0)  # P(served | k ahead)
    # a caller's wait is min(patience, virtual wait V), V independent of their own patience (FCFS):
    # P(W <= t) = 1 - e^-theta t P(V > t), of which the answered part is the service level
    wait_if_served = (digamma(x + k + 2.0) - digamma(x + 1.0)) / theta
    mean_wait_served_part = p_wait * float(np.sum(q * served * wait_if_served))  # E[W; served]
    p_served = 1.0 - p_ab
    mean_wait = p_ab / theta
    p = -math.expm1(-theta * t)  # P(one patience clock rings by t)
    if p > 0.0:
        within = float(np.sum(q * served * betainc(k + 1.0, x + 1.0, p)))
        virtual_gt = float(np.sum(q * (1.0 - betainc(k + 1.0, x, p)))) if x > 0 else 0.0
    else:
        within, virtual_gt = 0.0, 1.0
    service_level = (1.0 - p_wait) + p_wait * within
    p_virtual_gt = p_wait * virtual_gt if n > 0 else 1.0
    return ErlangAMetrics(
        n_agents=n,
        offered_load=a,
        mean_patience_s=pat,
        p_wait=p_wait,
        p_abandon=p_ab,
        mean_wait_s=mean_wait,
        mean_wait_served_s=mean_wait_served_part / p_served if p_served > 0 else math.nan,
        mean_wait_abandoned_s=(mean_wait - mean_wait_served_part) / p_ab if p_ab > 0 else math.nan,
        service_level=service_level,
        p_virtual_wait_gt_threshold=p_virtual_gt,
        occupancy=min(a * p_served / n, 1.0) if n else 0.0,
        mean_queue=lam * mean_wait,
        p_abandon_within_threshold=min(max(1.0 - math.exp(-theta * t) * p_virtual_gt - service_level, 0.0), p_ab),
    )
