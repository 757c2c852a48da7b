"""Erlang C (M/M/c) model of a contact-centre queue, in closed form.

Calls arrive as a Poisson process (rate lambda), handle times are exponential (mean 1/mu), c
identical agents serve one first-come-first-served queue, and callers never hang up (infinite
patience). Under those assumptions the queue has a steady state only when the offered load
A = lambda/mu is below c, and then an arriving call waits with probability C(c, A) (Erlang C)
and, if it waits, waits an exponential time with rate c*mu - lambda. So
P(W > t) = C * exp(-(c*mu - lambda) * t). Real centres have abandonment and time-varying
arrivals, so treat the results as a planning baseline, not a forecast.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import numpy as np


def _agents(name: str, value) -> int:
    try:
        n = operator.index(value)
    except TypeError:
        n = -1
    if n < 0 or isinstance(value, bool):
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return n


def _number(name: str, value, *, positive: bool = False) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = math.nan
    ok = math.isfinite(x) and (x > 0 if positive else x >= 0)
    if not ok:
        allowed = "a finite number > 0" if positive else "a finite number >= 0"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return x


def erlang_b(n_agents: int, offered_load: float) -> float:
    """Blocking probability of an M/M/c/c loss system."""
    n = _agents("n_agents", n_agents)
    a = _number("offered_load", offered_load)
    # The recursion never forms A**n or n!, so it neither overflows nor loses precision
    # for agent counts in the thousands.
    b = 1.0
    for k in range(1, n + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(n_agents: int, offered_load: float) -> float:
    """Probability that an arriving call has to wait; 1.0 when the queue is unstable."""
    n = _agents("n_agents", n_agents)
    a = _number("offered_load", offered_load)
    if a >= n:
        return 1.0  # no steady state: the queue grows without bound, so every caller waits
    b = erlang_b(n, a)
    return n * b / (n - a * (1.0 - b))


@dataclass(frozen=True)
class ErlangCMetrics:
    """Times in seconds. mean_wait_s is the ASA over all calls; inf/0 limits when unstable."""

    n_agents: int
    offered_load: float
    occupancy: float
    stable: bool
    p_wait: float
    mean_wait_s: float
    mean_wait_if_waiting_s: float
    service_level: float
    decay_rate_per_s: float


def erlang_c_metrics(
    arrival_rate_per_s: float, mean_handle_s: float, n_agents: int, answer_threshold_s: float
) -> ErlangCMetrics:
    """Steady-state Erlang C figures; an unstable queue reports the saturated limits."""
    lam = _number("arrival_rate_per_s", arrival_rate_per_s)
    h = _number("mean_handle_s", mean_handle_s, positive=True)
    n = _agents("n_agents", n_agents)
    t = _number("answer_threshold_s", answer_threshold_s)
    a = lam * h
    occupancy = min(a / n, 1.0) if n else (1.0 if a > 0 else 0.0)
    if a >= n:
        return ErlangCMetrics(n, a, occupancy, False, 1.0, math.inf, math.inf, 0.0, 0.0)
    p = erlang_c(n, a)
    decay = (n - a) / h  # c*mu - lambda, written to avoid cancelling two large rates
    return ErlangCMetrics(
        n_agents=n,
        offered_load=a,
        occupancy=occupancy,
        stable=True,
        p_wait=p,
        mean_wait_s=p / decay,
        mean_wait_if_waiting_s=1.0 / decay,
        service_level=1.0 - p * math.exp(-decay * t),
        decay_rate_per_s=decay,
    )


def wait_quantile(u: np.ndarray, metrics: ErlangCMetrics, max_wait_s: float) -> np.ndarray:
    """Waits for uniforms ``u`` by inverting the Erlang C waiting-time CDF, capped at max_wait_s.

    Inverse-CDF sampling keeps one uniform per call, so common random numbers stay paired
    across scenarios. An unstable queue has no steady-state wait: every caller hits the cap.
    """
    u = np.asarray(u, dtype=float)
    cap = _number("max_wait_s", max_wait_s)
    if u.size and not (np.all(u >= 0.0) and np.all(u <= 1.0)):
        raise ValueError("u must hold uniforms in [0, 1], got values outside that range")
    if not metrics.stable:
        return np.full(u.shape, cap)
    p = metrics.p_wait
    out = np.zeros(u.shape)
    if p <= 0.0:
        return out  # no traffic: nobody waits
    waits = u >= 1.0 - p
    with np.errstate(divide="ignore"):  # u == 1 maps to an infinite wait, which the cap absorbs
        out[waits] = -np.log((1.0 - u[waits]) / p) / metrics.decay_rate_per_s
    return np.minimum(np.maximum(out, 0.0), cap)


def agents_for_service_level(
    arrival_rate_per_s: float,
    mean_handle_s: float,
    answer_threshold_s: float,
    target_service_level: float,
) -> int:
    """Smallest agent count whose Erlang C service level reaches the target (at least 1)."""
    lam = _number("arrival_rate_per_s", arrival_rate_per_s)
    h = _number("mean_handle_s", mean_handle_s, positive=True)
    t = _number("answer_threshold_s", answer_threshold_s)
    target = _number("target_service_level", target_service_level)
    if not 0.0 < target < 1.0:
        raise ValueError(
            f"target_service_level must be strictly between 0 and 1, got {target_service_level!r}"
        )
    # Fewer than floor(A) + 1 agents is unstable, so start there; service level rises with n.
    a = lam * h
    n = math.floor(a) + 1
    b = erlang_b(n, a)
    while True:
        # erlang_c_metrics(lam, h, n, t).service_level, its operations in its order, with B(n)
        # carried from the last n by the recursion's next step instead of rebuilt from one agent:
        # the same numbers, in one O(n) pass instead of one per count tried (a month's staffing of
        # a large centre, thousands of agents' steps per interval, took milliseconds)
        p = n * b / (n - a * (1.0 - b))
        if 1.0 - p * math.exp(-((n - a) / h) * t) >= target:
            return n
        n += 1
        b = a * b / (n + a * b)
