import base64
import hashlib
import hmac
import time

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app.delivery.signed_request import Contract
from app.delivery.signing import ed25519_signature, generate_secret, generate_signing_key, public_key, standard_signature
from app.rules.contracts import parse_signatures
from tests.helpers import signed_headers as signature_headers

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SIGNING_KEY = "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg=="

BODIES = [
    b'{"type":"order.created","data":{"id":"ord_1"}}',
    '{"name":"Zoë","city":"Kraków"}'.encode(),
    b"{}",
]


def test_standard_signature_matches_the_spec_test_vector():
    signature = standard_signature(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_ed25519_signature_matches_the_spec_test_vector():
    signature = ed25519_signature(SIGNING_KEY, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg=="


def test_the_public_key_is_the_second_half_of_the_signing_key():
    raw = base64.b64decode(SIGNING_KEY.removeprefix("whsk_"))
    assert public_key(SIGNING_KEY) == "whpk_" + base64.b64encode(raw[32:]).decode()


def test_generated_signing_keys_are_64_bytes_seed_then_public_key():
    first, second = generate_signing_key(), generate_signing_key()
    assert first.startswith("whsk_") and first != second
    raw = base64.b64decode(first.removeprefix("whsk_"), validate=True)
    assert len(raw) == 64 and public_key(first) == "whpk_" + base64.b64encode(raw[32:]).decode()


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


ED25519 = Contract(signatures=parse_signatures([{"scheme": "ed25519"}]))


def receiver_verifies_ed25519(whpk: str, headers: dict[str, str], body: bytes) -> bool:
    """A receiver's v1a check: any `v1a,` signature of "{id}.{timestamp}.{body}" under the public key."""
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(whpk.removeprefix("whpk_")))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    for part in headers["webhook-signature"].split(" "):
        version, _, signature = part.partition(",")
        if version == "v1a":
            try:
                key.verify(base64.b64decode(signature), signed)
                return True
            except InvalidSignature:
                continue
    return False


@pytest.mark.parametrize("body", BODIES)
def test_ed25519_deliveries_verify_with_the_public_key_alone(body):
    key = generate_signing_key()
    headers = signature_headers(SECRET, "msg_1", "order.created", 1700000000, body, contract=ED25519, signing_keys=(key,))
    assert headers["webhook-signature"].startswith("v1a,") and " " not in headers["webhook-signature"]
    assert receiver_verifies_ed25519(public_key(key), headers, body)
    assert not receiver_verifies_ed25519(public_key(key), headers, body + b" ")
    assert not receiver_verifies_ed25519(public_key(generate_signing_key()), headers, body)


@pytest.mark.parametrize("which", [0, 1])
def test_either_key_pair_verifies_during_a_rotation(which):
    keys = (generate_signing_key(), generate_signing_key())
    headers = signature_headers(SECRET, "msg_1", "order.created", 1700000000, BODIES[0], contract=ED25519, signing_keys=keys)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert receiver_verifies_ed25519(public_key(keys[which]), headers, BODIES[0])


HMAC_CASES = [
    # (scheme fields, what the receiver's own code computes from secret and body)
    ({"value": "{digest}"}, lambda s, b, t: hmac.new(s.encode(), b, hashlib.sha256).hexdigest()),
    ({"value": "sha256={digest}"}, lambda s, b, t: "sha256=" + hmac.new(s.encode(), b, hashlib.sha256).hexdigest()),
    ({"value": "sha256={digest}", "content": "{timestamp}.{body}"},
     lambda s, b, t: "sha256=" + hmac.new(s.encode(), f"{t}.".encode() + b, hashlib.sha256).hexdigest()),
    ({"value": "t={timestamp},v1={digest}", "content": "{timestamp}.{body}"},
     lambda s, b, t: f"t={t},v1=" + hmac.new(s.encode(), f"{t}.".encode() + b, hashlib.sha256).hexdigest()),
    ({"value": "sha1={digest}", "algorithm": "sha1"},
     lambda s, b, t: "sha1=" + hmac.new(s.encode(), b, hashlib.sha1).hexdigest()),
    ({"algorithm": "sha512", "encoding": "base64"},
     lambda s, b, t: base64.b64encode(hmac.new(s.encode(), b, hashlib.sha512).digest()).decode()),
    ({"content": "{body}.{event.id}", "encoding": "base64"},
     lambda s, b, t: base64.b64encode(hmac.new(s.encode(), b + b".msg_1", hashlib.sha256).digest()).decode()),
]


@pytest.mark.parametrize(("fields", "receiver"), HMAC_CASES)
@pytest.mark.parametrize("secret", ["0123456789abcdef0123456789abcdef", "whsec_abc123def456", "p@ss-w0rd_with~symbols!"])
def test_hmac_schemes_are_what_hand_written_verifiers_compute(fields, receiver, secret):
    contract = Contract(signatures=parse_signatures([{"scheme": "hmac", "header": "X-Sig", **fields}]))
    headers = signature_headers(secret, "msg_1", "order.created", 1700000000, BODIES[1], contract=contract)
    assert set(headers) == {"X-Sig", "X-Webhook-Event", "X-Webhook-Timestamp"}
    assert hmac.compare_digest(headers["X-Sig"], receiver(secret, BODIES[1], 1700000000))


def test_an_hmac_header_without_separator_carries_the_newest_secret_alone_during_a_rotation():
    new, old = "new-secret-0123456789", "old-secret-0123456789"
    contract = Contract(signatures=parse_signatures([{"scheme": "hmac", "header": "X-Sig"}]))
    headers = signature_headers(new, "msg_1", "order.created", 1, BODIES[0], older=(old,), contract=contract)
    assert headers["X-Sig"] == hmac.new(new.encode(), BODIES[0], hashlib.sha256).hexdigest()


@pytest.mark.parametrize(("separator", "value"), [(",", "sha256={digest}"), (" ", "{digest}"),
                                                  (",", "t={timestamp},v1={digest}")])
@pytest.mark.parametrize("which", ["new", "old"])
def test_an_hmac_header_with_a_separator_carries_every_live_secret(separator, value, which):
    secrets = {"new": "new-secret-0123456789", "old": "old-secret-0123456789"}
    contract = Contract(signatures=parse_signatures([{"scheme": "hmac", "header": "X-Sig", "value": value,
                                                      "separator": separator}]))
    headers = signature_headers(secrets["new"], "msg_1", "order.created", 17, BODIES[0], older=(secrets["old"],),
                                contract=contract)
    digest = hmac.new(secrets[which].encode(), BODIES[0], hashlib.sha256).hexdigest()
    # The receiver splits the header and accepts any value it can reproduce.
    items = headers["X-Sig"].split(separator)
    assert len(items) == (4 if "t=" in value else 2)
    assert any(hmac.compare_digest(item.partition("=")[2] if "=" in item else item, digest) for item in items)
