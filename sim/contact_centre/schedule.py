"""Calendar, arrival profile and staffing schedule of the discrete-event contact centre.

* Calendar: a month is 30 days; day d of month m is weekday (30 m + d) mod 7 (0 = Monday), so
  month 0 starts on a Monday and each month starts two weekdays later than the one before. A day
  is open when its ``rel_weekday`` weight is positive. Open days are numbered 0..n-1 ("business
  days"); business time runs only while the line is open, day b covering [b H, (b + 1) H) with
  H the open hours of a day. Open days with equal weight are one *day type*: they share a
  forecast and a staffing plan, and the representative-day approximation simulates one of each.
* Arrival profile: a call's day is drawn with probability proportional to the day's weight and
  its time of day from the piecewise-constant ``rel_intraday`` rate, both by inverse CDF of the
  caller's own uniforms.
* Staffing: a head count per (open day, interval). Derived (default) from the interval's forecast
  load exactly as the fast mode staffs its month: the fewest agents whose Erlang C service level
  reaches the target, times ``rel_staffing``, rounded up, at least one while calls are expected.
  Or given explicitly per interval (``agents_per_interval``, also times ``rel_staffing``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.contact_centre.erlang import agents_for_service_level
from sim.kernels import COMPILED, inline, kernel

DAYS_PER_MONTH = 30
SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True)
class MonthCalendar:
    month: int
    day_of_month: np.ndarray  # (n_open,) calendar day 0..29 of each business day
    weekday: np.ndarray  # (n_open,) 0 = Monday
    weight: np.ndarray  # (n_open,) rel_weekday of the day
    day_type: np.ndarray  # (n_open,) index into type_weights
    type_weights: np.ndarray  # distinct weights, one per day type
    p_day: np.ndarray  # (n_open,) share of the month's first calls falling on each business day

    @property
    def n_open(self) -> int:
        return len(self.day_of_month)


class Profile:
    """Open hours, intervals and the calendar of the discrete-event centre."""

    def __init__(self, cc):
        self.interval_s = float(cc.dur_interval_min) * 60.0
        rates = np.asarray(cc.rel_intraday, dtype=np.float64)
        self.n_intervals = len(rates)
        self.day_s = self.n_intervals * self.interval_s  # H: open seconds per day
        self.p_interval = rates / rates.sum()
        cum = np.concatenate([[0.0], np.cumsum(self.p_interval)])
        cum[-1] = 1.0
        self._cum = cum
        self.rel_weekday = np.asarray(cc.rel_weekday, dtype=np.float64)
        # intervals covering the whole day: the line never closes at night
        self.open_all_day = self.day_s >= SECONDS_PER_DAY

    def calendar(self, month: int) -> MonthCalendar:
        days = np.arange(DAYS_PER_MONTH)
        weekday = (DAYS_PER_MONTH * month + days) % 7
        weight = self.rel_weekday[weekday]
        open_ = weight > 0
        weight = weight[open_]
        type_weights, day_type = np.unique(weight, return_inverse=True)
        return MonthCalendar(month, days[open_], weekday[open_], weight, day_type, type_weights,
                             weight / weight.sum())

    def time_of_day(self, u: np.ndarray) -> np.ndarray:
        """Seconds after opening for uniforms ``u``: inverse CDF of the intraday profile."""
        u = np.asarray(u, dtype=np.float64)
        if COMPILED and u.ndim == 1:  # one pass instead of a dozen over a month's calls (100k at 1M)
            out = np.empty(len(u))
            _time_of_day_kernel(self._cum, self.p_interval, self.interval_s, u, out)
            return out
        i = np.clip(np.searchsorted(self._cum, u, side="right") - 1, 0, self.n_intervals - 1)
        p = self.p_interval[i]
        frac = np.where(p > 0, (u - self._cum[i]) / np.where(p > 0, p, 1.0), 0.0)
        return (i + np.clip(frac, 0.0, 1.0 - 1e-12)) * self.interval_s

    def interval_of(self, tod: np.ndarray) -> np.ndarray:
        return np.clip((np.asarray(tod) // self.interval_s).astype(np.int64), 0, self.n_intervals - 1)

    @staticmethod
    def pick_day(u: np.ndarray, cal: MonthCalendar) -> np.ndarray:
        """Business day for uniforms ``u``, with probability ``cal.p_day``."""
        cum = np.cumsum(cal.p_day)
        cum[-1] = 1.0
        if COMPILED and np.ndim(u) == 1:
            out = np.empty(len(u), dtype=np.int64)
            _pick_day_kernel(cum, np.asarray(u, dtype=np.float64), out)
            return out
        return np.minimum(np.searchsorted(cum, u, side="right"), cal.n_open - 1)


def staffing(cc, profile: Profile, cal: MonthCalendar, calls_forecast: float) -> np.ndarray:
    """Agents per (business day, interval), an int array of shape (n_open, n_intervals)."""
    n_int = profile.n_intervals
    if len(cc.agents_per_interval):
        base = np.asarray(cc.agents_per_interval, dtype=np.float64)
        heads = np.ceil(base * cc.rel_staffing - 1e-9).astype(np.int64)
        return np.broadcast_to(heads, (cal.n_open, n_int)).copy()
    heads = np.zeros((cal.n_open, n_int), dtype=np.int64)
    per_type = {}
    for t, w in enumerate(cal.type_weights):
        p_day = w / cal.weight.sum()
        row = np.zeros(n_int, dtype=np.int64)
        for i in range(n_int):
            rate = calls_forecast * p_day * profile.p_interval[i] / profile.interval_s
            if rate <= 0:
                continue
            needed = agents_for_service_level(rate, cc.dur_handle_s, cc.dur_answer_threshold_s,
                                              cc.p_service_level_target)
            row[i] = max(1, int(math.ceil(needed * cc.rel_staffing - 1e-9)))
        per_type[t] = row
    for b in range(cal.n_open):
        heads[b] = per_type[cal.day_type[b]]
    return heads


@inline
def _count_at_or_below(cum, x):
    """np.searchsorted(cum, x, side="right") for one x: how many entries of sorted ``cum`` are <= x."""
    lo, hi = 0, cum.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[mid] <= x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@kernel
def _time_of_day_kernel(cum, p_interval, interval_s, u, out):
    """Profile.time_of_day's numpy expression, one call at a time."""
    last = p_interval.shape[0] - 1
    for k in range(u.shape[0]):
        i = min(max(_count_at_or_below(cum, u[k]) - 1, 0), last)
        p = p_interval[i]
        frac = (u[k] - cum[i]) / p if p > 0 else 0.0
        out[k] = (i + min(max(frac, 0.0), 1.0 - 1e-12)) * interval_s


@kernel
def _pick_day_kernel(cum, u, out):
    """Profile.pick_day's numpy expression, one call at a time."""
    last = cum.shape[0] - 1
    for k in range(u.shape[0]):
        out[k] = min(_count_at_or_below(cum, u[k]), last)
