"""Adoption campaigns and incentives (e-billing, autopay, budget billing, smart meters, load
control): besides the usual effects (usually a higher ``rel_incentive`` on the behaviour), each
new adopter of the named behaviour (each real customer an adopting agent stands for) is paid
for while the campaign runs (an incentive, a device and its installation)."""

from __future__ import annotations

import numpy as np

from sim.interventions.base import Intervention


class AdoptionCampaign(Intervention):
    def spend(self, model, ms) -> float:
        cost = super().spend(model, ms)
        if self.running(ms.run_month) and self.cfg.cost_per_new_adopter:
            new = ms.new_adopters.get(self.cfg.behaviour, np.empty(0, dtype=np.int64))
            if self.targeted:  # only the targeted segments' adopters are paid the incentive
                new = new[np.isin(model.pop.segment[new], self.segment_codes(model))]
            cost += self.cfg.cost_per_new_adopter * len(new) * model.customers_per_agent
        return cost
