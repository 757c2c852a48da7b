"""Programme families by the ``kind`` name a config uses."""

from sim.interventions.base import Intervention
from sim.interventions.campaign import AdoptionCampaign

KINDS = {
    "programme": Intervention,
    "adoption_campaign": AdoptionCampaign,
}
