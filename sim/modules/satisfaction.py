"""Satisfaction on the 0-10 recommend scale, moved by experience against expectation.

A month with touches gives one experience score per customer (the mean over their touches,
plus customer-level noise). Satisfaction moves by the gap to expectation, with losses weighted
more than gains, both scaled by the customer's own sensitivity (heterogeneous around 1);
expectation then closes part of the gap (customers get used to what they get).
Every month satisfaction drifts a little toward the customer's baseline: their own disposition
(their starting satisfaction, so the spread of the base persists), lifted by the behaviours they
show.
"""

from __future__ import annotations

import numpy as np

from sim.kernels import CHUNK, COMPILED, NDTRI_COMPILED, chunked, n_chunks, normal_at, prange, shows, uniform_at
from sim.rng import normal_icdf

# NPS classes on the recommend scale: 9-10 promoter, 7-8 passive, 0-6 detractor
PROMOTER_MIN = 9.0
DETRACTOR_BELOW = 7.0


class Satisfaction:
    name = "satisfaction"

    def __init__(self, model):
        self.cfg = model.cfg.satisfaction
        self.refresh(model)

    def refresh(self, model) -> None:
        """Re-read the anti-abuse policy (a programme can relax it)."""
        abuse = model.cfg.abuse
        # anti-abuse verification is effort on every touch, for everybody
        self.policy_effort = abuse.p_strictness * abuse.sat_effort_full_strictness if abuse.enabled else 0.0

    def step(self, model, ms) -> None:
        if not (COMPILED and NDTRI_COMPILED):
            return self.step_numpy(model, ms)
        cfg, pop, act = self.cfg, model.pop, ms.act
        rows = ms.touched()
        experience_sum = _satisfaction_kernel(
            act, rows, ms.touch_sum, ms.touch_n, float(self.policy_effort), float(cfg.sat_experience_noise_sd),
            np.uint64(model.streams.key("satisfaction.noise", ms.month)), pop.uid, ms.experience, np.empty(len(rows)),
            pop.satisfaction, pop.expectation, pop.rel_sat_sensitivity, float(cfg.rel_gain), float(cfg.rel_loss),
            float(cfg.rate_expectation_adapt))
        _drift_kernel(act, pop.satisfaction, pop.sat_baseline, pop.adoption, len(pop.behaviour_names),
                      float(cfg.sat_bonus_per_behaviour), float(cfg.rate_drift))
        ms.kpis["customers_touched"] = len(rows)
        ms.kpis["experience_mean"] = experience_sum / len(rows) if len(rows) else 0.0  # no touch: 0, never NaN

    def step_numpy(self, model, ms) -> None:
        """The reference the kernel must match."""
        cfg, pop = self.cfg, model.pop
        act = ms.act
        rows = ms.touched()
        slots = act[rows]
        experience = ms.touch_sum[rows].astype(np.float64) / ms.touch_n[rows]
        if self.policy_effort:
            experience = experience - self.policy_effort
        if cfg.sat_experience_noise_sd > 0:
            u = pop.uniform("satisfaction.noise", ms.month, slots)
            experience = experience + cfg.sat_experience_noise_sd * normal_icdf(u)
        experience = np.clip(experience, 0.0, 10.0)
        ms.experience[rows] = experience
        sat = pop.satisfaction
        exp = pop.expectation
        gap = experience - exp[slots].astype(np.float64)
        sat[slots] += np.where(gap > 0, cfg.rel_gain, cfg.rel_loss) * pop.rel_sat_sensitivity[slots] * gap
        exp[slots] += cfg.rate_expectation_adapt * gap
        baseline = pop.sat_baseline[act] + cfg.sat_bonus_per_behaviour * pop.shows_matrix(act).sum(axis=1)
        sat[act] += cfg.rate_drift * (baseline - sat[act])
        np.clip(sat, 0.0, 10.0, out=sat)
        ms.kpis["customers_touched"] = len(rows)
        ms.kpis["experience_mean"] = float(experience.mean()) if len(rows) else 0.0  # no touch: 0, never NaN


@chunked
def _satisfaction_kernel(act, rows, touch_sum, touch_n, policy_effort, noise_sd, noise_key, uid, experience_out,
                         experience_of_row, satisfaction, expectation, rel_sensitivity, rel_gain, rel_loss, rate_adapt):
    """The touched customers' part of Satisfaction.step_numpy one customer at a time, in chunks of
    them on several cores (each customer's own row); returns the sum of the month's experiences,
    added in row order afterwards from ``experience_of_row`` (float64, as computed: the float32
    copy kept for the month would round them). _drift_kernel does the rest."""
    n = rows.shape[0]
    for c in prange(n_chunks(n)):
        for r in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            i = rows[r]
            slot = act[i]
            experience = touch_sum[i] / touch_n[i]
            if policy_effort != 0.0:
                experience = experience - policy_effort
            if noise_sd > 0:  # scipy's normal quantile (normal_at), so the noise is the reference's to the bit
                experience = experience + noise_sd * normal_at(uniform_at(noise_key, uid[slot]))
            experience = min(max(experience, 0.0), 10.0)
            experience_out[i] = experience
            experience_of_row[r] = experience
            gap = experience - expectation[slot]
            coefficient = rel_gain if gap > 0 else rel_loss
            satisfaction[slot] += coefficient * rel_sensitivity[slot] * gap
            expectation[slot] += rate_adapt * gap
    experience_sum = 0.0
    for r in range(n):
        experience_sum += experience_of_row[r]
    return experience_sum


@chunked
def _drift_kernel(act, satisfaction, sat_baseline, adopted, n_behaviours, bonus_per_behaviour, rate_drift):
    """Every customer's drift toward their baseline, as Satisfaction.step_numpy, in chunks on
    several cores (each customer's own row: nothing to join)."""
    n = act.shape[0]
    for c in prange(n_chunks(n)):
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            slot = act[i]
            shown = 0
            if bonus_per_behaviour != 0.0:  # 0 x shown adds nothing: no need to count them
                for b in range(n_behaviours):
                    if shows(adopted[slot], b):
                        shown += 1
            sat = satisfaction[slot]
            sat += rate_drift * (sat_baseline[slot] + bonus_per_behaviour * shown - sat)
            satisfaction[slot] = min(max(sat, 0.0), 10.0)
