"""Payload formats (app/delivery/formats.py): documented message shapes, the sandbox and its caps,
the save-time check (app/delivery/payloads.py), and real sends."""

from __future__ import annotations

import json

import pytest
from jinja2.sandbox import SecurityError
from standardwebhooks.webhooks import Webhook as StandardWebhook

from app.delivery.formats import DEFAULT_TEMPLATES, MAX_TEXT_CHARS, default_body, fallback_body, render, sample_event
from app.delivery.payloads import validate_template
from app.rules.clock import system_clock
from app.rules.errors import InvalidInput
from app.storage.models import Event
from tests.helpers import ADMIN, create_webhook, serving

HOSTILE = {"note": 'quote " backslash \\ newline \n tag </script> {{ 1 }} & <@everyone>', "emoji": "🎉", "n": 3, "ok": True}


def envelope(data=None, event_type="order.created") -> bytes:
    return json.dumps(sample_event(event_type, HOSTILE if data is None else data)).encode()


def body(payload_format, data=None, template=None) -> dict:
    raw = envelope(data)
    return json.loads(default_body(payload_format, raw) if template is None else render(template, raw))


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
    assert default_body("standard", raw) is raw
    assert fallback_body("standard", raw, "it failed") is raw, "a failed custom template on standard: the envelope"


def test_a_custom_template_replaces_the_default():
    template = '{"msg": {{ ("Paid: " ~ event.data.n) | tojson }}, "raw": {{ event.data | tojson }}}'
    assert body("slack", template=template) == {"msg": "Paid: 3", "raw": HOSTILE}


@pytest.mark.parametrize("payload_format", sorted(SHAPES))
def test_the_fallback_for_a_failed_template_is_the_default_message_saying_why(payload_format):
    raw = envelope({"no": "order"})
    message = json.loads(fallback_body(payload_format, raw, "'dict object' has no attribute 'order'"))
    event = json.loads(raw)
    SHAPES[payload_format](message, {**event, "type": message_type(payload_format, message)})
    assert message_type(payload_format, message) == "order.created (custom template failed: 'dict object' has no attribute 'order')"


def message_type(payload_format: str, message: dict) -> str:
    if payload_format == "slack":
        return message["text"].removeprefix("Hookline: ")
    if payload_format == "discord":
        return message["embeds"][0]["title"]
    return message["attachments"][0]["content"]["body"][0]["text"]


TOO_LONG = f"more than {MAX_TEXT_CHARS:,} characters"


@pytest.mark.parametrize(
    "template, phrase",
    [
        ('{{ (["x" * 100000] * 1000) | join | length }}', TOO_LONG),
        ('{{ (["x" * 100000] * 1000) | join(",") | length }}', TOO_LONG),
        ('{{ "".join(["x" * 100000] * 1000) | length }}', TOO_LONG),
        ('{{ ("x" * 100000) | replace("x", "x" * 100000) | length }}', TOO_LONG),
        ('{{ ("x" * 100000).replace("x", "x" * 100000) | length }}', TOO_LONG),
        ('{{ ("x" * 100000).encode().replace("x".encode(), ("x" * 100000).encode()) | length }}', TOO_LONG),
        ('{{ ("\t" * 100000).expandtabs(100000) | length }}', TOO_LONG),
        ('{{ ("\t" * 100000).expandtabs(tabsize=100000) | length }}', TOO_LONG),
        ('{% for i in range(10000) %}{{ "x" * 100000 }}{% endfor %}', TOO_LONG),
        ('{{ "{:>999999999}".format(1) }}', "access to attribute 'format' of 'str' object is unsafe"),
        ('{{ "{x:>999999999}".format_map({"x": 1}) }}', "access to attribute 'format_map' of 'str' object is unsafe"),
        ('{{ event.data | tojson(indent=100000) }}', "indent must be a whole number from 0 to 8"),
        ('{{ event.data | tojson(indent="x" * 100000) }}', "indent must be a whole number from 0 to 8"),
    ],
)
def test_text_a_template_would_build_is_measured_before_it_is_built(template, phrase):
    with pytest.raises(SecurityError, match=phrase):
        render(template, envelope())


@pytest.mark.parametrize(
    "template, output",
    [
        ('{"t": {{ ("a-b-c" | replace("-", "+")) | tojson }}}', {"t": "a+b+c"}),
        ('{"t": {{ ("a-b-c" | replace("-", "+", 1)) | tojson }}}', {"t": "a+b-c"}),
        ('{"t": {{ "a-b-c".replace("-", "") | tojson }}}', {"t": "abc"}),
        ('{"t": {{ ([1, 2, 3] | join(", ")) | tojson }}}', {"t": "1, 2, 3"}),
        ('{"t": {{ ([{"n": "a"}, {"n": "b"}] | join("/", attribute="n")) | tojson }}}', {"t": "a/b"}),
        ('{"t": {{ "-".join(["a", "b"]) | tojson }}}', {"t": "a-b"}),
        ('{"t": {{ "a\tb".expandtabs(4) | tojson }}}', {"t": "a   b"}),
        ('{"t": {{ event.data.n | tojson(indent=2) }}}', {"t": 3}),
    ],
)
def test_the_measured_filters_and_methods_still_work(template, output):
    assert json.loads(render(template, envelope())) == output


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
        ('{{ "abc" | truncate(1) }}', "expected length >= 3, got 1"),  # an AssertionError inside Jinja
        ('{{ (["x" * 100000] * 1000) | join | length }}', TOO_LONG),
        ('{% for a in range(10000) %}{% for b in event.data.customer.email * 100 %}{% endfor %}{% endfor %}',
         "stopped after 50 ms of CPU time"),
    ],
)
def test_save_time_check_rejects_unsafe_and_invalid_templates(template, phrase, settings):
    with pytest.raises(InvalidInput) as caught:
        validate_template("slack", template, sample_event(), settings)
    assert caught.value.field == "payload_template" and phrase in caught.value.message


def test_empty_template_means_the_default(settings):
    assert validate_template("discord", "  ", sample_event(), settings) is None
    assert validate_template("discord", None, sample_event(), settings) is None
    assert all(validate_template(name, text, sample_event(), settings) == text for name, text in DEFAULT_TEMPLATES.items())


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


def test_numbers_keep_their_digits_through_a_template():
    event = b'{"id":"evt_1","type":"order.paid","timestamp":"2026-01-01T12:00:00.000000Z",' \
            b'"data":{"amount":12345678901234567.89,"account":123456789012345678901234567890,"rate":1e-7}}'
    template = '{"amount": {{ event.data.amount | tojson }}, "rest": {{ event.data | tojson }}, "typed": 1.10}'
    assert render(template, event) == (
        b'{"amount":12345678901234567.89,"rest":{"amount":12345678901234567.89,'
        b'"account":123456789012345678901234567890,"rate":1e-7},"typed":1.10}')
