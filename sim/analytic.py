"""The closed forms cxsim is validated against, in one public module.

Queues (re-exported from sim.contact_centre): Erlang B, Erlang C and its service metrics, the
agents for a service level, Erlang A (abandonment). Diffusion: Bass's continuous curve and the
discrete monthly rule the adoption stage follows. Survival: geometric survival under a constant
monthly churn, the expected and the median lifetime. Money: lifetime value (infinite or finite
horizon; margins at the start or end of each period, or in arrears) and Gupta and Lehmann's
margin multiple.

Timing conventions, stated once:
* cxsim books profit in arrears: each month's at the month's end (``economics.cash_flow``
  "monthly": NPV = sum of profit_t x (1 + d)^-(t+1)), or each year's at the year's end ("annual":
  (1 + i)^-(y+1)); ``discount_factor`` in monthly.parquet holds the factor.
* cxsim's ``lifetime_value_by_segment`` is what that NPV counts for one customer: each period's
  margin at its end while the customer was there at its start (``timing="arrears"`` here),
  m / (c + d) with monthly churn c and discount d. Paid in advance (``timing="start"``) the same
  customer is worth m (1 + d) / (c + d); paid only if still there at the end (``timing="end"``,
  Gupta and Lehmann's convention) m (1 - c) / (c + d).
* Rates are per period: monthly in cxsim; the functions take any period (Gupta and Lehmann use
  years) as long as margin, retention and discount rate share it.
"""

from __future__ import annotations

import math

import numpy as np

from sim.contact_centre.erlang import (
    agents_for_service_level,
    erlang_b,
    erlang_c,
    erlang_c_metrics,
)
from sim.contact_centre.erlang_a import (
    erlang_a_metrics,
    erlang_a_p_abandon,
    erlang_a_p_wait,
)

__all__ = ["erlang_b", "erlang_c", "erlang_c_metrics", "agents_for_service_level", "erlang_a_p_wait",
           "erlang_a_p_abandon", "erlang_a_metrics", "bass_closed_form", "bass_discrete", "bass_peak_time",
           "geometric_survival", "expected_lifetime", "median_lifetime", "lifetime_value", "margin_multiple"]


def _rate(name: str, value: float, low: float = 0.0, high: float = math.inf, open_low: bool = False) -> float:
    v = float(value)
    if not math.isfinite(v) or v < low or v > high or (open_low and v == low):
        bound = f"({low}" if open_low else f"[{low}"
        raise ValueError(f"{name}={value!r} is not allowed: a number in {bound}, {high}]")
    return v


def bass_closed_form(t, p: float, q: float):
    """Bass (1969): the adopted share at time t (periods), F = (1 - e^-(p+q)t) / (1 + (q/p) e^-(p+q)t),
    the solution of dF/dt = (1 - F)(p + q F) from F(0) = 0."""
    p, q = _rate("p", p, open_low=True), _rate("q", q)
    e = np.exp(-(p + q) * np.asarray(t, dtype=float))
    return (1.0 - e) / (1.0 + (q / p) * e)


def bass_peak_time(p: float, q: float) -> float:
    """When adoptions per period peak on the continuous curve: ln(q/p) / (p + q) (0 if q <= p)."""
    p, q = _rate("p", p, open_low=True), _rate("q", q)
    return max(0.0, math.log(q / p) / (p + q)) if q > 0 else 0.0


def bass_discrete(p: float, q: float, periods: int, start: float = 0.0) -> np.ndarray:
    """The adopted share F_0..F_periods under cxsim's own monthly rule (sim/modules/adoption.py, fully
    mixed, no trust gate): each non-adopter adopts with probability 1 - exp(-(p + q F_t)), F_t being
    the share at the start of the month, so F_{t+1} = 1 - (1 - F_t) exp(-(p + q F_t)). Its gap to
    ``bass_closed_form`` is the cost of taking the imitation share once a month."""
    p, q, start = _rate("p", p), _rate("q", q), _rate("start", start, high=1.0)
    if isinstance(periods, bool) or not isinstance(periods, int) or periods < 0:
        raise ValueError(f"periods={periods!r} is not allowed: an integer >= 0")
    f = np.empty(periods + 1)
    f[0] = start
    for t in range(periods):
        f[t + 1] = 1.0 - (1.0 - f[t]) * math.exp(-(p + q * f[t]))
    return f


def geometric_survival(churn: float, periods) -> np.ndarray:
    """Share still a customer after t periods under a constant churn probability c: (1 - c)^t."""
    c = _rate("churn", churn, high=1.0)
    return (1.0 - c) ** np.asarray(periods, dtype=float)


def expected_lifetime(churn: float) -> float:
    """Mean periods a customer stays when each period it leaves with probability c: 1 / c
    (counting the period it leaves in; inf when c = 0)."""
    c = _rate("churn", churn, high=1.0)
    return math.inf if c == 0 else 1.0 / c


def median_lifetime(churn: float) -> float:
    """Periods until half of a cohort has left when each period it leaves with probability c:
    the smallest t with (1 - c)^t <= 1/2, i.e. ceil(ln 2 / -ln(1 - c)) (inf when c = 0)."""
    c = _rate("churn", churn, high=1.0)
    if c == 0:
        return math.inf
    if c == 1:
        return 1.0
    return float(math.ceil(math.log(2.0) / -math.log1p(-c) - 1e-9))


def lifetime_value(margin: float, retention: float, discount: float, horizon: int | None = None,
                   timing: str = "start") -> float:
    """A customer's discounted value: margin m each period while they stay (retention r per period),
    discounted at rate i per period, over ``horizon`` periods (None: for ever).

    timing="start": the t-th margin (t = 0, 1, ...) is paid at the start of period t, discounted
    by (1 + i)^-t; for ever that is m (1 + i) / (1 + i - r), cxsim's ``lifetime_value_by_segment``.
    timing="end": paid at the end of period t+1 and only if the customer is still there then
    (Gupta and Lehmann's convention): m r / (1 + i - r) for ever, i.e. m x ``margin_multiple``.
    timing="arrears": paid at the end of period t by every customer there at its start, discounted
    by (1 + i)^-(t+1): m / (1 + i - r) for ever. This is how cxsim books profit, so it is the form
    of ``lifetime_value_by_segment`` and of NPV (``discount_factor``).
    """
    m = float(margin)
    r = _rate("retention", retention, high=1.0)
    i = _rate("discount", discount)
    if timing not in ("start", "end", "arrears"):
        raise ValueError(f"timing={timing!r} is not allowed: 'start', 'end' or 'arrears'")
    x = r / (1.0 + i)  # each period's value relative to the one before
    if horizon is None:
        if x >= 1.0:
            return math.inf if m > 0 else (0.0 if m == 0 else -math.inf)
        total = 1.0 / (1.0 - x)
    else:
        if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 0:
            raise ValueError(f"horizon={horizon!r} is not allowed: an integer >= 0, or None for ever")
        total = float(horizon) if x == 1.0 else (1.0 - x**horizon) / (1.0 - x)
    if timing == "start":
        return m * total
    return m * x * total if timing == "end" else m * total / (1.0 + i)


def margin_multiple(retention: float, discount: float) -> float:
    """Gupta and Lehmann's margin multiple r / (1 + i - r): lifetime value over the yearly margin
    (margins at the end of each year, constant retention r and discount rate i)."""
    return lifetime_value(1.0, retention, discount, timing="end")
