"""The dashboard: its live comparison equals cxsim's own paired runs, and the page works in a browser."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

from sim import run
from sim.dashboard.live import LiveComparison
from sim.roi import baseline_of, compare_runs


def test_the_live_comparison_grows_to_exactly_the_paired_runs(small_config):
    cfg = small_config("scenario=ebilling_push", "population.n_customers=1000", "years=1")
    live = LiveComparison({"ebilling_push": cfg}, [0, 1])
    live.advance(5)
    partial = live.frame()
    assert partial["month"].max() == 4 and not live.done
    while not live.done:
        live.advance(5)
    frame = live.frame()
    npv = frame[(frame["series"] == "cum_npv") & (frame["month"] == 11)].iloc[0]
    paired = [compare_runs(run(cfg, seed=s).monthly, run(baseline_of(cfg), seed=s).monthly)["incremental_npv"]
              for s in (0, 1)]
    assert npv["mean"] * 1e6 == pytest.approx(np.mean(paired), rel=1e-9, abs=1e-6)
    assert npv["low"] < npv["mean"] < npv["high"]
    early = partial[(partial["series"] == "cum_npv")].set_index("month")["mean"]
    assert np.allclose(early, frame[frame["series"] == "cum_npv"].set_index("month")["mean"].iloc[:5])


BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory, small_config):
    """cxsim-dashboard on a free port, over a results root holding one finished comparison."""
    pytest.importorskip("solara")
    pytest.importorskip("playwright")
    if BROWSER is None:
        if os.environ.get("CXSIM_REQUIRE_BROWSER"):
            pytest.fail("CXSIM_REQUIRE_BROWSER is set but chromium is not installed")
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    from sim.compare import build_comparison
    from sim.results import write_run

    root = tmp_path_factory.mktemp("results")
    for scenario in ("baseline", "ebilling_push"):
        cfg = small_config(f"scenario={scenario}", "population.n_customers=800", "years=1", "output.plots=false")
        for seed in (0, 1):
            write_run(run(cfg, seed=seed), root / scenario / "default" / f"seed={seed}")
    build_comparison(root, figures=False, log=None)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "sim.dashboard.cli", "--host", "127.0.0.1", "--port", str(port),
                               "--results", str(root), "--agents", "1000", "--years", "1", "--seeds", "2"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"the dashboard did not start: {server.stdout.read()[-2000:]}")
            time.sleep(0.5)
    yield url
    server.terminate()
    server.wait(timeout=20)
    # stopping cxsim-dashboard stops the server it started: nothing left answering on the port
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
        except OSError:
            break
        if time.monotonic() > deadline:
            pytest.fail("cxsim-dashboard was stopped but its Solara server still answers (an orphan)")
        time.sleep(0.5)


@pytest.fixture()
def page(dashboard):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=BROWSER, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.goto(dashboard)
        yield tab
        browser.close()


def test_the_dashboard_runs_a_paired_comparison_and_shows_it_growing(page, tmp_path):
    page.get_by_text("Choose scenarios and press Run.").wait_for(timeout=60_000)
    assert page.get_by_text("E-billing campaign").is_visible()  # the scenario's programme, with its controls
    page.get_by_role("button", name="Run").click()
    done = page.get_by_text("Done: incremental NPV after 12 months, paired over 2 seeds")
    done.wait_for(timeout=120_000)
    text = done.inner_text()
    assert "ebilling_push:" in text and "$M (95% interval" in text
    assert page.locator("img").count() >= 1  # the figure of the paired differences
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    page.get_by_text("switched on").click()  # switch the only programme off: nothing left to compare
    page.get_by_role("button", name="Run").click()
    page.get_by_text("Every programme is switched off").wait_for(timeout=30_000)


def test_the_dashboard_opens_a_finished_comparison_from_disk(page):
    page.get_by_text("Choose scenarios and press Run.").wait_for(timeout=60_000)
    page.get_by_role("tab", name="Open from disk").click()
    page.get_by_text("open", exact=True).click()
    page.get_by_text("comparison: ebilling_push_vs_baseline").click()
    frame = page.frame_locator("iframe")
    frame.get_by_text("E-billing campaign against no programme").wait_for(timeout=30_000)
    assert frame.locator(".verdict").count() == 1
