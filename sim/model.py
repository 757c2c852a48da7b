"""CXModel: the customer base, its referral ties, named random streams and the monthly stages."""

from __future__ import annotations

import copy
from typing import Any

import mesa
import numpy as np
from mesa import DataCollector

from sim.config import CHANNELS, ConfigError, RunConfig
from sim.contact_centre import make_contact_centre
from sim.interventions.base import Programmes
from sim.kpis import agent_sum_columns
from sim.modules.adoption import Adoption
from sim.modules.channels import Channels
from sim.modules.churn import Churn, stay_weights
from sim.modules.complaints import Complaints
from sim.modules.economics import Economics
from sim.modules.needs import Needs
from sim.modules.referral import Acquisition, WordOfMouth
from sim.modules.satisfaction import Satisfaction
from sim.month_state import MonthBuffers, MonthState
from sim.network import TieGraph, watts_strogatz_edges
from sim.population import Population
from sim.rng import Streams
from sim.stages import STAGES
from sim.stocks import record_stocks

_SAT_BELOW_DISPOSITION = 0.35  # settled satisfaction sits this far below the disposition (measured)
_STAY_POWER = 1.2  # see CXModel._expected_stay
# the month's figures Mesa's DataCollector reports (model level: cheap whatever the agents)
MESA_REPORTERS = ("month", "customers", "nps", "sat_mean", "churn_rate", "calls_offered", "asa_s", "revenue",
                  "cost_to_serve", "profit")


class CXModel(mesa.Model):
    """A customer base simulated month by month; customers are rows of columnar arrays.

    Each agent stands for ``customers_per_agent`` of the firm's customers: population.n_customers
    / population.n_agents while warming up, then population.n_customers / the agents active at
    month 0, so the reported firm starts at exactly n_customers. Stages work in agents; the firm
    scale enters in three places only: the contact centre (it serves the firm's call load),
    economics (money at firm scale) and ``_scale_to_firm``, which turns the month's agent sums into
    the firm's counts (sim.kpis.SCALE).

    Mesa's own generators (``self.random``/``self.rng``) are deliberately unused: every draw
    comes from a named, month-indexed stream (sim.rng) so scenarios sharing a seed are paired.

    For Mesa's tools, ``seed`` and dotted config keys may be given as keywords, so
    ``mesa.batch_run(CXModel, {"cfg": cfg, "seed": [0, 1], "churn.rate_other": [0.002, 0.004]})``
    sweeps them; ``datacollector`` holds model-level reporters (MESA_REPORTERS) of each reported
    month (None while warming up), never per-agent ones, which would cost a microsecond an agent.
    """

    def __init__(self, cfg: RunConfig, *, seed: int | None = None, **params: Any):
        # programmes change parameters month by month: work on a private copy of the config
        cfg = copy.deepcopy(cfg)
        if seed is not None or params:
            from sim.config import validate
            from sim.params import set_param

            if seed is not None:
                cfg.seed = seed
            for key, value in params.items():
                try:
                    set_param(cfg, key, value)
                except KeyError:
                    raise ConfigError(f"invalid configuration:\n  {key}={value!r} is not allowed: "
                                      "not a key of the config (sim.config)") from None
            validate(cfg)
        super().__init__(seed=cfg.seed)
        self.cfg = cfg
        self.datacollector = DataCollector(model_reporters={
            k: (lambda m, k=k: m.records[-1][k] if m.records else None) for k in MESA_REPORTERS})
        self.programmes = Programmes(cfg)
        self.streams = Streams(cfg.seed)
        self.pop = Population(cfg, self.streams)
        n = cfg.population.agents
        self.customers_per_agent = cfg.population.customers_per_agent
        self.pop.add(n, month=-1, stay_weight=self._expected_stay)
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
        self.churn_module = modules["churn"]
        self.month = 0  # the clock, counting warm-up months; reported month = month - warm-up
        self.records: list[dict[str, Any]] = []
        self._buffers = MonthBuffers()
        self._agent_sums: list[str] | None = None  # the columns _scale_to_firm multiplies
        if cfg.n_warmup_months == 0:
            self._settle()

    def _expected_stay(self, disposition: np.ndarray, seg: np.ndarray) -> np.ndarray:
        """Relative time a customer of this disposition stays (weights for the settled starting base).

        1 / hazard would be exact if satisfaction sat at the disposition; it runs below it (touches
        that fall short of expectation) and the service hazard is convex, so low dispositions leave
        faster than that. The offset and power are calibrated on the utility preset so that the base's
        mean disposition stays flat over 25 simulated years: -0.001 points (3 seeds, 50,000 agents;
        insurance -0.019, telecom -0.004, 2 seeds each). Population draws the base in exact
        proportion to these weights; the power 1.5 of the 8-candidate resampling it replaced
        overweights there (-0.05), 1 / hazard underweights (+0.04).
        """
        return stay_weights(self.cfg, self.pop, disposition, seg, _SAT_BELOW_DISPOSITION, _STAY_POWER)

    @property
    def run_month(self) -> int:
        """The month outputs report: negative while warming up."""
        return self.month - self.cfg.n_warmup_months

    def _settle(self) -> None:
        """Month 0 begins: whatever the warm-up did to the base, the firm has n_customers now."""
        n = len(self.pop.active_slots())
        self.customers_per_agent = self.cfg.population.n_customers / n if n else 1.0
        self.economics.start_accounts()

    def step(self) -> None:
        run_month = self.run_month
        if run_month == 0 and self.month > 0:
            self._settle()
        if self.pop.wants_compacting():
            self._compact()
        ms = MonthState(self.month, self.pop.active_slots(), len(self.needs_module.names), len(CHANNELS),
                        run_month=run_month, buffers=self._buffers)
        ms.kpis["month"] = run_month
        ms.kpis["year"] = run_month // 12 + 1
        ms.kpis["customers_start"] = ms.n_act
        np.take(self.pop.satisfaction, ms.act, out=ms.sat_start)
        if self.programmes.apply(self.cfg, run_month):
            self.pop.refresh()
            for module in self.stage_modules:
                if hasattr(module, "refresh"):
                    module.refresh(self)
        for module in self.stage_modules:
            module.step(self, ms)
            if module is self.churn_module:  # economics' inputs are final: its sums may run beside acquisition
                self.economics.start(self, ms)
        self.pop.age(ms.act)
        if run_month >= 0:
            record_stocks(self.pop, ms.kpis)
            self._scale_to_firm(ms.kpis)
            self.records.append(ms.kpis)
        self.month += 1
        self.datacollector.collect(self)
        if self.run_month >= self.cfg.n_months:
            self.running = False

    def scratch(self, name: str, n: int, dtype, fill) -> np.ndarray:
        """An array of ``n`` set to ``fill``, reused from month to month (sim.month_state.MonthBuffers):
        valid until the next request for ``name``."""
        return self._buffers.take(name, (n,), dtype, fill)

    def _compact(self) -> None:
        """Close up the rows of churned customers, between two months (nothing is in flight): the
        population, the ties and every stage that keeps slots from one month to the next follow."""
        new_slot = self.pop.compact(beside=self.graph.renumber)  # the ties follow while the rows close up
        for module in self.stage_modules:
            if hasattr(module, "renumber"):
                module.renumber(new_slot)

    def _scale_to_firm(self, k: dict[str, Any]) -> None:
        """Agent sums become the firm's counts; with one agent per customer they stay integers."""
        if self._agent_sums is None:
            self._agent_sums = agent_sum_columns(k)
        w = self.customers_per_agent
        if w == 1.0:
            return
        for c in self._agent_sums:
            k[c] = k[c] * w

