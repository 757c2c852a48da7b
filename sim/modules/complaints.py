"""Complaints, service recovery (the RESOLVED steps) and root-cause elimination.

Triggers, per customer and month (segment propensity multiplies each):
  a month whose experience falls below ``sat_bad_experience``; each call not resolved at the
  first contact; each occurrence of a need type with its own ``p_complaint`` (an outage).
Handling: a complaint gets a response with ``p_respond``; a responded complaint recovers with
  p_recovery_max x mean(empathise, seek solution, open to customer's solution, listen, verify)
  x exp(-response days / scale). A recovery leaves the customer a little above their
  satisfaction before the month's failure (the recovery paradox: ``sat_recovery_paradox`` x
  (1 - severity), so severe failures get no lift), never below where they are; a failed or
  missing recovery costs satisfaction and raises churn hazard for some months.
Closed loop: with real-time feedback, a share of this month's touched detractors who did not
  complain are reached within ``dur_closed_loop_days`` and get the same recovery attempt (a
  failed attempt costs nothing: the customer was not promised anything).
Learning: each complaint is documented with ``p_document``; documented causes are eliminated
  with ``p_eliminate``; each eliminated complaint lowers its cause's need rate by
  ``rate_root_cause_per_1k`` per 1,000 customers, down to a floor. The cause of a complaint is
  the customer's need this month with the worst experience offset (process failure, outage...).
"""

from __future__ import annotations

import numpy as np

from sim.kernels import (
    CHUNK,
    COMPILED,
    all_fit,
    chunked,
    close_up,
    inline,
    kernel,
    listed_in_room,
    n_chunks,
    prange,
    uniform_at,
)
from sim.modules.satisfaction import DETRACTOR_BELOW

# complainers a chunk of touched customers has room for, on average (sim.kernels.room_per_chunk):
# above a month's share seen here (well under 1%); a month beyond it reruns the kernel with room for all
_COMPLAINERS_SHARE = 1 / 16


class Complaints:
    name = "complaints"

    def __init__(self, model):
        self.cfg = model.cfg.complaints
        self.need_names = model.needs_module.names
        self.refresh(model)

    def refresh(self, model) -> None:
        """Re-read parameters (programmes change them between months)."""
        cfg = model.cfg
        needs = [cfg.needs.types[n] for n in self.need_names]
        self.p_need = np.array([n.p_complaint for n in needs])
        # most negative offset first: the need a complaint is attributed to
        self.cause_order = np.argsort([n.sat_experience_offset for n in needs], kind="stable")
        c = self.cfg
        steps = [c.p_empathise, c.p_seek_solution, c.p_open_to_customer_solution, c.p_listen, c.p_verify]
        quality = c.p_recovery_max * float(np.mean(steps))
        self.p_recover = quality * float(np.exp(-c.dur_response_days / c.dur_response_scale_days))
        self.p_recover_closed_loop = quality * float(np.exp(-c.dur_closed_loop_days / c.dur_response_scale_days))

    def step(self, model, ms) -> None:
        c, pop, streams, k = self.cfg, model.pop, model.streams, ms.kpis
        # every trigger comes with a touch, so only touched customers can complain; the chance of
        # no complaint is multiplied over every trigger the customer met this month
        touched = ms.touched()
        experience = ms.experience[touched].astype(np.float64)
        k["customers_bad_experience"] = int(np.count_nonzero(experience < c.sat_bad_experience))
        if not c.enabled:
            self._report(model, k, 0, 0, 0, 0, 0)
            return
        act, month = ms.act, ms.month
        if COMPILED:
            key = np.uint64(streams.key("complaints.raise", month))

            def complainers(per_chunk, room):
                rows = np.empty(room, dtype=np.int64)
                n = _raise_kernel(touched, act, pop.uid, ms.experience, ms.phone_calls, ms.phone_calls_total,
                                  ms.needs, float(c.sat_bad_experience), float(1.0 - c.p_complain_bad_experience),
                                  float(1.0 - c.p_complain_unresolved), 1.0 - self.p_need, bool(self.p_need.any()),
                                  pop.segment, pop.seg_complaint, pop.rel_complaint, key, per_chunk, rows)
                return None if n < 0 else rows[:n]

            rows = listed_in_room(_COMPLAINERS_SHARE, len(touched), complainers)
            self._handle_compiled(model, ms, touched, rows)
            return
        p_none = np.ones(len(touched))
        p_none[experience < c.sat_bad_experience] *= 1.0 - c.p_complain_bad_experience
        unresolved = ms.phone_calls_total[touched] - ms.phone_calls[touched]
        p_none *= (1.0 - c.p_complain_unresolved) ** unresolved
        if self.p_need.any():
            p_none *= np.prod((1.0 - self.p_need) ** ms.needs[touched], axis=1)
        t_slots = act[touched]
        p_complain = (1.0 - p_none) * pop.seg_complaint[pop.segment[t_slots]] * pop.rel_complaint[t_slots]
        rows = touched[pop.uniform("complaints.raise", month, t_slots) < p_complain]
        slots = act[rows]

        responded = pop.uniform("complaints.respond", month, slots) < c.p_respond
        recovered = responded & (pop.uniform("complaints.recover", month, slots) < self.p_recover)
        sat = pop.satisfaction
        ok, failed = slots[recovered], slots[~recovered]
        before = ms.sat_start[rows[recovered]].astype(np.float64)
        sat[ok] = np.maximum(sat[ok], np.minimum(before + self.paradox_lift(before, sat[ok]), 10.0))
        sat[failed] = np.maximum(sat[failed] - c.sat_failed_recovery_penalty, 0.0)
        pop.recovery_failed_month[failed] = month

        reached, won_back = self._closed_loop(model, ms, rows)

        documented = pop.uniform("complaints.document", month, slots) < c.p_document
        eliminated = documented & (pop.uniform("complaints.eliminate", month, slots) < c.p_eliminate)
        cause = self._causes(ms.needs[rows])
        counts = np.bincount(cause[eliminated & (cause >= 0)], minlength=len(self.need_names))
        self._eliminate_causes(model, ms, counts)
        self._report(model, k, len(rows), int(documented.sum()), int(eliminated.sum()),
                     int(responded.sum()), int(recovered.sum()), reached, won_back)

    def _handle_compiled(self, model, ms, touched: np.ndarray, rows: np.ndarray) -> None:
        """The kernel path of step after the complaints are raised: response, recovery, the closed
        loop, documentation and elimination in two passes over the complainers and the touched,
        instead of some thirty numpy calls (a fixed cost of every month, whatever the base)."""
        c, pop, streams, month = self.cfg, model.pop, model.streams, ms.month
        keys = np.array([streams.key(f"complaints.{name}", month) for name in
                         ("respond", "recover", "document", "eliminate")], dtype=np.uint64)
        counts = np.zeros(len(self.need_names), dtype=np.int64)
        responded, recovered, documented, eliminated = _handle_kernel(
            rows, ms.act, pop.uid, ms.sat_start, pop.satisfaction, pop.recovery_failed_month, month, ms.needs,
            self.cause_order, keys, float(c.p_respond), float(self.p_recover), float(c.sat_recovery_paradox),
            np.float32(c.sat_failed_recovery_penalty), float(c.p_document), float(c.p_eliminate), counts)
        reached = won_back = 0
        if c.p_closed_loop_reach > 0:
            reached, won_back = _closed_loop_kernel(
                touched, rows, ms.act, pop.uid, ms.sat_start, pop.satisfaction, DETRACTOR_BELOW,
                np.uint64(streams.key("complaints.closed_loop.reach", month)),
                np.uint64(streams.key("complaints.closed_loop.recover", month)),
                float(c.p_closed_loop_reach), float(self.p_recover_closed_loop), float(c.sat_recovery_paradox))
        self._eliminate_causes(model, ms, counts)
        self._report(model, ms.kpis, len(rows), documented, eliminated, responded, recovered, reached, won_back)

    def _eliminate_causes(self, model, ms, counts: np.ndarray) -> None:
        """Eliminated causes lower their need types' rates (``counts``: eliminated complaints per need)."""
        c = self.cfg
        if c.root_cause_enabled and counts.any() and ms.n_act:
            per_1k = counts * 1000.0 / ms.n_act
            rel = model.needs_module.rel_root_cause
            rel[:] = np.maximum(rel * (1.0 - c.rate_root_cause_per_1k) ** per_1k, c.rel_root_cause_floor)

    def _closed_loop(self, model, ms, complained_rows: np.ndarray) -> tuple[int, int]:
        c, pop = self.cfg, model.pop
        if c.p_closed_loop_reach <= 0:
            return 0, 0
        detractor = ms.touch_n > 0
        detractor &= pop.satisfaction[ms.act].astype(np.float64) < DETRACTOR_BELOW
        detractor[complained_rows] = False
        rows = np.flatnonzero(detractor)
        slots = ms.act[rows]
        reached = pop.uniform("complaints.closed_loop.reach", ms.month, slots) < c.p_closed_loop_reach
        u = pop.uniform("complaints.closed_loop.recover", ms.month, slots)
        won = reached & (u < self.p_recover_closed_loop)
        sat = pop.satisfaction
        ok = slots[won]
        before = ms.sat_start[rows[won]].astype(np.float64)
        sat[ok] = np.maximum(sat[ok], np.minimum(before + self.paradox_lift(before, sat[ok]), 10.0))
        return int(reached.sum()), int(won.sum())

    def paradox_lift(self, before: np.ndarray, now: np.ndarray) -> np.ndarray:
        """How far above its pre-failure level a recovery leaves satisfaction: small, and less the
        worse the failure (severity = this month's fall on the 0-10 scale, as a share of 10)."""
        severity = np.clip((before - now) / 10.0, 0.0, 1.0)
        return self.cfg.sat_recovery_paradox * (1.0 - severity)

    def _report(self, model, k, complaints, documented, eliminated, attempted, succeeded,
                reached=0, won_back=0) -> None:
        k["complaints"] = complaints
        k["complaints_documented"] = documented
        k["complaints_causes_eliminated"] = eliminated
        k["recoveries_attempted"] = attempted
        k["recoveries_succeeded"] = succeeded
        k["closed_loop_reached"] = reached
        k["closed_loop_recovered"] = won_back
        for j, name in enumerate(self.need_names):
            k[f"rel_failure_{name}"] = float(model.needs_module.rel_root_cause[j])

    def _causes(self, needs: np.ndarray) -> np.ndarray:
        """Index of the worst need each complainer had this month (-1: none, e.g. only a wait)."""
        cause = np.full(len(needs), -1)
        for j in self.cause_order[::-1]:  # worst last, so it wins
            cause[needs[:, j] > 0] = j
        return cause


@inline
def _power_of_count(x, count):
    """x ** count for a count of 0 or more, as pow gives it."""
    if count == 0:
        return 1.0
    if count == 1:
        return x
    return x ** np.float64(count)


@chunked
def _raise_kernel(touched, act, uid, experience, phone_calls, phone_calls_total, needs, sat_bad, keep_bad, keep_unresolved,
                  keep_need, need_triggers, segment, seg_complaint, rel_complaint, key, per_chunk, rows):
    """Complaints.step's chance of complaining and its draw, one touched customer at a time
    (the reference's products in its order); fills ``rows`` with the complainers and returns how
    many, or -1 if a chunk's ``per_chunk`` entries did not hold its complainers. Chunks of the
    touched customers run on several cores, each listing its complainers in its own entries; the
    lists are joined in chunk order."""
    n_touched = touched.shape[0]
    listed = np.zeros(n_chunks(n_touched), dtype=np.int64)  # each chunk's complainers (-1: did not fit)
    for c in prange(n_chunks(n_touched)):
        start = c * per_chunk
        n = start
        for r in range(c * CHUNK, min(n_touched, (c + 1) * CHUNK)):
            i = touched[r]
            p_none = 1.0
            if experience[i] < sat_bad:
                p_none *= keep_bad
            # x ** 0 is 1 and x ** 1 is x exactly, so the usual counts need no call to pow
            p_none *= _power_of_count(keep_unresolved, phone_calls_total[i] - phone_calls[i])
            if need_triggers:
                keep = 1.0
                for j in range(keep_need.shape[0]):
                    keep *= _power_of_count(keep_need[j], needs[i, j])
                p_none *= keep
            slot = act[i]
            if uniform_at(key, uid[slot]) < (1.0 - p_none) * seg_complaint[segment[slot]] * rel_complaint[slot]:
                if n == start + per_chunk:
                    n = start - 1  # the sign that it did not fit
                    break
                rows[n] = i
                n += 1
        listed[c] = n - start
    if not all_fit(listed):
        return -1
    return close_up(listed, per_chunk, rows)


@inline
def _recovered_score(before, now, paradox):
    """Satisfaction after a recovery, as Complaints.paradox_lift and step compute it (float64)."""
    severity = (before - now) / 10.0
    if severity < 0.0:
        severity = 0.0
    elif severity > 1.0:
        severity = 1.0
    return np.maximum(now, np.minimum(before + paradox * (1.0 - severity), 10.0))


@inline
def _cause_of(needs, i, cause_order):
    """The complainer's worst need this month (first in cause_order they had), -1 for none."""
    for r in range(cause_order.shape[0]):
        j = cause_order[r]
        if needs[i, j] > 0:
            return j
    return -1


@kernel
def _handle_kernel(rows, act, uid, sat_start, satisfaction, recovery_failed_month, month, needs, cause_order, keys,
                   p_respond, p_recover, paradox, penalty, p_document, p_eliminate, eliminated_by_cause):
    """Response, recovery, documentation and elimination of each complaint (Complaints.step's
    reference, complainer by complainer: their slots are distinct, so the order is immaterial).
    Counts eliminated complaints per cause; returns (responded, recovered, documented, eliminated)."""
    n_responded = n_recovered = n_documented = n_eliminated = 0
    for r in range(rows.shape[0]):
        i = rows[r]
        slot = act[i]
        u_id = uid[slot]
        if uniform_at(keys[0], u_id) < p_respond:
            n_responded += 1
            if uniform_at(keys[1], u_id) < p_recover:
                n_recovered += 1
                satisfaction[slot] = _recovered_score(np.float64(sat_start[i]), np.float64(satisfaction[slot]),
                                                      paradox)
                recovered = True
            else:
                recovered = False
        else:
            recovered = False
        if not recovered:  # in 32 bits, as numpy subtracts a Python float from the 32-bit scores
            satisfaction[slot] = np.maximum(satisfaction[slot] - penalty, np.float32(0.0))
            recovery_failed_month[slot] = month
        if uniform_at(keys[2], u_id) < p_document:
            n_documented += 1
            if uniform_at(keys[3], u_id) < p_eliminate:
                n_eliminated += 1
                cause = _cause_of(needs, i, cause_order)
                if cause >= 0:
                    eliminated_by_cause[cause] += 1
    return n_responded, n_recovered, n_documented, n_eliminated


@kernel
def _closed_loop_kernel(touched, complained, act, uid, sat_start, satisfaction, detractor_below, key_reach,
                        key_recover, p_reach, p_recover, paradox):
    """The closed loop of Complaints._closed_loop: touched detractors who did not complain (both
    lists ascending), reached and recovered by their draws; returns (reached, recovered)."""
    n_reached = n_won = 0
    c = 0
    for r in range(touched.shape[0]):
        i = touched[r]
        while c < complained.shape[0] and complained[c] < i:
            c += 1
        if c < complained.shape[0] and complained[c] == i:
            continue
        slot = act[i]
        if not np.float64(satisfaction[slot]) < detractor_below:
            continue
        if uniform_at(key_reach, uid[slot]) < p_reach:
            n_reached += 1
            if uniform_at(key_recover, uid[slot]) < p_recover:
                n_won += 1
                satisfaction[slot] = _recovered_score(np.float64(sat_start[i]), np.float64(satisfaction[slot]),
                                                      paradox)
    return n_reached, n_won
