"""Request signatures, pure and I/O-free: the three schemes of a contract (app/rules/contracts.py).

- `standard`, Standard Webhooks v1 (`webhook-id`, `webhook-timestamp`, `webhook-signature:
  v1,<base64>`): HMAC-SHA256 of "{id}.{timestamp}.{body}" keyed by the base64 after `whsec_`.
  What Svix and the official verifier libraries check.
- `ed25519`, Standard Webhooks v1a (`webhook-signature: v1a,<base64>`): an Ed25519 signature
  of the same content. The webhook's key pair is `whsk_<base64 of seed + public key>` (kept
  encrypted) and `whpk_<base64 of the public key>` (shown: receivers verify with it and
  cannot sign).
- `hmac`: any HMAC a hand-written verifier checks, keyed by the secret's text as UTF-8 bytes
  (`hmac.new(secret.encode(), body, sha256).hexdigest()`, `hash_hmac('sha256', $body, $secret)`).

Rotation. During a rotation's grace period the `webhook-signature` header carries one
signature per live secret and key pair, newest first (`v1,<new> v1,<old> v1a,<new> v1a,<old>`):
the spec lets a verifier accept any of them, so a receiver switches at its own pace. An hmac
header is one value that hand-written verifiers compare whole (`compare_digest(expected,
header)`), so by default it carries the newest secret's value alone: a receiver that must not
miss a request during a rotation accepts both secrets first (bring the new one with
`rotate-secret`'s `secret`), then rotates. A scheme with a `separator` carries one value per
live secret instead, newest first, joined by it (`sha256=<new>,sha256=<old>`, or Stripe's
`t=…,v1=<new>,t=…,v1=<old>`), for receivers that split the header and try each value.
"""

from __future__ import annotations

import base64
import functools
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from app.rules.contracts import SECRET_PREFIX, Ed25519, Hmac, Signature, Standard

SECRET_BYTES = 32
SIGNING_KEY_PREFIX = "whsk_"
PUBLIC_KEY_PREFIX = "whpk_"


class CannotSign(ValueError):
    """The webhook's secret or key does not fit its contract (saved before the rules, or
    a contract changed above it): the attempt fails saying so, nothing is sent unsigned."""


@dataclass(frozen=True)
class SigningKeys:
    """What signs one attempt: the live secrets and Ed25519 signing keys, newest first.
    Left out of `repr`, so a log line or a test failure never shows them."""

    secrets: tuple[str, ...] = field(repr=False)
    signing_keys: tuple[str, ...] = field(default=(), repr=False)


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


@functools.lru_cache(maxsize=4096)
def secret_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: the base64-decoded part after `whsec_`.
    Cached: decoding it cost as much as the HMAC, and a webhook signs with the same one."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)


def generate_signing_key() -> str:
    """A new `whsk_` key: the 32-byte seed and the 32-byte public key, base64."""
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes_raw()
    return SIGNING_KEY_PREFIX + base64.b64encode(seed + _public_bytes(private)).decode()


def public_key(signing_key: str) -> str:
    """The `whpk_` key receivers verify with."""
    return PUBLIC_KEY_PREFIX + base64.b64encode(_public_bytes(_private_key(signing_key))).decode()


def _public_bytes(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@functools.lru_cache(maxsize=4096)
def _private_key(signing_key: str) -> Ed25519PrivateKey:
    """Cached: loading a key costs as much as a signature, and each webhook has one or two."""
    raw = base64.b64decode(signing_key.removeprefix(SIGNING_KEY_PREFIX))
    return Ed25519PrivateKey.from_private_bytes(raw[:32])


def standard_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.digest(secret_key(secret), signed, "sha256")).decode()


def ed25519_signature(signing_key: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1a," + base64.b64encode(_private_key(signing_key).sign(signed)).decode()


def hmac_value(scheme: Hmac, secret: str, body: bytes, values: Mapping[str, str]) -> str:
    """The header value of one secret: `value` around the digest of `content` around the body."""
    before, after, head, tail = (part if type(part) is str else part.render(values) for part in scheme.parts)
    digest = hmac.digest(secret.encode(), before.encode() + body + after.encode() if before or after else body,
                         scheme.algorithm)
    return head + (digest.hex() if scheme.encoding == "hex" else base64.b64encode(digest).decode()) + tail


def signature_headers(
    signatures: Sequence[Signature], keys: SigningKeys, msg_id: str, timestamp: int, body: bytes,
    values: Mapping[str, str],
) -> dict[str, str]:
    """The headers of `signatures` for one attempt; `values` are its placeholders
    (app/rules/placeholders.py `attempt_values`). Raises CannotSign."""
    headers: dict[str, str] = {}
    standard: list[str] = []
    for signature in signatures:
        if isinstance(signature, Standard):
            try:
                if not all(secret.startswith(SECRET_PREFIX) for secret in keys.secrets):
                    raise ValueError("not a whsec_ secret")
                standard += [standard_signature(secret, msg_id, timestamp, body) for secret in keys.secrets]
            except ValueError:  # binascii.Error too: not base64 after whsec_
                raise CannotSign("the standard scheme needs a whsec_ secret; rotate the secret or change the "
                                 "signatures") from None
        elif isinstance(signature, Ed25519):
            if not keys.signing_keys:
                raise CannotSign("the ed25519 scheme needs the webhook's key pair; rotate the secret to make one")
            standard += [ed25519_signature(key, msg_id, timestamp, body) for key in keys.signing_keys]
        else:
            live = keys.secrets if signature.separator is not None else keys.secrets[:1]
            headers[signature.header] = (signature.separator or "").join(
                hmac_value(signature, secret, body, values) for secret in live)
    if standard:
        headers = {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": " ".join(standard),
                   **headers}
    return headers
