"""What a delivery contract being edited would send: one signed request for a sample event.

The dashboard shows it next to the contract's fields while they are typed (the webhook form
and the tenant settings page). It is made by the sender's own `build_request` from the
contract resolved as the sender resolves it (webhook > tenant > config > Hookline), so it is
byte for byte what a receiver would get once the form is saved, apart from the ids and the
timestamp, which belong to the attempt. Nothing is written.

The contract parts are checked by the rules saving applies (app/rules/contracts.py), and a
problem is an InvalidInput naming the field, as saving would raise it; saving checks
everything again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.config import Settings
from app.delivery import formats, payloads
from app.delivery.signed_request import DEFAULT_HEADER_NAMES, Contract, build_request, installation_defaults
from app.delivery.signing import CannotSign, SigningKeys, generate_secret, generate_signing_key, public_key
from app.rules import contracts, jsontext, placeholders
from app.rules.custom_headers import CustomHeaders, looks_masked, mask
from app.rules.errors import InvalidInput
from app.rules.header_rules import header_problem
from app.rules.subscriptions import matches
from app.storage.models import EventType, Tenant, Webhook

CHECKED = ("signatures", "envelope", "auto_disable")  # auto_disable: checked only, it changes no request
SAMPLE_IDS = {"event": "evt_sample", "delivery": "dlv_sample", "webhook": "wh_sample"}


@dataclass(frozen=True)
class Preview:
    event_type: str
    headers: dict[str, str]
    body: str
    signed_with: str  # which secret signs it, masked
    public_key: str | None  # the ed25519 scheme's verification key, when it signs


def webhook_preview(tenant: Tenant, webhook: Webhook | None, fields: dict, settings: Settings,
                    now: datetime) -> Preview:
    """A webhook's request with the contract parts in `fields` (the API's shape: `signatures`
    and `envelope`, null inheriting the tenant's; `headers` with null dropping a default
    one; `secret_headers`; `secret` for a new webhook; `events`, `name`). `webhook`: the one
    being edited (its own secret and key pair sign), None for a new one (its `secret`, or a
    sample). Secret header values are shown masked, as everywhere."""
    parts = contracts.stored_parts({key: fields.get(key) for key in CHECKED})
    headers, dropped = _headers(fields.get("headers") or {})
    headers = CustomHeaders(headers, secret=fields.get("secret_headers") or ())
    own = contracts.Layer(parts["signatures"], parts["envelope"])
    if webhook is not None:
        keys, signed_with = SigningKeys((webhook.secret,), (webhook.signing_key,)), f"the webhook's secret {mask(webhook.secret)}"
    elif fields.get("secret"):
        secret = contracts.checked_secret(fields["secret"])
        keys, signed_with = SigningKeys((secret,), (generate_signing_key(),)), f"your secret {mask(secret)}"
    else:
        keys, signed_with = _sample_keys()
    webhook_id = webhook.id if webhook is not None else SAMPLE_IDS["webhook"]
    event = _sample_event(fields.get("events"))
    message = _message(event, tenant.slug, webhook_id, str(fields.get("name") or ""), now)
    body = payloads.sample_body(fields.get("payload_format") or "standard", fields.get("payload_template"), event,
                                settings)
    return _preview(own, _layer_of(tenant), headers, dropped, keys, signed_with, message, settings, now, body)


def tenant_preview(tenant: Tenant, fields: dict, settings: Settings, now: datetime) -> Preview:
    """The request of a tenant's webhook that sets no contract of its own, with the
    tenant's defaults in `fields` (`signatures`, `envelope`, `headers`: null, the
    installation's). The headers are checked as saving checks them, against the
    signatures they would be sent with, and merge over the installation's and Hookline's
    as the sender merges them (a null drops one)."""
    parts = contracts.stored_parts({key: fields.get(key) for key in CHECKED})
    headers = None
    if fields.get("headers") is not None:
        installation = installation_defaults(settings)
        signatures = contracts.resolve(contracts.Layer(), contracts.Layer(parts["signatures"]), installation.layer,
                                       installation.auto_disable).signatures
        headers = contracts.stored_default_headers(fields["headers"], signatures)
    layer = contracts.Layer(parts["signatures"], parts["envelope"], headers=headers)
    keys, signed_with = _sample_keys()
    message = _message(_sample_event(None), tenant.slug, SAMPLE_IDS["webhook"], "", now)
    return _preview(contracts.Layer(), layer, CustomHeaders(), frozenset(), keys, signed_with, message, settings, now)


def _preview(own: contracts.Layer, tenant: contracts.Layer, headers: CustomHeaders, dropped: frozenset[str],
             keys: SigningKeys, signed_with: str, message: placeholders.Message, settings: Settings,
             now: datetime, body: bytes | None = None) -> Preview:
    """`body`: what a chat format or a template made (None: the contract's envelope)."""
    installation = installation_defaults(settings)
    resolved = contracts.resolve(own, tenant, installation.layer, installation.auto_disable)
    signed = contracts.signature_headers_of(resolved.signatures) | frozenset(contracts.STANDARD_HEADERS)
    clash = next((name for name in headers if name.lower() in signed), None)
    if clash is not None:
        raise InvalidInput(f"headers.{clash}", f"{clash!r} is set by Hookline and cannot be overridden")
    contract = Contract(resolved.signatures, resolved.envelope, headers, dropped, resolved.default_headers)
    try:
        request = build_request(contract, keys, message, int(now.timestamp()), 1, body)
    except CannotSign:
        raise InvalidInput("secret", contracts.STANDARD_SECRET_NEEDED) from None
    ed25519 = any(isinstance(s, contracts.Ed25519) for s in resolved.signatures)
    return Preview(message.event_type, headers.hide_in(request.headers), request.body.decode(), signed_with,
                   public_key(keys.signing_keys[0]) if ed25519 else None)


def _headers(given: dict) -> tuple[dict[str, str], frozenset[str]]:
    """The custom headers, checked as saving checks them, and the default ones dropped. A
    masked value (a stored secret the form shows masked) stays masked: it is shown so."""
    headers, dropped = {}, set()
    for name, value in given.items():
        if value is None:
            if name.lower() not in DEFAULT_HEADER_NAMES:
                raise InvalidInput(f"headers.{name}", "only a default header (User-Agent, X-Webhook-Event, "
                                                      "X-Webhook-Timestamp) can be dropped")
            dropped.add(name.lower())
            continue
        if isinstance(value, str) and looks_masked(value):
            headers[name] = value
            continue
        if problem := header_problem(name, value):
            raise InvalidInput(f"headers.{name}", f"{name!r} {problem}")
        if name.lower() in contracts.FRAMING_HEADERS:
            raise InvalidInput(f"headers.{name}", f"{name!r} is set by Hookline and cannot be overridden")
        headers[name] = placeholders.checked_header_value(f"headers.{name}", value)
    return headers, frozenset(dropped)


def _layer_of(tenant: Tenant) -> contracts.Layer:
    schedule = None if tenant.retry_schedule is None else tuple(tenant.retry_schedule)
    return contracts.Layer(tenant.signatures, tenant.envelope, tenant.auto_disable, schedule, tenant.headers)


def _sample_keys() -> tuple[SigningKeys, str]:
    secret = generate_secret()
    return SigningKeys((secret,), (generate_signing_key(),)), f"a sample secret {mask(secret)}"


def _sample_event(events: list | None) -> dict:
    """The catalog's example of the first type the webhook subscribes to that has one."""
    examples = EventType.active().where(EventType.example.is_null(False))
    found = next((t for t in examples if matches(events or ["*"], t.name)), None)
    return formats.sample_event(found.name, found.example) if found else formats.sample_event()


def _message(event: dict, tenant: str, webhook_id: str, webhook_name: str, now: datetime) -> placeholders.Message:
    data = jsontext.dumps(event["data"], nonfinite_as_null=True)  # null for a NaN stored before the rules
    return placeholders.Message(SAMPLE_IDS["event"], event["type"], now, data, tenant, webhook_id, webhook_name,
                                SAMPLE_IDS["delivery"])
