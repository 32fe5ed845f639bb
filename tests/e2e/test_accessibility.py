"""axe-core on every dashboard page, at desktop and phone width (issue 16, "Tests").

One server and one signed-in browser context (plus one without a dashboard session, for
the sign-in page and a portal link): each screen of SCREENS is loaded once, then axe-core
(tests/e2e/vendor/, a test tool never served to users) checks it at desktop width and
again once the viewport has shrunk to a phone's. The pages choose their layout with CSS
media queries only, so the resize lays a page out as a phone loading it would.

axe is injected with `page.evaluate` of the file's text. `page.add_script_tag` adds an
inline <script>, which the dashboard's CSP (`script-src 'self'`, app/web/security.py)
blocks; a context with `bypass_csp=True` would let it in but also switch off the policy
the pages ship with, so a page that works only without it would pass. What Playwright
evaluates runs through the DevTools protocol, outside the page's CSP, and the page stays
as a user gets it.

Zero serious or critical violations. The counts per page, width and impact, and every
violation below the table, are printed (`pytest -s`, or `-rP` for a passing run) and
written to axe-results.txt in the test's tmp dir: the closing note of issue 16 quotes them.

To check another page, add a row to SCREENS.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.helpers import (
    ADMIN, ADMIN_PASSWORD, ADMIN_USER, DESKTOP, PHONE, create_webhook, create_webhook_in_browser, emit_over_api,
    eventually, open_create_modal,
)

AXE_VERSION = "4.14.1"
AXE = Path(__file__).parent / "vendor" / f"axe-core-{AXE_VERSION}.min.js"
IMPACTS = ("critical", "serious", "moderate", "minor")
FAILING = {"critical", "serious"}
WIDTHS = {"desktop": DESKTOP, "phone": PHONE}


@dataclass(frozen=True)
class Screen:
    name: str
    path: str  # formatted with the ids `seed` returns
    then: Callable[[Page], None] | None = None  # brings up the state to check, once loaded
    after: Callable[[Page], None] | None = None  # moves on once checked (setup signs in)
    signed_in: bool = True  # False: the context without a dashboard session
    seeded: bool = True  # shows the webhooks, deliveries and test endpoint that `seed` makes


def finish_setup(page: Page) -> None:
    page.fill("#name", ADMIN_USER)
    page.fill("#password", ADMIN_PASSWORD)
    page.fill("#password_confirm", ADMIN_PASSWORD)
    page.get_by_role("button", name="Create administrator").click()
    expect(page).to_have_url(re.compile(r"/webhooks$"))


def secret_dialog(page: Page) -> None:
    create_webhook_in_browser(page, "Shown once", "http://127.0.0.1:9/shown-once")


def delete_endpoint_dialog(page: Page) -> None:
    page.get_by_role("button", name="Delete").click()
    expect(page.locator("#modal-title")).to_have_text("Delete Checkout tests?")


def wrong_password(page: Page) -> None:
    page.fill("#name", ADMIN_USER)
    page.fill("#password", "not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".form-error")).to_be_visible()


# Visited in this order. Those that are not `seeded` come first: setup needs an
# installation without an admin, the empty list one without webhooks.
SCREENS = [
    Screen("setup", "/setup", after=finish_setup, seeded=False),
    Screen("webhooks, empty", "/webhooks", seeded=False),
    Screen("create webhook modal", "/webhooks", then=open_create_modal, seeded=False),
    Screen("secret dialog", "/webhooks", then=secret_dialog, seeded=False),
    Screen("webhooks", "/webhooks"),
    Screen("overview", "/overview"),
    Screen("edit webhook", "/webhooks/{webhook}/edit"),
    Screen("custom test event", "/webhooks/{webhook}/test"),
    Screen("delete webhook", "/webhooks/{webhook}/delete"),
    Screen("deliveries log", "/webhooks/{webhook}/deliveries"),
    Screen("delivery detail", "/deliveries/{delivery}"),
    Screen("stats", "/webhooks/{webhook}/stats"),
    Screen("events", "/events"),
    Screen("event", "/events/{event}"),
    Screen("rename webhook", "/webhooks/{webhook}/name"),
    Screen("event types", "/event-types"),
    Screen("event type form", "/event-types/new"),
    Screen("archive confirm", "/event-types/order.paid/archive"),
    Screen("API keys", "/api-keys"),
    Screen("notifications", "/settings/notifications"),
    Screen("inspector", "/inspector"),
    Screen("inspector endpoint", "/inspector/{endpoint}"),
    Screen("delete endpoint dialog", "/inspector/{endpoint}", then=delete_endpoint_dialog),
    Screen("tenant settings", "/tenants/default"),
    Screen("error 404", "/webhooks/wh_missing/edit"),
    Screen("login", "/login", signed_in=False),
    Screen("login, wrong password", "/login", then=wrong_password, signed_in=False),
    Screen("portal webhooks", "{portal}", signed_in=False),
]

RUN_AXE = r"""async () => {
    const results = await axe.run(document, {resultTypes: ["violations"]});
    return results.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.map(n => ({target: n.target.join(" "), html: n.html.replace(/\s+/g, " ").slice(0, 160)}))}));
}"""


def seed(hookline: str, receiver) -> dict[str, str]:
    """What the seeded screens show: a webhook with an event and its succeeded delivery, a
    test endpoint that captured that delivery's signed request and an unsigned one with a
    body long enough to scroll, a portal link; their ids (the link's URL) by name."""
    from app.rules.clock import system_clock
    from app.services.inspector import new_endpoint
    from app.storage.models import Tenant

    with httpx.Client(base_url=hookline) as api:
        webhook = create_webhook(api, receiver.url(), name="Orders to ERP", events=["order.created"])
        event = emit_over_api(api)
        (received,) = receiver.wait_for(1)

        def succeeded():
            listed = api.get(f"/api/v1/webhooks/{webhook['id']}/deliveries", headers=ADMIN).json()["data"]
            return [d["id"] for d in listed if d["status"] == "succeeded"]

        (delivery,) = eventually(succeeded, what="the delivery to succeed")
        endpoint = new_endpoint(Tenant.get(Tenant.slug == "default"), "Checkout tests", system_clock())
        capture_url = f"/inspect/{endpoint.token}"
        signed = {name: value for name, value in received.headers.items() if name.startswith("webhook-")}
        order = json.dumps({"order_id": 1234, "lines": [{"sku": f"HOOK-{n}", "quantity": n} for n in range(30)]})
        for body, headers in ((received.body, {**signed, "content-type": "application/json"}),
                              (order.encode(), {"content-type": "application/json"})):
            assert api.post(capture_url, content=body, headers=headers).status_code == 200
        portal = api.post("/api/v1/tenants/default/portal-link", headers=ADMIN).json()["url"]
    return {"webhook": webhook["id"], "event": event, "delivery": delivery, "endpoint": endpoint.id, "portal": portal}


def violations(page: Page) -> list[dict]:
    """axe's violations on the page as it is now: rule, impact, help, and each element."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text())
    return page.evaluate(RUN_AXE)


def report(checked: list[tuple[str, str, list[dict]]]) -> str:
    """The table of element counts per impact, then every violation, one element a line."""
    lines = [f"axe-core {AXE_VERSION}: elements with violations, by impact",
             f"{'page':<24} {'width':<8}" + "".join(f"{impact:>9}" for impact in IMPACTS)]
    for name, width, found in checked:
        counts = [sum(len(v["nodes"]) for v in found if v["impact"] == impact) for impact in IMPACTS]
        lines.append(f"{name:<24} {width:<8}" + "".join(f"{count:>9}" for count in counts))
    lines += [f"{name} at {width}: {v['id']} ({v['impact']}) {v['help']}: {node['target']} {node['html']}"
              for name, width, found in checked for v in found for node in v["nodes"]]
    return "\n".join(lines)


def test_every_page_has_no_serious_or_critical_violations(new_context, hookline, receiver, tmp_path):
    admin, visitor = new_context().new_page(), new_context().new_page()
    ids: dict[str, str] = {}
    checked = []
    for screen in SCREENS:
        if screen.seeded and not ids:
            ids = seed(hookline, receiver)
        page = admin if screen.signed_in else visitor
        page.set_viewport_size(DESKTOP)
        page.goto(screen.path.format(**ids))
        if screen.then:
            screen.then(page)
        for width, viewport in WIDTHS.items():
            page.set_viewport_size(viewport)
            checked.append((screen.name, width, violations(page)))
        if screen.after:
            screen.after(page)

    text = report(checked)
    (tmp_path / "axe-results.txt").write_text(text + "\n")
    print("\n" + text)
    failing = [f"{name} at {width}: {v['id']} ({v['impact']}) {node['target']} {node['html']}"
               for name, width, found in checked for v in found if v["impact"] in FAILING for node in v["nodes"]]
    assert not failing, "\n".join(failing)
