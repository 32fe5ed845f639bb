"""Delivery contracts, pure (app/rules/contracts.py, app/rules/placeholders.py,
app/delivery/signed_request.py): what is refused at save and why, what an envelope and
headers render to, and that the default contract is the request Hookline has always sent."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timezone

import pytest

from app.delivery.signed_request import DEFAULT_CONTRACT, Contract, build_request, render_body
from app.delivery.signing import CannotSign, SigningKeys, generate_secret, generate_signing_key
from app.rules import contracts, placeholders
from app.rules.contracts import AutoDisable, Layer, checked_secret, parse_auto_disable, parse_signatures, resolve
from app.rules.placeholders import Message, TemplateProblem, header_template, parse_envelope, parse_text
from app.rules.errors import InvalidInput
from app.rules.jsontext import loads

CREATED = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=timezone.utc)
DATA = '{"id":"ord_1","total":12.50,"customer":{"email":"ada@example.com","tags":["vip","eu"]},"note":null}'


def message(data: str = DATA) -> Message:
    return Message("evt_1", "order.created", CREATED, data, "acme", "wh_1", "Shop sync", "dlv_1")


def hmac_item(**fields) -> dict:
    return {"scheme": "hmac", "header": "X-Signature", **fields}


# -- text templates ------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "values", "expected"), [
    ("plain", {}, "plain"),
    ("{event.type}", {"event.type": "order.created"}, "order.created"),
    ("t={timestamp},v1={digest}", {"timestamp": "17", "digest": "ab"}, "t=17,v1=ab"),
    ("{{literal}} {tenant}", {"tenant": "acme"}, "{literal} acme"),
    ("}}{{", {}, "}{"),
    ("{attempt}/{attempt}", {"attempt": "2"}, "2/2"),
])
def test_text_templates_fill_placeholders_and_unescape_doubled_braces(text, values, expected):
    allowed = (*placeholders.ATTEMPT_PLACEHOLDERS, "digest")
    assert parse_text(text, allowed).render(values) == expected


@pytest.mark.parametrize(("text", "reason"), [
    ("{nope}", "unknown placeholder {nope}"),
    ("{event.data}", "unknown placeholder {event.data}"),
    ("a { b", "lone '{' at character 3"),
    ("a } b", "lone '}' at character 3"),
    ("{}", "unknown placeholder {}"),
    ("x" * 501, "at most 500 characters"),
])
def test_text_templates_refuse_what_they_cannot_fill(text, reason):
    with pytest.raises(TemplateProblem, match=reason.replace("{", r"\{").replace("}", r"\}")):
        parse_text(text, placeholders.ATTEMPT_PLACEHOLDERS)


def test_a_header_value_saved_before_placeholders_is_sent_as_written():
    assert header_template('{"legacy": true}').render({}) == '{"legacy": true}'
    assert header_template("Bearer {tenant}").render({"tenant": "acme"}) == "Bearer acme"


# -- signatures ----------------------------------------------------------------------------

def test_an_hmac_scheme_gets_defaults_spelled_out():
    parsed = parse_signatures([hmac_item()])
    assert contracts.signatures_json(parsed) == [{
        "scheme": "hmac", "header": "X-Signature", "value": "{digest}", "content": "{body}",
        "algorithm": "sha256", "encoding": "hex",
    }]


@pytest.mark.parametrize("item", [
    {"scheme": "standard"},
    {"scheme": "ed25519"},
    hmac_item(value="sha256={digest}", content="{timestamp}.{body}", algorithm="sha512", encoding="base64"),
    hmac_item(value="t={timestamp},v1={digest}", content="{timestamp}.{body}", separator=","),
    hmac_item(value="{{{digest}}}"),
])
def test_signatures_read_back_as_written(item):
    written = contracts.signatures_json(parse_signatures([item]))
    assert parse_signatures(written) == parse_signatures([item])
    assert {k: v for k, v in written[0].items() if k in item} == item


@pytest.mark.parametrize(("signatures", "field", "reason"), [
    ([], "signatures", "list of 1 to 5"),
    ({"scheme": "standard"}, "signatures", "list of 1 to 5"),
    ([{"scheme": "standard"}] * 6, "signatures", "list of 1 to 5"),
    (["standard"], "signatures[0]", "must be an object"),
    ([{"scheme": "rsa"}], "signatures[0].scheme", "one of standard, ed25519, hmac"),
    ([{"scheme": "standard", "header": "X"}], "signatures[0].header", "unknown field"),
    ([{"scheme": "standard"}, {"scheme": "standard"}], "signatures[1].scheme", "listed twice"),
    ([{"scheme": "hmac"}], "signatures[0].header", "required"),
    ([hmac_item(header="X Sig")], "signatures[0].header", "not a valid header name"),
    ([hmac_item(header="Content-Type")], "signatures[0].header", "set by Hookline"),
    ([hmac_item(header="webhook-signature")], "signatures[0].header", "set by Hookline"),
    ([hmac_item(), hmac_item(header="x-signature")], "signatures[1].header", "already the header"),
    ([{"scheme": "standard"}, hmac_item(value="sha256=")], "signatures[1].value", "must hold {digest} exactly once"),
    ([hmac_item(value="{digest}{digest}")], "signatures[0].value", "exactly once (it has it 2 times)"),
    ([hmac_item(value="{body}")], "signatures[0].value", "unknown placeholder {body}"),
    ([hmac_item(content="{timestamp}")], "signatures[0].content", "must hold {body} exactly once"),
    ([hmac_item(content="{digest}.{body}")], "signatures[0].content", "unknown placeholder {digest}"),
    ([hmac_item(content=5)], "signatures[0].content", "text template"),
    ([hmac_item(algorithm="md5")], "signatures[0].algorithm", "one of sha256, sha1, sha512"),
    ([hmac_item(encoding="base32")], "signatures[0].encoding", "one of hex, base64"),
    ([hmac_item(separator="|")], "signatures[0].separator", "must be one of"),
    ([hmac_item(salt="x")], "signatures[0].salt", "unknown field"),
])
def test_signatures_are_refused_naming_the_field(signatures, field, reason):
    with pytest.raises(InvalidInput) as refused:
        parse_signatures(signatures)
    assert refused.value.field == field
    assert reason in refused.value.message


# -- secrets -------------------------------------------------------------------------------

@pytest.mark.parametrize("secret", [
    "0123456789abcdef",  # 16
    "a" * 256,
    "whsec_abc123def456",  # short, but a Standard Webhooks secret
    "~!#$%&'()*+,-./:;<=>?@[]^_`{|}x",
    pytest.param(generate_secret(), id="generated"),  # an id that is the same in every pytest-xdist worker
])
def test_secrets_a_user_brings(secret):
    assert checked_secret(secret) == secret


@pytest.mark.parametrize("secret", ["short", "a" * 257, "has a space in it!", "non-ascii-sécret-1234", 1234567890123456789,
                                    None, "tab\tinside-the-secret"])
def test_secrets_refused(secret):
    with pytest.raises(InvalidInput, match="16 to 256 visible ASCII") as refused:
        checked_secret(secret)
    assert refused.value.field == "secret"


@pytest.mark.parametrize(("secret", "standard"), [
    pytest.param(generate_secret(), True, id="generated-True"), ("whsec_abc123def456", True), ("0123456789abcdef", False), ("whsec_not!base64!!", False),
    ("whsec_", False),
])
def test_the_standard_scheme_needs_a_whsec_secret(secret, standard):
    assert contracts.is_standard_secret(secret) is standard


# -- envelopes -----------------------------------------------------------------------------

@pytest.mark.parametrize(("template", "expected"), [
    ({"event": "{event.type}", "data": "{event.data}"},
     f'{{"event":"order.created","data":{DATA}}}'),
    ({"id": "{delivery.id}", "type": "{event.type}", "timestamp": "{event.time}", "tenantId": "{tenant}",
      "data": "{event.data}"},
     f'{{"id":"dlv_1","type":"order.created","timestamp":"2026-03-04T05:06:07.890123Z","tenantId":"acme","data":{DATA}}}'),
    ({"total": "{event.data.total}", "email": "{event.data.customer.email}", "tag": "{event.data.customer.tags.1}",
      "missing": "{event.data.nope.deeper}", "note": "{event.data.note}"},
     '{"total":12.50,"email":"ada@example.com","tag":"eu","missing":null,"note":null}'),
    ({"text": "Order {event.data.id} of {tenant}: {event.data.total} {{EUR}}", "all": "x{event.data.customer}"},
     '{"text":"Order ord_1 of acme: 12.50 {EUR}","all":"x{\\"email\\":\\"ada@example.com\\",\\"tags\\":[\\"vip\\",\\"eu\\"]}"}'),
    ({"shop": {"name": "Zoë's", "id": 42, "ratio": loads("1.10"), "open": True, "tags": ["a", None]},
      "webhook": ["{webhook.id}", "{webhook.name}"]},
     '{"shop":{"name":"Zoë\'s","id":42,"ratio":1.10,"open":true,"tags":["a",null]},"webhook":["wh_1","Shop sync"]}'),
    ({}, "{}"),
])
def test_envelopes_render_values_as_json_and_text_as_text(template, expected):
    body = parse_envelope(template).render(message())
    assert body.decode() == expected
    json.loads(body)


@pytest.mark.parametrize(("template", "field", "reason"), [
    ([1, 2], "envelope", "must be a JSON object"),
    ("{event.data}", "envelope", "must be a JSON object"),
    ({"a": {"b": ["{nope}"]}}, "envelope.a.b[0]", "unknown placeholder {nope}"),
    ({"shop": {"name": "{shop.name}"}}, "envelope.shop.name", "unknown placeholder {shop.name}"),
    ({"when": "{timestamp}"}, "envelope.when", "same bytes at every retry"),
    ({"n": "try {attempt}"}, "envelope.n", "same bytes at every retry"),
    ({"x": "{event.data.}"}, "envelope.x", "unknown placeholder"),
    ({"x": "a { b"}, "envelope.x", "lone '{'"),
    ({"x": "y" * 20_001}, "envelope", "at most 20000 characters"),
    ({str(n): "{event.id}" for n in range(65)}, "envelope", "at most 64 placeholders"),
])
def test_envelopes_are_refused_naming_the_path(template, field, reason):
    with pytest.raises(InvalidInput) as refused:
        parse_envelope(template)
    assert refused.value.field == field
    assert reason in refused.value.message


def test_a_stored_envelope_compiles_once_and_renders_the_same_bytes():
    template = parse_envelope({"event": "{event.type}", "total": "{event.data.total}"})
    again = placeholders.compiled_envelope(template.text)
    assert again is placeholders.compiled_envelope(template.text)
    assert again.render(message()) == template.render(message()) == b'{"event":"order.created","total":12.50}'


# -- auto-disable --------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ({"rule": "deliveries", "failures": 3, "period": "2h"}, AutoDisable("deliveries", 3, 7200)),
    ({"rule": "deliveries"}, AutoDisable("deliveries", 5, 86400)),
    ({"rule": "attempts", "failures": 5}, AutoDisable("attempts", 5, 0)),
    ({"rule": "never"}, AutoDisable("never", 0, 0)),
])
def test_auto_disable_rules(value, expected):
    assert parse_auto_disable(value) == expected
    assert parse_auto_disable(expected.as_json()) == expected


@pytest.mark.parametrize(("value", "field"), [
    (5, "auto_disable"), ({"rule": "sometimes"}, "auto_disable.rule"), ({"failures": 5}, "auto_disable.rule"),
    ({"rule": "attempts", "failures": 0}, "auto_disable.failures"),
    ({"rule": "attempts", "failures": True}, "auto_disable.failures"),
    ({"rule": "attempts", "period": "1h"}, "auto_disable.period"),
    ({"rule": "deliveries", "period": "forever"}, "auto_disable.period"),
    ({"rule": "never", "failures": 2}, "auto_disable.failures"),
])
def test_auto_disable_refused_naming_the_field(value, field):
    with pytest.raises(InvalidInput) as refused:
        parse_auto_disable(value)
    assert refused.value.field == field


# -- precedence ----------------------------------------------------------------------------

HMAC_TEXT = json.dumps([hmac_item()])
ED_TEXT = json.dumps([{"scheme": "ed25519"}])
ENVELOPE_TEXT = json.dumps({"event": "{event.type}"})
ATTEMPTS = json.dumps({"rule": "attempts", "failures": 5})
DEFAULT_RULE = AutoDisable("deliveries", 5, 86400)


@pytest.mark.parametrize(("webhook", "tenant", "installation", "signatures", "envelope", "rule", "schedule"), [
    (Layer(), Layer(), Layer(), contracts.DEFAULT_SIGNATURES, None, DEFAULT_RULE, None),
    (Layer(), Layer(), Layer(signatures=ED_TEXT, envelope=ENVELOPE_TEXT), (contracts.Ed25519(),), ENVELOPE_TEXT,
     DEFAULT_RULE, None),
    (Layer(), Layer(signatures=HMAC_TEXT, auto_disable=ATTEMPTS, retry_schedule=(0, 60)),
     Layer(signatures=ED_TEXT), parse_signatures([hmac_item()]), None, AutoDisable("attempts", 5, 0), (0, 60)),
    (Layer(signatures=ED_TEXT, retry_schedule=(0, 2, 4)), Layer(signatures=HMAC_TEXT, envelope=ENVELOPE_TEXT,
                                                                 retry_schedule=(0, 60)),
     Layer(), (contracts.Ed25519(),), ENVELOPE_TEXT, DEFAULT_RULE, (0, 2, 4)),
])
def test_each_part_comes_from_the_first_level_that_sets_it(webhook, tenant, installation, signatures, envelope, rule,
                                                           schedule):
    resolved = resolve(webhook, tenant, installation, DEFAULT_RULE)
    assert resolved.signatures == signatures
    assert (resolved.envelope and resolved.envelope.text) == (envelope and json.dumps(json.loads(envelope),
                                                                                      separators=(",", ":")))
    assert resolved.auto_disable == rule
    assert resolved.retry_schedule == schedule


# -- the request ---------------------------------------------------------------------------

def todays_signature_headers(secret, msg_id, event_type, timestamp, body, older=()):
    """The headers Hookline sent before contracts existed (app/delivery/signing.py at 291d484)."""
    import base64

    def standard(s):
        key = base64.b64decode(s.removeprefix("whsec_"))
        digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
        return "v1," + base64.b64encode(digest).decode()

    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(standard(s) for s in (secret, *older)),
        "X-Webhook-Event": event_type,
        "X-Webhook-Timestamp": str(timestamp),
        "X-Webhook-Signature": "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body,
                                                    hashlib.sha256).hexdigest(),
    }


@pytest.mark.parametrize("older", [(), (generate_secret(),)])
def test_the_default_contract_sends_exactly_what_hookline_always_sent(older):
    secret = generate_secret()
    request = build_request(DEFAULT_CONTRACT, SigningKeys((secret, *older)), message(), 1700000000, 1)
    assert request.body == (b'{"id":"evt_1","type":"order.created","timestamp":"2026-03-04T05:06:07.890123Z","data":'
                            + DATA.encode() + b"}")
    assert request.headers == {
        "Content-Type": "application/json",
        "User-Agent": contracts_user_agent(),
        **todays_signature_headers(secret, "evt_1", "order.created", 1700000000, request.body, older),
    }


def contracts_user_agent() -> str:
    from app import __version__

    return f"Hookline/{__version__}"


def test_headers_take_placeholders_replace_defaults_and_drop_them():
    secret = "0123456789abcdef"
    contract = Contract(
        signatures=parse_signatures([hmac_item(header="X-Audit-Signature", value="sha256={digest}",
                                               content="{timestamp}.{body}")]),
        envelope=parse_envelope({"id": "{delivery.id}"}),
        headers={"user-agent": "Emergence-Webhooks/1.0", "X-Emergence-Event": "{event.type}",
                 "X-Ids": "{event.id}/{delivery.id}/{webhook.id}/{tenant}/{attempt}", "X-Literal": "{{x}}"},
        dropped=frozenset({"x-webhook-timestamp"}),
    )
    request = build_request(contract, SigningKeys((secret,)), message(), 1700000000, 3)
    assert request.body == b'{"id":"dlv_1"}'
    assert request.headers == {
        "Content-Type": "application/json",
        "X-Webhook-Event": "order.created",
        "user-agent": "Emergence-Webhooks/1.0",
        "X-Emergence-Event": "order.created",
        "X-Ids": "evt_1/dlv_1/wh_1/acme/3",
        "X-Literal": "{x}",
        "X-Audit-Signature": "sha256=" + hmac.new(secret.encode(), b"1700000000." + request.body,
                                                  hashlib.sha256).hexdigest(),
    }


def test_a_given_body_is_signed_as_it_is():
    request = build_request(DEFAULT_CONTRACT, SigningKeys((generate_secret(),)), message(), 1, 1, body=b'{"text":"hi"}')
    assert request.body == b'{"text":"hi"}'
    assert render_body(DEFAULT_CONTRACT, message()) != request.body


@pytest.mark.parametrize(("signatures", "keys", "reason"), [
    ([{"scheme": "standard"}], SigningKeys(("0123456789abcdef",)), "needs a whsec_ secret"),
    ([{"scheme": "ed25519"}], SigningKeys((generate_secret(),), ()), "needs the webhook's key pair"),
])
def test_keys_that_do_not_fit_the_signatures_sign_nothing(signatures, keys, reason):
    with pytest.raises(CannotSign, match=reason):
        build_request(Contract(signatures=parse_signatures(signatures)), keys, message(), 1, 1)


def test_standard_and_ed25519_share_the_signature_header_newest_first():
    secrets, signing_keys = (generate_secret(), generate_secret()), (generate_signing_key(), generate_signing_key())
    contract = Contract(signatures=parse_signatures([{"scheme": "standard"}, {"scheme": "ed25519"}]))
    headers = build_request(contract, SigningKeys(secrets, signing_keys), message(), 1, 1).headers
    assert [part.split(",")[0] for part in headers["webhook-signature"].split(" ")] == ["v1", "v1", "v1a", "v1a"]
    assert set(headers) == {"Content-Type", "User-Agent", "X-Webhook-Event", "X-Webhook-Timestamp", "webhook-id",
                            "webhook-timestamp", "webhook-signature"}


def test_a_whsec_secret_that_is_not_base64_signs_nothing_either():
    with pytest.raises(CannotSign, match="needs a whsec_ secret"):
        build_request(DEFAULT_CONTRACT, SigningKeys(("whsec_not!base64!!",)), message(), 1, 1)


@pytest.mark.parametrize(("levels", "merged"), [
    ([[("A", "1")], [("a", "2")]], [("a", "2")]),
    ([[("A", "1"), ("B", "1")], [("A", "2")]], [("B", "1"), ("A", "2")]),
    ([[("A", "1")], [("A", None)]], [("A", None)]),
    ([[("A", "1")], [("a", None)], [("A", "3")]], [("A", "3")]),
    ([[], [("B", "1")], []], [("B", "1")]),
])
def test_default_headers_merge_per_name_without_case_the_higher_level_last(levels, merged):
    assert list(contracts.merged_headers(*levels)) == merged


def test_a_contract_sends_the_tenant_headers_under_its_own_and_its_signatures_over_all():
    contract = Contract(signatures=parse_signatures([{"scheme": "hmac", "header": "X-Sig"}]),
                        headers={"X-Team": "own"}, dropped=frozenset({"x-drop"}),
                        inherited=(("X-Team", "tenant"), ("X-Drop", "tenant"), ("X-Sig", "x"), ("X-Event", "{event.type}"),
                                   ("X-Webhook-Timestamp", None)))
    headers = build_request(contract, SigningKeys(("0123456789abcdef",)), message(), 1, 1).headers
    assert list(headers) == ["Content-Type", "User-Agent", "X-Webhook-Event", "X-Event", "X-Team", "X-Sig"]
    assert headers["X-Team"] == "own" and headers["X-Event"] == message().event_type
