"""The tenant settings page's default headers, over real HTTP, read with bs4: saved through
the form, sent by the tenant's webhooks to a real receiver (a webhook's own header of the
same name wins, an unticked Hookline header is not sent), shown again when the page
opens and in its preview and the webhooks' previews; problems show next to the textarea.
"""

from __future__ import annotations

import httpx
import pytest

from app.rules.clock import system_clock
from app.services.users import create_first_admin, create_user
from app.storage.models import Tenant, Webhook
from tests.helpers import ADMIN, ADMIN_PASSWORD, ADMIN_USER, create_in_dashboard, serving, sign_in, soup

# Hookline's default headers, the boxes of the form.
DEFAULTS = ["User-Agent", "X-Webhook-Event", "X-Webhook-Timestamp"]
ARCODE = {"signatures_set": "inherit", "default_headers": "shown", "headers": "X-ARCode-Event: {event.type}",
          "send_default": ["X-Webhook-Event", "X-Webhook-Timestamp"]}
NOT_SENT_BY_HOOKLINE = ("host", "content-length", "accept", "accept-encoding")


@pytest.fixture
def live(settings):
    """Hookline with its sender running on the real clock, and the admin signed in."""
    with serving(settings, system_clock, run_sender=True) as client:
        create_first_admin(ADMIN_USER, ADMIN_PASSWORD, system_clock())
        yield client, sign_in(client)


def preview_headers(response: httpx.Response) -> dict[str, str]:
    text = soup(response).select_one("#contract-preview-request").text
    return dict(line.split(": ", 1) for line in text.partition("\n\n")[0].split("\n")[1:])


def stored_headers(client: httpx.Client) -> dict | None:
    return client.get("/api/v1/tenants/default", headers=ADMIN).json()["headers"]


def test_headers_saved_on_the_tenant_page_are_sent_by_its_webhooks(live, receiver, clock):
    client, dashboard = live
    typed = preview_headers(dashboard.post("/tenants/default/preview", ARCODE, htmx=True))
    assert "X-ARCode-Event" in typed and "User-Agent" not in typed, "the preview follows the form before saving"

    assert dashboard.post("/tenants/default", ARCODE).status_code == 303
    assert stored_headers(client) == {"User-Agent": None, "X-ARCode-Event": "{event.type}"}
    page = dashboard.get("/tenants/default")
    assert soup(page).select_one("textarea#ct-headers").text == "X-ARCode-Event: {event.type}"
    assert [box["value"] for box in soup(page).select("input[name=send_default]") if box.has_attr("checked")] == [
        "X-Webhook-Event", "X-Webhook-Timestamp"]
    shown = preview_headers(page)
    sample_type = soup(page).select_one("#contract-preview h3 code").text
    assert shown["X-ARCode-Event"] == shown["X-Webhook-Event"] == sample_type
    assert "User-Agent" not in shown

    inherits = create_in_dashboard(dashboard, name="inherits", url=receiver.url("/inherits"), events="*")
    own = create_in_dashboard(dashboard, name="own", url=receiver.url("/own"), events="*",
                              headers="X-ARCode-Event: mine")
    assert (inherits.status_code, own.status_code) == (201, 201)
    webhook = Webhook.get(Webhook.name == "inherits")
    edit_preview = preview_headers(dashboard.get(f"/webhooks/{webhook.id}/edit"))
    assert "X-ARCode-Event" in edit_preview and "User-Agent" not in edit_preview, "a webhook's preview inherits them"

    event = {"type": "order.created", "data": {"id": "ord_1"}}
    assert client.post("/api/v1/events", json=event, headers=ADMIN).status_code == 202
    (sent,) = receiver.wait_for(1, "/inherits")
    assert sent.headers["x-arcode-event"] == "order.created"
    assert "user-agent" not in sent.headers, "an unticked default header is not sent, nor the HTTP client's"
    assert [name for name in sent.headers if name not in NOT_SENT_BY_HOOKLINE] == [name.lower() for name in shown]
    (sent,) = receiver.wait_for(1, "/own")
    assert sent.headers["x-arcode-event"] == "mine", "the webhook's own header of the same name wins"

    create_user("bob", "b" * 12, Tenant.get(Tenant.slug == "default"), clock())
    with httpx.Client(base_url=client.base_url) as other_client:
        other = sign_in(other_client, "bob", "b" * 12)
        assert other.post("/tenants/default", {**ARCODE, "headers": "X-Other: 1"}).status_code == 403
    assert stored_headers(client) == {"User-Agent": None, "X-ARCode-Event": "{event.type}"}

    everything_sent = {"signatures_set": "inherit", "default_headers": "shown", "headers": "", "send_default": DEFAULTS}
    assert dashboard.post("/tenants/default", everything_sent).status_code == 303
    assert stored_headers(client) is None, "no lines and every box ticked: the installation's headers"
    page = soup(dashboard.get("/tenants/default"))
    assert page.select_one("textarea#ct-headers").text == ""
    assert all(box.has_attr("checked") for box in page.select("input[name=send_default]"))


@pytest.mark.parametrize("lines, fields, says", [
    ("X Bad Name: 1", {}, "X Bad Name"),
    ("Authorization: Bearer abc", {}, "credential"),
    ("X-Signature: mine", {"signatures_set": "custom", "sig_hmac": "1", "hmac_header": "X-Signature"},
     "set by Hookline"),
    ("X-Event {event.type}", {}, "line 2 is not"),
])
def test_a_refused_header_is_shown_next_to_the_textarea_with_the_text_kept(dashboard, lines, fields, says):
    typed = {**ARCODE, "headers": f"X-Kept: 1\n{lines}", **fields}
    answer = dashboard.post("/tenants/default", typed)
    assert answer.status_code == 422
    page = soup(answer)
    assert says in page.select_one("#ct-headers-error").text
    assert page.select_one("textarea#ct-headers")["aria-invalid"] == "true"
    assert page.select_one("textarea#ct-headers").text == typed["headers"]
    assert not page.select_one("input[name=send_default][value=User-Agent]").has_attr("checked")
    assert Tenant.get(Tenant.slug == "default").headers is None
