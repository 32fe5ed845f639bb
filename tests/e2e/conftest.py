"""Real headless Chromium (Debian's, via Playwright) against Hookline on loopback."""

from __future__ import annotations

import os
import shutil

import pytest

from app.clock import system_clock
from tests.conftest import serving

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps trying to reach Google's hosts,
# which this machine's closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed and scripts/install-browser.sh could not install it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def hookline(settings):
    """Hookline with its sender running on the real clock; yields the base URL."""
    with serving(settings, system_clock, run_sender=True) as client:
        yield str(client.base_url).rstrip("/")


@pytest.fixture
def page(browser, hookline):
    context = browser.new_context(viewport=DESKTOP, base_url=hookline)
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()
