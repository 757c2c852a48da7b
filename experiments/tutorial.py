# ---
# jupyter:
#   jupytext:
#     text_representation:
#       format_name: percent
# ---

# %% [markdown]
# # cxsim from Python: run, pair, compare, plot
#
# This tutorial is a plain Python script in Jupytext's "percent" format: run it with
# `python experiments/tutorial.py`, or open it as a notebook in Jupyter with the jupytext extension
# (`pip install -e ".[notebook]"`). The test suite runs it as a script and as a notebook
# (`tests/unit/test_tutorial.py`, at a smaller size), so every line here works with the installed cxsim.
#
# The question: does the e-billing campaign pay for itself at the utility preset's firm, and how
# sure can we be? Sizes come from the environment so the test can shrink them.

# %%
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sim import load_config, run  # noqa: E402
from sim.compare import paired_stats  # noqa: E402
from sim.roi import baseline_of, compare_runs  # noqa: E402

AGENTS = int(os.environ.get("CXSIM_TUTORIAL_AGENTS", "20000"))
YEARS = int(os.environ.get("CXSIM_TUTORIAL_YEARS", "10"))
SEEDS = range(int(os.environ.get("CXSIM_TUTORIAL_SEEDS", "5")))
OUT = Path(os.environ.get("CXSIM_TUTORIAL_OUT", "results/tutorial"))

# %% [markdown]
# ## 1. A config, composed the way the `cxsim` command composes it
#
# `load_config` takes the same `key=value` overrides as the command line and returns validated
# dataclasses. The firm is the preset's (463,900 customers); `population.n_agents` is how many
# are simulated, each standing for n_customers / n_agents customers.

# %%
campaign = load_config(["scenario=ebilling_push", f"population.n_agents={AGENTS}", f"years={YEARS}",
                        "progress=false"])
print(campaign.population.n_customers, "customers simulated by", campaign.population.agents, "agents")
print("the campaign:", campaign.interventions["ebilling_campaign"].label)

# %% [markdown]
# ## 2. Run the scenario and its baseline at the same seeds
#
# `baseline_of` is the same config without the programmes. At one seed both runs draw the same
# random numbers (common random numbers), so their difference is the campaign's effect, not luck.

# %%
pairs = []
for seed in SEEDS:
    scenario = run(campaign, seed=seed)
    baseline = run(baseline_of(campaign), seed=seed)
    pairs.append((scenario, baseline))
    money = compare_runs(scenario.monthly, baseline.monthly)
    print(f"seed {seed}: incremental NPV {money['incremental_npv'] / 1e6:+.2f} $M, "
          f"CX spend {money['cx_spend_pv'] / 1e6:.2f} $M (present values)")

# %% [markdown]
# ## 3. Compare over seeds: the paired interval
#
# `paired_stats` is what `cxsim-compare` uses: the mean paired difference, its 95% t-interval over
# seeds, and the seeds a paired t-test would need to separate it from zero with 80% power.

# %%
npv = np.array([compare_runs(s.monthly, b.monthly)["incremental_npv"] for s, b in pairs])
stats = paired_stats(npv, better=+1)
print(f"incremental NPV over {stats['n_seeds']} seeds: {stats['mean_diff'] / 1e6:+.2f} $M, "
      f"95% interval {stats['ci_low'] / 1e6:+.2f} to {stats['ci_high'] / 1e6:+.2f} $M")
if stats["crosses_zero"]:
    print(f"not yet separated from zero: about {stats['n_seeds_needed']:.0f} seeds would separate it")

# %% [markdown]
# ## 4. Plot the paired difference month by month
#
# Cumulative discounted profit difference: where it crosses zero the campaign has paid back.

# %%
OUT.mkdir(parents=True, exist_ok=True)
fig, ax = plt.subplots(figsize=(8, 4))
for seed, (s, b) in zip(SEEDS, pairs):
    gap = np.cumsum(s.monthly["profit_discounted"].to_numpy() - b.monthly["profit_discounted"].to_numpy())
    ax.plot((s.monthly["month"] + 1) / 12, gap / 1e6, lw=1, label=f"seed {seed}")
ax.axhline(0, color="0.5", lw=0.8)
ax.set(xlabel="year", ylabel="USD million", title="E-billing campaign: cumulative incremental NPV, paired by seed")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "cumulative_npv.png", dpi=100)
print("figure:", OUT / "cumulative_npv.png")

# %% [markdown]
# ## Where next
#
# - The same comparison with a report, over any scenarios and seeds, from the command line:
#   `cxsim -m scenario=baseline,ebilling_push seed='range(0,10)'`.
# - Which assumptions drive the answer: `cxsim-explore ebilling_or_resolved` (README,
#   "Sensitivity and robustness").
# - Every key, its unit and default: `sim/config.py`; every monthly column: `sim/kpis.py`.
