"""Request signatures, pure and I/O-free.

Two schemes go on every delivery. Standard Webhooks (`webhook-id`, `webhook-timestamp`,
`webhook-signature: v1,<base64>`) is what Svix and the official verifier libraries check.
The hex scheme (`X-Webhook-Signature: sha256=<hex>`) is the GitHub/Stripe style that people
already verify with a few lines of hmac + compare_digest, keyed by the secret string itself.

During a secret rotation the Standard Webhooks header carries one signature per live secret
(`v1,<new> v1,<old>`): the spec lets verifiers accept any of them, so a receiver can switch
secrets at its own pace. The hex header has no such list and uses the new secret alone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: the base64-decoded part after `whsec_`."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def standard_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def hex_signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_headers(
    secret: str, msg_id: str, event_type: str, timestamp: int, body: bytes, older: Sequence[str] = ()
) -> dict[str, str]:
    """`older`: secrets still inside their rotation grace period, newest first."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(standard_signature(s, msg_id, timestamp, body) for s in (secret, *older)),
        "X-Webhook-Event": event_type,
        "X-Webhook-Timestamp": str(timestamp),
        "X-Webhook-Signature": hex_signature(secret, timestamp, body),
    }
