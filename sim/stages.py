"""The order in which a month happens. One list: read it to know what sees what.

Run ``python -m sim.stages`` to print it as a table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    name: str
    does: str
    why_here: str


STAGES: tuple[Stage, ...] = (
    Stage("interventions", "running CX programmes set this month's parameters (start, ramp, end)",
          "every later stage must see the same parameters all month"),
    Stage("needs", "needs arise per customer and need type",
          "uses behaviours as they stood at the start of the month"),
    Stage("channels", "each need picks a channel; failed self-service spills into phone",
          "must know every phone contact before the queue is solved"),
    Stage("contact_centre", "phone queue: waits, first-contact resolution, repeat calls",
          "waits depend on the month's whole phone load"),
    Stage("satisfaction", "experience vs expectation moves satisfaction; drift to baseline",
          "scores touches only once all their waits are known"),
    Stage("complaints", "bad experiences become complaints; RESOLVED recovery; root causes removed",
          "needs the month's experience; recovery outcome feeds word of mouth and churn"),
    Stage("word_of_mouth", "speaking detractors lower their ties' satisfaction",
          "acts on this month's detractors, before anyone decides to adopt or leave"),
    Stage("adoption", "behaviours adopted with trust-gated Bass hazards",
          "uses this month's satisfaction; takes effect on next month's needs"),
    Stage("churn", "customers leave for service, price or other reasons",
          "leavers were served and billed this month and leave at its end"),
    Stage("acquisition", "promoters refer, paid acquisition brings the rest",
          "newcomers join at month end with fresh slots and ties"),
    Stage("economics", "revenue, product cost, cost to serve by category, acquisition and CX spend, at firm scale",
          "needs the month's contacts, leavers and joiners (its per-customer sums may run beside "
          "acquisition, which changes none of their inputs)"),
)


def stage_table() -> str:
    width = max(len(s.name) for s in STAGES)
    lines = [f"{'#':>2}  {'stage':<{width}}  what happens  |  why here"]
    for i, s in enumerate(STAGES, 1):
        lines.append(f"{i:>2}  {s.name:<{width}}  {s.does}  |  {s.why_here}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(stage_table())
