"""A constant churn hazard gives geometric survival.

With the service and price causes switched off, every hazard multiplier set to 1 (switching
barriers of products, tenure and behaviours; the raised hazard after a failed complaint
recovery) and no acquisition, each customer leaves in each month with probability
1 - exp(-h) independently of everything else, h = churn.rate_other. The customers still active after t months are then
exactly Binomial(N, exp(-h t)), and the whole survival curve is a sequence of Bernoulli trials
with monthly survival s = exp(-h), whose maximum-likelihood estimate is
    s_hat = (customer-months survived) / (customer-months at risk) = sum_t S_t / sum_t S_{t-1}
with standard error sqrt(s (1 - s) / sum_t S_{t-1}).

Tolerances are 4 standard deviations of those exact sampling distributions: a correct model
fails one comparison with probability about 6e-5 (normal approximation, which is good here:
every N s (1 - s) involved is in the hundreds).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim import run
from sim.model import CXModel
from sim.population import CHURN_REASONS

N = 4000
YEARS = 3
H = 0.03  # monthly hazard: survival exp(-0.03 * 36) = 0.34 at the end, so the curve is well spread
N_SD = 4.0


def _constant_hazard_config(small_config, h: float, seed: int = 11):
    """Churn only for 'other' reasons at hazard h, with no barriers and no newcomers."""
    base = small_config()
    # every behaviour with a switching barrier (autopay, budget billing in the utility preset)
    # is neutralised, including any a preset adds later
    barrier_off = [f"adoption.behaviours.{name}.rel_churn=1" for name in base.adoption.behaviours]
    cfg = small_config(
        f"population.n_customers={N}", f"years={YEARS}", f"seed={seed}", "warmup_years=0",
        "churn.rate_service_max=0", "churn.rate_price=0", f"churn.rate_other={h}",
        "churn.rel_per_extra_product=1", "churn.rel_tenure_full=1",
        # a failed complaint recovery multiplies the hazard for some months: neutralise it too
        "complaints.rel_churn_failed_recovery=1",
        "referral.rate_paid_acquisition=0", "referral.rate_referral_promoter=0",
        *barrier_off,
    )
    assert all(b.rel_churn == 1.0 for b in cfg.adoption.behaviours.values())
    return cfg


def _run_model(cfg) -> CXModel:
    model = CXModel(cfg)
    while model.running:
        model.step()
    return model


@pytest.fixture(scope="module")
def survival_run(small_config):
    return run(_constant_hazard_config(small_config, H))


def _survivors(monthly) -> np.ndarray:
    """S_0..S_T: active customers at the start of month 0, then at the end of each month."""
    return np.concatenate([[monthly["customers_start"].iloc[0]], monthly["customers"].to_numpy()])


def test_no_newcomers_so_the_curve_is_a_pure_survival_curve(survival_run):
    m = survival_run.monthly
    assert m["customers_start"].iloc[0] == N
    assert (m["new_acquired_paid"] == 0).all() and (m["new_acquired_referred"] == 0).all()
    s = _survivors(m)
    # stock-flow identity: each month's end stock is its start stock less its churners
    assert np.array_equal(np.diff(s), -m["new_churn"].to_numpy())


def test_survivors_follow_binomial_with_geometric_mean(survival_run):
    s_t = _survivors(survival_run.monthly)
    t = np.arange(len(s_t))
    surv = np.exp(-H * t)
    mean = N * surv
    sd = np.sqrt(N * surv * (1.0 - surv))
    z = (s_t[1:] - mean[1:]) / sd[1:]
    # exact law: S_t ~ Binomial(N, exp(-h t)); tolerance 4 binomial SD at every month
    bad = np.flatnonzero(np.abs(z) > N_SD)
    assert bad.size == 0, (
        f"survivors outside {N_SD} binomial SD of N exp(-h t) at months {(bad + 1).tolist()}: "
        f"observed {s_t[bad + 1].tolist()}, expected {mean[bad + 1].round(1).tolist()}, "
        f"z {z[bad].round(2).tolist()}"
    )
    # the comparison has teeth: a 20% different hazard would be far outside the band at the end
    wrong = N * math.exp(-1.2 * H * t[-1])
    assert abs(wrong - mean[-1]) > 2 * N_SD * sd[-1]


def test_fitted_monthly_survival_matches_exp_minus_h(survival_run):
    s_t = _survivors(survival_run.monthly).astype(np.float64)
    at_risk = s_t[:-1].sum()
    s_hat = s_t[1:].sum() / at_risk
    s_true = math.exp(-H)
    se = math.sqrt(s_true * (1.0 - s_true) / at_risk)
    # MLE of a Bernoulli survival probability over all customer-months; tolerance 4 SE
    assert abs(s_hat - s_true) <= N_SD * se, (
        f"fitted monthly survival {s_hat:.5f} vs exp(-h) = {s_true:.5f}: "
        f"{abs(s_hat - s_true) / se:.2f} SE apart (allowed {N_SD})"
    )


def test_every_churner_leaves_for_reason_other(small_config):
    cfg = _constant_hazard_config(small_config, H)
    model = _run_model(cfg)
    pop = model.pop
    churned = ~pop.active
    assert churned.sum() > 0.5 * N  # exp(-1.08) = 0.34 survive, so about 2600 churners
    # slot level: every leaver carries the 'other' code, every stayer none
    assert (pop.churn_reason[churned] == CHURN_REASONS.index("other")).all()
    assert (pop.churn_reason[~churned] == -1).all()
    assert (pop.churn_month[churned] >= 0).all()
    # KPI level: the reason columns agree
    kpis = {k: np.array([r[k] for r in model.records]) for k in
            ("new_churn", "new_churn_other", "new_churn_service", "new_churn_price")}
    assert np.array_equal(kpis["new_churn"], kpis["new_churn_other"])
    assert not kpis["new_churn_service"].any() and not kpis["new_churn_price"].any()
    assert kpis["new_churn"].sum() == churned.sum()


def test_higher_hazard_gives_fewer_survivors_at_the_same_seed(small_config):
    """Paired by common random numbers: slot i leaves in month m when its churn uniform for
    (m, i) falls below 1 - exp(-h). Raising h can only bring each customer's exit forward, so
    the ordering holds for every slot and every month, not just on average (no tolerance)."""
    low = _run_model(_constant_hazard_config(small_config, 0.02))
    high = _run_model(_constant_hazard_config(small_config, 0.03))
    assert low.pop.n_slots == high.pop.n_slots == N

    never = np.iinfo(low.pop.churn_month.dtype).max  # later than any month the column can hold
    exit_low = np.where(low.pop.active, never, low.pop.churn_month)
    exit_high = np.where(high.pop.active, never, high.pop.churn_month)
    assert (exit_high <= exit_low).all(), "a customer left later under the higher hazard"
    assert (exit_high < exit_low).any()

    cust_low = np.array([r["customers"] for r in low.records])
    cust_high = np.array([r["customers"] for r in high.records])
    assert (cust_high <= cust_low).all()
    assert cust_high[-1] < cust_low[-1]
    # the high-hazard survivors are a subset of the low-hazard survivors
    assert not (high.pop.active & ~low.pop.active).any()
