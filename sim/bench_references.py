"""Reference models cxsim-bench times beside cxsim, so its speed is read as a ratio on one machine.

- The Mesa slice: the core of a cxsim month (needs, satisfaction drift, churn) written the way a
  Mesa model is usually written, one ``mesa.Agent`` per customer with a ``step`` method, stepped by
  ``model.agents.do``. It is what cxsim's columnar design is measured against: the same work per
  customer-month, with Python objects.
- Starsim's SIS model on a random network (``starsim.SIS`` + ``starsim.RandomNet``, monthly steps):
  a well-kept agent-based engine built for speed, when it is installed (``pip install starsim``).

Each returns agent-months (agent-steps) per second of its stepping loop, set-up excluded.
"""

from __future__ import annotations

import math
import time


def mesa_slice_rate(n_agents: int, months: int, seed: int = 0) -> float:
    """Agent-months per second of the Mesa slice (set-up excluded)."""
    import mesa

    class Customer(mesa.Agent):
        def __init__(self, model):
            super().__init__(model)
            self.satisfaction = 6.0 + 3.0 * model.random.random()
            self.baseline = self.satisfaction
            self.active = True

        def step(self):
            if not self.active:
                return
            rng = self.model.random
            # needs: a Poisson count by inversion, each one a touch a little below expectation
            u, k, p = rng.random(), 0, math.exp(-0.35)
            cdf = p
            while u >= cdf:
                k += 1
                p *= 0.35 / k
                cdf += p
            self.satisfaction += k * 0.05 * (6.8 - self.satisfaction)
            self.satisfaction += 0.05 * (self.baseline - self.satisfaction)
            self.satisfaction = min(max(self.satisfaction, 0.0), 10.0)
            gap = max(0.0, (9.0 - self.satisfaction) / 9.0)
            if rng.random() < 1.0 - math.exp(-(0.002 + 0.03 * gap * gap)):
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
