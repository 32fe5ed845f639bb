"""Verify a Hookline delivery in Python 3.9+ (standard library; ed25519 needs `pip install cryptography`).

Check a captured request (header lines, an empty line, the body's exact bytes):
    python3 verify.py SCHEME KEY REQUEST_FILE [SIGNATURE_HEADER [TIMESTAMP_HEADER]]
"""

import base64
import hashlib
import hmac
import sys
import time

TOLERANCE = 300  # seconds between the signed timestamp and this machine's clock


def hmac_hex(secret: str, message: bytes) -> str:
    """The key is the secret's text as UTF-8 bytes, whatever it looks like."""
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def same(expected: str, received: str) -> bool:
    return hmac.compare_digest(expected.encode(), received.encode())  # constant time


def fresh(timestamp: str) -> bool:
    return timestamp.isdigit() and abs(time.time() - int(timestamp)) <= TOLERANCE


def verify_hmac_hex(secret: str, body: bytes, signature: str) -> bool:
    """`<hex HMAC-SHA256(secret, body)>`, no prefix."""
    return same(hmac_hex(secret, body), signature)


def verify_hmac_prefixed(secret: str, body: bytes, signature: str) -> bool:
    """`sha256=<hex HMAC-SHA256(secret, body)>` (GitHub's X-Hub-Signature-256 shape)."""
    return same("sha256=" + hmac_hex(secret, body), signature)


def verify_hmac_timestamped(secret: str, body: bytes, timestamp: str, signature: str) -> bool:
    """`sha256=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>`, the timestamp in its own header."""
    return fresh(timestamp) and same("sha256=" + hmac_hex(secret, timestamp.encode() + b"." + body), signature)


def verify_stripe_style(secret: str, body: bytes, header: str) -> bool:
    """`t=<timestamp>,v1=<hex HMAC-SHA256(secret, "{t}.{body}")>`; during a rotation one
    `t=…,v1=…` pair per live secret, all with the same timestamp."""
    pairs = [item.strip().partition("=") for item in header.split(",")]
    timestamps = {value for name, _, value in pairs if name == "t"}
    if len(timestamps) != 1 or not fresh(timestamp := timestamps.pop()):
        return False
    expected = hmac_hex(secret, timestamp.encode() + b"." + body)
    return any(same(expected, value) for name, _, value in pairs if name == "v1")


def verify_standard(secret: str, body: bytes, msg_id: str, timestamp: str, signatures: str) -> bool:
    """Standard Webhooks v1: `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`,
    key = the base64-decoded part of the secret after `whsec_`; several entries during a rotation."""
    if not fresh(timestamp):
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    expected = base64.b64encode(digest).decode()
    entries = [entry.partition(",") for entry in signatures.split(" ")]
    return any(version == "v1" and same(expected, value) for version, _, value in entries)


def verify_ed25519(public_key: str, body: bytes, msg_id: str, timestamp: str, signatures: str) -> bool:
    """Standard Webhooks v1a: `v1a,<base64 Ed25519 signature of "{id}.{timestamp}.{body}">`,
    checked with the webhook's public key `whpk_<base64>`; several entries during a rotation."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if not fresh(timestamp):
        return False
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key.removeprefix("whpk_")))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    for version, _, value in (entry.partition(",") for entry in signatures.split(" ")):
        if version == "v1a":
            try:
                key.verify(base64.b64decode(value), signed)
                return True
            except (InvalidSignature, ValueError):
                continue
    return False


def read_request(path: str) -> tuple[dict[str, str], bytes]:
    """Header names in lower case: HTTP header names ignore case."""
    with open(path, "rb") as file:
        head, _, body = file.read().partition(b"\n\n")
    headers = {}
    for line in head.decode().splitlines():
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers, body


def main(scheme: str, key: str, path: str, *names: str) -> bool:
    headers, body = read_request(path)
    header = lambda name: headers.get(name.lower(), "")  # noqa: E731
    standard_headers = (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"))
    checks = {
        "standard": lambda: verify_standard(key, body, *standard_headers),
        "ed25519": lambda: verify_ed25519(key, body, *standard_headers),
        "hmac-hex": lambda: verify_hmac_hex(key, body, header(names[0])),
        "hmac-prefixed": lambda: verify_hmac_prefixed(key, body, header(names[0])),
        "hmac-timestamped": lambda: verify_hmac_timestamped(key, body, header(names[1]), header(names[0])),
        "stripe-style": lambda: verify_stripe_style(key, body, header(names[0])),
    }
    return checks[scheme]()


if __name__ == "__main__":
    verified = main(*sys.argv[1:])
    print("ok" if verified else "FAILED")
    sys.exit(0 if verified else 1)
