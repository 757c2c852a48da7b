"""The discrete-event contact centre (contact_centre.mode=des): engine, pairing, bookkeeping."""

from __future__ import annotations

import copy
import math
from types import SimpleNamespace

import numpy as np
import pytest

import sim.kernels
from sim import ConfigError, load_config, run
from sim.config import CHANNELS
from sim.contact_centre import make_contact_centre
from sim.contact_centre.des_mode import (
    DESContactCentre,
    simulate_queue,
    simulate_queue_simpy,
)
from sim.kpis import describe
from sim.month_state import MonthState
from sim.rng import Streams

# ---------------------------------------------------------------------------------------------
# the compiled engine is SimPy's model, call for call


def _random_day(rng: np.random.Generator, trial: int):
    n0 = int(rng.integers(1, 200))
    n_retry = int(rng.integers(0, min(60, n0) + 1))
    first = np.sort(rng.uniform(0, 3600, n0))
    if trial % 5 == 0:
        first = np.round(first / 60) * 60  # callers arriving at the same second
    arrival = np.concatenate([first, rng.uniform(0, 4000, n_retry)])
    if trial % 7 == 0:
        arrival = np.round(arrival / 30) * 30
    handle = rng.exponential(300, n0 + n_retry)
    if trial % 6 == 0:
        handle = np.round(handle / 60) * 60  # calls ending together, and with shift changes
    patience = np.where(rng.random(n0 + n_retry) < 0.2, np.inf, rng.exponential(180, n0 + n_retry))
    child = np.full(n0 + n_retry, -1)
    child[rng.choice(n0, size=n_retry, replace=False)] = n0 + np.arange(n_retry)
    heads = rng.integers(0, 6, int(rng.integers(0, 8)))  # none, closed intervals, ups and downs
    interval = float(rng.choice([600.0, 900.0, 1800.0]))
    busy, stop = np.empty(0), math.inf
    if trial % 3 == 1:  # a centre open around the clock: the state handed over by the run before
        n_queued = int(rng.integers(0, min(20, n0) + 1))
        arrival[:n_queued] = np.sort(-rng.uniform(0, 1200, n_queued))  # queued before the start
        busy = rng.exponential(300, int(rng.integers(0, 8)))
        stop = max(len(heads), 1) * interval * float(rng.choice([0.5, 1.0]))
    return arrival, handle, patience, heads, interval, n0, child, busy, stop


@pytest.mark.skipif(not sim.kernels.COMPILED, reason="numba is not installed")
def test_compiled_engine_matches_simpy_call_for_call():
    rng = np.random.default_rng(20261202)
    for trial in range(300):
        arrival, handle, patience, heads, interval, n0, child, busy, stop = _random_day(rng, trial)
        kw = {"n_initial": n0, "child": child, "busy_until": busy, "stop_s": stop}
        fast = simulate_queue(arrival, handle, patience, heads, interval, **kw)
        ref = simulate_queue_simpy(arrival, handle, patience, heads, interval, **kw)
        assert np.array_equal(fast.arrived, ref.arrived), trial
        assert np.array_equal(fast.answered, ref.answered), trial
        assert np.array_equal(fast.virtual_wait, ref.virtual_wait, equal_nan=True), trial
        assert fast.busy_s == ref.busy_s, trial
        assert np.array_equal(fast.waiting, ref.waiting), trial
        assert np.array_equal(fast.busy_until, ref.busy_until), trial
        if math.isinf(stop):
            assert not fast.waiting.any() and len(fast.busy_until) == 0  # a closing centre drains


@pytest.mark.skipif(not sim.kernels.COMPILED, reason="numba is not installed")
def test_compiled_arrival_times_and_days_are_the_numpy_ones(monkeypatch):
    import sim.contact_centre.schedule as schedule

    # closed intervals (rate 0) between open ones, and uniforms on the cumulative profile's steps
    cc = SimpleNamespace(dur_interval_min=30.0, rel_intraday=[0.0, 1.0, 0.0, 2.5, 0.5, 0.0],
                         rel_weekday=[1.0, 1.0, 0.6, 1.0, 1.0, 0.3, 0.0])
    profile = schedule.Profile(cc)
    cal = profile.calendar(7)
    day_cum = np.cumsum(cal.p_day)
    u = np.concatenate([np.random.default_rng(3).random(5000), profile._cum, day_cum[:-1],
                        np.nextafter(profile._cum, 0.0), [0.0, 1.0 - 2**-53]])
    u = np.clip(u, 0.0, 1.0 - 2**-53)
    fast = profile.time_of_day(u), schedule.Profile.pick_day(u, cal)
    monkeypatch.setattr(schedule, "COMPILED", False)
    ref = profile.time_of_day(u), schedule.Profile.pick_day(u, cal)
    assert np.array_equal(fast[0], ref[0]) and np.array_equal(fast[1], ref[1])
    assert ((ref[0] >= 0) & (ref[0] < profile.day_s)).all() and set(ref[1]) == set(range(cal.n_open))


# ---------------------------------------------------------------------------------------------
# the engine on hand-checked examples


def test_engine_fcfs_with_lazy_abandonment_and_retry():
    # one agent, 10 s calls arriving at 0, 1, 2, 3; the caller at 1 hangs up at 6 and (as
    # attempt 4) calls again at 7. The agent is busy until 10, finds the caller at 1 gone
    # (virtual wait 9), puts the retry (due at 7, before anyone behind it) in the queue behind
    # the callers at 2 and 3, and serves 2 at 10, 3 at 20, the retry at 30.
    inf = math.inf
    res = simulate_queue([0.0, 1.0, 2.0, 3.0, 7.0], [10.0] * 5, [inf, 5.0, inf, inf, inf], [1],
                         interval_s=100.0, n_initial=4, child=[-1, 4, -1, -1, -1])
    assert res.arrived.tolist() == [True] * 5
    assert res.answered.tolist() == [True, False, True, True, True]
    np.testing.assert_allclose(res.virtual_wait, [0.0, 9.0, 8.0, 17.0, 23.0])
    assert res.busy_s == pytest.approx(40.0)


def test_engine_follows_the_staffing_schedule():
    # nobody on shift in the first 10 s, two agents afterwards; after closing (20 s) the last
    # head count stays until the queue is empty
    res = simulate_queue([1.0, 2.0, 3.0, 25.0], [30.0] * 4, [math.inf] * 4, [0, 2],
                         interval_s=10.0)
    np.testing.assert_allclose(res.virtual_wait, [9.0, 8.0, 37.0, 15.0])
    # an unused retry child never arrives
    res = simulate_queue([0.0, 5.0], [1.0, 1.0], [math.inf, math.inf], [1], 10.0, n_initial=1,
                         child=[1, -1])
    assert res.arrived.tolist() == [True, False] and np.isnan(res.virtual_wait[1])


def test_a_centre_open_around_the_clock_hands_its_queue_over():
    # one agent on a call until 5 s; a caller queued since -3 s and one arriving at 2 s; 10 s
    # calls. The agent reaches the first at 5 (waited 8) and is busy until 15; at the stop (8 s)
    # the second is still queued. The next run starts from that state: the agent is free at 7
    # (15 - 8) and reaches the second caller, who arrived at -6, after 13 s in all.
    inf = math.inf
    res = simulate_queue([-3.0, 2.0], [10.0, 10.0], [inf, inf], [1], 100.0, busy_until=[5.0], stop_s=8.0)
    assert res.answered.tolist() == [True, False] and res.waiting.tolist() == [False, True]
    assert res.virtual_wait[0] == 8.0 and res.busy_until.tolist() == [15.0]
    nxt = simulate_queue([2.0 - 8.0], [10.0], [inf], [1], 100.0, busy_until=res.busy_until - 8.0)
    assert nxt.answered.tolist() == [True] and nxt.virtual_wait[0] == 13.0


def test_a_day_cut_in_two_with_the_hand_over_is_the_same_day():
    # 2 hours at 30 agents then 33, 380 calls an hour of 5 minutes, exponential patience: run
    # whole, or stopped after the first hour and continued from its hand-over, every caller
    # waits the same (to float rounding: the second run's clock starts an hour later)
    rng = np.random.default_rng(7)
    arrival = np.cumsum(rng.exponential(3600 / 380, 800))
    arrival = arrival[arrival < 7200]
    handle, patience = rng.exponential(300, len(arrival)), rng.exponential(180, len(arrival))
    whole = simulate_queue(arrival, handle, patience, [30, 33], 3600.0, stop_s=7200.0)
    first = simulate_queue(arrival, handle, patience, [30], 3600.0, stop_s=3600.0)
    before = arrival < 3600.0
    assert first.waiting.any() and len(first.busy_until)  # a real hand-over, not an empty one
    rest = first.waiting | ~before  # queued at the cut, then the second hour's callers
    second = simulate_queue(arrival[rest] - 3600.0, handle[rest], patience[rest], [33], 3600.0,
                            busy_until=first.busy_until - 3600.0, stop_s=3600.0)
    done = before & ~first.waiting
    np.testing.assert_array_equal(whole.answered[done], first.answered[done])
    np.testing.assert_allclose(whole.virtual_wait[done], first.virtual_wait[done], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(whole.answered[rest], second.answered)
    np.testing.assert_array_equal(whole.waiting[rest], second.waiting)
    np.testing.assert_allclose(whole.virtual_wait[rest], second.virtual_wait, rtol=0, atol=1e-6)
    np.testing.assert_allclose(whole.busy_until, second.busy_until + 3600.0, rtol=0, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# the mode on hand-built months


@pytest.fixture(scope="module")
def base_cfg():
    return load_config(["population.n_customers=1000", "years=1", "progress=false",
                        "contact_centre.mode=des"])


def _cfg(base, **cc):
    cfg = copy.deepcopy(base)
    for k, v in cc.items():
        setattr(cfg.contact_centre, k, v)
    return cfg


def _run_month(cfg, calls, month=0, seed=0, centre=None):
    # customer i at slot i, with uid i (as before any compaction)
    model = SimpleNamespace(cfg=cfg, streams=Streams(seed), customers_per_agent=1.0,
                            pop=SimpleNamespace(uid=np.arange(len(calls), dtype=np.int64)))
    centre = centre or make_contact_centre(model)
    ms = MonthState(month, np.arange(len(calls), dtype=np.int64), 1, len(CHANNELS))
    ms.phone_calls[:] = calls
    ms.touch_n[:] = calls  # the channels stage counted the first contacts as touches
    centre.step(model, ms)
    return centre, ms


def test_make_contact_centre_builds_des(base_cfg):
    model = SimpleNamespace(cfg=base_cfg, streams=Streams(0), customers_per_agent=1.0)
    assert isinstance(make_contact_centre(model), DESContactCentre)


def test_bookkeeping_adds_up(base_cfg):
    cfg = _cfg(base_cfg, p_ivr_contained=0.2, rel_staffing=0.7)
    calls = np.where(np.arange(3000) % 3 == 0, 2, 0)
    centre, ms = _run_month(cfg, calls)
    k, log = ms.kpis, centre.last_log
    assert k["calls_offered"] == k["calls_handled"] + k["calls_abandoned"] + k["calls_ivr_contained"]
    assert k["calls_offered"] == int(ms.phone_calls_total.sum()) == len(log["slot"])
    first = log["attempt"] == 0
    assert first.sum() == calls.sum()  # every first contact calls in its own month
    assert k["calls_retried"] + k["calls_repeat"] == int((~first).sum())
    assert int(ms.touch_n.sum()) == calls.sum() + int((~first).sum())
    assert 0.15 < k["calls_ivr_contained"] / k["calls_offered"] < 0.25
    assert np.all(ms.phone_calls_total[calls == 0] == 0)
    # per customer, the experience added is the sum over their attempts
    per = np.bincount(log["slot"], weights=log["experience"], minlength=len(calls))
    np.testing.assert_allclose(ms.touch_sum, per + ms.phone_offset_sum)
    assert k["calls_abandoned"] > 0 and k["calls_retried"] > 0 and k["calls_repeat"] > 0


def test_contact_draws_are_paired_across_runs_that_differ_in_other_customers(base_cfg):
    cfg = _cfg(base_cfg, rel_staffing=0.8)
    calls_a = np.where(np.arange(4000) % 4 == 0, 1, 0)
    calls_b = calls_a.copy()
    calls_b[1::4] = 2  # many more callers in run B: the queue, and so outcomes, differ
    calls_b[::8] = 0  # and some of A's callers do not call in B
    watched = np.arange(0, 4000, 8) + 4  # callers in both runs
    a, _ = _run_month(cfg, calls_a)
    b, _ = _run_month(cfg, calls_b)
    la, lb = a.last_log, b.last_log

    def attempts(log):
        m = np.isin(log["slot"], watched)
        return {(int(key), int(j)): (d, t, h, p) for key, j, d, t, h, p in zip(
            log["key"][m], log["attempt"][m], log["day"][m], log["tod"][m], log["handle_s"][m],
            log["patience_s"][m])}

    ra, rb = attempts(la), attempts(lb)
    first = [key for key in ra if key[1] == 0]
    assert len(first) == len(watched)
    for key in first:  # arrival, handle time and patience of every first call are identical
        assert ra[key] == rb[key]
    both = [key for key in ra if key[1] > 0 and key in rb]
    assert both  # later attempts that happen in both runs draw the same handle time and patience
    for key in both:
        assert ra[key][2:] == rb[key][2:]
    # the queue itself differs between the runs
    wa = la["wait_s"][np.isin(la["slot"], watched)].mean()
    wb = lb["wait_s"][np.isin(lb["slot"], watched)].mean()
    assert wa != wb


def test_abandoned_calls_feel_worse_than_answered_ones(base_cfg):
    cfg = _cfg(base_cfg, agents_per_interval=[1] * 10, p_retry=0.0, n_attempts_max=1)
    centre, ms = _run_month(cfg, np.ones(2500, dtype=np.int32))
    log = centre.last_log
    ab, ans = log["abandoned"], log["answered"]
    assert ab.sum() > 50 and ans.sum() > 50
    assert log["experience"][ab].mean() < log["experience"][ans].mean() - 3.0
    # at equal waits an abandoned call is always worse than an answered, resolved one
    cc, phone = cfg.contact_centre, cfg.channels.channels["phone"].sat_experience
    answered_same_wait = phone - cc.sat_wait_penalty_per_min * log["wait_s"][ab] / 60.0
    assert np.all(log["experience"][ab] < answered_same_wait)
    # and it reaches the customer: callers who hung up have a lower touch score
    score = ms.touch_sum / np.maximum(ms.touch_n, 1)
    assert score[log["slot"][ab]].mean() < score[log["slot"][ans]].mean()


@pytest.mark.parametrize("cap", [0, 1_000_000])  # representative days, and every day simulated
def test_more_staff_answers_faster_at_the_same_seed(base_cfg, cap):
    calls = np.ones(12_000, dtype=np.int32)
    asa, abandon = [], []
    for rel in (0.8, 1.0, 1.4):
        _, ms = _run_month(_cfg(base_cfg, rel_staffing=rel, n_calls_full_sim_max=cap), calls)
        asa.append(ms.kpis["asa_s"])
        abandon.append(ms.kpis["abandon_rate"])
    assert asa[0] > asa[1] > asa[2]
    assert abandon[0] > abandon[1] > abandon[2]


def test_representative_days_keep_first_calls_and_map_the_rest(base_cfg):
    calls = np.ones(12_000, dtype=np.int32)
    full, ms_full = _run_month(_cfg(base_cfg, n_calls_full_sim_max=1_000_000), calls)
    rep, ms_rep = _run_month(_cfg(base_cfg, n_calls_full_sim_max=0, n_rep_days=2), calls)
    lf, lr = full.last_log, rep.last_log
    assert ms_full.kpis["calls_simulated"] == ms_full.kpis["calls_offered"]
    sim_days = np.unique(lr["day"][lr["simulated"]])
    assert sim_days.tolist() == [0, 1]  # the first two open days (one day type: weekdays)
    assert ms_rep.kpis["calls_simulated"] < ms_rep.kpis["calls_offered"] / 5
    f0, r0 = lf["attempt"] == 0, lr["attempt"] == 0
    of, orr = np.argsort(lf["key"][f0]), np.argsort(lr["key"][r0])
    for col in ("day", "tod", "handle_s", "patience_s"):
        np.testing.assert_array_equal(lf[col][f0][of], lr[col][r0][orr])
    # the simulated days are identical in both (same calls, nothing carried in, same draws)
    for day in (0, 1):
        mf = f0 & (lf["day"] == day)
        mr = r0 & (lr["day"] == day)
        np.testing.assert_allclose(np.sort(lf["wait_s"][mf]), np.sort(lr["wait_s"][mr]))
    # mapped calls wait no more than their patience and at most what the simulated days saw
    mapped = ~lr["simulated"] & (lr["answered"] | lr["abandoned"])
    assert np.all(lr["wait_s"][mapped] <= lr["patience_s"][mapped] + 1e-9)
    assert lr["virtual_wait_s"][mapped].max() <= np.nanmax(lr["virtual_wait_s"][lr["simulated"]])
    for key in ("abandon_rate", "occupancy", "fcr"):
        assert ms_rep.kpis[key] == pytest.approx(ms_full.kpis[key], abs=0.03), key


def test_attempts_after_the_month_carry_into_the_next(base_cfg):
    cfg = _cfg(base_cfg, p_first_contact_resolution=0.3, dur_repeat_delay_mean_days=5.0)
    calls = np.ones(2000, dtype=np.int32)
    centre, ms0 = _run_month(cfg, calls, month=0)
    centre, ms1 = _run_month(cfg, np.zeros(2000, dtype=np.int32), month=1, centre=centre)
    log = centre.last_log
    assert len(log["slot"]) > 0 and np.all(log["origin"] == 0) and np.all(log["attempt"] > 0)
    assert ms1.kpis["calls_offered"] == int(ms1.phone_calls_total.sum())
    assert int(ms1.touch_n.sum()) == ms1.kpis["calls_offered"]  # all are extra touches


def test_a_centre_open_around_the_clock_carries_its_queue_over_midnight_and_month_end(base_cfg):
    # 24 one-hour intervals, every day open, 2 agents for ~28 calls an hour of 5 minutes: there
    # is a queue at most midnights. Callers queued at midnight are answered (or hang up) the next
    # day, at their own arrival time; those queued at the month's last midnight, next month.
    cfg = _cfg(base_cfg, dur_interval_min=60.0, rel_intraday=[1.0] * 24, rel_weekday=[1.0] * 7,
               agents_per_interval=[2] * 24, n_calls_full_sim_max=10 ** 6)
    calls = np.ones(20000, dtype=np.int32)
    centre, ms0 = _run_month(cfg, calls, month=0)
    m0 = dict(centre.last_log)
    passed = m0["tod"] < 0  # queued before midnight, reached after it
    assert passed.sum() > 10 and np.all(m0["day"][passed] > 0)
    assert np.all(m0["virtual_wait_s"][passed] > -m0["tod"][passed])  # their wait counts from arrival
    centre, ms1 = _run_month(cfg, calls, month=1, centre=centre)
    m1 = centre.last_log
    from_last_month = (m1["origin"] == 0) & (m1["tod"] < 0) & (m1["day"] == 0)
    assert from_last_month.sum() > 0
    # every attempt is logged once: in the month its queue was resolved
    seen0 = set(zip(m0["key"].tolist(), m0["attempt"].tolist()))
    seen1 = set(zip(m1["key"][m1["origin"] == 0].tolist(), m1["attempt"][m1["origin"] == 0].tolist()))
    assert len(seen0) == len(m0["key"]) and not seen0 & seen1
    # a centre that closes for one hour a night drains at closing: nothing passes midnight
    closing = _cfg(cfg, rel_intraday=[1.0] * 23, agents_per_interval=[2] * 23)
    shut, _ = _run_month(closing, calls, month=0)
    assert not np.any(shut.last_log["tod"] < 0)


def test_des_kpis_are_documented_and_a_run_works():
    res = run(load_config(["population.n_customers=3000", "years=1", "contact_centre.mode=des"]),
              progress=False)
    m = res.monthly
    for col in ("calls_offered", "calls_handled", "calls_abandoned", "calls_ivr_contained",
                "calls_retried", "calls_repeat", "abandon_rate", "asa_s", "service_level",
                "p_wait", "occupancy", "fcr", "agents_staffed", "agent_hours", "staffing_cost",
                "queue_overloaded", "caller_wait_mean_s", "calls_simulated"):
        assert col in m.columns and describe(col) is not None, col
    assert (m["calls_handled"] > 0).all()
    assert np.isfinite(m["sat_mean"]).all()


@pytest.mark.parametrize("override", [
    "contact_centre.rel_weekday=[1,1,1]", "contact_centre.rel_intraday=[]",
    "contact_centre.agents_per_interval=[3,3]", "contact_centre.patience=sometimes",
    "contact_centre.dur_repeat_delay_mean_days=0.5", "contact_centre.n_attempts_max=0",
    "contact_centre.mode=erlang_x",
])
def test_bad_des_settings_are_rejected(override):
    with pytest.raises(ConfigError):
        load_config(["contact_centre.mode=des", override])


def test_an_attempts_uniforms_are_the_streams_on_both_twins_over_several_chunks():
    # 40,000 issues opened in three months are three chunks: each issue's uniform of each field is
    # Streams.uniform of that field's stream in its issue's month, on either twin
    from sim.contact_centre.des_mode import _level_uniforms

    if not sim.kernels.COMPILED:
        pytest.skip("numba is not installed")
    streams, months = Streams(7), np.array([3, 4, 5])
    fields = ["when", "tod", "handle"]
    keys = np.array([[streams.key(f"contact_centre.des.{f}.1", int(o)) for o in months] for f in fields],
                    dtype=np.uint64)
    rng = np.random.default_rng(2)
    issue_key = rng.integers(0, 2**40, 40_000).astype(np.uint64)
    origin_at = rng.integers(0, len(months), 40_000)
    expected = np.empty((len(fields), len(issue_key)))
    for f, name in enumerate(fields):
        for o, month in enumerate(months):
            mine = origin_at == o
            expected[f, mine] = streams.uniform_numpy(f"contact_centre.des.{name}.1", int(month), issue_key[mine])
    for twin in (_level_uniforms.sequential, _level_uniforms.parallel):
        out = np.empty_like(expected)
        twin(issue_key, origin_at, keys, out)
        np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("compiled", [True, False])
def test_an_attempts_quantities_drawn_in_pieces_are_those_drawn_whole(base_cfg, monkeypatch, compiled):
    # a month draws attempt j's quantities only for the issues that reach it, a few at a time and
    # in any order: each entry must be the number a draw of the whole row gives it (so an issue's
    # handle time, patience and outcomes do not depend on which others asked first)
    import sim.contact_centre.des_mode as des

    if compiled and not sim.kernels.COMPILED:
        pytest.skip("numba is not installed")
    monkeypatch.setattr(des, "COMPILED", compiled)
    cfg = _cfg(base_cfg, handle_distribution="lognormal", patience="exponential")
    centre, _ = _run_month(cfg, np.where(np.arange(3000) % 2 == 0, 2, 0), month=2)
    n = len(centre._key)
    everyone = np.arange(n)
    centre._start_levels()
    centre._draw(1, everyone)
    whole = {f: rows[1].copy() for f, rows in centre._table.items()}
    centre._start_levels()
    shuffled = np.random.default_rng(5).permutation(n)
    for piece in (shuffled[: n // 3], shuffled[n // 4: n // 2], shuffled[n // 2:]):  # overlapping
        centre._draw(1, piece)
    assert centre._drawn[1].all() and not centre._drawn[0].any()
    for f, rows in centre._table.items():
        np.testing.assert_array_equal(rows[1], whole[f], err_msg=f)
    # a gather over several attempts draws what it lacks and returns each issue's own entry
    centre._start_levels()
    iss, j = shuffled[:500], np.arange(500) % 3
    got = centre._values(iss, j)
    np.testing.assert_array_equal(got["handle"][j == 1], whole["handle"][iss[j == 1]])
    assert centre._drawn[0][iss[j == 0]].all() and centre._drawn[2].sum() == (j == 2).sum()
