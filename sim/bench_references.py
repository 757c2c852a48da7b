"""Reference models cxsim-bench times beside cxsim, so its speed is read as a ratio on one machine.

- The Mesa slice: the per-customer decisions of a cxsim month (a Poisson count for each of six need
  types, a channel for each need that arose, experience against expectation and drift, a draw for
  each of eight behaviours not yet shown, churn) written the way a Mesa model is usually written,
  one ``mesa.Agent`` per customer with a ``step`` method, stepped by ``model.agents.do``. It is what
  cxsim's columnar design is measured against: about the same draws per customer-month, with
  Python objects; it leaves out the contact centre, word of mouth, complaints and the money.
- Starsim's SIS model on a random network (``starsim.SIS`` + ``starsim.RandomNet``, monthly steps):
  a well-kept agent-based engine built for speed, when it is installed (``pip install starsim``).

Each returns agent-months (agent-steps) per second of its stepping loop, set-up excluded.
"""

from __future__ import annotations

import math
import time

# the slice's figures: six need types, five channels and eight behaviours, as the utility preset has
_NEED_RATES = (0.05, 0.03, 0.02, 0.03, 0.02, 0.01)
_CHANNEL_WEIGHTS = (0.3, 0.4, 0.1, 0.1, 0.1)
_ADOPTION_HAZARD = 0.004
_BEHAVIOURS = 8


def mesa_slice_rate(n_agents: int, months: int, seed: int = 0) -> float:
    """Agent-months per second of the Mesa slice (set-up excluded)."""
    import mesa

    class Customer(mesa.Agent):
        def __init__(self, model):
            super().__init__(model)
            self.satisfaction = 6.0 + 3.0 * model.random.random()
            self.baseline = self.satisfaction
            self.expectation = 7.0
            self.adopted = [False] * _BEHAVIOURS
            self.active = True

        def step(self):
            if not self.active:
                return
            rng = self.model.random
            touches, score = 0, 0.0
            for rate in _NEED_RATES:  # needs: a Poisson count per type, by inversion
                u, k, p = rng.random(), 0, math.exp(-rate)
                cdf = p
                while u >= cdf:
                    k += 1
                    p *= rate / k
                    cdf += p
                if k:  # a channel for the need type, drawn from its weights
                    pick, c = rng.random() * sum(_CHANNEL_WEIGHTS), 0
                    while pick >= _CHANNEL_WEIGHTS[c] and c < len(_CHANNEL_WEIGHTS) - 1:
                        pick -= _CHANNEL_WEIGHTS[c]
                        c += 1
                    touches += k
                    score += k * (6.5 + 0.3 * c)
            if touches:  # experience against expectation
                gap = score / touches - self.expectation
                self.satisfaction += (0.3 if gap > 0 else 0.6) * gap
                self.expectation += 0.2 * gap
            self.satisfaction += 0.05 * (self.baseline - self.satisfaction)
            self.satisfaction = min(max(self.satisfaction, 0.0), 10.0)
            tilt = math.exp(0.3 * (self.satisfaction - 7.0))
            for b in range(_BEHAVIOURS):  # adoption: one draw per behaviour not yet shown
                if not self.adopted[b] and rng.random() < 1.0 - math.exp(-_ADOPTION_HAZARD * tilt):
                    self.adopted[b] = True
            gap = max(0.0, (9.0 - self.satisfaction) / 9.0)
            if rng.random() < 1.0 - math.exp(-(0.002 + 0.03 * gap ** 1.5)):
                self.active = False

    class Slice(mesa.Model):
        def __init__(self, n, seed):
            super().__init__(seed=seed)
            for _ in range(n):
                Customer(self)

        def step(self):
            self.agents.do("step")

    model = Slice(n_agents, seed)
    started = time.perf_counter()
    for _ in range(months):
        model.step()
    return n_agents * months / (time.perf_counter() - started)


def starsim_available() -> bool:
    try:
        import starsim  # noqa: F401
    except ImportError:
        return False
    return True


def starsim_sis_rate(n_agents: int, months: int, seed: int = 0) -> float:
    """Agent-steps per second of Starsim's SIS on a random network, monthly steps (set-up excluded)."""
    import starsim as ss

    sim = ss.Sim(n_agents=n_agents, networks=ss.RandomNet(), diseases=ss.SIS(), start=2000,
                 stop=2000 + months / 12, dt=1 / 12, rand_seed=seed, verbose=0)
    sim.init()
    started = time.perf_counter()
    sim.run()
    wall = time.perf_counter() - started
    return n_agents * (len(sim.t.tvec) if hasattr(sim.t, "tvec") else months) / wall
