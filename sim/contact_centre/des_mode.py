"""Discrete-event contact centre (``contact_centre.mode: des``), simulated with SimPy.

What is simulated
-----------------
Every phone contact of the month is an *attempt* on an *issue*. The month's first contacts
(``ms.phone_calls``: chosen phone contacts and self-service spills) each open an issue; an issue
makes at most ``n_attempts_max`` attempts:

* arrival: an open day drawn by weekday weight and a time of day drawn from the intraday
  profile (calendar and staffing: ``sim.contact_centre.schedule``);
* IVR: with ``p_ivr_contained`` the IVR resolves the call and it never reaches the queue;
* queue: one first-come-first-served queue served by a per-interval head count of agents; agents
  due off shift finish their call first; after closing, the last interval's agents stay until the
  queue is empty. A line open around the clock (intervals covering 24 hours, and the next day
  open too) does not close: the day's run stops at midnight and the next day's starts from its
  state, the callers still queued (who keep their arrival time, and so their wait so far) and the
  agents still on a call; the last midnight of a month hands over to the next month. Handle
  times are exponential or lognormal (mean ``dur_handle_s``, CV ``cv_handle``); a waiting caller hangs up after their patience (exponential, mean
  ``dur_patience_mean_s``, or ``patience: off``), never later than ``dur_max_wait_s``;
* after an answered call the issue is resolved with ``p_first_contact_resolution``; an unresolved
  issue comes back as a *repeat* call a geometric number of open days later (mean
  ``dur_repeat_delay_mean_days``, >= 1) at a time drawn from the intraday profile;
* after hanging up, a caller *retries* with ``p_retry`` after an exponential delay (mean
  ``dur_retry_delay_mean_min`` of open time, so a retry after closing lands the next morning).

Attempts that land beyond the month's last open day carry over into the next month (their
customer's experience then counts there; a customer who left meanwhile does not call).

Firm scale
----------
The centre serves the firm, not the simulated agents: when each agent stands for w customers,
each of an agent's first contacts brings w - 1 *twins* on average (``_twins``), synthetic callers
with their own keys and draws, who queue, retry, repeat and carry over exactly like agents' calls.
Staffing, waits, abandonment, occupancy and every call count are therefore the firm's; only the
agents' own calls feed back into customer experience. With one agent per customer (w = 1) there
are no twins and the month is unchanged.

Common random numbers
---------------------
Every random quantity of attempt j of an issue (its time, IVR outcome, handle time, patience,
resolution, retry decision, and the uniform used by the approximation below) is a counter-based
uniform of (seed, name ``contact_centre.des.<field>.<j>``, month the issue opened, issue key),
the issue key being ``uid * 2**20 + i`` for the customer's i-th first contact of the month. None
depends on the order in which SimPy processes events, on other customers, or on queue outcomes
(an outcome decides only *whether* attempt j + 1 happens, not what it draws), so paired scenarios
stay paired call by call.

Engine
------
``simulate_queue_simpy`` is the SimPy model: a source process releases arrivals, agent processes
pull from a heap ordered by arrival time, a schedule process changes the head count each interval.
``simulate_queue`` runs the same processes as state machines in a compiled event loop that orders
events exactly as SimPy does, so both give the same waits, answers and busy time call for call
(tested on random days with ties in every clock); it handles 3.6M calls a second against
SimPy's 0.40M (100k calls, 90 agents, this project's 2-core machine).
Abandonment is evaluated lazily: a caller who hung up is discovered when an agent reaches them,
which is exact for FCFS (whether and when a caller is reached depends only on callers ahead) and
costs no event per caller. It also yields each caller's *virtual wait* (the wait they would have
had with infinite patience), the quantity the approximation below resamples. A retry that is due
before the moment its abandonment is discovered joins the heap at its own arrival time, which is
exact because every agent was busy since the abandoned caller arrived.

Speed: representative days
--------------------------
With SimPy the engine handled ~300k calls a second (CPU); a 1M-customer utility makes ~100k calls a
month, so simulating every call cost ~0.55 s of CPU a month with the bookkeeping (the figures below
were measured then; the compiled engine makes the simulated days ten times cheaper, the bookkeeping
stays). When a month expects
more than ``n_calls_full_sim_max`` calls, only ``n_rep_days`` *representative days per day type*
are simulated: the first open days of each type in the month, each with all the calls that really
land on it (first calls, and retries and repeats from earlier days or the previous month). Every
other day is not simulated: a call arriving in interval i of a day of type tau takes as its
virtual wait V the u-quantile of the virtual waits of the representative days' calls in interval
i (u the call's own ``vmap`` uniform; the days' whole distribution if interval i had no calls);
it is answered after V when its own patience is at least V, otherwise it hangs up after its
patience. Its handle time counts towards occupancy and its outcome drives its own retries and
repeats. FCFS virtual waits do not depend on the caller's own patience, so this reproduces the
representative days' waits and abandonment per interval while each caller's outcome stays tied
to their own draws. Mapped days do not interact, so once the representative days have run the
rest of the month is mapped in one vectorised pass per attempt level.

What it loses is day-to-day variation: every day of a type sees the representative days' queue.
A line open around the clock hands its queue from one simulated day to the next as if they
followed each other, and from the month's last simulated day to the next month.
Month KPIs are therefore noisier, not biased. Measured against simulating every day on the same
month inputs (utility preset, defaults, months 1+; bias = mean of sampled - full, +- SE):
100k customers (~10k calls/month, 3 seeds, 156 months): ASA 6.6 s, bias -0.11 +- 0.12 s, monthly
RMS difference 1.3-1.8 s; abandonment 2.6%, bias -0.05 +- 0.05 points, RMS 0.6-0.8 points;
service level 0.89, bias +0.002 +- 0.002, RMS 0.02; occupancy and FCR RMS <= 0.004; mean touch
experience RMS 0.02 points. 1M customers (~103k calls/month, 12 months): ASA 4.6 s, bias
-0.43 +- 0.27 s, RMS 1.0 s; abandonment 1.6%, bias -0.17 +- 0.10 points, RMS 0.4 points; mean touch
experience RMS 0.01 points. CPU of this stage per month: 100k customers 31 ms (every day
simulated: 76 ms), 1M customers 121 ms (every day: 553 ms); the fast mode takes 2 and 11 ms.

Customer experience per attempt (added to ``touch_sum``; attempts after the first add a touch):
answered: phone ``sat_experience`` - ``sat_wait_penalty_per_min`` x minutes waited, minus
``sat_unresolved_penalty`` when it did not resolve the issue; abandoned:
``sat_experience_abandoned`` - the wait penalty; IVR-contained: ``sat_experience_ivr``. A first
contact's need offset is added once, as in the fast mode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from heapq import heappop, heappush

import numpy as np
import simpy
from scipy.special import ndtri

from sim.contact_centre import rostered_agents
from sim.contact_centre.schedule import DAYS_PER_MONTH, Profile, staffing
from sim.kernels import CHUNK, COMPILED, chunked, inline, kernel, n_chunks, prange, uniform_at
from sim.month_state import MonthBuffers

ISSUE_BITS = 20  # issue key = uid << ISSUE_BITS | i: up to ~1M first contacts per customer-month
TWIN_SHIFT = 48  # twin t of an issue: key | t << TWIN_SHIFT (uids below 2**28, 65,535 twins per issue)
FIRST, RETRY, REPEAT = 0, 1, 2
_PLACE = ("when", "tod")
_VALUES = ("ivr", "handle", "patience", "resolve", "retry", "vmap")
_OUTCOME = ("handle", "patience", "contained", "resolved", "retry", "vmap")
_FLAGS = ("contained", "resolved", "retry")


# ---------------------------------------------------------------------------------------------
# the SimPy engine


@dataclass
class QueueResult:
    arrived: np.ndarray  # bool: an agent reached the caller (retry children only if activated)
    answered: np.ndarray  # bool
    virtual_wait: np.ndarray  # seconds from arrival until an agent reached the caller (nan if not reached)
    busy_s: float  # agent-seconds spent handling calls
    waiting: np.ndarray  # bool: still in the queue when the run stopped (``stop_s``)
    busy_until: np.ndarray  # sorted: when each agent in service at the stop becomes free


def simulate_queue(arrival, handle, patience, heads, interval_s: float, n_initial: int | None = None,
                   child=None, busy_until=(), stop_s: float = math.inf) -> QueueResult:
    """One FCFS queue with abandonment, staffed by ``heads[i]`` agents in interval i.

    ``arrival`` (seconds from opening) must be sorted over the first ``n_initial`` attempts; the
    others are retries that arrive only if their parent (``child[parent] == index``) hangs up.
    A caller hangs up when their wait would exceed ``patience`` (inf = never).

    A centre that closes (``stop_s`` inf): after the last interval the last head count (at least
    one agent) stays until the queue is empty. A centre that stays open: the run stops at
    ``stop_s`` and hands over its state, the callers still queued (``waiting``) and the agents
    still in service (``busy_until``), for the next run to start from: callers with a negative
    arrival time were queued before it started, and ``busy_until`` lists agents on a call from
    the start, each free at its time (and on shift from then if the head count wants them).

    Runs the compiled event engine (``_queue_kernel``), which processes the events of
    ``simulate_queue_simpy`` in SimPy's own order and so gives the same result call for call
    (tests/unit/test_contact_centre_des.py); without numba, SimPy itself.
    """
    if not COMPILED:
        return simulate_queue_simpy(arrival, handle, patience, heads, interval_s, n_initial, child, busy_until,
                                    stop_s)
    arr = np.array(arrival, dtype=np.float64)
    n = len(arr)
    kids = np.full(n, -1, dtype=np.int64) if child is None else np.asarray(child, dtype=np.int64)
    heads = np.asarray([int(h) for h in heads], dtype=np.int64)
    carried = np.asarray(busy_until, dtype=np.float64).reshape(-1)
    vwait = np.full(n, np.nan)
    answered = np.zeros(n, dtype=np.bool_)
    waiting = np.zeros(n, dtype=np.bool_)
    free_at = np.full(len(carried) + int(heads.sum()) + 1, np.nan)
    busy = _queue_kernel(arr, np.asarray(handle, dtype=np.float64), np.asarray(patience, dtype=np.float64), kids,
                         n if n_initial is None else int(n_initial), heads, float(interval_s), carried,
                         float(stop_s), vwait, answered, waiting, free_at)
    return QueueResult(~np.isnan(vwait), answered, vwait, busy, waiting, np.sort(free_at[~np.isnan(free_at)]))


def simulate_queue_simpy(arrival, handle, patience, heads, interval_s: float, n_initial: int | None = None,
                         child=None, busy_until=(), stop_s: float = math.inf) -> QueueResult:
    """The SimPy model simulate_queue must match (the reference, and the engine without numba)."""
    arr = np.asarray(arrival, dtype=np.float64).tolist()
    hd = np.asarray(handle, dtype=np.float64).tolist()
    pat = np.asarray(patience, dtype=np.float64).tolist()
    n = len(arr)
    n0 = n if n_initial is None else int(n_initial)
    kids = [-1] * n if child is None else np.asarray(child, dtype=np.int64).tolist()
    heads = [int(h) for h in heads]
    env = simpy.Environment()
    queue: list[tuple[float, int]] = []
    idle: list[simpy.Event] = []
    vwait = [math.nan] * n
    answered = [False] * n
    state = {"on": 0, "target": 0, "busy": 0.0, "next": 0}
    on_call: dict[int, float] = {}  # agent -> when their call ends (for the hand-over at stop_s)

    def dispatch():
        wake = min(len(queue), len(idle))
        for _ in range(wake):
            idle.pop().succeed()

    def arrive(i):
        if arr[i] >= 0:  # the clock's own value, so a call answered at once waits exactly 0
            arr[i] = env.now
        heappush(queue, (arr[i], i))  # queued before the start: it keeps its own time
        if idle:
            idle.pop().succeed()

    def activate(c, now):
        t = arr[c]
        if t <= now:  # due while every agent was busy: it joins the queue at its own arrival time
            heappush(queue, (t, c))
            dispatch()
        else:
            env.timeout(t - now).callbacks.append(lambda _ev, c=c: arrive(c))

    def agent(me):
        while True:
            if state["on"] > state["target"]:
                state["on"] -= 1
                dispatch()  # a wake-up meant for this agent must not strand a call
                return
            if not queue:
                ev = env.event()
                idle.append(ev)
                yield ev
                continue
            t_arr, i = heappop(queue)
            now = env.now
            w = now - t_arr
            vwait[i] = w
            if w > pat[i]:  # hung up at t_arr + patience, before this agent got to them
                if kids[i] >= 0:
                    activate(kids[i], now)
                continue
            answered[i] = True
            state["busy"] += hd[i]
            on_call[me] = now + hd[i]
            yield env.timeout(hd[i])
            del on_call[me]

    def on_a_call(me, free):
        on_call[me] = free
        yield env.timeout(free)
        del on_call[me]
        yield from agent(me)

    def set_target(k):
        state["target"] = k
        while state["on"] < k:
            state["on"] += 1
            env.process(agent(state["next"]))
            state["next"] += 1
        surplus = min(state["on"] - k, len(idle))
        for _ in range(surplus):
            idle.pop().succeed()  # idle agents due off shift leave now

    def schedule():
        for k in heads:
            set_target(k)
            yield env.timeout(interval_s)
        set_target(max(heads[-1] if heads else 0, 1))  # drain after closing

    def source():
        for i in range(n0):
            dt = arr[i] - env.now
            if dt > 0:
                yield env.timeout(dt)
            arrive(i)

    for free in np.asarray(busy_until, dtype=np.float64).reshape(-1).tolist():  # on a call from the start
        state["on"] += 1
        env.process(on_a_call(state["next"], free))
        state["next"] += 1
    env.process(schedule())
    env.process(source())
    env.run(until=stop_s if math.isfinite(stop_s) else None)
    v = np.array(vwait)
    waiting = np.zeros(n, dtype=bool)
    waiting[[i for _, i in queue]] = True
    return QueueResult(~np.isnan(v), np.array(answered, dtype=bool), v, state["busy"], waiting,
                       np.sort(np.array(list(on_call.values()), dtype=np.float64)))


# The compiled engine: simulate_queue_simpy's processes as state machines over one event heap
# ordered as SimPy orders its own, by (time, priority, scheduling order), where a process's first
# step is urgent and everything else normal. Every process resumes at the top of its loop, so
# the only state is the callers' heap, the idle agents (a stack: SimPy pops the newest) and the
# next step of the schedule and of the source. Events SimPy schedules that change nothing (a
# finished process's own end) are left out: they never reorder the others.
_URGENT, _NORMAL = 0, 1
_SCHEDULE, _SOURCE, _AGENT, _ACTIVATE, _ON_A_CALL = 0, 1, 2, 3, 4


@inline
def _event_before(a, b, ev_t, ev_p, ev_id):
    if ev_t[a] != ev_t[b]:
        return ev_t[a] < ev_t[b]
    if ev_p[a] != ev_p[b]:
        return ev_p[a] < ev_p[b]
    return ev_id[a] < ev_id[b]


@inline
def _schedule(ev, heap, count, t, priority, kind, x):
    """SimPy's env.schedule: an event record pushed on the heap. ``ev`` = (times, priorities, ids,
    kinds, payloads, free record slots); ``count`` = [events on the heap, free slots, next id]."""
    ev_t, ev_p, ev_id, ev_kind, ev_x, free = ev
    count[1] -= 1
    r = free[count[1]]
    ev_t[r], ev_p[r], ev_id[r], ev_kind[r], ev_x[r] = t, priority, count[2], kind, x
    count[2] += 1
    j = count[0]
    heap[j] = r
    count[0] += 1
    while j > 0 and _event_before(heap[j], heap[(j - 1) // 2], ev_t, ev_p, ev_id):
        heap[j], heap[(j - 1) // 2] = heap[(j - 1) // 2], heap[j]
        j = (j - 1) // 2


@inline
def _next_event(ev, heap, count):
    """Pop the earliest event; returns its record slot (free again once read)."""
    ev_t, ev_p, ev_id, _, _, free = ev
    r = heap[0]
    count[0] -= 1
    n = count[0]
    if n > 0:
        heap[0] = heap[n]
        i = 0
        while True:
            best = i
            for child in (2 * i + 1, 2 * i + 2):
                if child < n and _event_before(heap[child], heap[best], ev_t, ev_p, ev_id):
                    best = child
            if best == i:
                break
            heap[i], heap[best] = heap[best], heap[i]
            i = best
    free[count[1]] = r
    count[1] += 1
    return r


@inline
def _wake(n, idle, n_idle, ev, heap, count, now):
    """idle.pop().succeed() n times, as the reference's dispatch and set_target do: the newest idle
    agents resume now. Returns the idle agents left."""
    for _ in range(n):
        n_idle -= 1
        _schedule(ev, heap, count, now, _NORMAL, _AGENT, idle[n_idle])
    return n_idle


@inline
def _caller_before(a, b, q_t, q_i):
    if q_t[a] != q_t[b]:
        return q_t[a] < q_t[b]
    return q_i[a] < q_i[b]


@inline
def _enqueue(q_t, q_i, n_q, t, c):
    """heappush(queue, (t, c)); returns the new length."""
    q_t[n_q], q_i[n_q] = t, c
    j = n_q
    while j > 0 and _caller_before(j, (j - 1) // 2, q_t, q_i):
        q_t[j], q_t[(j - 1) // 2] = q_t[(j - 1) // 2], q_t[j]
        q_i[j], q_i[(j - 1) // 2] = q_i[(j - 1) // 2], q_i[j]
        j = (j - 1) // 2
    return n_q + 1


@inline
def _dequeue(q_t, q_i, n_q):
    """heappop(queue) for n_q > 0; returns (t, c, new length)."""
    t, c = q_t[0], q_i[0]
    n = n_q - 1
    if n > 0:
        q_t[0], q_i[0] = q_t[n], q_i[n]
        i = 0
        while True:
            best = i
            for child in (2 * i + 1, 2 * i + 2):
                if child < n and _caller_before(child, best, q_t, q_i):
                    best = child
            if best == i:
                break
            q_t[i], q_t[best] = q_t[best], q_t[i]
            q_i[i], q_i[best] = q_i[best], q_i[i]
            i = best
    return t, c, n


@kernel
def _queue_kernel(arr, handle, patience, kids, n_initial, heads, interval_s, carried, stop_s, vwait, answered,
                  waiting, free_at):
    """simulate_queue_simpy's events in SimPy's order; fills vwait, answered, waiting (queued at
    stop_s) and free_at (when each agent on a call at stop_s is free), returns busy seconds."""
    n = arr.shape[0]
    n_agents_max = 2 + carried.shape[0]
    for k in heads:
        n_agents_max += k
    cap = n + n_agents_max + 4  # pending at once: a resume per agent, the retries, source, schedule
    ev = (np.empty(cap), np.empty(cap, dtype=np.int64), np.empty(cap, dtype=np.int64),
          np.empty(cap, dtype=np.int64), np.empty(cap, dtype=np.int64), np.arange(cap)[::-1].copy())
    heap = np.empty(cap, dtype=np.int64)
    count = np.array([0, cap, 0], dtype=np.int64)  # events on the heap, free record slots, next id
    q_t, q_i = np.empty(n), np.empty(n, dtype=np.int64)  # callers waiting: a heap by (arrival, index)
    n_q = 0
    idle = np.empty(n_agents_max, dtype=np.int64)  # agents waiting for a caller: a stack
    n_idle = 0
    on, target, busy = 0, 0, 0.0
    next_agent, sched_k, src_i = 0, 0, 0  # agents started; the schedule's and the source's next step
    for _ in range(carried.shape[0]):  # agents on a call from the start, on shift
        on += 1
        _schedule(ev, heap, count, 0.0, _URGENT, _ON_A_CALL, next_agent)
        next_agent += 1
    _schedule(ev, heap, count, 0.0, _URGENT, _SCHEDULE, 0)  # the processes, started in the
    _schedule(ev, heap, count, 0.0, _URGENT, _SOURCE, 0)  # reference's order
    while count[0] > 0:
        if ev[0][heap[0]] >= stop_s:  # SimPy's run(until=stop_s): nothing at or after it happens
            break
        r = _next_event(ev, heap, count)
        now, priority, kind, x = ev[0][r], ev[1][r], ev[3][r], ev[4][r]
        if kind == _ON_A_CALL:  # its first step: wait out the call it is on
            _schedule(ev, heap, count, now + carried[x], _NORMAL, _AGENT, x)
            continue
        if kind == _SCHEDULE:  # set_target(the interval's heads), then wait an interval
            target = heads[sched_k] if sched_k < heads.shape[0] else max(heads[-1] if heads.shape[0] else 0, 1)
            while on < target:
                on += 1
                _schedule(ev, heap, count, now, _URGENT, _AGENT, next_agent)
                next_agent += 1
            n_idle = _wake(min(on - target, n_idle), idle, n_idle, ev, heap, count, now)  # off shift: leave now
            if sched_k < heads.shape[0]:
                sched_k += 1
                _schedule(ev, heap, count, now + interval_s, _NORMAL, _SCHEDULE, 0)
            continue
        if kind == _SOURCE or kind == _ACTIVATE:
            # arrive(c) for the caller this event was for, and (the source) every caller due by now
            due = kind == _ACTIVATE or priority == _NORMAL  # the source's first step checks its first caller
            while True:
                if kind == _SOURCE:
                    if src_i >= n_initial:
                        break
                    if not due:
                        dt = arr[src_i] - now
                        if dt > 0:
                            _schedule(ev, heap, count, now + dt, _NORMAL, _SOURCE, 0)
                            break
                    c = src_i
                    src_i += 1
                else:
                    c = x
                if arr[c] >= 0.0:  # queued before the start (negative): it keeps its own time
                    arr[c] = now
                n_q = _enqueue(q_t, q_i, n_q, arr[c], c)
                n_idle = _wake(min(1, n_idle), idle, n_idle, ev, heap, count, now)
                if kind == _ACTIVATE:
                    break
                due = False
            continue
        # an agent's process resumes at the top of its loop
        while True:
            if on > target:  # off shift: leave, after waking an idle agent for each caller waiting
                on -= 1
                n_idle = _wake(min(n_q, n_idle), idle, n_idle, ev, heap, count, now)
                break
            if n_q == 0:
                idle[n_idle] = x
                n_idle += 1
                break
            t_arr, c, n_q = _dequeue(q_t, q_i, n_q)
            w = now - t_arr
            vwait[c] = w
            if w > patience[c]:  # hung up before this agent got to them: their retry, if any
                kid = kids[c]
                if kid >= 0:
                    t = arr[kid]
                    if t <= now:  # due while every agent was busy: queues at its own arrival time
                        n_q = _enqueue(q_t, q_i, n_q, t, kid)
                        n_idle = _wake(min(n_q, n_idle), idle, n_idle, ev, heap, count, now)  # dispatch()
                    else:
                        _schedule(ev, heap, count, now + (t - now), _NORMAL, _ACTIVATE, kid)
                continue
            answered[c] = True
            busy += handle[c]
            _schedule(ev, heap, count, now + handle[c], _NORMAL, _AGENT, x)
            break
    for k in range(n_q):  # the hand-over at stop_s: callers still queued, agents still on a call
        waiting[q_i[k]] = True
    n_free = 0
    for k in range(count[0]):
        r = heap[k]
        if ev[3][r] == _AGENT:
            free_at[n_free] = ev[0][r]
            n_free += 1
    return busy


# ---------------------------------------------------------------------------------------------
# the month


class _RepresentativeDays:
    """Sorted virtual waits of the calls of simulated days, per arrival interval."""

    def __init__(self, interval: np.ndarray, vwait: np.ndarray, n_intervals: int):
        self.pooled = np.sort(vwait)
        # every interval's waits sorted, one after another: interval i's are
        # by_interval[start[i]:start[i] + count[i]]
        interval = np.asarray(interval, dtype=np.int64)
        self.by_interval = vwait[np.lexsort((vwait, interval))]
        self.count = np.bincount(interval, minlength=n_intervals)
        self.start = np.cumsum(self.count) - self.count

    def sample(self, interval: np.ndarray, u: np.ndarray) -> np.ndarray:
        """The wait at quantile u of the call's own interval on the simulated days (or of all their
        calls, for an interval in which nobody called)."""
        if len(self.pooled) == 0:
            return np.zeros(len(u))  # nobody queued on the representative day: assume no wait
        count = self.count[interval]
        own = count > 0
        length = np.where(own, count, len(self.pooled))
        k = np.minimum((u * length).astype(np.int64), length - 1)
        return np.where(own, self.by_interval[np.where(own, self.start[interval] + k, 0)],
                        self.pooled[np.where(own, 0, k)])


class DESContactCentre:
    name = "contact_centre"

    def __init__(self, model):
        self.cfg = model.cfg.contact_centre
        self.refresh(model)
        self._carry: dict[str, np.ndarray] | None = None  # attempts due after the month's last open day
        self._agents_carry = np.empty(0)  # agents on a call at the month's last midnight: free at (s)
        self.last_log: dict[str, np.ndarray] | None = None  # the last month's attempts (diagnostics, tests)
        self.heads: np.ndarray | None = None  # the last month's staffing (open day, interval)

    def refresh(self, model) -> None:
        """Re-read parameters (programmes such as agent training change them between months)."""
        cc = self.cfg
        self.phone_experience = model.cfg.channels.channels["phone"].sat_experience
        self.profile = Profile(cc)
        self.n_max = int(cc.n_attempts_max)
        # expected queue arrivals per first contact without abandonment (the staffing forecast)
        r = (1.0 - cc.p_ivr_contained) * (1.0 - cc.p_first_contact_resolution)
        self.calls_per_issue = (1.0 - cc.p_ivr_contained) * sum(r ** j for j in range(self.n_max))

    # --- random quantities ----------------------------------------------------------------

    def _start_levels(self) -> None:
        """An empty table of the month's random quantities: row j of each field for attempt j.

        Entries are drawn when first asked for, only for the issues asked about: every issue
        makes a first attempt, but about a third a second and an eighth a third, so drawing whole
        rows spent two thirds of the draws (and of their ndtri, exp and log) on attempts never made.
        """
        n, rows = len(self._key), self.n_max
        self._drawn = np.zeros((rows, n), dtype=bool)
        self._table = {f: np.empty((rows, n), dtype=bool if f in _FLAGS else np.float64) for f in _PLACE + _OUTCOME}
        # each issue's origin as a position in self._origins, for the compiled draw
        self._origin_at = np.searchsorted(self._origins, self._origin)
        self._level_keys: dict[int, np.ndarray] = {}

    def _stream_keys(self, j: int) -> np.ndarray:
        """keys[f, o]: the stream of field f of attempt j in the o-th month issues opened in."""
        if j not in self._level_keys:
            self._level_keys[j] = np.array(
                [[self._streams.key(f"contact_centre.des.{f}.{j}", int(o)) for o in self._origins]
                 for f in _PLACE + _VALUES], dtype=np.uint64)
        return self._level_keys[j]

    def _draw(self, j: int, iss: np.ndarray) -> None:
        """Draw attempt ``j``'s quantities of the issues ``iss`` not drawn yet.

        Each quantity is a function of (field, attempt, the issue's origin month and key) alone,
        so an entry is the same number whenever and alongside whichever others it is drawn.
        """
        new = iss[~self._drawn[j].take(iss)]
        if not len(new):
            return
        cc = self.cfg
        names = _PLACE + _VALUES
        if COMPILED:  # one pass over the issues, each drawing from its own origin's streams
            drawn = np.empty((len(names), len(new)))
            _level_uniforms(self._key.take(new), self._origin_at.take(new), self._stream_keys(j), drawn)
            u = dict(zip(names, drawn))
        else:
            u = {f: np.empty(len(new)) for f in names}
            origin = self._origin.take(new)
            for o in np.unique(origin):
                m = origin == o
                for f in u:
                    u[f][m] = self._streams.uniform(f"contact_centre.des.{f}.{j}", int(o), self._key[new[m]])
        if cc.handle_distribution == "lognormal":
            s2 = math.log1p(cc.cv_handle ** 2)
            z = ndtri(np.clip(u["handle"], 1e-12, 1 - 1e-12))
            handle = np.exp(math.log(cc.dur_handle_s) - 0.5 * s2 + math.sqrt(s2) * z)
        else:
            handle = -np.log1p(-u["handle"]) * cc.dur_handle_s
        if cc.patience == "exponential":
            patience = np.minimum(-np.log1p(-u["patience"]) * cc.dur_patience_mean_s, cc.dur_max_wait_s)
        else:
            patience = np.full(len(new), float(cc.dur_max_wait_s))
        t = self._table
        for f, value in (("when", u["when"]), ("tod", u["tod"]), ("vmap", u["vmap"]), ("handle", handle),
                         ("patience", patience), ("contained", u["ivr"] < cc.p_ivr_contained),
                         ("resolved", u["resolve"] < cc.p_first_contact_resolution),
                         ("retry", u["retry"] < cc.p_retry)):
            t[f][j][new] = value  # a row, then a 1-D index: 5x faster than t[f][j, new]
        self._drawn[j][new] = True

    def _gather(self, fields, iss: np.ndarray, j: np.ndarray) -> dict[str, np.ndarray]:
        """Quantities ``fields`` of attempt j[k] of issue iss[k]."""
        # the attempts present, ascending (np.unique's answer, counted instead of sorted)
        levels = np.flatnonzero(np.bincount(j)) if len(j) else j
        if len(levels) == 1:
            jj = int(levels[0])
            self._draw(jj, iss)
            return {f: self._table[f][jj].take(iss) for f in fields}
        for jj in levels:
            self._draw(int(jj), iss[j == jj])
        # one pass however many attempts are present, by flat position (a 2-D index costs 4x that)
        at = j * len(self._key) + iss
        return {f: self._table[f].ravel().take(at) for f in fields}

    def _uniforms(self, fields, iss: np.ndarray, j: np.ndarray) -> dict[str, np.ndarray]:
        return self._gather(fields, iss, j)

    def _values(self, iss: np.ndarray, j: np.ndarray) -> dict[str, np.ndarray]:
        return self._gather(_OUTCOME, iss, j)

    def _day_of(self, t: np.ndarray) -> np.ndarray:
        return np.floor(t / self.profile.day_s).astype(np.int64)

    def _successors(self, b, iss, j, tod, patience, answered, abandoned, vals, index=False):
        """Next attempts (issue, j, kind, business time) of attempts that just ended."""
        cc, H = self.cfg, self.profile.day_s
        more = j + 1 < self.n_max
        repeat = answered & ~vals["resolved"] & more
        retry = abandoned & vals["retry"] & more
        idx = np.flatnonzero(repeat | retry)
        nj = j[idx] + 1
        u = self._uniforms(_PLACE, iss[idx], nj)
        if np.ndim(b):
            b = b[idx]
        is_rep = repeat[idx]
        q = 1.0 / cc.dur_repeat_delay_mean_days  # geometric >= 1 with this mean
        with np.errstate(divide="ignore"):
            days = 1 + (np.floor(np.log1p(-u["when"]) / math.log1p(-q)) if q < 1 else 0 * u["when"])
        t_rep = (b + days) * H + self.profile.time_of_day(u["tod"])
        delay = -np.log1p(-u["when"]) * cc.dur_retry_delay_mean_min * 60.0
        # a centre that closes at night: a retry after closing lands the next morning
        hung_up = tod[idx] + patience[idx]
        t_ret = b * H + (hung_up if self.profile.open_all_day else np.minimum(hung_up, H)) + delay
        t = np.where(is_rep, t_rep, t_ret)
        out = (iss[idx], nj, np.where(is_rep, REPEAT, RETRY).astype(np.int8), t)
        return (*out, idx) if index else out

    def _route(self, b, iss, j, kind, t):
        """File attempts due on later days into their day's bucket (or the carry); return today's."""
        H = self.profile.day_s
        day = np.maximum(self._day_of(t), 0)  # queued before the month: its first day
        today = day <= b
        later = np.flatnonzero(~today)
        if len(later):
            d = day[later]
            inside = d < self._n_open
            filed = later[inside]
            if len(filed):
                # grouped by day, each day's attempts in their order here (a stable radix sort of the
                # small day numbers: one pass, where a mask per day made one pass per day)
                by_day = np.argsort(d[inside].astype(np.int16), kind="stable")
                filed, d_filed = filed[by_day], d[inside][by_day]
                f_iss, f_j, f_kind, f_t = iss[filed], j[filed], kind[filed], t[filed]
                cuts = np.flatnonzero(d_filed[1:] != d_filed[:-1]) + 1
                for lo, hi in zip([0, *cuts.tolist()], [*cuts.tolist(), len(filed)]):
                    dd = int(d_filed[lo])
                    self._buckets[dd].append((f_iss[lo:hi], f_j[lo:hi], f_kind[lo:hi], f_t[lo:hi] - dd * H))
            out = later[~inside]
            if len(out):
                self._carry_out.append((iss[out], j[out], kind[out], t[out] - self._n_open * H))
        m = np.flatnonzero(today)
        return iss[m], j[m], kind[m], t[m] - b * H

    def _log(self, b, iss, j, kind, tod, vals, contained, answered, abandoned, wait, vwait, simulated):
        self._chunks.append({
            "issue": iss, "attempt": j, "kind": kind, "day": np.broadcast_to(b, len(iss)), "tod": tod,
            "contained": contained, "answered": answered, "abandoned": abandoned, "wait_s": wait,
            "virtual_wait_s": vwait, "handle_s": vals["handle"], "patience_s": vals["patience"],
            "resolved": vals["resolved"] & answered,
            "simulated": np.full(len(iss), simulated),
        })

    # --- one day ----------------------------------------------------------------------------

    def _simulate_day(self, b, iss, j, kind, tod, on_call: np.ndarray, hand_over: bool):
        """Day ``b``'s queue, starting with the agents ``on_call`` (when each is free); returns
        (interval, virtual wait) of the callers agents reached, and when ``hand_over`` (the centre
        stays open past midnight) the state at midnight: the attempts still queued (issue,
        attempt, kind, arrival before the next day) and when each agent still on a call is free,
        in the next day's clock."""
        H = self.profile.day_s
        order = np.argsort(tod, kind="stable")
        iss, j, kind, tod = iss[order], j[order], kind[order], tod[order]
        vals = self._values(iss, j)
        c = vals["contained"]
        if c.any():
            self._log(b, iss[c], j[c], kind[c], tod[c], {k: v[c] for k, v in vals.items()}, c[c],
                      ~c[c], ~c[c], np.zeros(c.sum()), np.full(c.sum(), np.nan), True)
        q = ~c
        # the engine's attempts: today's queued calls, then every retry they could make today
        parts = [(iss[q], j[q], kind[q], tod[q], {k: v[q] for k, v in vals.items()})]
        n0 = int(q.sum())
        child = [np.full(n0, -1, dtype=np.int64)]
        base, cur = 0, parts[0]
        while len(cur[0]):
            ci, cj, _, ct, cv = cur
            every = np.ones(len(ci), dtype=bool)  # as if every one of them hung up
            nxt = self._successors(b, ci, cj, ct, cv["patience"], ~every, every, cv, index=True)
            cand, t_new = nxt[4], nxt[3]
            same = self._day_of(t_new) <= b
            cand, t_new = cand[same], t_new[same] - b * H
            nv = self._values(ci[cand], cj[cand] + 1)
            keep = ~nv["contained"]  # a retry the IVR resolves never reaches the queue
            cand, t_new = cand[keep], t_new[keep]
            nv = {k: v[keep] for k, v in nv.items()}
            start = base + len(ci)
            child[-1][cand] = start + np.arange(len(cand))
            base = start
            cur = (ci[cand], cj[cand] + 1, np.full(len(cand), RETRY, dtype=np.int8), t_new, nv)
            parts.append(cur)
            child.append(np.full(len(cand), -1, dtype=np.int64))
        a_iss = np.concatenate([p[0] for p in parts])
        a_j = np.concatenate([p[1] for p in parts])
        a_kind = np.concatenate([p[2] for p in parts])
        a_tod = np.concatenate([p[3] for p in parts])
        a_vals = {k: np.concatenate([p[4][k] for p in parts]) for k in parts[0][4]}
        res = simulate_queue(a_tod, a_vals["handle"], a_vals["patience"], self.heads[b],
                             self.profile.interval_s, n_initial=n0, child=np.concatenate(child),
                             busy_until=on_call, stop_s=H if hand_over else math.inf)
        w = res.waiting
        handed = (a_iss[w], a_j[w], a_kind[w], a_tod[w] - H, res.busy_until - H) if hand_over else None
        m = res.arrived
        a_iss, a_j, a_kind, a_tod = a_iss[m], a_j[m], a_kind[m], a_tod[m]
        a_vals = {k: v[m] for k, v in a_vals.items()}
        ans, vw = res.answered[m], res.virtual_wait[m]
        ab = ~ans
        wait = np.where(ans, vw, a_vals["patience"])
        n = len(a_iss)
        self._log(b, a_iss, a_j, a_kind, a_tod, a_vals, np.zeros(n, bool), ans, ab, wait, vw, True)
        self._busy += float(np.sum(a_vals["handle"][ans]))
        nxt = self._successors(b, a_iss, a_j, a_tod, a_vals["patience"], ans, ab, a_vals)
        t_iss, t_j, t_kind, t_tod = self._route(b, *nxt)
        # today's successors are retries: those the queue saw already ran in the engine; the rest
        # were resolved by the IVR
        tv = self._values(t_iss, t_j)
        cm = tv["contained"]
        assert int((~cm).sum()) == int((m | w)[n0:].sum()), "retry bookkeeping out of step"
        if cm.any():
            self._log(b, t_iss[cm], t_j[cm], t_kind[cm], t_tod[cm], {k: v[cm] for k, v in tv.items()},
                      cm[cm], ~cm[cm], ~cm[cm], np.zeros(cm.sum()), np.full(cm.sum(), np.nan), True)
        self._n_simulated += n
        # a caller queued since the night before counts in its own (the last) interval
        interval = np.where(a_tod < 0, self.profile.n_intervals - 1, self.profile.interval_of(a_tod))
        return interval, vw, handed

    def _map_days(self, b, iss, j, kind, tod, reps: dict[int, _RepresentativeDays]) -> None:
        """Outcomes of calls on days that are not simulated, in waves of successive attempts.

        ``b`` is one business day, or an array (one day per call) once every representative day
        has run: mapped days do not interact (a call's outcome depends only on its own draws and
        the representative days), so the rest of the month is mapped in one pass per attempt level.
        """
        batch = np.ndim(b) > 0
        while len(iss):
            vals = self._values(iss, j)
            c = vals["contained"]
            q = ~c
            vw = np.full(len(iss), np.nan)
            types = self._day_type[b] if batch else np.full(len(iss), self._day_type[b])
            interval = self.profile.interval_of(tod)
            for t in np.flatnonzero(np.bincount(types[q])):  # the day types present, ascending, counted not sorted
                m = q & (types == t)
                vw[m] = reps[int(t)].sample(interval[m], vals["vmap"][m])
            ans = q & (np.nan_to_num(vw, nan=np.inf) <= vals["patience"])
            ab = q & ~ans
            wait = np.where(ans, vw, np.where(ab, vals["patience"], 0.0))
            self._log(b, iss, j, kind, tod, vals, c, ans, ab, wait, vw, False)
            self._busy += float(np.sum(vals["handle"][ans]))
            nxt = self._successors(b, iss, j, tod, vals["patience"], ans, ab, vals)
            if not batch:
                iss, j, kind, tod = self._route(b, *nxt)
                continue
            iss, j, kind, t = nxt
            day = self._day_of(t)
            out = day >= self._n_open
            if out.any():
                H = self.profile.day_s
                self._carry_out.append((iss[out], j[out], kind[out], t[out] - self._n_open * H))
                iss, j, kind, t, day = iss[~out], j[~out], kind[~out], t[~out], day[~out]
            b, tod = day, t - day * self.profile.day_s

    def _take(self, b):
        """The calls filed for business day ``b`` (issue, attempt, kind, time of day)."""
        chunks, self._buckets[b] = self._buckets[b], []
        if not chunks:
            return (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int8), np.empty(0))
        return tuple(np.concatenate([ch[k] for ch in chunks]) for k in range(4))

    def _ensure_reps(self, reps, simulated, only=None) -> None:
        """Pool the simulated days of each type (``only`` one type: others may still be running)."""
        n_int = self.profile.n_intervals
        for t, done in simulated.items():
            if t not in reps and (only is None or t == only):
                reps[t] = _RepresentativeDays(np.concatenate([d[0] for d in done]),
                                              np.concatenate([d[1] for d in done]), n_int)

    # --- the month ----------------------------------------------------------------------------

    def _twins(self, key: np.ndarray, month: int, customers_per_agent: float):
        """The firm's callers who are not simulated agents: twins of the agents' first contacts.

        Each agent stands for ``w`` customers, so each of its first contacts stands for ``w``
        first contacts: itself and floor(w - 1) twins, plus one more with probability
        frac(w - 1), decided by the issue's own uniform. Twin t of an issue is keyed
        ``key | t << TWIN_SHIFT``, so it draws its own time, handle time, patience and outcomes
        from the same streams as every call, the same numbers in every scenario that makes that
        issue. Twins queue with everyone; their experience reaches no agent.
        Returns (index of each twin's issue, twin keys).
        """
        extra = customers_per_agent - 1.0
        if extra <= 0 or len(key) == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.uint64)
        whole = math.floor(extra)
        n_twins = np.full(len(key), whole, dtype=np.int64)
        if extra > whole:
            n_twins += self._streams.uniform("contact_centre.des.twins", month, key) < extra - whole
        twin_of = np.repeat(np.arange(len(key)), n_twins)
        t = np.arange(len(twin_of)) - np.repeat(np.cumsum(n_twins) - n_twins, n_twins) + 1
        return twin_of, key[twin_of] | (t.astype(np.uint64) << np.uint64(TWIN_SHIFT))

    def step(self, model, ms) -> None:
        cc, prof = self.cfg, self.profile
        self._streams = model.streams
        month = ms.month
        cal = prof.calendar(month)
        self._n_open = cal.n_open
        self._buckets = [[] for _ in range(cal.n_open)]
        self._carry_out, self._chunks = [], []
        self._busy, self._n_simulated = 0.0, 0

        # issues: this month's first contacts, their twins (the firm's other callers), then
        # attempts carried in from last month
        rows = np.flatnonzero(ms.phone_calls != 0)
        counts = ms.phone_calls[rows].astype(np.int64)
        n_own = int(counts.sum())
        first_row = np.repeat(rows, counts)
        idx_in_row = np.arange(n_own) - np.repeat(np.cumsum(counts) - counts, counts)
        slot = ms.act[first_row].astype(np.int64)
        # keyed by the customer's uid, not their slot (which compaction renumbers)
        key = (model.pop.uid[slot].astype(np.uint64) << np.uint64(ISSUE_BITS)) | idx_in_row.astype(np.uint64)
        twin_of, twin_key = self._twins(key, month, model.customers_per_agent)
        n_first = n_own + len(twin_of)
        iss_row, iss_slot = [first_row, np.full(len(twin_of), -1, dtype=first_row.dtype)], [slot, slot[twin_of]]
        iss_key = [key, twin_key]
        iss_origin = [np.full(n_first, month, dtype=np.int64)]
        carried, carry = 0, self._carry
        if carry is not None and len(ms.act):
            cs = carry["slot"]
            pos = np.minimum(np.searchsorted(ms.act, cs), len(ms.act) - 1)
            alive = ms.act[pos] == cs  # customers who left since (and their twins) do not call back
            carried = int(alive.sum())
            carry = {k: v[alive] for k, v in carry.items()}
            iss_row.append(np.where(carry["key"] >> np.uint64(TWIN_SHIFT) > 0, -1, pos[alive]))
            iss_slot.append(carry["slot"])
            iss_key.append(carry["key"])
            iss_origin.append(carry["origin"])
        self._row = np.concatenate(iss_row)
        self._key = np.concatenate(iss_key)
        self._origin = np.concatenate(iss_origin)
        # the months issues were opened in: this one, and those of calls carried in (sorted, as
        # np.unique gives them, without sorting every issue)
        self._origins = np.unique(np.concatenate([self._origin[n_first:], [month] if n_first else []]).astype(np.int64))
        slots_all = np.concatenate(iss_slot)
        self._start_levels()

        opens_next = self._open_through_midnight(cal)
        on_call, self._agents_carry = self._agents_carry, np.empty(0)  # from the last month's last midnight
        first_iss = np.arange(n_first)
        u = self._uniforms(_PLACE, first_iss, np.zeros(n_first, dtype=np.int64))
        t_first = Profile.pick_day(u["when"], cal) * prof.day_s + prof.time_of_day(u["tod"])
        self._route(-1, first_iss, np.zeros(n_first, dtype=np.int64),
                    np.full(n_first, FIRST, dtype=np.int8), t_first)
        if carried:
            self._route(-1, n_first + np.arange(carried), carry["attempt"], carry["kind"], carry["t"])

        self.heads = staffing(cc, prof, cal, n_first * self.calls_per_issue)
        full = n_first * self.calls_per_issue + carried <= cc.n_calls_full_sim_max
        self._day_type = cal.day_type
        # simulated days: all, or the first n_rep_days open days of each day type
        sim_day = np.ones(cal.n_open, dtype=bool)
        if not full:
            rank = np.zeros(cal.n_open, dtype=np.int64)
            for t in range(len(cal.type_weights)):
                m = cal.day_type == t
                rank[m] = np.arange(m.sum())
            sim_day = rank < cc.n_rep_days
        last_sim = int(np.flatnonzero(sim_day).max())
        simulated: dict[int, list] = {}  # day type -> (interval, virtual wait) of its simulated days
        reps: dict[int, _RepresentativeDays] = {}
        sim_days = np.flatnonzero(sim_day)
        for b in range(last_sim + 1):
            iss, j, kind, tod = self._take(b)
            t = int(cal.day_type[b])
            if sim_day[b]:
                later = sim_days[sim_days > b]
                after = int(later[0]) if len(later) else None  # the simulated day the queue passes to
                # open through the night: the queue passes to the next simulated day (with
                # representative days, as if it followed), or from the month's last to the next month
                hand_over = bool(opens_next[b] and (after is not None or opens_next[-1]))
                interval, vwait, handed = self._simulate_day(b, iss, j, kind, tod, on_call, hand_over)
                simulated.setdefault(t, []).append((interval, vwait))
                on_call = np.empty(0)
                if handed is not None:
                    *queued, still_on_call = handed
                    if after is not None:
                        self._buckets[after].append(tuple(queued))
                        on_call = still_on_call
                    else:  # times before the next month's start (negative): its first day
                        self._carry_out.append(tuple(queued))
                        self._agents_carry = still_on_call
                continue
            self._ensure_reps(reps, simulated, only=t)  # type t has run all its representative days
            self._map_days(b, iss, j, kind, tod, reps)
        if last_sim + 1 < cal.n_open:  # every other day at once
            self._ensure_reps(reps, simulated)
            days = [self._take(b) + (b,) for b in range(last_sim + 1, cal.n_open)]
            iss, j, kind, tod = (np.concatenate([d[k] for d in days]) for k in range(4))
            b_arr = np.concatenate([np.full(len(d[0]), d[4]) for d in days])
            self._map_days(b_arr, iss, j, kind, tod, reps)

        # carry attempts beyond the month into the next
        if self._carry_out:
            ci, cj, ck, ct = (np.concatenate([x[k] for x in self._carry_out]) for k in range(4))
            self._carry = {"slot": slots_all[ci], "key": self._key[ci], "origin": self._origin[ci],
                           "attempt": cj, "kind": ck, "t": ct}
        else:
            self._carry = None
        self._finish(ms, slots_all, cal)

    def renumber(self, new_slot: np.ndarray) -> None:
        """Slots closed up (sim.population.Population.compact): calls carried into the next month
        follow their customers; a customer who left has slot -1 and does not call back."""
        if self._carry is not None:
            self._carry["slot"] = new_slot[self._carry["slot"]].astype(np.int64)

    def _open_through_midnight(self, cal) -> np.ndarray:
        """Per business day: the line is open all day and the next calendar day too (so the
        queue carries over midnight instead of draining at closing)."""
        if not self.profile.open_all_day:
            return np.zeros(cal.n_open, dtype=bool)
        dom = cal.day_of_month
        next_month_opens = self.profile.rel_weekday[(DAYS_PER_MONTH * (cal.month + 1)) % 7] > 0
        return np.append(dom[1:] == dom[:-1] + 1, dom[-1] == DAYS_PER_MONTH - 1 and next_month_opens)

    def _finish(self, ms, slots_all, cal) -> None:
        cc, prof = self.cfg, self.profile
        if self._chunks:
            log = {k: np.concatenate([c[k] for c in self._chunks]) for k in self._chunks[0]}
        else:
            log = {k: np.empty(0) for k in ("issue", "attempt", "kind", "day", "tod", "contained",
                                             "answered", "abandoned", "wait_s", "virtual_wait_s",
                                             "handle_s", "patience_s", "resolved", "simulated")}
            for k in ("issue", "attempt", "kind", "day"):
                log[k] = log[k].astype(np.int64)
            for k in ("contained", "answered", "abandoned", "resolved", "simulated"):
                log[k] = log[k].astype(bool)
        iss = log["issue"].astype(np.int64)
        ans, ab, cont = log["answered"], log["abandoned"], log["contained"]
        wait = np.where(ans | ab, log["wait_s"], 0.0)
        pen = cc.sat_wait_penalty_per_min * wait / 60.0
        unresolved = np.where(log["resolved"], 0.0, cc.sat_unresolved_penalty)
        exp = np.where(ans, self.phone_experience - pen - unresolved,
                       np.where(ab, cc.sat_experience_abandoned - pen, cc.sat_experience_ivr))
        log["experience"] = exp
        log["slot"] = slots_all[iss]
        log["key"] = self._key[iss]  # uid << ISSUE_BITS | the customer's i-th first contact
        log["origin"] = self._origin[iss]  # month the issue was opened
        self.last_log = log

        n_act = ms.n_act
        row = self._row[iss]
        own = row >= 0  # an agent's own call, not a twin's
        log["own"] = own
        row, exp_own = row[own], exp[own]
        later = log["attempt"][own] > 0
        if COMPILED:  # O(calls) instead of three fresh arrays over the whole base (20 ms a month at 1M)
            summed = (ms.buffers or MonthBuffers()).take("des_experience_sum", (n_act,), np.float64, 0.0)
            _tally_own_calls(row, exp_own, later, ms.phone_calls_total, summed, ms.phone_offset_sum, ms.touch_sum,
                             ms.touch_n)
        else:
            ms.phone_calls_total[:] = np.bincount(row, minlength=n_act)[:n_act]
            ms.touch_sum += np.bincount(row, weights=exp_own, minlength=n_act)[:n_act] + ms.phone_offset_sum
            ms.touch_n += np.bincount(row[later], minlength=n_act)[:n_act].astype(ms.touch_n.dtype)

        k = ms.kpis
        queued = ans | ab
        n_q, n_ans = int(queued.sum()), int(ans.sum())
        staffed_s = float(self.heads.sum()) * prof.interval_s
        k["calls_offered"] = int(len(iss))
        k["calls_repeat"] = int(np.sum(log["kind"] == REPEAT))
        k["calls_retried"] = int(np.sum(log["kind"] == RETRY))
        k["calls_ivr_contained"] = int(cont.sum())
        k["calls_handled"] = n_ans
        k["calls_abandoned"] = int(ab.sum())
        k["calls_simulated"] = int(self._n_simulated)
        k["abandon_rate"] = float(ab.sum() / n_q) if n_q else 0.0
        short = ab & (wait <= cc.dur_answer_threshold_s)  # hung up before the threshold had passed
        k["abandon_within_threshold_rate"] = float(short.sum() / n_q) if n_q else 0.0
        rostered = rostered_agents(self.heads, cc.p_shrinkage)
        k["agents_staffed"] = float(self.heads.mean()) if self.heads.size else 0.0
        k["agents_rostered"] = float(rostered.mean()) if rostered.size else 0.0
        k["agent_hours"] = staffed_s / 3600.0
        k["agent_hours_rostered"] = float(rostered.sum()) * prof.interval_s / 3600.0
        k["staffing_cost"] = k["agent_hours_rostered"] * cc.cost_per_agent_hour  # not cost_*: summary sums those
        k["asa_s"] = float(wait[ans].mean()) if n_ans else 0.0
        k["p_wait"] = float(np.mean(log["virtual_wait_s"][queued] > 0)) if n_q else 0.0
        k["service_level"] = (float(np.sum(ans & (wait <= cc.dur_answer_threshold_s)) / n_q)
                              if n_q else 1.0)
        k["occupancy"] = min(self._busy / staffed_s, 1.0) if staffed_s else 0.0
        k["fcr"] = float(log["resolved"][ans].mean()) if n_ans else 1.0
        k["queue_overloaded"] = int(n_q * cc.dur_handle_s > staffed_s)
        k["caller_wait_mean_s"] = float(wait[queued].mean()) if n_q else 0.0


@kernel
def _tally_own_calls(row, experience, later, calls_total, summed, offset_sum, touch_sum, touch_n):
    """The agents' calls into their rows, as _finish's bincounts do it: calls per customer,
    experience summed in call order (``summed`` comes in zero) and then added with the need
    offsets in float64, a touch for each attempt after the first."""
    calls_total[:] = 0
    for k in range(row.shape[0]):
        r = row[k]
        calls_total[r] += 1
        summed[r] += experience[k]
        if later[k]:
            touch_n[r] += 1
    for i in range(touch_sum.shape[0]):
        touch_sum[i] = np.float64(touch_sum[i]) + (summed[i] + np.float64(offset_sum[i]))


@chunked
def _level_uniforms(issue_key, origin_at, stream_keys, out):
    """out[f, i]: the uniform of field f for issue i, from stream_keys[f, origin_at[i]] (the field's
    stream in the month the issue opened) at the issue's key, as Streams.uniform draws it; chunks
    of issues on several cores (each issue's own column: nothing to join)."""
    n = issue_key.shape[0]
    for c in prange(n_chunks(n)):
        for f in range(stream_keys.shape[0]):
            for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
                out[f, i] = uniform_at(stream_keys[f, origin_at[i]], issue_key[i])
