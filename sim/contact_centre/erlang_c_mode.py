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
from sim.kernels import COMPILED, binomials
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
        cc, month = self.cfg, ms.month
        rows = np.flatnonzero(ms.phone_calls != 0)
        slots = ms.act[rows]
        first = ms.phone_calls[rows]
        u_fcr = model.pop.uniform("contact_centre.resolution", month, slots)
        p_unresolved = 1.0 - cc.p_first_contact_resolution
        if COMPILED:
            unresolved = np.empty(len(u_fcr), dtype=np.int32)
            binomials(u_fcr, first, float(p_unresolved), unresolved)
        else:
            unresolved = binomial_icdf(u_fcr, first, p_unresolved)
        total = first + unresolved
        ms.phone_calls_total[rows] = total
        n_calls_agents = int(total.sum())
        w = model.customers_per_agent
        n_calls = n_calls_agents * w  # the firm's calls
        arrival_rate = n_calls / (cc.dur_open_hours_month * 3600.0)
        n_agents = self.staffed_agents(arrival_rate)
        metrics = erlang_c_metrics(arrival_rate, cc.dur_handle_s, n_agents, cc.dur_answer_threshold_s)
        u_wait = model.pop.uniform("contact_centre.wait", month, slots)
        waits = wait_quantile(u_wait, metrics, cc.dur_max_wait_s)

        per_call = self.phone.sat_experience - cc.sat_wait_penalty_per_min * waits / 60.0
        ms.touch_sum[rows] += (total * per_call + ms.phone_offset_sum[rows]
                               - unresolved * cc.sat_unresolved_penalty)
        ms.touch_n[rows] += unresolved  # first contacts were counted when the channel was chosen

        k = ms.kpis
        n_first = int(first.sum())
        k["calls_offered"] = n_calls
        n_repeat = int(unresolved.sum())
        k["calls_repeat"] = n_repeat * w
        k["agents_staffed"] = n_agents
        k["asa_s"] = min(metrics.mean_wait_s, cc.dur_max_wait_s) if n_calls else 0.0
        k["p_wait"] = metrics.p_wait if n_calls else 0.0
        k["service_level"] = metrics.service_level if n_calls else 1.0
        k["occupancy"] = metrics.occupancy
        k["fcr"] = 1.0 - n_repeat / n_first if n_first else 1.0
        k["queue_overloaded"] = int(not metrics.stable)
        k["caller_wait_mean_s"] = float(waits.mean()) if len(waits) else 0.0
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
