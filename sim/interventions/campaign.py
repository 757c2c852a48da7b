"""Adoption campaigns and incentives (e-billing, autopay, budget billing, smart meters, load
control): besides the usual effects (usually a higher ``rel_incentive`` on the behaviour), each
new adopter of the named behaviour is paid for while the campaign runs (an incentive, a device
and its installation)."""

from __future__ import annotations

from sim.interventions.base import Intervention


class AdoptionCampaign(Intervention):
    def spend(self, model, ms) -> float:
        cost = super().spend(model, ms)
        if self.running(ms.month) and self.cfg.cost_per_new_adopter:
            cost += self.cfg.cost_per_new_adopter * ms.kpis.get(f"new_adopt_{self.cfg.behaviour}", 0)
        return cost
