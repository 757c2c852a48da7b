"""The monthly KPI table: every column's unit and meaning, in one place.

Columns named with a placeholder expand per preset: ``needs_<need>`` for each need type,
``contacts_<channel>``, ``new_adopt_<behaviour>``, ``adopt_<behaviour>``, ``cost_<category>``
and ``customers_<segment>``. Naming: ``new_*`` flows in the month, ``n``/``customers*`` stocks
at its end, ``cost_*``/``revenue``/``profit*`` USD in the month, ``share_*``/``p_*`` in [0, 1].

Every count and USD figure is of the firm (``population.n_customers``), whatever the number of
agents simulated. ``SCALE`` says how each column gets there:
``agents``: a sum over the simulated agents, multiplied by the customers each agent stands for when
the month is recorded (one place: ``sim.model``); ``firm``: the firm's own figure as the stage that
makes it computes it (the contact centre solves the firm's call load with the firm's head count;
economics makes money at firm scale because it mixes per-customer amounts with fixed ones);
``mean``: shares, means, scores and indices over agents, which need no scaling.
"""

from __future__ import annotations

import re

# column (or pattern) -> (unit, meaning)
COLUMNS: dict[str, tuple[str, str]] = {
    "month": ("month index", "0-based month of the run"),
    "year": ("year", "1-based simulated year"),
    "customers_start": ("customers", "active customers at the start of the month"),
    "needs_<need>": ("occurrences", "needs of this type that arose"),
    "contacts_<channel>": ("contacts", "contacts started in this channel (phone: first contacts that chose it)"),
    "self_service_spills": ("contacts", "failed self-service attempts that spilled into phone"),
    "calls_offered": ("calls", "phone calls the firm's centre was offered: chosen, spilled and repeat calls"),
    "calls_repeat": ("calls", "repeat calls for issues not resolved at the first contact"),
    "agents_staffed": ("agents", "contact-centre agents (people) staffed in open hours, a whole number in erlang_c mode"),
    "asa_s": ("seconds", "average speed of answer (mean wait over all calls)"),
    "p_wait": ("share", "share of calls that wait at all"),
    "service_level": ("share", "share of calls answered within the service-level threshold"),
    "occupancy": ("share", "agent occupancy (offered load / agents)"),
    "fcr": ("share", "first-contact resolution: 1 - repeat calls / first calls"),
    "queue_overloaded": ("0/1", "1 if offered load exceeded staff (waits at the cap)"),
    "caller_wait_mean_s": ("seconds", "mean of the waits drawn for this month's callers"),
    "calls_handled": ("calls", "calls answered by an agent (erlang_c: all offered)"),
    "calls_abandoned": ("calls", "calls that hung up in the queue before an agent answered (erlang_c: 0, infinite patience)"),
    "calls_ivr_contained": ("calls", "calls the IVR resolved before they reached the queue (erlang_c: 0)"),
    "calls_retried": ("calls", "calls made again after hanging up, included in calls_offered (erlang_c: 0)"),
    "calls_simulated": ("calls", "des mode: calls run through the event simulation (others mapped from representative days); erlang_c: 0"),
    "abandon_rate": ("share", "calls_abandoned / calls that reached the queue"),
    "abandon_within_threshold_rate": ("share", "calls that hung up within the service-level threshold (contact_centre.dur_answer_threshold_s) / calls that reached the queue (erlang_c: 0)"),
    "agents_rostered": ("agents", "people rostered so that agents_staffed are on the phone: agents_staffed / (1 - contact_centre.p_shrinkage), rounded up"),
    "agent_hours": ("hours", "staffed (on-phone) agent-hours in open hours"),
    "agent_hours_rostered": ("hours", "rostered (paid) agent-hours: agent_hours with shrinkage added back, per interval in whole people"),
    "staffing_cost": ("USD", "agent_hours_rostered x contact_centre.cost_per_agent_hour (part of cost_contacts_phone)"),
    "customers_touched": ("customers", "customers with at least one touch"),
    "experience_mean": ("points 0-10", "mean experience score of touched customers (0 in a month without touches)"),
    "customers_bad_experience": ("customers", "touched customers whose month's experience fell below complaints.sat_bad_experience (unhappy)"),
    "complaints": ("complaints", "complaints raised this month"),
    "complaints_documented": ("complaints", "complaints documented with their cause"),
    "complaints_causes_eliminated": ("complaints", "documented complaints whose cause was eliminated"),
    "recoveries_attempted": ("complaints", "complaints that got a response (recovery attempt)"),
    "recoveries_succeeded": ("complaints", "recovery attempts that won the customer back"),
    "closed_loop_reached": ("customers", "touched detractors reached by closed-loop feedback"),
    "closed_loop_recovered": ("customers", "reached detractors won back"),
    "rel_failure_<need>": ("multiplier", "need rate left after root-cause elimination (1 = today)"),
    "new_churn_after_failed_recovery": ("customers", "leavers inside the raised-hazard window of a failed recovery"),
    "cost_abuse": ("USD", "cost of abusers not stopped by the anti-abuse policy"),
    "detractors_speaking": ("customers", "detractors spreading negative word of mouth"),
    "new_adopt_<behaviour>": ("customers", "customers who adopted the behaviour this month"),
    "new_churn": ("customers", "customers who left at the end of the month"),
    "new_churn_service": ("customers", "leavers whose reason was service (dissatisfaction)"),
    "new_churn_price": ("customers", "leavers whose reason was price or competitor offers"),
    "new_churn_other": ("customers", "leavers for reasons outside CX (moving, closure)"),
    "churn_rate": ("share per month", "new_churn / customers_start"),
    "new_acquired_referred": ("customers", "new customers referred by promoters"),
    "new_acquired_paid": ("customers", "new customers from paid acquisition"),
    "cost_contacts_<channel>": ("USD", "cost of contacts handled in the channel (phone: staffing_cost + calls offered x per-call cost)"),
    "cost_truck_rolls": ("USD", "field visits for incidents and failures"),
    "cost_<category>": ("USD", "cost non-adopters of a behaviour incur (paper bills, late payments, ...)"),
    "revenue": ("USD", "billed for products held (revenue per product x price index)"),
    "cost_products": ("USD", "variable cost of supplying the products held (energy, claims, network)"),
    "cost_to_serve": ("USD", "sum of contact, field and behaviour-related costs"),
    "cost_acquisition": ("USD", "paid and referred acquisition spend"),
    "cost_programme_<name>": ("USD", "spend on one CX programme (one-off, running, per customer, per adopter)"),
    "cost_cx_programmes": ("USD", "spend on all CX programmes"),
    "profit": ("USD", "revenue - cost_products - cost_to_serve - cost_acquisition - cost_cx_programmes"),
    "discount_factor": ("factor", "what a USD of the month's profit is worth today: booked at the end of the month (economics.cash_flow=monthly) or of its year (annual), at economics.rate_discount_year"),
    "profit_discounted": ("USD", "profit x discount_factor (sums to NPV)"),
    "customers": ("customers", "active customers at the end of the month"),
    "sat_mean": ("points 0-10", "mean satisfaction of active customers"),
    "sat_p10": ("points 0-10", "10th percentile of satisfaction"),
    "sat_p50": ("points 0-10", "median satisfaction"),
    "sat_p90": ("points 0-10", "90th percentile of satisfaction"),
    "share_promoters": ("share", "customers at 9-10"),
    "share_passives": ("share", "customers at 7-8"),
    "share_detractors": ("share", "customers at 0-6 (below 7)"),
    "nps": ("points -100..100", "net promoter score: 100 x (promoters - detractors)"),
    "adopt_<behaviour>": ("share", "share of active customers showing the behaviour"),
    "customers_<segment>": ("customers", "active customers in the segment at month end"),
    "segment_<segment>_nps": ("points -100..100", "net promoter score of the segment's active customers"),
    "segment_<segment>_churn": ("customers", "the segment's customers who left at the end of the month"),
    "segment_<segment>_margin": ("USD", "the segment's revenue - product cost"),
    "segment_<segment>_cost_to_serve": ("USD", "cost to serve the segment's customers (phone at the firm's cost per call)"),
    "segment_<segment>_acquisition": ("USD", "acquisition spend on the segment's new customers"),
}


_FIRM = {"calls_offered", "calls_repeat", "agents_staffed", "agents_rostered", "calls_handled", "calls_abandoned",
         "calls_ivr_contained", "calls_retried", "calls_simulated", "agent_hours", "agent_hours_rostered"}
_MEAN_UNITS = ("share", "seconds", "points", "multiplier", "0/1", "month index", "year", "factor")


def _scale_of(name: str, unit: str) -> str:
    if name in _FIRM or unit == "USD":
        return "firm"
    if unit.startswith(_MEAN_UNITS):
        return "mean"
    return "agents"


# column (or pattern) -> "agents" | "firm" | "mean" (see the module docstring)
SCALE: dict[str, str] = {k: _scale_of(k, u) for k, (u, _) in COLUMNS.items()}


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"<\w+>", r"[a-z0-9_]+", name) + "$")


_EXACT = {k for k in COLUMNS if "<" not in k}
_PATTERNS = [(k, _pattern(k)) for k in COLUMNS if "<" in k]


def describe(column: str) -> tuple[str, str] | None:
    """(unit, meaning) of a monthly column, or None if it is undocumented."""
    key = _key(column)
    return None if key is None else COLUMNS[key]


def _key(column: str) -> str | None:
    if column in _EXACT:
        return column
    for key, pat in _PATTERNS:
        if pat.match(column):
            return key
    return None


def agent_sum_columns(columns) -> list[str]:
    """The columns among ``columns`` that are sums over agents (to be scaled to the firm)."""
    return [c for c in columns if (key := _key(c)) is not None and SCALE[key] == "agents"]


_SCALE_TEXT = {"agents": "agents x customers per agent", "firm": "firm", "mean": "mean over agents"}


def markdown_table() -> str:
    rows = ["| column | unit | firm scale | meaning |", "|---|---|---|---|"]
    rows += [f"| `{k}` | {u} | {_SCALE_TEXT[SCALE[k]]} | {m} |" for k, (u, m) in COLUMNS.items()]
    return "\n".join(rows)
