"""Run configuration: typed schemas (the single source of truth for keys and units) and validation.

The schemas are plain dataclasses so the library never imports Hydra; the CLI registers them in
Hydra's ConfigStore (``sim.hydra_schema``) so unknown keys and wrong types are rejected while a
config is composed, and :func:`validate` checks ranges and cross-field rules before any work.

Units: ``rate_*`` per month (hazards or mean counts), ``p_*`` probabilities, ``dur_*`` durations
(unit in the name), ``cost_*``/``revenue_*`` money in the firm's currency (USD in the presets),
``rel_*`` dimensionless multipliers (1 = no change), ``sat_*`` points on the 0-10 recommend scale.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Optional

CHANNELS = ("self_service", "phone", "email", "chat", "mail")
CHURN_REASONS = ("service", "price", "other")  # index into this = a customer's churn_reason code (-1 = active)
MIXING_MODES = ("network", "global", "cascade")
MAX_BEHAVIOURS = 64  # a customer's behaviours are the bits of one unsigned integer (sim.population)
MAX_YEARS = 2_500  # warm-up and reported years together: customers' month stamps are 16-bit (sim.population)
CONTACT_CENTRE_MODES = ("erlang_c", "des")
CASH_FLOWS = ("monthly", "annual")  # economics.cash_flow: when profit is booked for discounting
EFFECT_OPS = ("set", "add", "multiply")
_SEGMENT_LEVER = re.compile(r"adoption\.behaviours\.\w+\.rel_incentive")
# read once when a run starts (the base, its ties and starting behaviours): a programme that
# moved them mid-run would silently do nothing, so programmes may not name them
_START_ONLY = re.compile(r"seed|years|warmup_years|population\.(n_customers|n_agents|segments\.\w+\.dur_tenure_mean_years)|"
                         r"referral\.(mean_degree|clustering)|adoption\.behaviours\.\w+\.p_initial")


class ConfigError(ValueError):
    """A configuration value is not allowed; the message names key, value and what is allowed."""


@dataclass
class SegmentConfig:
    label: str = ""  # human label for reports
    share: float = 0.0  # fraction of customers (initial and acquired) in this segment; shares sum to 1
    products_mean: float = 1.0  # mean products held (>= 1): 1 + Poisson(products_mean - 1)
    revenue_per_product_year: float = 0.0  # USD billed per product per year at price index 1
    cost_per_product_year: float = 0.0  # USD variable cost of supplying one product for a year
    rel_price_sensitivity: float = 1.0  # multiplier on the price-reason churn hazard
    rel_need_rate: float = 1.0  # multiplier on every need rate
    digital_affinity: float = 0.5  # mean of the customer's digital affinity in (0, 1) (Beta draw)
    sat_mean: float = 7.0  # mean initial satisfaction = mean disposition it drifts back to (0-10)
    sat_sd: float = 1.5  # initial satisfaction spread (points, normal, clipped to 0-10)
    dur_tenure_mean_years: float = 5.0  # mean tenure of the initial customers (exponential), years
    rel_complaint: float = 1.0  # multiplier on every complaint trigger (complaint propensity)
    # spread of customers around the segment means (coefficient of variation of a mean-1 lognormal
    # multiplier per customer): how strongly experience moves satisfaction (gain and loss weights),
    # price sensitivity, complaint propensity
    # (assumptions: people differ, by about a third in how much experience moves them, by half in
    # price sensitivity and in readiness to complain)
    cv_sat_sensitivity: float = 0.3
    cv_price_sensitivity: float = 0.5
    cv_complaint: float = 0.5


DEFAULT_AGENTS = 50_000  # simulated agents when population.n_agents is not set
FEW_AGENTS = 1_000  # below this many agents a run warns that its answers are noisy


@dataclass
class PopulationConfig:
    name: str = "utility"  # preset name, reported in outputs
    n_customers: int = 50_000  # the firm's customers at month 0 (what every count and USD is of)
    # agents simulated; each stands for n_customers / n_agents customers. None: DEFAULT_AGENTS, or
    # n_customers when that is smaller
    n_agents: Optional[int] = None
    p_abuser: float = 0.01  # share of customers who abuse the system (domain.md: ~1%)
    rel_need_rate_abuser: float = 3.0  # abusers raise this many times the needs of others
    segments: dict[str, SegmentConfig] = field(default_factory=dict)

    @property
    def agents(self) -> int:
        """How many agents are simulated."""
        if self.n_agents is not None:
            return int(self.n_agents)
        return min(DEFAULT_AGENTS, int(self.n_customers))

    @property
    def customers_per_agent(self) -> float:
        """How many of the firm's customers one simulated agent stands for (>= 1)."""
        return self.n_customers / self.agents


@dataclass
class NeedConfig:
    label: str = ""
    rate: float = 0.0  # mean occurrences per customer-month
    is_process_failure: bool = False  # rate scales with needs.rel_process_failure
    sat_experience_offset: float = 0.0  # how the need itself shifts the touch experience (points)
    p_self_service_fail: float = 0.2  # chance a self-service attempt fails and spills into phone
    p_truck_roll: float = 0.0  # share of occurrences needing a field visit
    p_complaint: float = 0.0  # chance one occurrence becomes a complaint by itself (e.g. an outage)
    channel_weights: dict[str, float] = field(default_factory=dict)  # relative preference per channel


@dataclass
class NeedsConfig:
    rel_process_failure: float = 1.0  # process-quality index on failure-type needs (1 = today)
    types: dict[str, NeedConfig] = field(default_factory=dict)


@dataclass
class ChannelConfig:
    label: str = ""
    # USD per contact handled in this channel; for phone only what a call costs beyond agent time
    # (telephony, IVR, CRM): agent time is contact_centre.cost_per_agent_hour x staffed hours
    cost_per_contact: float = 0.0
    sat_experience: float = 7.0  # experience score of a resolved contact (0-10)


@dataclass
class ChannelsConfig:
    rel_digital_tilt: float = 2.0  # how strongly digital affinity moves weight from phone/mail to digital
    sat_experience_self_service_fail: float = 3.0  # experience of a failed self-service attempt (0-10)
    channels: dict[str, ChannelConfig] = field(default_factory=dict)  # exactly the keys of CHANNELS


@dataclass
class ContactCentreConfig:
    mode: str = "erlang_c"  # how phone waits are computed; allowed: CONTACT_CENTRE_MODES
    p_service_level_target: float = 0.8  # staff to answer this share of calls within the threshold
    rel_staffing: float = 1.0  # agents staffed relative to what the target needs (0 = no one)
    dur_handle_s: float = 300.0  # mean handle time per call, seconds
    dur_open_hours_month: float = 220.0  # hours the phone line is staffed per month
    dur_answer_threshold_s: float = 20.0  # service-level threshold, seconds
    dur_max_wait_s: float = 1800.0  # longest a caller waits; also the wait when demand exceeds staff
    p_first_contact_resolution: float = 0.72  # share of calls resolved at the first contact
    sat_wait_penalty_per_min: float = 0.4  # experience points lost per minute waited
    sat_unresolved_penalty: float = 2.0  # experience points lost when a call needs a repeat
    # --- des mode only (discrete-event centre, sim/contact_centre/des_mode.py); erlang_c ignores these
    dur_interval_min: float = 60.0  # length of one profile/staffing interval, minutes
    rel_intraday: list[float] = field(  # relative arrival rate per interval of an open day (08:00-18:00)
        default_factory=lambda: [0.7, 1.2, 1.3, 1.2, 1.0, 0.9, 1.1, 1.0, 0.9, 0.7])
    rel_weekday: list[float] = field(  # relative daily volume Mon..Sun; 0 = closed (30-day months)
        default_factory=lambda: [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0])
    agents_per_interval: list[int] = field(default_factory=list)  # head count per interval; [] = to target
    handle_distribution: str = "lognormal"  # exponential or lognormal, mean dur_handle_s
    cv_handle: float = 1.0  # coefficient of variation of lognormal handle times
    patience: str = "exponential"  # caller patience: exponential, or off (wait up to dur_max_wait_s)
    dur_patience_mean_s: float = 300.0  # mean patience before hanging up, seconds
    p_retry: float = 0.5  # share of callers who hang up and call again later
    dur_retry_delay_mean_min: float = 20.0  # mean delay before calling again, open-time minutes (exponential)
    dur_repeat_delay_mean_days: float = 2.0  # mean delay of a repeat call, open days (>= 1, geometric)
    n_attempts_max: int = 3  # calls per issue at most (first + retries + repeats); then the caller gives up
    p_ivr_contained: float = 0.0  # share of calls the IVR resolves before they reach the queue
    sat_experience_ivr: float = 7.0  # experience of a call the IVR resolved (0-10)
    sat_experience_abandoned: float = 2.0  # experience of a call abandoned in the queue (minus wait penalty)
    # share of a rostered (paid) agent's time off the phone: breaks, training, meetings, absence.
    # Staffing plans agents on the phone; the roster is that / (1 - p_shrinkage), in whole people.
    # Assumption: 0, so cost_per_agent_hour below carries shrinkage in its loading (industry
    # planners use about 0.30-0.35; set both together: cost per rostered hour = 85 x (1 - p))
    p_shrinkage: float = 0.0
    # USD per rostered agent-hour, fully loaded (wages, benefits, supervision, seats; shrinkage too
    # while p_shrinkage is 0): the phone line's cost to serve is rostered hours x this + calls x
    # phone cost_per_contact
    cost_per_agent_hour: float = 85.0
    n_calls_full_sim_max: int = 5000  # simulate every day when a month expects at most this many calls
    n_rep_days: int = 3  # otherwise simulate this many representative days per day type (others mapped)


@dataclass
class SatisfactionConfig:
    rel_gain: float = 0.15  # satisfaction change per point of experience above expectation
    rel_loss: float = 0.35  # per point below expectation (bad weighs more: keep > rel_gain)
    rate_expectation_adapt: float = 0.25  # share of the gap expectation closes after each touch month
    rate_drift: float = 0.05  # monthly pull of satisfaction toward the customer's baseline
    sat_expectation_initial: float = 6.8  # starting expectation of every customer (0-10)
    sat_experience_noise_sd: float = 0.8  # customer-level noise on each month's experience (points)
    # opt-in assumption: each adopted behaviour lifts the customer's own baseline satisfaction. Off by
    # default: the domain reports a correlation, and satisfied customers already adopt more (trust gate)
    sat_bonus_per_behaviour: float = 0.0


@dataclass
class ComplaintsConfig:
    """Complaints and service recovery; the RESOLVED steps (domain.md) are p_* quality shares."""

    enabled: bool = True  # False: no complaints, no recovery, no root-cause elimination
    sat_bad_experience: float = 4.0  # a month's experience below this can become a complaint
    # chance such a month becomes a complaint: about 1 in 27 unhappy customers complains (TARP, for
    # the US Office of Consumer Affairs, 1986: 26 of 27 stay silent)
    p_complain_bad_experience: float = 0.037
    p_complain_unresolved: float = 0.08  # chance per call not resolved at the first contact
    dur_response_days: float = 5.0  # time to the firm's first response, days
    dur_response_scale_days: float = 10.0  # recovery chance x exp(-response days / this)
    p_respond: float = 0.85  # R: share of complaints that get a response (a recovery attempt)
    p_empathise: float = 0.6  # E: the handler empathises and apologises
    p_seek_solution: float = 0.7  # S: a solution is sought and offered
    p_open_to_customer_solution: float = 0.4  # O: the customer's own solution is considered
    p_listen: float = 0.6  # L: the handler listens to the whole story
    p_verify: float = 0.5  # V: the firm checks the fix worked for the customer
    p_eliminate: float = 0.3  # E: the cause is eliminated at its root
    p_document: float = 0.5  # D: the complaint and its cause are documented
    p_recovery_max: float = 0.9  # recovery chance when every step is done well, instantly
    # a recovered customer ends up to this far above pre-failure, less the worse the failure was
    # (de Matos et al. 2007: recovery lifts satisfaction, hardly loyalty; Magnini et al. 2007: only
    # for mild failures); the lift is this x (1 - severity), severity = the fall this month / 10
    sat_recovery_paradox: float = 0.1
    sat_failed_recovery_penalty: float = 1.0  # satisfaction lost when recovery fails
    rel_churn_failed_recovery: float = 4.0  # churn hazard multiplier after a failed recovery
    dur_failed_recovery_months: int = 6  # how long that raised hazard lasts, months
    p_closed_loop_reach: float = 0.0  # share of touched detractors reached by real-time feedback
    dur_closed_loop_days: float = 2.0  # days until a reached detractor is called back
    root_cause_enabled: bool = True  # documented, eliminated complaints lower failure rates
    # need-rate reduction per eliminated complaint per 1k customers; 0 = the firm does not learn from
    # complaints (the baseline); root-cause and RESOLVED programmes switch the learning on
    rate_root_cause_per_1k: float = 0.0
    rel_root_cause_floor: float = 0.3  # failure rates never fall below this share of today's


@dataclass
class AbuseConfig:
    """The ~1% who abuse the system, and the policy that guards against them."""

    enabled: bool = True  # False: abuse has no cost and the policy adds no effort
    p_strictness: float = 0.5  # policy strictness in [0, 1]: stricter verification on every contact
    sat_effort_full_strictness: float = 0.4  # experience points every touch loses at strictness 1
    cost_abuser_month: float = 25.0  # USD an abuser costs a month when unchecked (strictness 0)


@dataclass
class BehaviourConfig:
    label: str = ""
    p_initial: float = 0.0  # share of the starting base showing it (before warm-up)
    p_ceiling: float = 1.0  # share who can ever show it (eligibility, digital affinity): the Bass market potential
    p_join: Optional[float] = None  # share of newcomers showing it when they join; None = p_initial
    rate_innovation: float = 0.0  # Bass p: monthly adoption hazard independent of others
    rate_imitation: float = 0.0  # Bass q: monthly hazard per unit share of adopted ties (cascade: per new adopter tie)
    rel_incentive: float = 1.0  # multiplier on the hazard from campaigns and incentives
    sat_threshold: float = 0.0  # permission gate: no adoption below this satisfaction (0 = none)
    rel_sat_slope: float = 0.0  # hazard x exp(slope * (satisfaction - 7)): trust speeds adoption
    rel_need: dict[str, float] = field(default_factory=dict)  # need rate multipliers once adopted
    rel_channel: dict[str, float] = field(default_factory=dict)  # channel weight multipliers
    rel_churn: float = 1.0  # churn hazard multiplier (switching barrier, e.g. autopay)
    cost_category: str = ""  # cost-to-serve category that non-adopters incur ("" = none)
    cost_per_year_without: float = 0.0  # USD per non-adopter-year in that category


@dataclass
class AdoptionConfig:
    # what imitation responds to: "network", the share of the customer's ties who show it (Bass
    # over ties); "global", the share of all customers (fully mixed Bass); "cascade", each tie who
    # adopted last month, once (an independent cascade: rate_imitation is then the hazard per tie)
    mixing: str = "network"
    behaviours: dict[str, BehaviourConfig] = field(default_factory=dict)


@dataclass
class ChurnConfig:
    rate_other: float = 0.002  # monthly hazard for non-CX reasons (moving house, closure)
    rate_service_max: float = 0.03  # monthly service-reason hazard at satisfaction 0
    sat_service_threshold: float = 7.0  # service hazard is zero at or above this satisfaction
    rel_service_shape: float = 2.0  # curvature: hazard = max * ((threshold - sat)/threshold)^shape
    rate_price: float = 0.0015  # monthly price-reason hazard at price sensitivity 1, price index 1
    rel_price_sat_slope: float = 0.0  # price hazard x exp(-slope * (satisfaction - 7)): happy customers shop less
    rel_competitor_pressure: float = 1.0  # multiplier on the price hazard (competitor offers)
    rel_price_elasticity: float = 3.0  # price hazard x price_index^elasticity
    rel_per_extra_product: float = 0.85  # hazard multiplier per product beyond the first (bundles)
    rel_tenure_full: float = 0.6  # hazard multiplier once tenure reaches dur_tenure_full_years
    # early-life churn: hazard x (1 + (rel_churn_new - 1) * exp(-tenure months / dur_new_fade_months)),
    # customers who leave soon after joining (a poor start, a trial that disappoints); 1 = off
    rel_churn_new: float = 1.0
    dur_new_fade_months: float = 3.0
    dur_tenure_full_years: float = 10.0  # tenure at which the tenure barrier is complete, years


@dataclass
class ContractConfig:
    """A contract a customer signs at joining: a term with a switching barrier and renewal points."""

    label: str = ""  # as the firm's data names it (e.g. "One year"): calibration groups match on it
    share: float = 0.0  # share of customers (starting and new) on this contract; shares sum to 1
    dur_term_months: int = 0  # term length, months; 0 = month to month (no term, no barrier)
    rel_churn_in_term: float = 1.0  # churn hazard multiplier inside a term (early-termination fees)
    rel_churn_at_renewal: float = 1.0  # multiplier in the last month of each term (the renewal decision)


@dataclass
class ReferralConfig:
    mean_degree: int = 8  # mean referral ties per customer (even)
    clustering: float = 0.3  # target clustering coefficient of the tie network
    rate_referral_promoter: float = 0.004  # new customers a promoter brings per month
    p_detractor_speaks: float = 0.1  # monthly chance a detractor spreads negative word of mouth
    sat_word_of_mouth_impact: float = 0.15  # satisfaction points a tie loses per negative mention
    # paid new customers a month as a share of the starting base: a fixed marketing budget buying
    # rate x n_customers customers a month at cost_acquisition_paid each (a flow from the market, not
    # a share of today's base, so the base settles where gross adds balance churn instead of compounding)
    rate_paid_acquisition: float = 0.004
    rate_market_growth_year: float = 0.0  # yearly growth of that flow from month 0 (0 = a mature market)
    rel_detractor_deterrence: float = 1.0  # paid acquisition x (1 - this * detractor share): reputation
    # Ties a new customer makes beyond the referrer's. None (the default): mean_degree ties in all,
    # the referrer's among them, so the base's mean degree stands still as customers come and go (a
    # network whose joiners bring k ties settles at a mean degree of about k). A number is that
    # many random ties: the network then drifts to about that many plus the referred share.
    n_random_ties_new: Optional[int] = None


@dataclass
class EconomicsConfig:
    rate_discount_year: float = 0.08  # annual discount rate for NPV and lifetime value
    # when profit is booked for discounting: "monthly" (each month's at its end, discounted a month
    # at a time) or "annual" (each year's at the year's end, as business cases and Gupta and
    # Lehmann's lifetime values do); NPV and lifetime value always share the convention
    cash_flow: str = "monthly"
    rel_price_index: float = 1.0  # price level relative to today: scales revenue and price churn
    cost_acquisition_paid: float = 250.0  # USD per paid new customer
    cost_acquisition_referred: float = 60.0  # USD per referred new customer
    cost_truck_roll: float = 150.0  # USD per field visit


@dataclass
class EffectConfig:
    param: str = ""  # dotted config key the programme changes, e.g. contact_centre.rel_staffing
    op: str = "set"  # how: set (to value), add (value), multiply (by value); allowed: EFFECT_OPS
    value: float = 0.0  # the full effect, reached at the end of the ramp


@dataclass
class InterventionConfig:
    """A CX programme: when it runs, what it costs, which parameters it moves."""

    kind: str = "programme"  # programme family class; allowed: sim.interventions.registry names
    label: str = ""  # human label for reports
    start_month: int = 0  # first month it acts (0 = the run's first month)
    dur_ramp_months: float = 1.0  # months to full effect, linear (20 working days = 1 month)
    end_month: int = -1  # last month it acts and is paid for (-1 = to the end of the run)
    cost_one_off: float = 0.0  # USD spent in the start month
    cost_per_month: float = 0.0  # USD per running month
    cost_per_customer_month: float = 0.0  # USD per active (targeted) real customer per running month
    target_segments: list[str] = field(default_factory=list)  # [] = every customer; else only these
    behaviour: str = ""  # adoption campaigns: the behaviour whose new adopters are paid for
    cost_per_new_adopter: float = 0.0  # USD per real new adopter of that behaviour (incentive, device)
    effects: list[EffectConfig] = field(default_factory=list)


@dataclass
class BenchmarkConfig:
    """A published (or stated) range a preset's baseline KPI must fall in; sim.benchmarks computes it."""

    low: float = 0.0
    high: float = 0.0
    unit: str = ""
    source: str = ""  # the publication, or "assumption" with the reasoning


@dataclass
class OutputConfig:
    root: str = "results"  # folder runs are written under (relative to where cxsim is started)
    run_dir: str = ""  # explicit run folder; "" = <root>/<scenario>/<overrides>/seed=<seed>
    # write kpis.png; None: a single run does, a sweep's runs do not (its comparison has the figures,
    # and a figure costs more than a small run)
    plots: Optional[bool] = None


@dataclass
class FutureConfig:
    """One sampled future of an exploration (cxsim-explore, sim.explore): the values it gives
    uncertain keys. Applied when the config is composed (sim.params.apply_future); a key under
    ``interventions.<programme>.`` acts only in runs where that programme is on."""

    name: str = ""  # <exploration>_<analysis>_<index>; "" = no future (the config as composed)
    values: dict[str, float] = field(default_factory=dict)  # dotted config key -> value


@dataclass
class RunConfig:
    seed: int = 0  # run seed: with the config, fixes every number the run produces
    years: int = 20  # simulated years (monthly steps), reported from month 0
    # years simulated before month 0 and not reported, so month 0 is a settled firm (programmes off)
    warmup_years: int = 3
    scenario: str = "baseline"  # scenario name, reported in outputs
    progress: bool = True  # show a progress bar on an interactive terminal
    roi: bool = True  # with programmes on: also run the baseline at the same seed, write roi.json
    population: PopulationConfig = field(default_factory=PopulationConfig)
    needs: NeedsConfig = field(default_factory=NeedsConfig)
    channels: ChannelsConfig = field(default_factory=ChannelsConfig)
    contact_centre: ContactCentreConfig = field(default_factory=ContactCentreConfig)
    satisfaction: SatisfactionConfig = field(default_factory=SatisfactionConfig)
    complaints: ComplaintsConfig = field(default_factory=ComplaintsConfig)
    abuse: AbuseConfig = field(default_factory=AbuseConfig)
    adoption: AdoptionConfig = field(default_factory=AdoptionConfig)
    churn: ChurnConfig = field(default_factory=ChurnConfig)
    referral: ReferralConfig = field(default_factory=ReferralConfig)
    economics: EconomicsConfig = field(default_factory=EconomicsConfig)
    # contracts customers sign ({} = none: every customer is month to month); configs/contracts/
    contracts: dict[str, ContractConfig] = field(default_factory=dict)
    interventions: dict[str, InterventionConfig] = field(default_factory=dict)  # programmes switched on
    output: OutputConfig = field(default_factory=OutputConfig)
    future: FutureConfig = field(default_factory=FutureConfig)  # a sampled future of an exploration
    # the preset's benchmark table (documentation and tests; changes no result, so not in the hash)
    benchmarks: dict[str, BenchmarkConfig] = field(default_factory=dict)

    @property
    def n_months(self) -> int:
        return 12 * self.years

    @property
    def n_warmup_months(self) -> int:
        return 12 * self.warmup_years


# ---------------------------------------------------------------------------------------------
# validation: ranges and cross-field rules (types and unknown keys are the schema's job)


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, key: str, value: Any, allowed: str) -> None:
        self.items.append(f"{key}={value!r} is not allowed: {allowed}")

    def check(self, ok: bool, key: str, value: Any, allowed: str) -> None:
        if not ok:
            self.add(key, value, allowed)


def _number_rules(p: _Problems, prefix: str, obj: Any) -> None:
    """Rules implied by the naming convention, applied to every numeric field of ``obj``."""
    for name, value in vars(obj).items():
        key = f"{prefix}.{name}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not math.isfinite(value):
            p.add(key, value, "a finite number")
        elif name.endswith("_offset"):
            continue  # signed by design: a need can make a touch feel better or worse
        elif name.startswith("p_") or name == "share":
            p.check(0.0 <= value <= 1.0, key, value, "a probability in [0, 1]")
        elif name.startswith("sat_") and not name.endswith(("_sd", "_offset", "_impact", "_per_min",
                                                             "_penalty", "_per_behaviour")):
            p.check(0.0 <= value <= 10.0, key, value, "a score on the 0-10 scale")
        else:
            p.check(value >= 0, key, value, "a value >= 0")


class NoisyRunWarning(UserWarning):
    """So few agents stand for the firm that answers need many seeds to mean anything."""


def noise_warning(cfg: RunConfig) -> str | None:
    """Why a run's answers will be noisy, and how many seeds that costs, or None.

    A firm-scale total is the sum over agents times the customers per agent, so its seed-to-seed
    spread grows as 1 / sqrt(n_agents): seeds x agents is what buys precision.
    """
    pop = cfg.population
    n = pop.agents
    if n >= FEW_AGENTS or pop.customers_per_agent <= 1.0:
        return None
    return (f"population.n_agents={n}: each agent stands for {pop.customers_per_agent:,.1f} of the firm's "
            f"{pop.n_customers:,} customers, so results will be noisy: expect to need about "
            f"{math.ceil(DEFAULT_AGENTS / n)} seeds for the precision of one seed at {DEFAULT_AGENTS:,} agents")


def _whole_number(value: Any) -> bool:
    """An int, not a bool or a float (the Python API can pass anything; Hydra checks types)."""
    return isinstance(value, int) and not isinstance(value, bool)


SEED_ALLOWED = "an integer in [0, 2^63)"


def valid_seed(value: Any) -> bool:
    """A run seed: a whole number the random streams can key (validation and the sweep preflight)."""
    return _whole_number(value) and 0 <= value < 2**63


_SIMPLE = {float: "a number", int: "an integer", bool: "true or false", str: "a string"}


def _type_of(value: Any, hint: Any) -> bool:
    """True if ``value`` is an instance of the schema type ``hint`` (bools are not numbers)."""
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return _whole_number(value)
    if hint in (bool, str):
        return isinstance(value, hint)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:  # Optional[...]
        return value is None or any(_type_of(value, a) for a in args if a is not type(None))
    if origin is list:
        return isinstance(value, (list, tuple)) and all(_type_of(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(k, str) and _type_of(v, args[1]) for k, v in value.items())
    if dataclasses.is_dataclass(hint):
        return isinstance(value, hint)
    return True


def _describe_type(hint: Any) -> str:
    if hint in _SIMPLE:
        return _SIMPLE[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:
        return " or ".join(_describe_type(a) if a is not type(None) else "null" for a in args)
    if origin is list:
        return f"a list of {_describe_type(args[0]).removeprefix('a ').removeprefix('an ')}s"
    if origin is dict:
        return f"a mapping of names to {_describe_type(args[1]).removeprefix('a ').removeprefix('an ')}s"
    if dataclasses.is_dataclass(hint):
        return f"a {hint.__name__} (sim.config)"
    return str(hint)


def _type_problems(obj: Any, prefix: str = "") -> list[str]:
    """Every field of ``obj`` (recursively) whose value is not of its schema type.

    Hydra's schema checks types for the CLI; this is the same check for configs built in Python,
    where ``seed=True`` or ``years=1.5`` would otherwise slip through or fail deep in numpy.
    """
    items: list[str] = []
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        key, value, hint = f"{prefix}{f.name}", getattr(obj, f.name), hints[f.name]
        if not _type_of(value, hint):
            items.append(f"{key}={value!r} is not allowed: {_describe_type(hint)} "
                         f"(got {type(value).__name__})")
            continue
        if dataclasses.is_dataclass(value):
            items += _type_problems(value, f"{key}.")
        elif isinstance(value, dict):
            for k, v in value.items():
                if dataclasses.is_dataclass(v):
                    items += _type_problems(v, f"{key}.{k}.")
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                if dataclasses.is_dataclass(v):
                    items += _type_problems(v, f"{key}.{i}.")
    return items


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# the interpreter, libraries and compiled kernels (measured: 300 MiB loading them, 350 MiB compiling them)
_BYTES_FIXED = 400 * 2**20
# per agent: state, ties and the month's arrays (measured at 200k-10M agents over 4 years: 200-250 B,
# the event-mode centre the most), plus the history of customers who left, which grows with the
# months simulated (0.18-0.25 B a month over 4-63 years, telecom's churn the most); rounded up
_BYTES_PER_AGENT, _BYTES_PER_AGENT_MONTH = 300, 0.5


def memory_estimate(cfg: RunConfig) -> int:
    """Bytes a run of ``cfg`` needs at its peak, roughly (an upper-side estimate)."""
    months = cfg.n_warmup_months + cfg.n_months
    return _BYTES_FIXED + cfg.population.agents * (_BYTES_PER_AGENT + _BYTES_PER_AGENT_MONTH * months)


def memory_available() -> int:
    """This machine's physical memory in bytes (CXSIM_MEMORY_BYTES overrides it, e.g. for a job's limit)."""
    if os.environ.get("CXSIM_MEMORY_BYTES", "").isdigit():
        return int(os.environ["CXSIM_MEMORY_BYTES"])
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 2**63


def validate(cfg: RunConfig) -> RunConfig:
    """Check types, every range and cross-field rule; raise one ConfigError listing all problems.

    Programmes are checked twice: their own keys, then the config they produce at full effect,
    so a programme that would push a probability past 1 is refused before the run starts.
    """
    if not isinstance(cfg, RunConfig):
        raise ConfigError(f"invalid configuration: expected a sim.RunConfig (from sim.load_config), "
                          f"got {type(cfg).__name__}")
    problems = _type_problems(cfg)
    if problems:  # ranges cannot be judged on values of the wrong type
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    problems = _problems(cfg, with_interventions=True)
    if not problems and cfg.interventions:
        from sim.interventions.base import at_full_effect

        names = ", ".join(cfg.interventions)
        problems = [f"{item} (with programmes {names} at full effect)"
                    for item in _problems(at_full_effect(cfg), with_interventions=False)]
    if not problems:
        need, have = memory_estimate(cfg), memory_available()
        if need > have:
            problems = [f"population.n_agents={cfg.population.agents} over {cfg.warmup_years}+{cfg.years} years "
                        f"is not allowed here: it needs about {need / 2**30:,.1f} GiB and this machine has "
                        f"{have / 2**30:,.1f} GiB; simulate fewer agents (each stands for more customers) "
                        f"or fewer years"]
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return cfg


def _future_rules(p: _Problems, cfg: RunConfig) -> None:
    """A future's values must be keys of this config holding exactly those values: a future built
    in Python and not applied (sim.params.apply_future) would otherwise run as if it were not there."""
    from sim.params import future_applies, get_param

    for key, value in cfg.future.values.items():
        where = f"future.values.{key}"
        if not future_applies(cfg, key):
            continue
        try:
            current = get_param(cfg, key)
        except KeyError:  # sim.params names every missing step, list indices included, this way
            p.add(where, value, "a dotted key of the model config, e.g. churn.rate_price")
            continue
        if isinstance(current, bool) or not isinstance(current, float):
            p.add(where, value, f"a key holding a float (it holds {type(current).__name__} {current!r})")
        elif current != value:
            p.add(where, value, f"the value the config holds at {key} ({current!r}): apply the future with "
                  "sim.params.apply_future")


def _problems(cfg: RunConfig, with_interventions: bool) -> list[str]:
    p = _Problems()
    p.check(valid_seed(cfg.seed), "seed", cfg.seed, SEED_ALLOWED)
    p.check(_NAME.fullmatch(cfg.scenario) is not None, "scenario", cfg.scenario,
            "a name of letters, digits, '_', '.' and '-' (it names the run's folder)")
    p.check(_whole_number(cfg.years) and cfg.years > 0, "years", cfg.years, "an integer > 0")
    p.check(_whole_number(cfg.warmup_years) and cfg.warmup_years >= 0, "warmup_years", cfg.warmup_years,
            "an integer >= 0")
    if _whole_number(cfg.years) and _whole_number(cfg.warmup_years):
        p.check(cfg.years + cfg.warmup_years <= MAX_YEARS, "years", cfg.years,
                f"at most {MAX_YEARS} with warmup_years={cfg.warmup_years} (the two together)")
    if with_interventions:  # the full-effect pass moves keys a future may also set
        _future_rules(p, cfg)
    pop = cfg.population
    p.check(_whole_number(pop.n_customers) and pop.n_customers > 0, "population.n_customers", pop.n_customers,
            "an integer > 0")
    if pop.n_agents is not None:
        p.check(_whole_number(pop.n_agents) and 0 < pop.n_agents <= pop.n_customers, "population.n_agents",
                pop.n_agents, f"an integer in [1, population.n_customers={pop.n_customers}], or null for "
                f"min({DEFAULT_AGENTS}, n_customers)")
    _number_rules(p, "population", pop)
    if not pop.segments:
        p.add("population.segments", {}, "at least one segment")
    for name, seg in pop.segments.items():
        _number_rules(p, f"population.segments.{name}", seg)
        p.check(0 < seg.digital_affinity < 1, f"population.segments.{name}.digital_affinity",
                seg.digital_affinity, "a value strictly between 0 and 1")
        p.check(seg.products_mean >= 1, f"population.segments.{name}.products_mean",
                seg.products_mean, "a mean of at least 1 product")
    shares = sum(s.share for s in pop.segments.values())
    if pop.segments and abs(shares - 1.0) > 1e-6:
        p.add("population.segments.*.share", round(shares, 6), "shares that sum to 1")

    _number_rules(p, "needs", cfg.needs)
    if not cfg.needs.types:
        p.add("needs.types", {}, "at least one need type")
    for name, need in cfg.needs.types.items():
        _number_rules(p, f"needs.types.{name}", need)
        for ch, w in need.channel_weights.items():
            p.check(ch in CHANNELS, f"needs.types.{name}.channel_weights.{ch}", ch,
                    f"a channel in {list(CHANNELS)}")
            p.check(w >= 0, f"needs.types.{name}.channel_weights.{ch}", w, "a weight >= 0")
        p.check(sum(need.channel_weights.values()) > 0, f"needs.types.{name}.channel_weights",
                dict(need.channel_weights), "at least one positive weight")

    _need_rate_rule(p, cfg)

    _number_rules(p, "channels", cfg.channels)
    p.check(set(cfg.channels.channels) == set(CHANNELS), "channels.channels",
            sorted(cfg.channels.channels), f"exactly the channels {list(CHANNELS)}")
    for name, ch in cfg.channels.channels.items():
        _number_rules(p, f"channels.channels.{name}", ch)

    cc = cfg.contact_centre
    _number_rules(p, "contact_centre", cc)
    p.check(cc.mode in CONTACT_CENTRE_MODES, "contact_centre.mode", cc.mode,
            f"one of {list(CONTACT_CENTRE_MODES)}")
    for key in ("dur_handle_s", "dur_open_hours_month", "dur_max_wait_s"):
        value = getattr(cc, key)
        p.check(value > 0, f"contact_centre.{key}", value, "a value > 0")
    phone_demand = any(n.rate > 0 and n.channel_weights.get("phone", 0) > 0
                       for n in cfg.needs.types.values())
    if phone_demand:
        p.check(cc.rel_staffing > 0, "contact_centre.rel_staffing", cc.rel_staffing,
                "a staffing level > 0 while needs can reach the phone")
    p.check(0 < cc.p_service_level_target < 1, "contact_centre.p_service_level_target",
            cc.p_service_level_target, "a share strictly between 0 and 1")
    p.check(cc.p_shrinkage < 1, "contact_centre.p_shrinkage", cc.p_shrinkage,
            "a share in [0, 1): some rostered time must be on the phone")
    # des-mode keys, checked in every mode so a typo fails early
    p.check(cc.handle_distribution in ("exponential", "lognormal"), "contact_centre.handle_distribution",
            cc.handle_distribution, "one of ['exponential', 'lognormal']")
    p.check(cc.patience in ("exponential", "off"), "contact_centre.patience", cc.patience,
            "one of ['exponential', 'off']")
    for key in ("dur_interval_min", "dur_patience_mean_s", "dur_retry_delay_mean_min"):
        p.check(getattr(cc, key) > 0, f"contact_centre.{key}", getattr(cc, key), "a value > 0")
    if cc.handle_distribution == "lognormal":
        p.check(cc.cv_handle > 0, "contact_centre.cv_handle", cc.cv_handle,
                "a value > 0 for lognormal handle times")
    p.check(cc.dur_repeat_delay_mean_days >= 1, "contact_centre.dur_repeat_delay_mean_days",
            cc.dur_repeat_delay_mean_days, "a mean of at least 1 open day (repeats come on a later day)")
    for key in ("n_attempts_max", "n_rep_days"):
        p.check(getattr(cc, key) >= 1, f"contact_centre.{key}", getattr(cc, key), "an integer >= 1")
    intraday = list(cc.rel_intraday)
    p.check(bool(intraday) and all(math.isfinite(v) and v >= 0 for v in intraday) and sum(intraday) > 0,
            "contact_centre.rel_intraday", intraday, "a non-empty list of rates >= 0 with a positive sum")
    if cc.dur_interval_min > 0:
        p.check(len(intraday) * cc.dur_interval_min <= 24 * 60, "contact_centre.rel_intraday", intraday,
                f"at most {24 * 60 / cc.dur_interval_min:g} intervals of {cc.dur_interval_min:g} min")
    weekday = list(cc.rel_weekday)
    p.check(len(weekday) == 7 and all(math.isfinite(v) and v >= 0 for v in weekday) and sum(weekday) > 0,
            "contact_centre.rel_weekday", weekday, "7 weights >= 0 (Mon..Sun) with a positive sum")
    heads = list(cc.agents_per_interval)
    if heads:
        p.check(len(heads) == len(intraday) and all(int(h) == h and h >= 0 for h in heads),
                "contact_centre.agents_per_interval", heads,
                f"[] or {len(intraday)} head counts >= 0, one per rel_intraday interval")
        if phone_demand and cc.mode == "des":
            p.check(sum(heads) > 0, "contact_centre.agents_per_interval", heads,
                    "at least one agent in some interval while needs can reach the phone")

    _number_rules(p, "satisfaction", cfg.satisfaction)
    for key in ("rate_expectation_adapt", "rate_drift"):
        value = getattr(cfg.satisfaction, key)
        p.check(value <= 1, f"satisfaction.{key}", value, "a monthly share in [0, 1]")

    _number_rules(p, "complaints", cfg.complaints)
    p.check(cfg.complaints.dur_response_scale_days > 0, "complaints.dur_response_scale_days",
            cfg.complaints.dur_response_scale_days, "a value > 0")
    p.check(cfg.complaints.rel_root_cause_floor <= 1, "complaints.rel_root_cause_floor",
            cfg.complaints.rel_root_cause_floor, "a share in [0, 1]")
    p.check(cfg.complaints.rate_root_cause_per_1k <= 1, "complaints.rate_root_cause_per_1k",
            cfg.complaints.rate_root_cause_per_1k,
            "a share in [0, 1] (the failure rate falls by this share per eliminated complaint per 1k customers)")
    _number_rules(p, "abuse", cfg.abuse)

    p.check(cfg.adoption.mixing in MIXING_MODES, "adoption.mixing", cfg.adoption.mixing,
            f"one of {list(MIXING_MODES)}")
    p.check(len(cfg.adoption.behaviours) <= MAX_BEHAVIOURS, "adoption.behaviours",
            f"{len(cfg.adoption.behaviours)} behaviours", f"at most {MAX_BEHAVIOURS}")
    for name, b in cfg.adoption.behaviours.items():
        key = f"adoption.behaviours.{name}"
        _number_rules(p, key, b)
        for need in b.rel_need:
            p.check(need in cfg.needs.types, f"{key}.rel_need.{need}", need,
                    f"a need type in {sorted(cfg.needs.types)}")
        for ch in b.rel_channel:
            p.check(ch in CHANNELS, f"{key}.rel_channel.{ch}", ch, f"a channel in {list(CHANNELS)}")
        for sub, mapping in (("rel_need", b.rel_need), ("rel_channel", b.rel_channel)):
            for k, v in mapping.items():
                p.check(v >= 0, f"{key}.{sub}.{k}", v, "a multiplier >= 0")
        p.check(b.p_initial <= b.p_ceiling, f"{key}.p_initial", b.p_initial,
                f"a share <= p_ceiling ({b.p_ceiling}): only eligible customers show a behaviour")
        if b.p_join is not None:
            p.check(b.p_join <= b.p_ceiling, f"{key}.p_join", b.p_join,
                    f"null or a share <= p_ceiling ({b.p_ceiling})")
        if b.cost_per_year_without > 0:
            p.check(bool(b.cost_category), f"{key}.cost_category", b.cost_category,
                    "a category name when cost_per_year_without > 0")

    _number_rules(p, "churn", cfg.churn)
    p.check(cfg.churn.dur_tenure_full_years > 0, "churn.dur_tenure_full_years",
            cfg.churn.dur_tenure_full_years, "a value > 0")
    p.check(cfg.churn.dur_new_fade_months > 0, "churn.dur_new_fade_months", cfg.churn.dur_new_fade_months,
            "a value > 0")

    ref = cfg.referral
    _number_rules(p, "referral", ref)
    p.check(ref.mean_degree % 2 == 0, "referral.mean_degree", ref.mean_degree,
            "an even integer >= 0 (ties are laid out symmetrically on a ring)")
    if ref.mean_degree >= 2:
        c_max = 3 * (ref.mean_degree - 2) / (4 * (ref.mean_degree - 1))
        p.check(ref.clustering <= c_max + 1e-12, "referral.clustering", ref.clustering,
                f"a value in [0, {c_max:.3f}] for mean_degree={ref.mean_degree}")

    for name, ct in cfg.contracts.items():
        _number_rules(p, f"contracts.{name}", ct)
    if cfg.contracts:
        total = sum(ct.share for ct in cfg.contracts.values())
        p.check(abs(total - 1.0) <= 1e-6, "contracts.*.share", round(total, 6), "shares that sum to 1")
        labels = [ct.label or name for name, ct in cfg.contracts.items()]
        p.check(len(set(labels)) == len(labels), "contracts.*.label", labels, "a different label for each contract")

    _number_rules(p, "economics", cfg.economics)
    p.check(cfg.economics.cash_flow in CASH_FLOWS, "economics.cash_flow", cfg.economics.cash_flow,
            f"one of {list(CASH_FLOWS)}")
    p.check(bool(cfg.output.root) or bool(cfg.output.run_dir), "output.root", cfg.output.root,
            "a folder name")
    if with_interventions:
        _check_interventions(p, cfg)
    return p.items


MAX_NEED_RATE = 50.0  # needs a customer-month at most: beyond, they are not one customer's needs
# a channel's contacts in a month sum a customer's needs of every type (at most 211 each at
# MAX_NEED_RATE: sim.kernels.poisson_at) into 16 bits (sim.month_state)
MAX_NEED_TYPES = 150


def _need_rate_rule(p: _Problems, cfg: RunConfig) -> None:
    """The highest monthly rate any customer can have of each need stays below MAX_NEED_RATE, and
    there are few enough need types for a month's contact counts to hold their sum."""
    p.check(len(cfg.needs.types) <= MAX_NEED_TYPES, "needs.types", f"{len(cfg.needs.types)} need types",
            f"at most {MAX_NEED_TYPES}")
    pop = cfg.population
    seg = max((s.rel_need_rate for s in pop.segments.values()), default=1.0)
    abuser = max(1.0, pop.rel_need_rate_abuser) if pop.p_abuser > 0 else 1.0
    for name, need in cfg.needs.types.items():
        rel = math.prod(max(1.0, b.rel_need.get(name, 1.0)) for b in cfg.adoption.behaviours.values())
        failure = max(1.0, cfg.needs.rel_process_failure) if need.is_process_failure else 1.0
        top = need.rate * seg * abuser * rel * failure
        if math.isfinite(top):
            p.check(top <= MAX_NEED_RATE, f"needs.types.{name}.rate", need.rate,
                    f"a rate whose highest value for any customer (segment, abuser and behaviour multipliers "
                    f"included: {top:.3g}) is at most {MAX_NEED_RATE:g} a customer-month")


def _check_interventions(p: _Problems, cfg: RunConfig) -> None:
    from sim.interventions.registry import KINDS
    from sim.params import has_numeric_param

    setters: dict[str, str] = {}
    for name, iv in sorted(cfg.interventions.items()):
        for eff in iv.effects:
            if eff.op == "set" and not iv.target_segments:
                if eff.param in setters:
                    p.add(f"interventions.{name}.effects", f"set {eff.param}",
                          f"one programme per key that is set: {setters[eff.param]} sets it too (two sets "
                          f"of one key have no order-free meaning; combine them in one programme)")
                setters.setdefault(eff.param, name)

    for name, iv in cfg.interventions.items():
        key = f"interventions.{name}"
        _number_rules(p, key, iv)  # start/end/costs/ramp >= 0 (end_month -1 handled below)
        p.items = [i for i in p.items if not i.startswith(f"{key}.end_month=-1 ")]
        p.check(iv.kind in KINDS, f"{key}.kind", iv.kind, f"one of {sorted(KINDS)}")
        p.check(iv.end_month == -1 or iv.end_month >= iv.start_month, f"{key}.end_month",
                iv.end_month, f"-1 (to the end) or a month >= start_month ({iv.start_month})")
        if _whole_number(cfg.years) and cfg.years > 0:
            p.check(iv.start_month < cfg.n_months, f"{key}.start_month", iv.start_month,
                    f"a month in [0, {cfg.n_months - 1}]: the run reports months 0 to {cfg.n_months - 1} "
                    f"(years={cfg.years}), so a later start would never act")
        if iv.cost_per_new_adopter > 0 or iv.behaviour:
            p.check(iv.behaviour in cfg.adoption.behaviours, f"{key}.behaviour", iv.behaviour,
                    f"a behaviour in {sorted(cfg.adoption.behaviours)}")
        for seg in iv.target_segments:
            p.check(seg in cfg.population.segments, f"{key}.target_segments", seg,
                    f"a segment in {sorted(cfg.population.segments)}")
        for i, eff in enumerate(iv.effects):
            ekey = f"{key}.effects.{i}"
            if iv.target_segments:
                # a segment-targeted programme can only move levers that act customer by customer
                p.check(_SEGMENT_LEVER.fullmatch(eff.param) is not None and eff.op == "multiply",
                        f"{ekey}", f"{eff.op} {eff.param}",
                        "with target_segments: multiply on adoption.behaviours.<name>.rel_incentive")
            p.check(has_numeric_param(cfg, eff.param), f"{ekey}.param", eff.param,
                    "a numeric config key such as contact_centre.rel_staffing")
            p.check(_START_ONLY.fullmatch(eff.param) is None, f"{ekey}.param", eff.param,
                    "a key the model reads every month (this one is fixed when a run starts)")
            p.check(eff.op in EFFECT_OPS, f"{ekey}.op", eff.op, f"one of {list(EFFECT_OPS)}")
            p.check(math.isfinite(eff.value), f"{ekey}.value", eff.value, "a finite number")
