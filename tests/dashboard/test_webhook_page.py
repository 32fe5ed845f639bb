"""A webhook's own page and its row in the list, read with BeautifulSoup (issue 16, defects 4,
5 and 13): /webhooks/{id} opens the Deliveries tab, the name is renamed from the page's
heading with and without JavaScript, the row links the name, shows the URL's host and the
end of its path, keeps secondary actions in one menu with Delete a real button, and calls
the log "Deliveries" everywhere."""

from __future__ import annotations

import json

from tests.helpers import create_in_dashboard, only_webhook, soup

LONG_URL = "https://erp.example.com/api/v2/integrations/hookline/tenants/acme/orders/hook"


def test_a_webhooks_address_opens_its_deliveries_tab_with_the_whole_url(dashboard):
    create_in_dashboard(dashboard, url=LONG_URL)
    webhook_id = only_webhook().id
    response = dashboard.get(f"/webhooks/{webhook_id}")
    assert (response.status_code, response.headers["location"]) == (302, f"/webhooks/{webhook_id}/deliveries")
    page = soup(dashboard.get(response.headers["location"]))
    tabs = page.select("nav.tabs a")
    assert [a.text for a in tabs] == ["Deliveries", "Stats", "Edit"]
    assert tabs[0]["aria-current"] == "page"
    assert page.select_one("#webhook-title h1").text == "Billing"
    shown = page.select_one(f"#webhook-url-{webhook_id}")
    assert shown.text == LONG_URL and "url-full" in shown["class"], "the whole URL, where the list shows it short"
    assert page.select_one(f"button[data-copy-target=webhook-url-{webhook_id}]").text == "Copy URL"
    assert dashboard.get("/webhooks/wh_missing").status_code == 404


def test_the_row_links_the_name_and_keeps_secondary_actions_in_one_menu(dashboard):
    create_in_dashboard(dashboard, name="Orders to ERP", url=LONG_URL, events=["order.created", "order.paid", "order.*"])
    webhook_id = only_webhook().id
    row = soup(dashboard.get("/webhooks")).select_one(f"#webhook-{webhook_id}")
    assert not row.select("input[name=name]"), "the name is no longer an edit box"
    link = row.select_one("td.cell-name a.webhook-name")
    assert (link["href"], link.text) == (f"/webhooks/{webhook_id}", "Orders to ERP")
    url = row.select_one(".url")
    assert url["title"] == LONG_URL and url.get_text() == "erp.example.com/…/acme/orders/hook"
    assert [b.text for b in row.select(".badge")] == ["order.created", "order.paid", "+1 more"]

    # In view: the switch and Send test; in the menu: Edit, a custom test, Rotate, Deliveries, Stats, then Delete.
    actions = row.select_one(".actions")
    assert [b.text for b in actions.select(":scope > form > button")] == ["Send test"]
    menu = actions.select_one(":scope > details.menu")
    assert menu.select_one("summary")["aria-label"] == "More actions for Orders to ERP"
    assert [a.text for a in menu.select("a.menu-item")] == [
        "Edit", "Send a custom test…", "Rotate secret…", "Deliveries", "Stats"]
    rotate = menu.select("a.menu-item")[2]
    assert rotate["href"] == f"/webhooks/{webhook_id}/edit#signing-secret-options", "no-JS: the form that picks the grace"
    assert rotate["hx-post"] == f"/webhooks/{webhook_id}/rotate-secret" and rotate["hx-swap"] == "innerHTML"
    assert menu.select_one("a.menu-item")["hx-get"] == f"/webhooks/{webhook_id}/edit"
    delete = menu.select(".menu-item")[-1]
    assert delete.name == "button" and delete["type"] == "submit" and delete.text == "Delete…"
    form = delete.find_parent("form")
    assert (form["method"], form["action"]) == ("get", f"/webhooks/{webhook_id}/delete"), "no-JS: the confirmation page"
    assert form["hx-post"] == f"/webhooks/{webhook_id}/delete" and "Delete the webhook" in form["hx-confirm"]
    assert "Log" not in row.get_text(), "one name for the log: Deliveries"


def test_rename_from_the_page_heading_over_htmx(dashboard):
    create_in_dashboard(dashboard)
    webhook_id = only_webhook().id
    heading = soup(dashboard.get(f"/webhooks/{webhook_id}/deliveries")).select_one("#webhook-title")
    rename = heading.select_one("a")
    assert (rename.text, rename["href"], rename["hx-get"]) == ("Rename", f"/webhooks/{webhook_id}/name", f"/webhooks/{webhook_id}/name")
    assert not rename.has_attr("autofocus"), "a page load leaves the focus alone"

    form = soup(dashboard.get(f"/webhooks/{webhook_id}/name", htmx=True)).select_one("form#webhook-title")
    assert form["hx-post"] == f"/webhooks/{webhook_id}/name" and form.select_one("input[name=name]")["value"] == "Billing"
    assert form.select_one("input[name=name]").has_attr("autofocus")

    refused = dashboard.post(f"/webhooks/{webhook_id}/name", {"name": " "}, htmx=True)
    assert refused.status_code == 422 and only_webhook().name == "Billing"
    field = soup(refused).select_one("#rename-name")
    assert field["aria-invalid"] == "true" and field["value"] == " "
    assert soup(refused).select_one("#rename-name-error").text.startswith("Name: required")

    saved = dashboard.post(f"/webhooks/{webhook_id}/name", {"name": "Billing (EU)"}, htmx=True)
    assert saved.status_code == 200 and only_webhook().name == "Billing (EU)"
    assert soup(saved).select_one("#webhook-title h1").text == "Billing (EU)"
    assert soup(saved).select_one("#webhook-title a").has_attr("autofocus"), "the focus goes back to Rename"
    assert json.loads(saved.headers["hx-trigger"])["toast"]["message"] == "Name saved"

    cancelled = soup(dashboard.get(f"/webhooks/{webhook_id}/title", htmx=True))
    assert cancelled.select_one("#webhook-title h1").text == "Billing (EU)"


def test_rename_without_javascript(dashboard):
    create_in_dashboard(dashboard)
    webhook_id = only_webhook().id
    page = soup(dashboard.get(f"/webhooks/{webhook_id}/name"))
    form = page.select_one("form#webhook-title")
    assert form["method"] == "post" and form["action"] == f"/webhooks/{webhook_id}/name"
    assert page.select_one("nav.tabs"), "the webhook's page, with the form in place of its heading"

    refused = dashboard.post(f"/webhooks/{webhook_id}/name", {"name": ""})
    assert refused.status_code == 422 and soup(refused).select_one("#rename-name-error")
    saved = dashboard.post(f"/webhooks/{webhook_id}/name", {"name": "Renamed"})
    assert (saved.status_code, saved.headers["location"]) == (303, f"/webhooks/{webhook_id}")
    assert only_webhook().name == "Renamed"
    assert dashboard.get(f"/webhooks/{webhook_id}/title").headers["location"] == f"/webhooks/{webhook_id}"

