"""The request inspector: capture URLs served by Hookline itself, and what they received.

People paste webhook.site URLs to see what a sender sends; an inspector does that inside
the installation, and can say which of the tenant's webhooks signed a request. A capture
URL (`/inspect/<token>`) takes any request without a key or a session, so everything
about it is bounded: requests kept per endpoint, body size, endpoints per tenant and
their lifetime (the web layer rate-limits per token). An expired endpoint answers 404;
its rows go when the tenant next creates one.

Verification happens once, when a request arrives, and is stored with it: the page
polls every 2 s, and re-checking up to 50 bodies of 256 KiB against every webhook's
secrets on each poll would cost more than the request did. It checks the request
against every live webhook of the tenant: Standard
Webhooks v1 (`webhook-signature: v1,…`) with the current and the previous secret, v1a
with the current and the previous key pair, and an hmac contract's header. An hmac
value or content may use the attempt's placeholders: those the request shows (the
timestamp and event id and type from Hookline's headers) or the webhook knows (its id,
its tenant) are filled in; one that needs another (`{delivery.id}`, `{attempt}`) is
reported as not verified, naming it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from app.config import Settings
from app.delivery.signed_request import contract_of, installation_defaults
from app.delivery.signing import PUBLIC_KEY_PREFIX, hmac_value, public_key, standard_signature
from app.rules.contracts import Hmac
from app.rules.errors import Conflict, NotFound
from app.rules.webhook_urls import UrlRejected, check_webhook_url
from app.storage.db import write_transaction
from app.storage.models import InspectorEndpoint, InspectorRequest, Tenant, Webhook

KEEP_REQUESTS = 50
MAX_BODY_BYTES = 256 * 1024
MAX_ENDPOINTS = 10
LIFETIME = timedelta(days=7)
TOKEN_BYTES = 24
MAX_NAME = 100


def new_endpoint(tenant: Tenant, name: str, now: datetime) -> InspectorEndpoint:
    """A new capture URL for `tenant`; its expired ones are deleted first."""
    with write_transaction():
        InspectorEndpoint.delete().where(
            (InspectorEndpoint.tenant == tenant.id) & (InspectorEndpoint.expires_at <= now)).execute()
        if InspectorEndpoint.select().where(InspectorEndpoint.tenant == tenant.id).count() >= MAX_ENDPOINTS:
            raise Conflict(f"a tenant has at most {MAX_ENDPOINTS} test endpoints; delete one first")
        return InspectorEndpoint.create(
            tenant=tenant, token=secrets.token_urlsafe(TOKEN_BYTES), name=name.strip()[:MAX_NAME] or "Test endpoint",
            created_at=now, expires_at=now + LIFETIME)


def webhook_refusal(capture_url: str, settings: Settings) -> str | None:
    """Why a webhook could not be saved with `capture_url` (the installation refuses http
    or loopback targets, say), or None when one can: the page then stays quiet about it."""
    try:
        check_webhook_url(capture_url, settings.allow_http, settings.allow_private_networks)
    except UrlRejected as exc:
        return str(exc)
    return None


def list_endpoints(tenant_id: int, now: datetime) -> list[InspectorEndpoint]:
    return list(InspectorEndpoint.live(now).where(InspectorEndpoint.tenant == tenant_id)
                .order_by(InspectorEndpoint.created_at.desc()))


def get_endpoint(endpoint_id: str, tenant_id: int, now: datetime) -> InspectorEndpoint:
    """Another tenant's endpoint is not found, like a missing one."""
    endpoint = InspectorEndpoint.live(now).where(
        (InspectorEndpoint.id == endpoint_id) & (InspectorEndpoint.tenant == tenant_id)).first()
    if endpoint is None:
        raise NotFound(f"no test endpoint {endpoint_id!r}")
    return endpoint


def delete_endpoint(endpoint_id: str, tenant_id: int, now: datetime) -> None:
    with write_transaction():
        endpoint = get_endpoint(endpoint_id, tenant_id, now)
        InspectorRequest.delete().where(InspectorRequest.endpoint == endpoint.id).execute()
        endpoint.delete_instance()


def capture(token: str, method: str, path: str, headers: list[tuple[str, str]], body: bytes, settings: Settings,
            now: datetime) -> InspectorRequest:
    """Record one request to a live endpoint, keeping its newest KEEP_REQUESTS. NotFound
    for an unknown or expired token. Its signatures are checked once, here, before the
    transaction: the page that polls every 2 s then only reads what they said."""
    endpoint = _live_endpoint(token, now)
    by_name = {name.lower(): value for name, value in headers}
    verdicts = verify(by_name, body, _webhooks_of(endpoint.tenant_id), settings, now)
    with write_transaction():
        endpoint = _live_endpoint(token, now)  # not deleted meanwhile
        received = InspectorRequest.create(
            endpoint=endpoint, method=method[:16], path=path, headers=[list(pair) for pair in headers], body=body,
            verdicts=[[v.verified, v.text] for v in verdicts], received_at=now)
        kept = (InspectorRequest.select(InspectorRequest.id).where(InspectorRequest.endpoint == endpoint.id)
                .order_by(InspectorRequest.received_at.desc(), InspectorRequest.id.desc()).limit(KEEP_REQUESTS))
        InspectorRequest.delete().where(
            (InspectorRequest.endpoint == endpoint.id) & InspectorRequest.id.not_in(kept)).execute()
        return received


def _live_endpoint(token: str, now: datetime) -> InspectorEndpoint:
    endpoint = InspectorEndpoint.live(now).where(InspectorEndpoint.token == token).first()
    if endpoint is None:
        raise NotFound("no test endpoint at this URL (it may have expired)")
    return endpoint


def _webhooks_of(tenant_id: int) -> list[Webhook]:
    """The tenant's live webhooks with their tenant row, which their contracts need."""
    return list(Webhook.select(Webhook, Tenant).join(Tenant).where(
        (Webhook.tenant == tenant_id) & Webhook.deleted_at.is_null()).order_by(Webhook.created_at))


@dataclass(frozen=True)
class Shown:
    """A received request as the page shows it, with what its signatures say."""

    request: InspectorRequest
    body_text: str | None  # None: not UTF-8 (see body_base64)
    body_base64: str | None
    is_json: bool
    verdicts: tuple[Verdict, ...]

    @property
    def size(self) -> int:
        return len(self.request.body)


@dataclass(frozen=True)
class Verdict:
    verified: bool
    text: str  # "webhook-signature v1 verified with Orders to ERP's current secret"


def request_count(endpoint: InspectorEndpoint) -> int:
    return InspectorRequest.select().where(InspectorRequest.endpoint == endpoint.id).count()


# What the page says of a request that carried no signature it knows: an outside sender's,
# or a webhook's whose contract signs nothing. Said when shown, not stored: requests
# captured before it existed say it too.
UNSIGNED = Verdict(False, "no signature: the request has no webhook-signature header and none of the hmac headers "
                          "this tenant's webhooks sign with")


def received_requests(endpoint: InspectorEndpoint) -> list[Shown]:
    """The endpoint's requests, newest first."""
    rows = (InspectorRequest.select().where(InspectorRequest.endpoint == endpoint.id)
            .order_by(InspectorRequest.received_at.desc(), InspectorRequest.id.desc()))
    return [_shown(row) for row in rows]


def _shown(row: InspectorRequest) -> Shown:
    body = bytes(row.body)
    try:
        text, encoded = body.decode("utf-8"), None
    except UnicodeDecodeError:
        text, encoded = None, base64.b64encode(body).decode()
    content_type = next((value for name, value in row.headers if name.lower() == "content-type"), "")
    is_json = text is not None and "json" in content_type
    verdicts = tuple(Verdict(verified, said) for verified, said in row.verdicts) or (UNSIGNED,)
    return Shown(row, text, encoded, is_json, verdicts)


def verify(headers: dict[str, str], body: bytes, webhooks: list[Webhook], settings: Settings,
           now: datetime) -> list[Verdict]:
    """What the request's signature headers say about `webhooks` (rows with their tenant
    joined); `headers` by lower-case name. Nothing for a request without signatures."""
    verdicts = []
    if "webhook-signature" in headers:
        verdicts.append(_standard_verdict(headers, body, webhooks, now))
    defaults = installation_defaults(settings)
    by_header: dict[str, list[Verdict]] = {}
    for webhook in webhooks:
        contract, _ = contract_of(webhook, defaults)
        for scheme in contract.signatures:
            if isinstance(scheme, Hmac) and (name := scheme.header.lower()) in headers:
                by_header.setdefault(name, []).append(_hmac_verdict(scheme, headers[name], body, webhook, headers, now))
    for found in by_header.values():
        # Webhooks sharing a header name: the one that verified, else what each says.
        verdicts += [v for v in found if v.verified][:1] or found
    return verdicts


def _live_secrets(webhook: Webhook, now: datetime) -> list[tuple[str, str]]:
    """(which, secret) newest first: the previous one while its grace period lasts."""
    found = [("current", webhook.secret)]
    if webhook.previous_secret and webhook.previous_secret_expires_at and webhook.previous_secret_expires_at > now:
        found.append(("previous", webhook.previous_secret))
    return found


def _live_keys(webhook: Webhook, now: datetime) -> list[tuple[str, str]]:
    found = [("current", webhook.signing_key)] if webhook.signing_key else []
    if (webhook.previous_signing_key and webhook.previous_secret_expires_at
            and webhook.previous_secret_expires_at > now):
        found.append(("previous", webhook.previous_signing_key))
    return found


def _standard_verdict(headers: dict[str, str], body: bytes, webhooks: list[Webhook], now: datetime) -> Verdict:
    msg_id, timestamp = headers.get("webhook-id"), headers.get("webhook-timestamp", "")
    if not msg_id or not timestamp.isdigit():
        return Verdict(False, "webhook-signature not verified: webhook-id or webhook-timestamp is missing")
    given = headers["webhook-signature"].split()
    v1 = {value for value in given if value.startswith("v1,")}
    v1a = [value.removeprefix("v1a,") for value in given if value.startswith("v1a,")]
    signed = f"{msg_id}.{timestamp}.".encode() + body
    for webhook in webhooks:
        for which, secret in _live_secrets(webhook, now):
            try:
                expected = standard_signature(secret, msg_id, int(timestamp), body)
            except (ValueError, binascii.Error):  # not a whsec_ secret: an hmac-only webhook
                continue
            if any(hmac.compare_digest(expected, value) for value in v1):
                return Verdict(True, f"webhook-signature v1 verified with {webhook.name}'s {which} secret")
        for which, key in _live_keys(webhook, now):
            if any(_ed25519_verifies(key, value, signed) for value in v1a):
                return Verdict(True, f"webhook-signature v1a verified with {webhook.name}'s {which} key pair")
    return Verdict(False, "webhook-signature verified with none of this tenant's webhooks' secrets")


def _ed25519_verifies(signing_key: str, signature: str, signed: bytes) -> bool:
    try:
        public = Ed25519PublicKey.from_public_bytes(
            base64.b64decode(public_key(signing_key).removeprefix(PUBLIC_KEY_PREFIX)))
        public.verify(base64.b64decode(signature, validate=True), signed)
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


def _hmac_verdict(scheme: Hmac, value: str, body: bytes, webhook: Webhook, headers: dict[str, str],
                  now: datetime) -> Verdict:
    values = _known_values(headers, webhook)
    needed = {name for part in scheme.parts if not isinstance(part, str) for name in part.names}
    if missing := sorted(needed - values.keys()):
        return Verdict(False, f"{scheme.header} (hmac of {webhook.name}) not verified: it signs "
                              f"{', '.join('{' + name + '}' for name in missing)}, which the request does not show")
    given = value.split(scheme.separator) if scheme.separator else [value]
    for which, secret in _live_secrets(webhook, now):
        expected = hmac_value(scheme, secret, body, values)
        if any(hmac.compare_digest(expected, part.strip()) for part in given):
            return Verdict(True, f"{scheme.header} (hmac) verified with {webhook.name}'s {which} secret")
    return Verdict(False, f"{scheme.header} (hmac) does not match {webhook.name}'s secrets")


def _known_values(headers: dict[str, str], webhook: Webhook) -> dict[str, str]:
    """The attempt placeholders (app/rules/placeholders.py `attempt_values`) that can be
    recovered: from Hookline's default headers, and from the webhook itself."""
    found = {"timestamp": headers.get("webhook-timestamp") or headers.get("x-webhook-timestamp"),
             "event.id": headers.get("webhook-id"), "event.type": headers.get("x-webhook-event"),
             "webhook.id": webhook.id, "tenant": webhook.tenant.slug}
    return {name: value for name, value in found.items() if value is not None}
