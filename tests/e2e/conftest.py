"""Real headless Chromium (Debian's, via Playwright) against Hookline on loopback.

Playwright's sync API runs its own event loop and refuses to start inside a running one;
these tests are plain sync functions and Hookline runs in its own thread (`serving`), so
nothing else holds a loop while the browser is driven.
"""

from __future__ import annotations

import os

import pytest

from app.rules.clock import system_clock
from tests.helpers import DESKTOP, TIMEOUT_MS, serving

# Debian's package, installed by scripts/install-browser.sh (`make test` runs it first).
CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps trying to reach Google's hosts,
# which this machine's closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    """Module-scoped, not session-scoped: while Playwright's sync API is open, its event
    loop counts as running in this thread, and the async tests of other modules could not
    start theirs. tests/conftest.py keeps a module's tests on one pytest-xdist worker."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing: run scripts/install-browser.sh (make test does) to install Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def hookline(settings, migrated_file):
    """Hookline with its sender running on the real clock; yields the base URL."""
    with serving(settings, system_clock, run_sender=True) as client:
        yield str(client.base_url).rstrip("/")


@pytest.fixture
def new_context(browser, hookline):
    """Makes browser contexts pointed at Hookline (closed after the test)."""
    contexts = []

    def make(**options):
        context = browser.new_context(base_url=hookline, **{"viewport": DESKTOP, **options})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_context):
    return new_context().new_page()
