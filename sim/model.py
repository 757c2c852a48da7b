"""CXModel: the customer base, its referral ties, named random streams and the monthly stages."""

from __future__ import annotations

import copy
from typing import Any

import mesa
import numpy as np

from sim.config import CHANNELS, RunConfig
from sim.contact_centre import make_contact_centre
from sim.interventions.base import Programmes
from sim.kpis import agent_sum_columns
from sim.modules.adoption import Adoption
from sim.modules.channels import Channels
from sim.modules.churn import Churn
from sim.modules.complaints import Complaints
from sim.modules.economics import Economics
from sim.modules.needs import Needs
from sim.modules.referral import Acquisition, WordOfMouth
from sim.modules.satisfaction import DETRACTOR_BELOW, PROMOTER_MIN, Satisfaction
from sim.month_state import MonthState
from sim.network import TieGraph, watts_strogatz_edges
from sim.population import Population
from sim.rng import Streams
from sim.stages import STAGES


class CXModel(mesa.Model):
    """A customer base simulated month by month; customers are rows of columnar arrays.

    Each agent stands for ``customers_per_agent`` of the firm's customers (population.n_customers
    / population.n_agents). Stages work in agents; the firm scale enters in three places only:
    the contact centre (it serves the firm's call load), economics (money at firm scale) and
    ``_scale_to_firm``, which turns the month's agent sums into the firm's counts (sim.kpis.SCALE).

    Mesa's own generators (``self.random``/``self.rng``) are deliberately unused: every draw
    comes from a named, month-indexed stream (sim.rng) so scenarios sharing a seed are paired.
    """

    def __init__(self, cfg: RunConfig):
        super().__init__(seed=cfg.seed)
        # programmes change parameters month by month: work on a private copy of the config
        cfg = copy.deepcopy(cfg)
        self.cfg = cfg
        self.programmes = Programmes(cfg)
        self.streams = Streams(cfg.seed)
        self.pop = Population(cfg, self.streams)
        n = cfg.population.agents
        self.customers_per_agent = cfg.population.customers_per_agent
        self.pop.add(n, month=-1)
        ref = cfg.referral
        if ref.mean_degree >= 2:
            src, dst = watts_strogatz_edges(n, ref.mean_degree, ref.clustering,
                                            self.streams.generator("network.build", -1))
        else:
            src = dst = np.empty(0, dtype=np.int64)
        self.graph = TieGraph(n, src, dst)
        self.needs_module = Needs(self)
        modules = {
            "needs": self.needs_module,
            "channels": Channels(self),
            "contact_centre": make_contact_centre(self),
            "satisfaction": Satisfaction(self),
            "complaints": Complaints(self),
            "word_of_mouth": WordOfMouth(self),
            "adoption": Adoption(self),
            "churn": Churn(self),
            "acquisition": Acquisition(self),
            "economics": Economics(self),
        }
        self.stage_modules = [modules[s.name] for s in STAGES if s.name != "interventions"]
        self.economics = modules["economics"]
        self.month = 0
        self.records: list[dict[str, Any]] = []
        self._agent_sums: list[str] | None = None  # the columns _scale_to_firm multiplies

    def step(self) -> None:
        ms = MonthState(self.month, self.pop.active_slots(), len(self.needs_module.names), len(CHANNELS))
        ms.kpis["month"] = self.month
        ms.kpis["year"] = self.month // 12 + 1
        ms.kpis["customers_start"] = ms.n_act
        ms.sat_start[:] = self.pop.satisfaction[ms.act]
        if self.programmes.apply(self.cfg, self.month):
            self.pop.refresh()
            for module in self.stage_modules:
                if hasattr(module, "refresh"):
                    module.refresh(self)
        for module in self.stage_modules:
            module.step(self, ms)
        self._age(ms)
        self._record_stocks(ms.kpis)
        self._scale_to_firm(ms.kpis)
        self.records.append(ms.kpis)
        self.month += 1
        if self.month >= self.cfg.n_months:
            self.running = False

    def _scale_to_firm(self, k: dict[str, Any]) -> None:
        """Agent sums become the firm's counts; with one agent per customer they stay integers."""
        if self._agent_sums is None:
            self._agent_sums = agent_sum_columns(k)
        w = self.customers_per_agent
        if w == 1.0:
            return
        for c in self._agent_sums:
            k[c] = k[c] * w

    def _age(self, ms: MonthState) -> None:
        stayed = ms.act[self.pop.active[ms.act]]
        self.pop.tenure_months[stayed] += 1

    def _record_stocks(self, k: dict[str, Any]) -> None:
        """End-of-month stocks over the customers still active."""
        pop = self.pop
        act = pop.active_slots()
        sat = pop.satisfaction[act]
        n = len(act)
        k["customers"] = n
        if n:
            promoters = float(np.mean(sat >= PROMOTER_MIN))
            detractors = float(np.mean(sat < DETRACTOR_BELOW))
            k["sat_mean"] = float(sat.mean())
            k["sat_p10"], k["sat_p50"], k["sat_p90"] = (float(x) for x in np.percentile(sat, [10, 50, 90]))
        else:
            promoters = detractors = 0.0
            k["sat_mean"] = k["sat_p10"] = k["sat_p50"] = k["sat_p90"] = float("nan")
        k["share_promoters"] = promoters
        k["share_passives"] = 1.0 - promoters - detractors if n else 0.0
        k["share_detractors"] = detractors
        k["nps"] = 100.0 * (promoters - detractors)
        adopters = np.count_nonzero(pop.adoption[act], axis=0)
        for b, name in enumerate(pop.behaviour_names):
            k[f"adopt_{name}"] = float(adopters[b] / n) if n else 0.0
        per_segment = np.bincount(pop.segment[act], minlength=len(pop.segment_names))
        for s, name in enumerate(pop.segment_names):
            k[f"customers_{name}"] = int(per_segment[s])
