"""Each need picks a channel; failed self-service spills into the phone queue.

Choice is a categorical draw over channel weights: the need type's base weights, tilted by the
customer's digital affinity (digital channels up, phone and mail down) and multiplied by the
behaviours they show (e.g. "uses self-service first"). All occurrences of one need type in a
month use one channel: a customer with a billing question asks it the same way twice in a month.
"""

from __future__ import annotations

import numpy as np

from sim.config import CHANNELS
from sim.kernels import CHUNK, COMPILED, binomial_at, chunked, n_chunks, prange, shows, uniform_at
from sim.population import flag_of
from sim.rng import binomial_icdf

SELF_SERVICE = CHANNELS.index("self_service")
PHONE = CHANNELS.index("phone")
_DIGITAL_SIGN = np.array([1.0 if c in ("self_service", "email", "chat") else -1.0 for c in CHANNELS])


class Channels:
    name = "channels"

    def __init__(self, model):
        self.need_names = model.needs_module.names
        self.refresh(model)

    def refresh(self, model) -> None:
        """Re-read parameters (programmes change them between months)."""
        cfg = model.cfg
        needs = [cfg.needs.types[n] for n in self.need_names]
        self.base_weights = np.array([[n.channel_weights.get(c, 0.0) for c in CHANNELS] for n in needs])
        self.need_offset = np.array([n.sat_experience_offset for n in needs])
        self.p_ss_fail = np.array([n.p_self_service_fail for n in needs])
        chans = cfg.channels.channels
        self.experience = np.array([chans[c].sat_experience for c in CHANNELS])
        self.ss_fail_experience = cfg.channels.sat_experience_self_service_fail
        self.tilt = cfg.channels.rel_digital_tilt
        behaviours = [cfg.adoption.behaviours[b] for b in model.pop.behaviour_names]
        self.rel_channel = np.array([[b.rel_channel.get(c, 1.0) for c in CHANNELS] for b in behaviours])
        self.rel_channel = self.rel_channel.reshape(len(behaviours), len(CHANNELS))
        self.behaviours_with_effect = np.flatnonzero((self.rel_channel != 1.0).any(axis=1))

    def customer_weights(self, model, act: np.ndarray) -> np.ndarray:
        """(n_act, n_channels) multipliers on the need type's base weights."""
        pop = model.pop
        aff = pop.digital_affinity[act].astype(np.float64)
        w = np.exp(np.outer(self.tilt * (aff - 0.5), _DIGITAL_SIGN))
        if len(self.behaviours_with_effect):
            flags = pop.adoption[act]
            for b in self.behaviours_with_effect:
                w[flag_of(flags, b)] *= self.rel_channel[b]
        return w

    def step(self, model, ms) -> None:
        if not COMPILED:
            return self.step_numpy(model, ms)
        pop, streams, month = model.pop, model.streams, ms.month
        keys = np.array([[streams.key(f"channels.{need}", month), streams.key(f"channels.{need}.ss_fail", month)]
                         for need in self.need_names], dtype=np.uint64).reshape(len(self.need_names), 2)
        totals = np.zeros(len(CHANNELS), dtype=np.int64)  # contacts per channel, summed by the kernel
        spilled = _channels_kernel(ms.act, pop.uid, ms.needs, pop.digital_affinity, pop.adoption, float(self.tilt),
                                   _DIGITAL_SIGN, self.behaviours_with_effect, self.rel_channel, self.base_weights,
                                   self.need_offset, self.p_ss_fail, self.experience, float(self.ss_fail_experience),
                                   keys, ms.contacts, ms.phone_calls, ms.phone_offset_sum, ms.touch_sum, ms.touch_n,
                                   totals)
        for c, channel in enumerate(CHANNELS):
            ms.kpis[f"contacts_{channel}"] = int(totals[c])
        ms.kpis["self_service_spills"] = int(spilled)

    def step_numpy(self, model, ms) -> None:
        """The reference the kernel must match."""
        month = ms.month
        rows_any = np.flatnonzero(ms.needs.sum(axis=1))
        if len(rows_any) == 0:
            return
        cust_w = self.customer_weights(model, ms.act[rows_any])
        row_pos = np.full(ms.n_act, -1)
        row_pos[rows_any] = np.arange(len(rows_any))
        spilled = 0
        for j, need in enumerate(self.need_names):
            rows = np.flatnonzero(ms.needs[:, j])
            if len(rows) == 0:
                continue
            slots = ms.act[rows]
            n = ms.needs[rows, j].astype(np.int64)  # sums of counts below outgrow the byte a count is held in
            w = cust_w[row_pos[rows]] * self.base_weights[j]
            cum = np.cumsum(w, axis=1)
            u = model.pop.uniform(f"channels.{need}", month, slots) * cum[:, -1]
            choice = np.zeros(len(rows), dtype=np.intp)
            for c in range(len(CHANNELS) - 1):  # the last channel takes whatever is left
                choice += u >= cum[:, c]
            ms.contacts[rows, choice] += n
            off = self.need_offset[j]

            ss = choice == SELF_SERVICE
            u_fail = model.pop.uniform(f"channels.{need}.ss_fail", month, slots[ss])
            fails = binomial_icdf(u_fail, n[ss], self.p_ss_fail[j])
            spilled += int(fails.sum())
            to_phone = np.where(choice == PHONE, n, 0)
            to_phone[ss] += fails
            ms.phone_calls[rows] += to_phone
            ms.phone_offset_sum[rows] += to_phone * off
            # non-phone touches are scored here; phone touches once their waits are known
            direct = np.where(choice == PHONE, 0, n)
            score = direct * (self.experience[choice] + off)
            score[ss] += fails * (self.ss_fail_experience - self.experience[SELF_SERVICE])
            ms.touch_sum[rows] += score
            ms.touch_n[rows] += direct + to_phone
        for c, channel in enumerate(CHANNELS):
            ms.kpis[f"contacts_{channel}"] = int(ms.contacts[:, c].sum())
        ms.kpis["self_service_spills"] = spilled


@chunked
def _channels_kernel(act, uid, needs, affinity, adopted, tilt, digital_sign, behaviours_with_effect, rel_channel,
                     base_weights, need_offset, p_ss_fail, experience, ss_fail_experience, keys,
                     contacts, phone_calls, phone_offset_sum, touch_sum, touch_n, totals):
    """Channels.step_numpy one customer at a time, in chunks on several cores; each chunk's
    contacts per channel and self-service spills are joined in chunk order. Returns the spills."""
    n_needs, n_channels = base_weights.shape
    n = act.shape[0]
    # each chunk's own scratch and totals (an array made inside the parallel loop may be hoisted
    # out of it and shared)
    w_of = np.empty((n_chunks(n), n_channels))
    cum_of = np.empty((n_chunks(n), n_channels))
    chunk_totals = np.zeros((n_chunks(n), n_channels), dtype=np.int64)
    chunk_spilled = np.zeros(n_chunks(n), dtype=np.int64)
    for ch in prange(n_chunks(n)):
        w = w_of[ch]
        cum = cum_of[ch]
        for i in range(ch * CHUNK, min(n, (ch + 1) * CHUNK)):
            any_need = False
            for j in range(n_needs):
                if needs[i, j] != 0:
                    any_need = True
                    break
            if not any_need:
                continue
            slot = act[i]
            lean = tilt * (affinity[slot] - 0.5)
            # the signs are +1 or -1, so two exps give all five weights (x * 1.0 and x * -1.0 are exact)
            towards, away = np.exp(lean), np.exp(-lean)
            for c in range(n_channels):
                w[c] = towards if digital_sign[c] > 0.0 else away
            for b in behaviours_with_effect:
                if shows(adopted[slot], b):
                    for c in range(n_channels):
                        w[c] *= rel_channel[b, c]
            for j in range(n_needs):
                k = needs[i, j]
                if k == 0:
                    continue
                total = 0.0
                for c in range(n_channels):
                    total += w[c] * base_weights[j, c]
                    cum[c] = total
                u = uniform_at(keys[j, 0], uid[slot]) * cum[n_channels - 1]
                choice = 0
                for c in range(n_channels - 1):  # the last channel takes whatever is left
                    if u >= cum[c]:
                        choice += 1
                contacts[i, choice] += k
                chunk_totals[ch, choice] += k
                off = need_offset[j]
                fails = 0
                if choice == SELF_SERVICE:
                    fails = binomial_at(uniform_at(keys[j, 1], uid[slot]), k, p_ss_fail[j])
                    chunk_spilled[ch] += fails
                to_phone = k if choice == PHONE else fails
                phone_calls[i] += to_phone
                phone_offset_sum[i] += to_phone * off
                direct = 0 if choice == PHONE else k
                score = direct * (experience[choice] + off)
                if choice == SELF_SERVICE:
                    score += fails * (ss_fail_experience - experience[SELF_SERVICE])
                touch_sum[i] += score
                touch_n[i] += direct + to_phone
    spilled = 0
    for ch in range(chunk_totals.shape[0]):
        for c in range(n_channels):
            totals[c] += chunk_totals[ch, c]
        spilled += chunk_spilled[ch]
    return spilled
