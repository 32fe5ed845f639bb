import base64
import hashlib
import hmac
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app.delivery.signing import generate_secret, signature_headers, standard_signature

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
BODIES = [
    b'{"type":"order.created","data":{"id":"ord_1"}}',
    '{"name":"Zoë","city":"Kraków"}'.encode(),
    b"{}",
]


def test_standard_signature_matches_the_spec_test_vector():
    signature = standard_signature(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize("body", BODIES)
def test_official_verifier_accepts_our_headers(body):
    secret = generate_secret()
    headers = signature_headers(secret, "msg_1", "order.created", int(time.time()), body)
    Webhook(secret).verify(body, headers, json_parse=False)


@pytest.mark.parametrize(
    ("verify_secret", "verify_body"),
    [
        (SECRET, BODIES[0] + b" "),
        (SECRET, BODIES[0].replace(b"ord_1", b"ord_2")),
        (generate_secret(), BODIES[0]),
    ],
    ids=["body-appended", "body-changed", "wrong-secret"],
)
def test_official_verifier_rejects_tampering(verify_secret, verify_body):
    headers = signature_headers(SECRET, "msg_1", "order.created", int(time.time()), BODIES[0])
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(verify_secret).verify(verify_body, headers)


def test_headers_carry_id_type_and_timestamp():
    headers = signature_headers(SECRET, "msg_1", "order.created", 1700000000, b"{}")
    assert headers["webhook-signature"].startswith("v1,")
    assert headers["X-Webhook-Signature"].startswith("sha256=")
    del headers["webhook-signature"], headers["X-Webhook-Signature"]
    assert headers == {
        "webhook-id": "msg_1",
        "webhook-timestamp": "1700000000",
        "X-Webhook-Event": "order.created",
        "X-Webhook-Timestamp": "1700000000",
    }


def user_verifies_hex(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver writes from the docs: hmac over "<timestamp>." + body, keyed by the secret string."""
    signed = headers["X-Webhook-Timestamp"].encode() + b"." + body
    expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["X-Webhook-Signature"])


@pytest.mark.parametrize("body", BODIES)
def test_hex_signature_is_hmac_sha256_of_timestamp_and_body(body):
    headers = signature_headers(SECRET, "msg_1", "order.created", 1700000000, body)
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert headers["X-Webhook-Signature"] == "sha256=" + expected
    assert user_verifies_hex(SECRET, headers, body)


@pytest.mark.parametrize(
    ("verify_secret", "verify_body", "timestamp"),
    [
        (SECRET, BODIES[0] + b" ", "1700000000"),
        (SECRET[:-1] + "x", BODIES[0], "1700000000"),
        (SECRET, BODIES[0], "1700000001"),
    ],
    ids=["body-changed", "wrong-secret", "timestamp-changed"],
)
def test_hex_signature_rejects_tampering(verify_secret, verify_body, timestamp):
    headers = signature_headers(SECRET, "msg_1", "order.created", 1700000000, BODIES[0])
    headers["X-Webhook-Timestamp"] = timestamp
    assert not user_verifies_hex(verify_secret, headers, verify_body)


def test_generate_secret_is_prefixed_base64_of_32_random_bytes():
    first, second = generate_secret(), generate_secret()
    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"), validate=True)) == 32
    assert first != second


def test_rotation_signs_with_the_new_secret_first_then_the_old():
    old = generate_secret()
    headers = signature_headers(SECRET, "msg_1", "order.created", 1700000000, BODIES[0], older=[old])
    assert headers["webhook-signature"].split(" ") == [
        standard_signature(SECRET, "msg_1", 1700000000, BODIES[0]),
        standard_signature(old, "msg_1", 1700000000, BODIES[0]),
    ]
    assert user_verifies_hex(SECRET, headers, BODIES[0]), "the hex header uses the new secret"
    assert not user_verifies_hex(old, headers, BODIES[0])


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("which", ["new", "old"])
def test_official_verifier_accepts_either_secret_during_rotation(body, which):
    new, old = generate_secret(), generate_secret()
    headers = signature_headers(new, "msg_1", "order.created", int(time.time()), body, older=[old])
    Webhook({"new": new, "old": old}[which]).verify(body, headers)


def test_official_verifier_rejects_a_third_secret_during_rotation():
    headers = signature_headers(SECRET, "msg_1", "order.created", int(time.time()), BODIES[0], older=[generate_secret()])
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(generate_secret()).verify(BODIES[0], headers)
