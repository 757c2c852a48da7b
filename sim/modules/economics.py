"""Money at firm scale: revenue, product cost, cost to serve by category, acquisition and CX spend.

Customers active at the start of the month are billed and served for it (leavers included).
Costs are expected values where the event itself changes nothing else in the model (late
payments, paper bills, truck rolls), so they add no noise to paired comparisons.

Scale: per-customer amounts (revenue, product cost, channel and behaviour costs, acquisition) are
summed over agents and multiplied by the customers each agent stands for; the phone line costs
what the firm's centre costs (its staffed agent-hours x cost per agent-hour, plus a per-call
cost for the firm's calls), so a staffing programme costs exactly its extra agent-hours; CX
programmes cost their fixed amounts in firm dollars plus their per-customer and per-adopter
amounts per real customer (sim.interventions). For lifetime value, each customer's calls are
charged the firm's cost per call of the month.
"""

from __future__ import annotations

import numpy as np

from sim import kernels
from sim.analytic import lifetime_value, median_lifetime
from sim.config import CHANNELS
from sim.kernels import COMPILED, Beside, kernel, shows
from sim.population import flag_of


class Economics:
    name = "economics"

    def __init__(self, model):
        self.econ = model.cfg.economics
        self.n_seg = len(model.pop.segment_names)
        self.start_accounts()
        self.refresh(model)

    def start_accounts(self) -> None:
        """Per-segment running totals for lifetime value, counted from the reported month 0."""
        n_seg = self.n_seg
        self.seg_customer_months = np.zeros(n_seg)
        self.seg_margin = np.zeros(n_seg)  # revenue - product cost, per customer
        self.seg_cost_to_serve = np.zeros(n_seg)
        self.seg_churned = np.zeros(n_seg)

    def refresh(self, model) -> None:
        """Re-read prices and costs (programmes change them between months)."""
        cfg = model.cfg
        abuse = cfg.abuse
        self.abuser_monthly_cost = abuse.cost_abuser_month * (1.0 - abuse.p_strictness) if abuse.enabled else 0.0
        self.channel_cost = np.array([cfg.channels.channels[c].cost_per_contact for c in CHANNELS])
        self.phone = CHANNELS.index("phone")
        needs = [cfg.needs.types[n] for n in model.needs_module.names]
        self.truck_rolls_per_need = np.array([n.p_truck_roll for n in needs])
        bs = [cfg.adoption.behaviours[n] for n in model.pop.behaviour_names]
        self.behaviour_cost = [(b, beh.cost_category, beh.cost_per_year_without / 12.0)
                               for b, beh in enumerate(bs) if beh.cost_per_year_without > 0]
        self.categories = sorted({c for _, c, _ in self.behaviour_cost})
        # the same costs in the order the reference adds them (by category, then behaviour), for the kernel
        ordered = [(b, cat, monthly) for category in self.categories
                   for b, cat, monthly in self.behaviour_cost if cat == category]
        self.cost_behaviour = np.array([b for b, _, _ in ordered], dtype=np.int64)
        self.cost_category = [cat for _, cat, _ in ordered]
        self.cost_monthly = np.array([m for _, _, m in ordered], dtype=np.float64)
        self.monthly_discount = (1.0 + self.econ.rate_discount_year) ** (1.0 / 12.0) - 1.0

    def discount_factor(self, month: int) -> float:
        """What a USD of reported month ``month``'s profit is worth today: booked at the end of the
        month (cash_flow "monthly") or of its year ("annual"), at rate_discount_year."""
        if self.econ.cash_flow == "annual":
            return (1.0 + self.econ.rate_discount_year) ** -(month // 12 + 1)
        return (1.0 + self.monthly_discount) ** -(month + 1)

    def _phone_line(self, k) -> tuple[float, float]:
        """The firm's phone line: what its staffed hours cost plus a per-call cost, shared over the
        month's calls so each customer's calls carry the firm's cost per call: (total, per call)."""
        phone_calls_firm = float(k["calls_offered"])
        phone_total = (float(k["staffing_cost"])
                       + phone_calls_firm * self.channel_cost[self.phone])
        return phone_total, (phone_total / phone_calls_firm if phone_calls_firm > 0 else 0.0)

    def start(self, model, ms) -> None:
        """Begin the month's per-customer sums once their inputs are final (churn has run): on a
        thread of their own when the compiled stages may use two, so acquisition runs beside them.
        Acquisition changes nothing they read (it adds rows and ties; a column it moves to a larger
        array keeps its values, and the sums hold the arrays they were given), so they are the sums
        step would make. Below PARALLEL_MIN_ROWS customers a thread costs more than it saves."""
        if COMPILED and ms.n_act >= kernels.PARALLEL_MIN_ROWS and kernels.numba.get_num_threads() > 1:
            args, sums = self._billing(model, ms)
            ms.billing = (Beside(_economics_kernel, *args, *sums), sums)

    def _billing(self, model, ms) -> tuple[tuple, tuple[np.ndarray, ...]]:
        """The kernel's inputs, and its outputs at zero: totals (revenue, product cost, truck rolls),
        counts (abusers, then customers without each cost behaviour), contacts per channel, and by
        segment margin, cost, leavers and customers."""
        pop = model.pop
        n_seg = len(self.seg_margin)
        _, per_call = self._phone_line(ms.kpis)
        args = (ms.act, pop.segment, pop.products, pop.is_abuser, pop.churn_month, pop.adoption,
                pop.seg_revenue_year, pop.seg_product_cost_year, float(self.econ.rel_price_index / 12.0),
                ms.contacts, ms.phone_calls_total, ms.needs, self.channel_cost, self.phone, per_call,
                self.truck_rolls_per_need * self.econ.cost_truck_roll, float(self.abuser_monthly_cost),
                self.cost_behaviour, self.cost_monthly, int(ms.month))
        sums = (np.zeros(3), np.zeros(1 + len(self.cost_behaviour), dtype=np.int64),
                np.zeros(len(CHANNELS), dtype=np.int64), np.zeros(n_seg), np.zeros(n_seg),
                np.zeros(n_seg, dtype=np.int64), np.zeros(n_seg, dtype=np.int64))
        return args, sums

    def step(self, model, ms) -> None:
        if not COMPILED:
            return self.step_numpy(model, ms)
        k = ms.kpis
        w = model.customers_per_agent
        phone_total, _ = self._phone_line(k)
        begun, ms.billing = ms.billing, None
        if begun is not None:
            running, sums = begun
            running.result()
        else:
            args, sums = self._billing(model, ms)
            _economics_kernel(*args, *sums)
        totals, counts, contacts, seg_margin, seg_cost, seg_left, seg_n = sums
        for c, channel in enumerate(CHANNELS):
            k[f"cost_contacts_{channel}"] = (phone_total if c == self.phone
                                             else float(contacts[c] * self.channel_cost[c]) * w)
        k["cost_truck_rolls"] = float(totals[2]) * w
        k["cost_abuse"] = float(counts[0] * self.abuser_monthly_cost) * w
        behaviour_total = 0.0
        for category in self.categories:
            total = 0.0
            for e, cat in enumerate(self.cost_category):
                if cat == category:
                    total += counts[1 + e] * self.cost_monthly[e]
            k[f"cost_{category}"] = float(total) * w
            behaviour_total += k[f"cost_{category}"]
        self._month_totals(model, ms, float(totals[0]), float(totals[1]), phone_total, behaviour_total)
        self._segment_accounts(model, ms, seg_margin, seg_cost, seg_left, seg_n)

    def step_numpy(self, model, ms) -> None:
        """The reference the kernel must match."""
        pop, k, act = model.pop, ms.kpis, ms.act
        w = model.customers_per_agent
        seg = pop.segment[act]
        n_seg = len(self.seg_margin)
        products = pop.products[act]
        revenue = products * (pop.seg_revenue_year[seg] * (self.econ.rel_price_index / 12.0))
        product_cost = products * (pop.seg_product_cost_year[seg] / 12.0)
        phone_total, per_call = self._phone_line(k)
        # Column loops rather than (n x 5) @ (5,) products: BLAS threads cost more than they
        # save at this width. The phone column counts contacts that chose phone; calls served
        # include spills and repeats.
        cost = np.zeros(len(act))
        for c, channel in enumerate(CHANNELS):
            if c == self.phone:
                cost += ms.phone_calls_total * per_call
                k[f"cost_contacts_{channel}"] = phone_total
                continue
            n = ms.contacts[:, c]
            cost += n * self.channel_cost[c]
            k[f"cost_contacts_{channel}"] = float(n.sum() * self.channel_cost[c]) * w
        truck = np.zeros(len(act))
        for j in np.flatnonzero(self.truck_rolls_per_need):
            truck += ms.needs[:, j] * (self.truck_rolls_per_need[j] * self.econ.cost_truck_roll)
        cost += truck
        k["cost_truck_rolls"] = float(truck.sum()) * w
        abusers = pop.is_abuser[act]
        cost[abusers] += self.abuser_monthly_cost
        k["cost_abuse"] = float(np.count_nonzero(abusers) * self.abuser_monthly_cost) * w
        flags = pop.adoption[act]
        behaviour_total = 0.0
        for category in self.categories:
            total = 0.0
            for b, cat, monthly in self.behaviour_cost:
                if cat == category:
                    without = ~flag_of(flags, b)
                    cost[without] += monthly
                    total += np.count_nonzero(without) * monthly
            k[f"cost_{category}"] = float(total) * w
            behaviour_total += k[f"cost_{category}"]
        self._month_totals(model, ms, float(revenue.sum()), float(product_cost.sum()), phone_total, behaviour_total)
        seg_margin = np.bincount(seg, weights=revenue - product_cost, minlength=n_seg)
        seg_cost = np.bincount(seg, weights=cost, minlength=n_seg)
        left = act[pop.churn_month[act] == ms.month]
        seg_left = np.bincount(pop.segment[left], minlength=n_seg)
        self._segment_accounts(model, ms, seg_margin, seg_cost, seg_left, np.bincount(seg, minlength=n_seg))

    def _month_totals(self, model, ms, revenue: float, product_cost: float, phone_total: float,
                      behaviour_total: float) -> None:
        """Revenue, costs, programme spend and profit of the month, at firm scale."""
        k, w = ms.kpis, model.customers_per_agent
        acquisition = w * (k["new_acquired_paid"] * self.econ.cost_acquisition_paid
                           + k["new_acquired_referred"] * self.econ.cost_acquisition_referred)
        cx_spend = 0.0
        for programme in model.programmes.items:
            spend = programme.spend(model, ms)
            k[f"cost_programme_{programme.name}"] = spend
            cx_spend += spend
        k["revenue"] = revenue * w
        k["cost_products"] = product_cost * w
        # the firm's phone line as its centre costs it, every other category as summed above
        k["cost_to_serve"] = (phone_total + behaviour_total + k["cost_truck_rolls"] + k["cost_abuse"]
                              + sum(k[f"cost_contacts_{ch}"] for c, ch in enumerate(CHANNELS) if c != self.phone))
        k["cost_acquisition"] = float(acquisition)
        k["cost_cx_programmes"] = cx_spend
        k["profit"] = (k["revenue"] - k["cost_products"] - k["cost_to_serve"] - k["cost_acquisition"]
                       - cx_spend)
        k["discount_factor"] = self.discount_factor(ms.run_month)
        k["profit_discounted"] = k["profit"] * k["discount_factor"]

    def _segment_accounts(self, model, ms, seg_margin, seg_cost, seg_left, seg_n) -> None:
        """By segment, at firm scale, and the running totals lifetime value is computed from."""
        pop, k, w, n_seg = model.pop, ms.kpis, model.customers_per_agent, len(self.seg_margin)
        joined = ms.joined
        unit = np.where(pop.referred[joined], self.econ.cost_acquisition_referred, self.econ.cost_acquisition_paid)
        seg_acquisition = np.bincount(pop.segment[joined], weights=unit, minlength=n_seg)
        # by segment, at firm scale: what each segment brings before CX programmes (shared spend)
        for s, name in enumerate(model.pop.segment_names):
            k[f"segment_{name}_margin"] = float(seg_margin[s]) * w
            k[f"segment_{name}_cost_to_serve"] = float(seg_cost[s]) * w
            k[f"segment_{name}_acquisition"] = float(seg_acquisition[s]) * w
            k[f"segment_{name}_churn"] = int(seg_left[s])  # an agent sum: scaled when recorded
        self.seg_customer_months += seg_n
        self.seg_margin += seg_margin
        self.seg_cost_to_serve += seg_cost
        self.seg_churned += seg_left

    def lifetime_value(self, segment_names: list[str]) -> dict[str, dict[str, float]]:
        """Simulated lifetime value per customer of each segment from the run's margins and retention.

        With monthly net value m and churn c, an infinite-horizon customer is worth what NPV would
        count for them: each month's value at the month's end while they were there at its start,
        m / (c + d) at d a month (sim.analytic.lifetime_value, timing="arrears"). With annual cash
        flows each year's value is booked at the year's end: m A / (1 + i - R) with R = (1 - c)^12
        the year's retention, A = (1 - R) / c the months a customer there at its start stays in
        it, and i the yearly rate. Lifetimes are those of a constant churn c: mean 1 / c months,
        median the month by which half have left (sim.analytic.median_lifetime).
        """
        out = {}
        annual = self.econ.cash_flow == "annual"
        for s, name in enumerate(segment_names):
            months = self.seg_customer_months[s]
            if months == 0:
                continue
            m = (self.seg_margin[s] - self.seg_cost_to_serve[s]) / months
            c = self.seg_churned[s] / months
            out[name] = {
                "net_value_per_month": float(m),
                "churn_rate_month": float(c),
                "expected_lifetime_years": float(1.0 / c / 12.0) if c > 0 else float("inf"),
                "median_lifetime_years": median_lifetime(min(c, 1.0)) / 12.0,
                "lifetime_value_undiscounted": float(m / c) if c > 0 else float("inf"),
                "lifetime_value": self._lifetime_value(m, min(c, 1.0), annual),
            }
        return out

    def _lifetime_value(self, m: float, c: float, annual: bool) -> float:
        if not annual:
            return float(lifetime_value(m, 1.0 - c, self.monthly_discount, timing="arrears"))
        year_retention = (1.0 - c) ** 12
        months_in_year = (1.0 - year_retention) / c if c > 0 else 12.0
        return float(lifetime_value(m * months_in_year, year_retention, self.econ.rate_discount_year,
                                    timing="arrears"))


@kernel
def _economics_kernel(act, segment, products, is_abuser, churn_month, adopted, seg_revenue_year,
                      seg_product_cost_year, price_per_month, contacts, phone_calls_total, needs, channel_cost,
                      phone, per_call, truck_cost_per_need, abuser_monthly_cost, cost_behaviour, cost_monthly,
                      month, totals, counts, contact_counts, seg_margin, seg_cost, seg_left, seg_n):
    """Economics.step_numpy's per-customer sums, one customer at a time (cost added in its order)."""
    n_channels = channel_cost.shape[0]
    n_needs = truck_cost_per_need.shape[0]
    # the three totals in locals: stores to an output array cannot be kept in registers (numba
    # cannot rule out that it aliases another argument); the same adds in the same order
    revenue_total, product_cost_total, truck_total = totals[0], totals[1], totals[2]
    # the per-category counters in arrays of the kernel's own, for the same reason: the compiler
    # knows these alias nothing, so it keeps them out of the loads and stores of every customer
    n_seg = seg_margin.shape[0]
    my_counts = np.zeros(counts.shape[0], dtype=np.int64)
    my_contacts = np.zeros(n_channels, dtype=np.int64)
    my_margin, my_cost = np.zeros(n_seg), np.zeros(n_seg)
    my_left, my_n = np.zeros(n_seg, dtype=np.int64), np.zeros(n_seg, dtype=np.int64)
    for i in range(act.shape[0]):
        slot = act[i]
        s = segment[slot]
        revenue = products[slot] * (seg_revenue_year[s] * price_per_month)
        product_cost = products[slot] * (seg_product_cost_year[s] / 12.0)
        # Terms of zero count are added as 0.0 (exact: x + 0.0 == x for the non-negative sums
        # here) rather than skipped: whether a customer has a contact in a channel is a coin
        # toss the CPU cannot predict, and a mispredicted branch costs more than the add.
        cost = 0.0
        for c in range(n_channels):
            if c == phone:
                cost += phone_calls_total[i] * per_call
            else:
                cost += contacts[i, c] * channel_cost[c]
                my_contacts[c] += contacts[i, c]
        truck = 0.0
        for j in range(n_needs):
            truck += needs[i, j] * truck_cost_per_need[j]
        cost += truck
        abuser = is_abuser[slot]
        cost += abuser * abuser_monthly_cost
        my_counts[0] += abuser
        for e in range(cost_behaviour.shape[0]):
            without = not shows(adopted[slot], cost_behaviour[e])
            cost += without * cost_monthly[e]
            my_counts[1 + e] += without
        revenue_total += revenue
        product_cost_total += product_cost
        truck_total += truck
        my_margin[s] += revenue - product_cost
        my_cost[s] += cost
        my_n[s] += 1
        if churn_month[slot] == month:
            my_left[s] += 1
    totals[0], totals[1], totals[2] = revenue_total, product_cost_total, truck_total
    counts += my_counts  # the outputs start at zero (Economics.step): the same sums
    contact_counts += my_contacts
    seg_margin += my_margin
    seg_cost += my_cost
    seg_left += my_left
    seg_n += my_n
