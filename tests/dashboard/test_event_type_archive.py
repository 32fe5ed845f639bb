"""Archiving an event type asks first, in a styled dialog rather than the browser's
confirm() (issue 16, defect 10; the layout is measured in tests/e2e/test_catalog_and_stats_browser.py)."""

from __future__ import annotations

import httpx

from app.services.users import create_user
from app.storage.models import EventType, Tenant
from tests.helpers import sign_in, soup


def test_archive_opens_a_confirmation_and_only_its_form_archives(dashboard):
    row = soup(dashboard.get("/event-types")).select_one("#event-type-order-created")
    link = row.find("a", string="Archive")
    assert (link["href"], link["hx-get"]) == ("/event-types/order.created/archive",) * 2
    # Into the dialog, not inheriting the table's own outerHTML swap (which replaced
    # #modal-body itself, so the dialog opened once and never again).
    assert {(a["hx-target"], a["hx-swap"]) for a in row.select("a[hx-get]")} == {("#modal-body", "innerHTML")}
    assert not row.select("[hx-confirm]") and not row.select("form[action$=archive]"), "one click no longer archives"

    dialog = dashboard.get(link["hx-get"], htmx=True)
    assert dialog.status_code == 200 and "<html" not in dialog.text
    body = soup(dialog)
    assert body.select_one("#modal-title").text == "Archive order.created?"
    form = body.select_one("form[action='/event-types/order.created/archive']")
    assert form.select_one("input[name=archived]")["value"] == "true"
    assert form.select_one("button[type=submit]").text == "Archive order.created"
    cancel = form.find("a", string="Cancel")
    assert cancel.has_attr("data-close-modal") and cancel.has_attr("autofocus"), "the safe choice has the focus"
    assert EventType.get(EventType.name == "order.created").archived_at is None, "asking changed nothing"

    archived = dashboard.post(form["action"], {"archived": "true"}, htmx=True)
    assert archived.status_code == 204 and "closeModal" in archived.headers["hx-trigger"]
    assert EventType.get(EventType.name == "order.created").archived_at is not None


def test_without_javascript_the_confirmation_is_a_page(dashboard):
    page = soup(dashboard.get("/event-types/order.created/archive"))
    assert page.select_one("main #modal-title").text == "Archive order.created?"
    form = page.select_one("main form[method=post][action='/event-types/order.created/archive']")
    assert form.find("a", string="Cancel")["href"] == "/event-types"


def test_unarchive_stays_one_click(dashboard):
    EventType.update(archived_at=EventType.created_at).where(EventType.name == "order.paid").execute()
    row = soup(dashboard.get("/event-types")).select_one("#event-type-order-paid")
    form = row.select_one("form[action='/event-types/order.paid/archive']")
    assert form.select_one("input[name=archived]")["value"] == "false" and form.button.text == "Unarchive"


def test_only_admins_get_the_confirmation(dashboard, api, clock):
    create_user("bob", "b" * 12, Tenant.create(slug="globex", created_at=clock()), clock())
    with httpx.Client(base_url=api.base_url) as client:
        assert sign_in(client, "bob", "b" * 12).get("/event-types/order.created/archive").status_code == 403
