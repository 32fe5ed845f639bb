"""Payload formats (app/formats.py): documented message shapes, the sandbox, and real sends."""

from __future__ import annotations

import json

import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook

from app.clock import system_clock
from app.errors import InvalidInput
from app.models import Event
from app.formats import DEFAULT_TEMPLATES, request_body, sample_event, validate_template
from tests.conftest import ADMIN, serving
from tests.test_api_events import create_webhook

HOSTILE = {"note": 'quote " backslash \\ newline \n tag </script> {{ 1 }} & <@everyone>', "emoji": "🎉", "n": 3, "ok": True}


def envelope(data=None, event_type="order.created") -> bytes:
    return json.dumps(sample_event(event_type, HOSTILE if data is None else data)).encode()


def body(payload_format, data=None, template=None) -> dict:
    return json.loads(request_body(payload_format, template, envelope(data)))


def assert_slack_shape(message: dict, event: dict) -> None:
    """Slack incoming webhook: `text` fallback plus Block Kit `blocks` (section + context)."""
    assert set(message) == {"text", "blocks"} and isinstance(message["text"], str)
    section, context = message["blocks"]
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert isinstance(section["text"]["text"], str) and len(section["text"]["text"]) <= 3000
    assert context["type"] == "context" and all(e["type"] == "mrkdwn" for e in context["elements"])
    assert event["id"] in context["elements"][0]["text"] and event["timestamp"] in context["elements"][0]["text"]


def assert_discord_shape(message: dict, event: dict) -> None:
    """Discord execute-webhook: `content` plus `embeds` with title/description/fields/timestamp."""
    assert isinstance(message["content"], str) and len(message["content"]) <= 2000
    (embed,) = message["embeds"]
    assert embed["title"] == event["type"] and len(embed["description"]) <= 4096
    assert embed["timestamp"] == event["timestamp"]
    assert 1 <= len(embed["fields"]) <= 25
    for field in embed["fields"]:
        assert isinstance(field["name"], str) and isinstance(field["value"], str) and len(field["value"]) <= 1024
        assert isinstance(field["inline"], bool)


def assert_teams_shape(message: dict, event: dict) -> None:
    """Teams workflow/incoming webhook: a message with one Adaptive Card attachment."""
    assert message["type"] == "message"
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and isinstance(card["version"], str)
    assert [b["type"] for b in card["body"]] == ["TextBlock", "FactSet", "TextBlock"]
    facts = {f["title"]: f["value"] for f in card["body"][1]["facts"]}
    assert facts["Event id"] == event["id"] and all(isinstance(v, str) for v in facts.values())


SHAPES = {"slack": assert_slack_shape, "discord": assert_discord_shape, "teams": assert_teams_shape}


@pytest.mark.parametrize("payload_format", sorted(SHAPES))
@pytest.mark.parametrize("data", [HOSTILE, [1, "two"], "plain", None, {"big": "x" * 20_000}, {"k%d" % i: i for i in range(40)}])
def test_default_templates_produce_the_documented_shape_for_any_data(payload_format, data):
    event = json.loads(envelope(data))
    SHAPES[payload_format](body(payload_format, data), event)


def test_values_survive_escaping_exactly():
    fields = {f["name"]: f["value"] for f in body("discord")["embeds"][0]["fields"]}
    assert fields["note"] == HOSTILE["note"] and fields["emoji"] == "🎉" and fields["ok"] == "true"
    slack = body("slack")["blocks"][0]["text"]["text"]
    assert "&lt;@everyone&gt;" in slack and "<@everyone>" not in slack, "Slack control characters are escaped"


def test_standard_sends_the_envelope_unchanged():
    raw = envelope()
    assert request_body("standard", None, raw) is raw


def test_a_custom_template_replaces_the_default_for_any_format():
    template = '{"msg": {{ ("Paid: " ~ event.data.n) | tojson }}, "raw": {{ event.data | tojson }}}'
    for payload_format in ("standard", "slack"):
        assert body(payload_format, template=template) == {"msg": "Paid: 3", "raw": HOSTILE}


def test_a_template_failing_on_a_live_event_falls_back_to_the_default_and_says_so():
    template = '{"text": {{ event.data.order.total | tojson }}}'
    message = body("slack", data={"no": "order"}, template=template)
    assert_slack_shape(message, json.loads(envelope({"no": "order"})))
    assert "custom template failed" in message["text"]


@pytest.mark.parametrize(
    "template, phrase",
    [
        ("{{ ''.__class__.__mro__ }}", "access to attribute '__class__' of 'str' object is unsafe"),
        ('{"x": {{ event.data.__class__.__subclasses__() | tojson }}}', "unsafe"),
        ('{"x": {{ event.data.update(n=1) | tojson }}}', "unsafe"),
        ('{"x": {{ event.data.pop("n") | tojson }}}', "unsafe"),
        ("{% for x in range(10**9) %}{% endfor %}", "numbers above 100000"),
        ("{% for x in range(9000) %}{% for y in range(9000) %}{% endfor %}{% endfor %}", "at most 10000 steps"),
        ('{"x": {{ "x".ljust(10**9) | tojson }}}', "numbers above 100000"),
        ('{"x": {{ ("%9999999s" % "x") | tojson }}}', "use ~ to join text"),
        ('{"x": {{ "x" | center(10**9) | tojson }}}', "No filter named 'center'"),
        ('{"x": {{ lipsum(50) | tojson }}}', "'lipsum' is undefined"),
        ('{"x": {{ ("x" * 10**9) | tojson }}}', "may not be that long"),
        ('{"x": {{ 2 ** (10 ** 9) }}}', "exponents above 64"),
        ('{"x": {{ 1 / 0 }}}', "division by zero"),
        ('{"a": 1}\n{"b": 2}', "line 2 of the output"),
        ('{"x": NaN}', "NaN is not JSON"),
        ('{\n "a": 1,\n "b": {% if %}\n}', "line 3:"),
    ],
)
def test_save_time_check_rejects_unsafe_and_invalid_templates(template, phrase):
    with pytest.raises(InvalidInput) as caught:
        validate_template("slack", template)
    assert caught.value.field == "payload_template" and phrase in caught.value.message


def test_empty_template_means_the_default():
    assert validate_template("discord", "  ") is None and validate_template("discord", None) is None
    assert all(validate_template(name, text) == text for name, text in DEFAULT_TEMPLATES.items())


@pytest.fixture
def live(settings):
    with serving(settings, system_clock, run_sender=True) as client:
        yield client


def test_chat_messages_arrive_signed_at_a_real_receiver(live, receiver):
    webhooks = {name: create_webhook(live, url=receiver.url(f"/{name}"), payload_format=name) for name in ("standard", *SHAPES)}
    event_id = live.post("/api/v1/events", json={"type": "order.paid", "data": HOSTILE}, headers=ADMIN).json()["id"]
    event = json.loads(Event.get_by_id(event_id).envelope())
    receiver.wait_for(4)
    for name, webhook in webhooks.items():
        (request,) = receiver.to(f"/{name}")
        message = StandardWebhook(webhook["secret"]).verify(request.body, request.headers)  # signs the bytes sent
        assert request.headers["content-type"] == "application/json"
        if name == "standard":
            assert message == event
        else:
            SHAPES[name](message, event)
