"""Word of mouth as an independent cascade is bond percolation on the tie network.

With ``adoption.mixing=cascade`` each new adopter tells each of its ties once, in the month
after adopting, and a told tie adopts with probability T = 1 - exp(-rate_imitation) (no
innovation, no trust gate, everyone eligible, no churn or acquisition). On a network without
clustering that is SIR with one-month infectious periods, whose final size from a random seed
share e is, on the network's own degree distribution p_k with generating functions
G0(x) = sum p_k x^k and G1(x) = G0'(x) / <k> (Newman 2002; Miller 2011 for seeded starts),

    S = e + (1 - e) (1 - G0(u)),   u = 1 - T (1 - (1 - e) G1(u)),

with the epidemic threshold T_c = <k> / (<k^2> - <k>): below it a cascade stays near its seeds.
The test runs 50,000 customers on an unclustered tie network (mean degree 8), 1% seeds, three
seeds per transmissibility, and compares the mean final adoption share with the mean prediction
on each run's own degrees. Tolerance: 0.006 above the threshold and 0.004 below it, each about
three times the seed-to-seed standard error measured over five seeds (0.003 and 0.0023 for one
run), plus the largest offset seen there (0.0016).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim import load_config
from sim.model import CXModel

BEHAVIOUR = "ebill"
SEEDED = 0.01


def _cascade(transmissibility: float, seed: int) -> tuple[float, np.ndarray]:
    """Final adoption share of a cascade at T per tie, and the degrees of its network."""
    b = f"adoption.behaviours.{BEHAVIOUR}"
    cfg = load_config([
        "population.n_customers=50000", "years=4", "warmup_years=0", "progress=false", f"seed={seed}",
        "adoption.mixing=cascade", "referral.clustering=0", "churn.rate_other=0", "churn.rate_service_max=0",
        "churn.rate_price=0", "referral.rate_paid_acquisition=0", "referral.rate_referral_promoter=0",
        f"{b}.p_initial={SEEDED}", f"{b}.p_ceiling=1", f"{b}.rate_innovation=0",
        f"{b}.rate_imitation={-math.log1p(-transmissibility)}", f"{b}.sat_threshold=0",
        f"{b}.rel_sat_slope=0", f"{b}.rel_incentive=1",
    ])
    model = CXModel(cfg)
    degrees = model.graph.degree()[: model.pop.n_slots].copy()
    while model.running:
        model.step()
    last = model.records[-1]
    assert last["new_adopt_" + BEHAVIOUR] == 0, "the cascade had not finished"
    return float(last[f"adopt_{BEHAVIOUR}"]), degrees


def _moments(degrees: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    pk = np.bincount(degrees) / len(degrees)
    k = np.arange(len(pk), dtype=float)
    return pk, k, float((k * pk).sum())


def threshold(degrees: np.ndarray) -> float:
    pk, k, mean = _moments(degrees)
    return mean / float((k * k * pk).sum() - mean)


def final_size(degrees: np.ndarray, transmissibility: float, seeded: float) -> float:
    pk, k, mean = _moments(degrees)
    u = 0.0
    for _ in range(5000):  # the fixed point is attracting from 0; this is far past convergence
        g1 = float((k[1:] * pk[1:] * u ** (k[1:] - 1)).sum()) / mean
        u = 1.0 - transmissibility * (1.0 - (1.0 - seeded) * g1)
    return seeded + (1.0 - seeded) * (1.0 - float((pk * u ** k).sum()))


@pytest.fixture(scope="module")
def critical() -> float:
    _, degrees = _cascade(0.01, seed=1)
    return threshold(degrees)


def test_the_threshold_is_the_degree_distributions():
    # a random graph of mean degree 8 whose degrees are 4 + about Poisson(4): <k^2> ~ 72, T_c ~ 0.13
    _, degrees = _cascade(0.01, seed=1)
    assert threshold(degrees) == pytest.approx(8 / (8 * 8 + 4 - 8), rel=0.02)


@pytest.mark.parametrize("times_critical, tolerance", [(0.6, 0.004), (1.5, 0.006), (2.25, 0.006)])
def test_cascade_final_size_is_percolations(critical, times_critical, tolerance):
    transmissibility = times_critical * critical
    runs = [_cascade(transmissibility, seed) for seed in (1, 2, 3)]
    simulated = np.mean([share for share, _ in runs])
    predicted = np.mean([final_size(degrees, transmissibility, SEEDED) for _, degrees in runs])
    assert simulated == pytest.approx(predicted, abs=tolerance)
    if times_critical < 1:
        assert simulated - SEEDED < 2 * SEEDED  # below the threshold: it stays near its seeds
    else:
        assert simulated > 0.3  # above it: a large share of the firm
