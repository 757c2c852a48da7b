"""Adoption's reads of the tie network: exact against full recomputation.

Adoption never recomputes tie counts over the whole graph: it screens customers by an upper
bound on their adoption probability and reads only the screened customers' ties
(sim.modules.adoption, TieGraph.ties_of). These tests hold both to the dense formulas they
replace, after random adds and changes and during model runs.
"""

import numpy as np
import pytest

from sim.network import TieGraph, watts_strogatz_edges


def _rng(seed=0):
    return np.random.default_rng(seed)


def _reference_share(graph, active, adopted):
    """Full recomputation: active ties and active adopting ties over the whole graph."""
    ties = graph.neighbour_sum(np.column_stack([active, adopted & active[:, None]]).astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nan_to_num(ties[:, 1:] / ties[:, :1], nan=0.0)


def _all_shares(adoption, model, act: np.ndarray) -> np.ndarray:
    """(n_act, n_behaviours) imitation shares of every customer in ``act`` for every behaviour."""
    everyone = np.arange(len(act))
    shares = adoption.shares(model, act, {b: everyone for b in range(len(adoption.names))})
    out = np.zeros((len(act), len(adoption.names)))
    for b, share in shares.items():
        out[:, b] = share
    return out


def test_imitation_share_equals_full_recount_after_random_adds_and_changes():
    from types import SimpleNamespace

    from sim.modules.adoption import Adoption

    rng = _rng(21)
    n, k = 500, 3
    graph = TieGraph(n, *watts_strogatz_edges(n, 8, 0.3, rng))
    graph.add_edges(np.array([0, 0, 7]), np.array([1, 1, 7]))  # a repeated tie and a self-tie
    shown = rng.random((n, k)) < 0.3
    pop = SimpleNamespace(active=rng.random(n) < 0.9, adoption=(shown << np.arange(k)).sum(axis=1).astype(np.uint8),
                          shows_matrix=lambda slots=slice(None): shown[slots])
    model = SimpleNamespace(graph=graph, pop=pop)
    adoption = Adoption.__new__(Adoption)  # shares read only model.graph, model.pop and mixing
    adoption.names, adoption.mixing = ["a", "b", "c"], "network"
    for month in range(40):
        # adopters, leavers, and newcomers with ties, as a month brings them
        shown |= rng.random(shown.shape) < 0.02
        pop.active &= rng.random(len(pop.active)) > 0.02
        n_new = int(rng.integers(0, 20))
        graph.add_nodes(n_new)
        pop.active = np.concatenate([pop.active, np.ones(n_new, dtype=bool)])
        shown = np.vstack([shown, np.zeros((n_new, k), dtype=bool)])
        pop.adoption = (shown << np.arange(k)).sum(axis=1).astype(np.uint8)  # the population's flags
        m_new = 3 * n_new
        graph.add_edges(rng.integers(0, graph.n_slots, m_new), rng.integers(0, graph.n_slots, m_new))
        full = _reference_share(graph, pop.active, shown)
        slots = np.sort(rng.choice(graph.n_slots, size=150, replace=False))
        np.testing.assert_array_equal(_all_shares(adoption, model, slots), full[slots])
        # as the step asks: different customers per behaviour, overlapping
        rows = {b: np.sort(rng.choice(150, size=int(rng.integers(0, 60)), replace=False)) for b in range(k)}
        for b, share in adoption.shares(model, slots, rows).items():
            np.testing.assert_array_equal(share, full[slots[rows[b]], b])
    everyone = np.arange(graph.n_slots)
    np.testing.assert_array_equal(_all_shares(adoption, model, everyone), full)


def test_imitation_share_during_a_run_equals_full_recount(small_config):
    from sim.model import CXModel

    model = CXModel(small_config("seed=4", "years=1"))
    adoption = next(m for m in model.stage_modules if m.name == "adoption")
    for _ in range(6):
        model.step()  # adopters, leavers, newcomers and their ties every month
        act = model.pop.active_slots()
        full = _reference_share(model.graph, model.pop.active, model.pop.shows_matrix())
        np.testing.assert_array_equal(_all_shares(adoption, model, act), full[act])


def _reference_new_adopters(adoption, model, ms):
    """The dense rule: every hazard for every active customer and behaviour, full tie counts."""
    pop, act = model.pop, ms.act
    sat = pop.satisfaction[act]
    adopted = pop.shows_matrix(act)
    if adoption.mixing == "global":
        share = (pop.shows_matrix() & pop.active[:, None])[act].mean(axis=0)
    else:
        share = _reference_share(model.graph, pop.active, pop.shows_matrix())[act]
    hazard = adoption.incentive * (adoption.p + adoption.q * share)
    hazard = hazard * np.exp(np.outer(sat - 7.0, adoption.slope))
    hazard = np.where(sat[:, None] < adoption.threshold, 0.0, hazard)
    prob = -np.expm1(-hazard)
    new = np.zeros_like(adopted)
    if ms.run_month < 0:
        return new  # behaviours are frozen while warming up
    for b, name in enumerate(adoption.names):
        u = model.streams.uniform(f"adoption.{name}", ms.month, act)
        eligible = pop.eligibility_uniform(name, act) < adoption.ceiling[b]
        new[:, b] = (u < prob[:, b]) & ~adopted[:, b] & eligible
    return new


TRUST = [f"adoption.behaviours.{b}.{k}={v}" for b, k, v in [
    ("ebill", "rel_sat_slope", 0.8), ("ebill", "sat_threshold", 5.0), ("ebill", "rel_incentive", 20.0),
    ("autopay", "rate_imitation", 0.0), ("autopay", "rel_sat_slope", 0.0),
]]


@pytest.mark.parametrize("overrides", [
    (),
    ("adoption.mixing=global",),
    tuple(TRUST),
    ("referral.mean_degree=0",),
], ids=["default", "global", "trust", "no-ties"])
def test_adoption_step_equals_the_dense_rule(small_config, overrides):
    from sim.model import CXModel

    model = CXModel(small_config("seed=9", "years=1", "warmup_years=0", *overrides))
    adoption = next(m for m in model.stage_modules if m.name == "adoption")
    screened_step = adoption.step
    total = 0

    def checked_step(model, ms):
        nonlocal total
        expected = _reference_new_adopters(adoption, model, ms)
        before = model.pop.shows_matrix()
        screened_step(model, ms)
        gained = model.pop.shows_matrix() & ~before
        np.testing.assert_array_equal(gained[ms.act], expected)
        assert gained.sum() == expected.sum()  # nobody outside the active base
        for b, name in enumerate(adoption.names):
            assert ms.kpis[f"new_adopt_{name}"] == expected[:, b].sum()
        total += int(expected.sum())

    adoption.step = checked_step
    for _ in range(12):
        model.step()
    assert total > 100
