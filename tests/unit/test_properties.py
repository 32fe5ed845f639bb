"""Property tests (hypothesis) for the pure cores: URL rules, the address guard, the
signatures and payload filters, each checked against something written independently of
the code under test."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import time

from hypothesis import HealthCheck, example, given, settings, strategies as st
from standardwebhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError

from app.delivery.signing import generate_secret
from app.rules.errors import InvalidInput
from app.rules.filters import GROUPS, OPERATORS, event_matches, validate_filter
from app.rules.netguard import forbidden_reason
from app.rules.webhook_urls import UrlRejected, check_webhook_url
from tests.helpers import signed_headers as signature_headers

settings.register_profile("hookline", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("hookline")

# --- URL rules --------------------------------------------------------------------------

HOSTS = st.one_of(
    st.text(min_size=0, max_size=30),
    st.from_regex(r"[a-z0-9-]{1,12}(\.[a-z0-9-]{1,12}){0,3}", fullmatch=True),
    st.ip_addresses().map(lambda a: f"[{a}]" if a.version == 6 else str(a)),
    st.sampled_from(["localhost", "xn--", "bücher.example", "127.1", "0x7f000001", "2130706433", "metadata.google.internal"]),
)
URLS = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda scheme, userinfo, host, port, path: f"{scheme}://{userinfo}{host}{port}/{path}",
        st.sampled_from(["https", "http", "HTTPS", "ftp", "javascript", "file", ""]),
        st.sampled_from(["", "user@", "user:pw@", ":@"]),
        HOSTS,
        st.one_of(st.just(""), st.integers(-5, 70000).map(lambda p: f":{p}"), st.text(max_size=6).map(lambda t: ":" + t)),
        st.text(max_size=20),
    ),
)


@given(URLS, st.booleans())
def test_url_check_only_ever_rejects_with_a_reason(url, allow_http):
    try:
        accepted = check_webhook_url(url, allow_http, ())
    except UrlRejected as exc:
        assert str(exc)
        return
    assert accepted.isascii() or "://" in accepted
    assert not any(ord(c) <= 0x20 or ord(c) == 0x7F for c in accepted)
    assert check_webhook_url(accepted, allow_http, ()) == accepted, "checking again changes nothing"


# --- the address guard, against a table written as first-last ranges -------------------

V4_FORBIDDEN = [
    ("0.0.0.0", "0.255.255.255"), ("10.0.0.0", "10.255.255.255"), ("100.64.0.0", "100.127.255.255"),
    ("127.0.0.0", "127.255.255.255"), ("169.254.0.0", "169.254.255.255"), ("172.16.0.0", "172.31.255.255"),
    ("192.0.0.0", "192.0.0.255"), ("192.0.2.0", "192.0.2.255"), ("192.88.99.0", "192.88.99.255"),
    ("192.168.0.0", "192.168.255.255"), ("198.18.0.0", "198.19.255.255"), ("198.51.100.0", "198.51.100.255"),
    ("203.0.113.0", "203.0.113.255"), ("224.0.0.0", "255.255.255.255"),
]
V6_FORBIDDEN = [
    ("::", "ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), ("2001::", "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff"),
    ("2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"), ("fc00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
    ("fe80::", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), ("fec0::", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
    ("ff00::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
]
NAT64 = int(ipaddress.IPv6Address("64:ff9b::"))
NAT64_LOCAL = int(ipaddress.IPv6Address("64:ff9b:1::"))
SIX_TO_FOUR = int(ipaddress.IPv6Address("2002::"))


def in_table(value: int, table, kind) -> bool:
    return any(int(kind(first)) <= value <= int(kind(last)) for first, last in table)


def carried_v4(address) -> int | None:
    """The IPv4 address an IPv6 address carries: NAT64 and mapped/compatible in the last 32
    bits, 6to4 in bits 16-47."""
    value = int(address)
    if value >> 32 in (NAT64 >> 32, 0, 0xFFFF) or value >> 80 == NAT64_LOCAL >> 80:
        return value & 0xFFFFFFFF
    if value >> 112 == SIX_TO_FOUR >> 112:
        return (value >> 80) & 0xFFFFFFFF
    return None


def expected_forbidden(address) -> bool:
    if address.version == 4:
        return in_table(int(address), V4_FORBIDDEN, ipaddress.IPv4Address)
    carried = carried_v4(address)
    if carried is not None and int(address) >> 32 not in (0, 0xFFFF):  # ::/8 blocks those outright
        return in_table(carried, V4_FORBIDDEN, ipaddress.IPv4Address)
    return in_table(int(address), V6_FORBIDDEN, ipaddress.IPv6Address)


V4 = st.ip_addresses(v=4)
ADDRESSES = st.one_of(
    V4,
    st.ip_addresses(v=6),
    st.sampled_from([f"{first}/16" if ":" not in first else f"{first}/64" for first, _ in V4_FORBIDDEN + V6_FORBIDDEN])
    .flatmap(lambda net: st.ip_addresses(network=ipaddress.ip_network(net, strict=False))),
    V4.map(lambda a: ipaddress.IPv6Address(NAT64 | int(a))),
    V4.map(lambda a: ipaddress.IPv6Address(NAT64_LOCAL | int(a))),
    V4.map(lambda a: ipaddress.IPv6Address(SIX_TO_FOUR | int(a) << 80)),
    V4.map(lambda a: ipaddress.IPv6Address(0xFFFF << 32 | int(a))),
)


@given(ADDRESSES)
def test_address_guard_agrees_with_the_range_table(address):
    assert (forbidden_reason(address) is not None) == expected_forbidden(address), address


METADATA_V4 = int(ipaddress.IPv4Address("169.254.169.254"))


@given(ADDRESSES)
@example(ipaddress.IPv6Address("2002:a9fe:a9fe::1"))
@example(ipaddress.IPv6Address("64:ff9b::a9fe:a9fe"))
@example(ipaddress.IPv6Address("::ffff:169.254.169.254"))
@example(ipaddress.IPv6Address("fd00:ec2::254"))
def test_allowlisting_everything_still_blocks_cloud_metadata(address):
    reason = forbidden_reason(address, ("0.0.0.0/0", "::/0"))
    if address.version == 4:
        metadata = int(address) == METADATA_V4
    else:
        metadata = address == ipaddress.IPv6Address("fd00:ec2::254") or carried_v4(address) == METADATA_V4
    assert (reason is not None) == metadata, address


# --- signatures -------------------------------------------------------------------------

MSG_IDS = st.from_regex(r"evt_[0-9A-Z]{1,26}", fullmatch=True)


@given(body=st.text(max_size=2000).map(str.encode), msg_id=MSG_IDS, secret=st.builds(generate_secret))
def test_standard_signature_verifies_with_the_reference_library(body, msg_id, secret):
    timestamp = int(time.time())
    headers = signature_headers(secret, msg_id, "order.created", timestamp, body)
    StandardWebhook(secret).verify(body, headers, json_parse=False)


@given(body=st.text(min_size=1, max_size=500).map(str.encode), position=st.integers(min_value=0), msg_id=MSG_IDS)
def test_a_changed_body_does_not_verify(body, position, msg_id):
    secret = generate_secret()
    headers = signature_headers(secret, msg_id, "order.created", int(time.time()), body)
    index = position % len(body)
    tampered = body[:index] + bytes([body[index] ^ 0x01]) + body[index + 1:]
    try:
        tampered.decode()
    except UnicodeDecodeError:
        return  # the reference library takes text only
    try:
        StandardWebhook(secret).verify(tampered, headers, json_parse=False)
    except WebhookVerificationError:
        return
    raise AssertionError("a tampered body verified")


@given(body=st.binary(max_size=2000), timestamp=st.integers(0, 2**40))
def test_hex_signature_is_hmac_of_timestamp_dot_body_for_any_bytes(body, timestamp):
    secret = generate_secret()
    header = signature_headers(secret, "evt_1", "order.created", timestamp, body)["X-Webhook-Signature"]
    expected = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    assert header == "sha256=" + expected
    key = base64.b64decode(secret.removeprefix("whsec_"))
    standard = signature_headers(secret, "evt_1", "order.created", timestamp, body)["webhook-signature"]
    assert standard == "v1," + base64.b64encode(hmac.new(key, f"evt_1.{timestamp}.".encode() + body, hashlib.sha256).digest()).decode()


# --- payload filters -------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)
PATHS = st.one_of(
    st.sampled_from(["type", "data", "data.order.total", "data.items.0.sku", "data.a", "id", "data.0"]),
    st.text(max_size=20),
)
RULES = st.fixed_dictionaries(
    {"path": PATHS, "op": st.sampled_from(OPERATORS + ("like", "")), "value": JSON}
)
FILTERS = st.recursive(
    st.builds(lambda group, rules: {group: rules}, st.sampled_from(GROUPS), st.lists(RULES, max_size=4)),
    lambda children: st.builds(lambda group, items: {group: items}, st.sampled_from(GROUPS + ("none",)),
                               st.lists(children | RULES, max_size=3)),
    max_leaves=8,
) | JSON


@given(FILTERS, JSON)
def test_filters_either_reject_with_a_field_or_evaluate_without_errors(candidate, data):
    """Whatever a client sends as `filter`, saving it is a 422 naming the filter or a stored
    filter that then judges any event without raising (a bad comparison is just false)."""
    try:
        checked = validate_filter(candidate)
    except InvalidInput as exc:
        assert exc.field == "filter" and exc.message
        return
    event = {"id": "evt_1", "type": "order.created", "timestamp": "2026-01-01T00:00:00.000000Z", "data": data}
    assert event_matches(checked, event) in (True, False)
