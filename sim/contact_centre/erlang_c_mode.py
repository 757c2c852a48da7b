"""Fast contact-centre mode: the month's phone load served by an Erlang C (M/M/c) queue.

Calls are spread evenly over the staffed hours, so the month is one stationary queue,
staffed by workforce planning to a service-level target; each
caller's wait is a draw from that queue's waiting-time distribution using their own stream
(customer-keyed, so paired scenarios stay paired). Repeat calls for unresolved issues add to
the load before the queue is solved, because they wait in the same queue.

The queue is the firm's: its load is the agents' calls times the customers each agent stands
for, and it is staffed in whole people for that load. Call counts are reported at firm scale.
"""

from __future__ import annotations

import math

import numpy as np

from sim.contact_centre import rostered_agents
from sim.contact_centre.erlang import (
    agents_for_service_level,
    erlang_c_metrics,
    wait_quantile,
)
from sim.kernels import (
    CHUNK,
    COMPILED,
    binomial_at,
    chunked,
    kernel,
    n_chunks,
    prange,
    uniform_at,
)
from sim.rng import binomial_icdf


class ErlangCContactCentre:
    name = "contact_centre"

    def __init__(self, model):
        self.cfg = model.cfg.contact_centre
        self.phone = model.cfg.channels.channels["phone"]  # live: programmes may change it

    def staffed_agents(self, arrival_rate_per_s: float) -> int:
        """Workforce planning with a perfect forecast of the month's load, scaled by rel_staffing.

        At least one agent keeps the line open; under-staffing (rel_staffing < 1) is how a
        scenario makes the queue hurt.
        """
        cc = self.cfg
        needed = agents_for_service_level(arrival_rate_per_s, cc.dur_handle_s,
                                          cc.dur_answer_threshold_s, cc.p_service_level_target)
        return max(1, int(math.ceil(needed * cc.rel_staffing - 1e-9)))

    def step(self, model, ms) -> None:
        if not COMPILED:
            return self.step_numpy(model, ms)
        cc, month, uid = self.cfg, ms.month, model.pop.uid
        streams = model.streams
        # first pass: repeat calls, so the month's whole load is known before the queue is solved
        n_callers, n_first, n_repeat = _repeat_calls_kernel(
            ms.act, uid, ms.phone_calls, np.uint64(streams.key("contact_centre.resolution", month)),
            float(1.0 - cc.p_first_contact_resolution), ms.phone_calls_total)
        n_calls, metrics, n_agents = self._queue(model, n_first + n_repeat)
        # second pass: each caller's wait and what the calls did to their experience
        wait_sum = _waits_kernel(
            ms.act, uid, ms.phone_calls, ms.phone_calls_total, ms.phone_offset_sum, ms.touch_sum, ms.touch_n,
            np.uint64(streams.key("contact_centre.wait", month)), bool(metrics.stable), float(metrics.p_wait),
            float(metrics.decay_rate_per_s), float(cc.dur_max_wait_s), float(self.phone.sat_experience),
            float(cc.sat_wait_penalty_per_min), float(cc.sat_unresolved_penalty))
        self._report(model, ms.kpis, n_calls, metrics, n_agents, n_first, n_repeat,
                     wait_sum / n_callers if n_callers else 0.0)

    def step_numpy(self, model, ms) -> None:
        """The reference the kernels must match."""
        cc, month = self.cfg, ms.month
        rows = np.flatnonzero(ms.phone_calls != 0)
        slots = ms.act[rows]
        first = ms.phone_calls[rows]
        u_fcr = model.pop.uniform("contact_centre.resolution", month, slots)
        unresolved = binomial_icdf(u_fcr, first, 1.0 - cc.p_first_contact_resolution)
        total = first + unresolved
        ms.phone_calls_total[rows] = total
        n_calls, metrics, n_agents = self._queue(model, int(total.sum()))
        u_wait = model.pop.uniform("contact_centre.wait", month, slots)
        waits = wait_quantile(u_wait, metrics, cc.dur_max_wait_s)
        per_call = self.phone.sat_experience - cc.sat_wait_penalty_per_min * waits / 60.0
        ms.touch_sum[rows] += (total * per_call + ms.phone_offset_sum[rows]
                               - unresolved * cc.sat_unresolved_penalty)
        ms.touch_n[rows] += unresolved  # first contacts were counted when the channel was chosen
        self._report(model, ms.kpis, n_calls, metrics, n_agents, int(first.sum()), int(unresolved.sum()),
                     float(waits.mean()) if len(waits) else 0.0)

    def _queue(self, model, n_calls_agents: int):
        """The firm's calls, the queue that serves them and the agents staffed for it."""
        cc = self.cfg
        n_calls = n_calls_agents * model.customers_per_agent  # the firm's calls
        arrival_rate = n_calls / (cc.dur_open_hours_month * 3600.0)
        n_agents = self.staffed_agents(arrival_rate)
        metrics = erlang_c_metrics(arrival_rate, cc.dur_handle_s, n_agents, cc.dur_answer_threshold_s)
        return n_calls, metrics, n_agents

    def _report(self, model, k, n_calls, metrics, n_agents: int, n_first: int, n_repeat: int,
                caller_wait_mean_s: float) -> None:
        cc, w = self.cfg, model.customers_per_agent
        k["calls_offered"] = n_calls
        k["calls_repeat"] = n_repeat * w
        k["agents_staffed"] = n_agents
        k["asa_s"] = min(metrics.mean_wait_s, cc.dur_max_wait_s) if n_calls else 0.0
        k["p_wait"] = metrics.p_wait if n_calls else 0.0
        k["service_level"] = metrics.service_level if n_calls else 1.0
        k["occupancy"] = metrics.occupancy
        k["fcr"] = 1.0 - n_repeat / n_first if n_first else 1.0
        k["queue_overloaded"] = int(not metrics.stable)
        k["caller_wait_mean_s"] = caller_wait_mean_s
        # the columns the event mode also reports, so both modes share one table schema:
        # infinite patience and no IVR stage here, so nothing is abandoned, retried or contained
        k["calls_handled"] = n_calls
        k["calls_abandoned"] = k["calls_retried"] = k["calls_ivr_contained"] = 0
        k["calls_simulated"] = 0
        k["abandon_rate"] = k["abandon_within_threshold_rate"] = 0.0
        rostered = rostered_agents(n_agents, cc.p_shrinkage)
        k["agents_rostered"] = rostered
        k["agent_hours"] = float(n_agents * cc.dur_open_hours_month)
        k["agent_hours_rostered"] = float(rostered * cc.dur_open_hours_month)
        k["staffing_cost"] = k["agent_hours_rostered"] * cc.cost_per_agent_hour


@chunked
def _repeat_calls_kernel(act, uid, phone_calls, key, p_unresolved, phone_calls_total):
    """Each caller's repeat calls (binomial over their first calls, by their own uniform) into
    phone_calls_total; returns (callers, first calls, repeat calls). Chunks of customers run on
    several cores, each counting in its own slot; the counts are added in chunk order."""
    n = act.shape[0]
    counts = np.zeros((n_chunks(n), 3), dtype=np.int64)  # callers, first calls, repeat calls
    for c in prange(n_chunks(n)):
        callers = firsts = repeats = 0  # this chunk's
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            first = phone_calls[i]
            if first != 0:
                unresolved = binomial_at(uniform_at(key, uid[act[i]]), first, p_unresolved)
                phone_calls_total[i] = first + unresolved
                callers += 1
                firsts += first
                repeats += unresolved
        counts[c, 0], counts[c, 1], counts[c, 2] = callers, firsts, repeats
    n_callers = n_first = n_repeat = 0
    for c in range(counts.shape[0]):
        n_callers += counts[c, 0]
        n_first += counts[c, 1]
        n_repeat += counts[c, 2]
    return n_callers, n_first, n_repeat


@kernel
def _waits_kernel(act, uid, phone_calls, phone_calls_total, phone_offset_sum, touch_sum, touch_n, key, stable,
                  p_wait, decay, max_wait, sat_experience, penalty_per_min, unresolved_penalty):
    """Each caller's wait (sim.contact_centre.erlang.wait_quantile of their own uniform) and their
    calls' experience added to touch_sum; returns the sum of the waits."""
    wait_sum = 0.0
    for i in range(act.shape[0]):
        if phone_calls[i] == 0:
            continue
        if not stable:
            wait = max_wait
        elif p_wait <= 0.0:
            wait = 0.0
        else:
            u = uniform_at(key, uid[act[i]])
            wait = -np.log((1.0 - u) / p_wait) / decay if u >= 1.0 - p_wait else 0.0
            wait = min(max(wait, 0.0), max_wait)
        total = phone_calls_total[i]
        unresolved = total - phone_calls[i]
        per_call = sat_experience - penalty_per_min * wait / 60.0
        touch_sum[i] += total * per_call + phone_offset_sum[i] - unresolved * unresolved_penalty
        touch_n[i] += unresolved  # first contacts were counted when the channel was chosen
        wait_sum += wait
    return wait_sum
