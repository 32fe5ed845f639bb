"""Webhook endpoints: create, read, change, delete, always within one tenant's scope.

`tenant_id=None` is the admin scope (every tenant). A row outside the caller's scope is
reported as not found, never as forbidden, so ids of other tenants cannot be probed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from app.config import Settings
from app.delivery import formats, payloads
from app.delivery.signed_request import DEFAULT_HEADER_NAMES, contract_of, installation_defaults
from app.delivery.signing import generate_secret, generate_signing_key
from app.rules import contracts, durations, placeholders
from app.rules.custom_headers import MASK, CustomHeaders, looks_masked, mask
from app.rules.errors import Conflict, InvalidInput, NotFound, reject_unknown
from app.rules.filters import validate_filter
from app.rules.header_rules import header_problem
from app.rules.subscriptions import is_valid_pattern, is_wildcard, matches
from app.rules.webhook_urls import UrlRejected, check_webhook_url
from app.services.tenants import NamedTenant, find_tenant, for_write, refuse_other_tenant
from app.services.webhook_health import announce_secret_rotated
from app.storage.db import is_sqlite, write_transaction
from app.storage.listen_notify import deliveries_due
from app.storage.models import CANCELLED, DELIVERING, PENDING, ApiKey, Delivery, EventType, Tenant, Webhook

# Per-webhook overrides and options; None (or absent) keeps the tenant's or the global setting.
OPTIONS = ("filter", "timeout", "retry_schedule", "rate_limit", "max_in_flight", "ordered", "payload_format",
           "payload_template")
# The delivery contract (app/rules/contracts.py); None: the tenant's.
CONTRACT = ("signatures", "envelope", "auto_disable")
EDITABLE = ("name", "url", "description", "events", "enabled", "headers", "secret_headers") + OPTIONS + CONTRACT
MAX_GRACE = 7 * 86400
MAX_HEADERS = 20


@dataclass(frozen=True)
class NewWebhook:
    webhook: Webhook
    secret: str


def create_webhook(tenant: Tenant | NamedTenant, fields: dict, settings: Settings, now: datetime) -> NewWebhook:
    """A new tenant is created with the webhook, and not at all when `fields` are refused.
    `secret` is the user's own (16-256 visible ASCII, or whsec_…), generated when absent."""
    reject_unknown(fields, EDITABLE + ("tenant", "secret"))
    url = _url(fields.get("url"), settings)
    values = {
        "name": _name(fields["name"]) if "name" in fields else urlsplit(url).hostname,
        "url": url,
        "description": _description(fields.get("description", "")),
        "events": _events(fields.get("events", ["*"]), settings),
        "enabled": _enabled(fields.get("enabled", True)),
        **_options(fields, settings),
        **contracts.stored_parts(fields),
        **_template(fields, settings, fields.get("events", ["*"])),
    }
    secret = contracts.checked_secret(fields["secret"]) if "secret" in fields else generate_secret()
    webhook = Webhook(tenant=_tenant_defaults(tenant), secret=secret, headers=CustomHeaders(), **values)
    _set_headers(webhook, fields, settings)
    _check_contract(webhook, fields, settings)
    _check_envelope_format(webhook)
    webhook.signing_key = generate_signing_key()
    webhook.created_at = webhook.updated_at = now
    with write_transaction():
        webhook.tenant = for_write(tenant, now)
        webhook.save(force_insert=True)
    return NewWebhook(webhook, secret)


def list_webhooks(tenant_id: int | None) -> list[Webhook]:
    return list(Webhook.within(_live().order_by(Webhook.created_at), tenant_id))


def list_webhooks_for_key(key: ApiKey, tenant_slug: str | None) -> list[Webhook]:
    """What an API key lists: its tenant's webhooks; an admin key's, every tenant's or those
    of the tenant it names (none for a tenant that does not exist)."""
    refuse_other_tenant(key, tenant_slug)
    if not key.is_admin:
        return list_webhooks(key.tenant_id)
    if not tenant_slug:
        return list_webhooks(None)
    tenant = find_tenant(tenant_slug)
    return list_webhooks(tenant.id) if tenant else []


def get_webhook(webhook_id: str, tenant_id: int | None, lock: bool = False) -> Webhook:
    """`lock` (inside a write transaction, for a read-modify-write) locks the row until the
    transaction ends: on PostgreSQL a concurrent change then waits instead of being
    overwritten with what was read before it. SQLite's write transaction already excludes
    other writers."""
    query = Webhook.within(_live().where(Webhook.id == webhook_id), tenant_id)
    if lock and not is_sqlite():
        query = query.for_update(of=Webhook)
    webhook = query.first()
    if webhook is None:
        raise NotFound(f"no webhook {webhook_id!r}")
    return webhook


def update_webhook(webhook_id: str, tenant_id: int | None, fields: dict, settings: Settings, now: datetime) -> Webhook:
    """Apply a partial change as one version of the row.

    The read is inside the write transaction and locks the row (PostgreSQL), and only the
    changed columns are written: two PATCHes at once end as one or the other, never a mix,
    and a secret rotated meanwhile is not overwritten with the one read before it.
    """
    reject_unknown(fields, EDITABLE)
    parsers = {
        "name": _name,
        "url": lambda value: _url(value, settings),
        "description": _description,
        "events": lambda value: _events(value, settings),
        "enabled": _enabled,
    }
    template = {}
    if "payload_template" in fields:
        # Checking a template renders it (for up to template_cpu_limit): before the write
        # transaction, which on SQLite would hold every tenant's emits meanwhile.
        events = _events(fields["events"], settings) if "events" in fields else get_webhook(webhook_id, tenant_id).events
        template = _template(fields, settings, events)
    with write_transaction():
        webhook = _not_a_session(get_webhook(webhook_id, tenant_id, lock=True))
        changes = {key: parsers[key](value) for key, value in fields.items() if key in parsers}
        changes.update(_options(fields, settings), **contracts.stored_parts(fields), **template)
        for key, value in changes.items():
            setattr(webhook, key, value)
        if "headers" in fields or "secret_headers" in fields:
            changes.update(_set_headers(webhook, fields, settings))
        if "signatures" in fields:
            _check_contract(webhook, fields, settings)
        if fields.keys() & {"envelope", "payload_format", "payload_template"}:
            _check_envelope_format(webhook)
        if changes.get("enabled") is True:
            # A fresh start: the failure streaks that may have disabled it are history now.
            changes.update(consecutive_failures=0, consecutive_failed_attempts=0, disabled_reason=None)
            deliveries_due()  # those that waited while it was off
        changes["updated_at"] = now
        for key, value in changes.items():
            setattr(webhook, key, value)
        webhook.save(only=[getattr(Webhook, key) for key in changes])
    return webhook


def rotate_secret(
    webhook_id: str, tenant_id: int | None, settings: Settings, now: datetime, grace_seconds: object = None,
    secret: object = None,
) -> NewWebhook:
    """A new secret and Ed25519 key pair at once; the old ones keep signing next to them
    for the grace period.

    Receivers then switch at their own pace without a request failing verification (hmac
    headers: see app/delivery/signing.py). Only the immediately previous secret overlaps:
    rotating again during a grace drops the one before. A grace of 0 makes the old secret
    invalid at once (a leaked secret). `secret`: the user's own new one (generated when None).
    """
    grace = settings.secret_rotation_grace if grace_seconds is None else _grace(grace_seconds)
    new_secret = generate_secret() if secret is None else contracts.checked_secret(secret)
    with write_transaction():
        webhook = _not_a_session(get_webhook(webhook_id, tenant_id, lock=True))
        _check_standard_secret(webhook, new_secret, settings, "secret")
        overlap = grace > 0
        webhook.previous_secret = webhook.secret if overlap else None
        webhook.previous_signing_key = webhook.signing_key if overlap else None
        webhook.previous_secret_expires_at = now + timedelta(seconds=grace) if overlap else None
        webhook.secret = new_secret
        webhook.signing_key = generate_signing_key()
        webhook.updated_at = now
        webhook.save(only=[Webhook.secret, Webhook.previous_secret, Webhook.previous_secret_expires_at,
                           Webhook.signing_key, Webhook.previous_signing_key, Webhook.updated_at])
        announce_secret_rotated(webhook, settings, now)
    return NewWebhook(webhook, new_secret)


def _not_a_session(webhook: Webhook) -> Webhook:
    """A `hookline listen` session's webhook is the CLI's: its lease, secret and stream
    belong together (app/services/listen_sessions.py), so changing or deleting it here
    would leave a CLI forwarding with a stale secret or to a webhook that is gone."""
    if webhook.is_listen_session:
        raise Conflict("this webhook belongs to a hookline listen session; it ends when the CLI stops")
    return webhook


def _grace(value: object) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= MAX_GRACE:
        raise InvalidInput("grace_seconds", f"must be a number of seconds from 0 (the old secret stops at once) to {MAX_GRACE} (7 days)")
    return float(value)


def _live():
    return Webhook.select(Webhook, Tenant).join(Tenant).where(Webhook.deleted_at.is_null())


def delete_webhook(webhook_id: str, tenant_id: int | None, now: datetime) -> None:
    """Hide the webhook and cancel what it still had to send, in one transaction.

    The row stays (marked deleted) so its deliveries stay in the log, the cancelled ones
    included, with the reason. A send in flight finishes; its attempt is logged, but it
    cannot move the delivery out of `cancelled` (its lease no longer matches).
    """
    with write_transaction():
        webhook = _not_a_session(get_webhook(webhook_id, tenant_id, lock=True))
        Webhook.update(deleted_at=now, updated_at=now).where(Webhook.id == webhook.id).execute()
        Delivery.update(
            status=CANCELLED, next_attempt_at=None, lease_expires_at=None,
            last_error="cancelled: the webhook was deleted", updated_at=now,
        ).where((Delivery.webhook == webhook.id) & Delivery.status.in_([PENDING, DELIVERING])).execute()


def _url(value: object, settings: Settings) -> str:
    try:
        return check_webhook_url(value, settings.allow_http, settings.allow_private_networks)
    except UrlRejected as exc:
        raise InvalidInput("url", str(exc)) from None


def _name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("name", "required: a short label such as \"Billing service\"")
    if len(value) > 200:
        raise InvalidInput("name", "must be at most 200 characters")
    return value.strip()


def _description(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput("description", "must be a string")
    if len(value) > 2000:
        raise InvalidInput("description", "must be at most 2000 characters")
    return value


def _enabled(value: object) -> bool:
    return _flag("enabled", value)


def _flag(field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(field, "must be true or false")
    return value


def _headers(value: object, signed: frozenset[str]) -> dict[str, str]:
    """The webhook's own headers, checked: not one that frames the request or carries a
    signature (`signed`, lower case), and values whose placeholders are known."""
    if not isinstance(value, dict):
        raise InvalidInput("headers", "must be an object of header names to values")
    if len(value) > MAX_HEADERS:
        raise InvalidInput("headers", f"at most {MAX_HEADERS} custom headers")
    for name, text in value.items():
        if problem := header_problem(name, text):
            raise InvalidInput(f"headers.{name}", f"{name!r} {problem}")
        if name.lower() in contracts.RESERVED_HEADERS or name.lower() in signed:
            raise InvalidInput(f"headers.{name}", f"{name!r} is set by Hookline and cannot be overridden")
        placeholders.checked_header_value(f"headers.{name}", text)
    return dict(value)


def _dropped_headers(given: dict, inherited: frozenset[str]) -> tuple[dict, list[str] | None]:
    """`headers` without its nulls, and the default headers the nulls drop (None: none):
    Hookline's, or one the webhook inherits (`inherited`, lower case: its tenant's or the
    installation's)."""
    dropped = [name for name, value in given.items() if value is None]
    for name in dropped:
        if not isinstance(name, str) or name.lower() not in DEFAULT_HEADER_NAMES | inherited:
            raise InvalidInput(f"headers.{name}", "only a default header (User-Agent, X-Webhook-Event, "
                                                  "X-Webhook-Timestamp, or one of the tenant's or the "
                                                  "installation's headers) can be dropped with null")
    return {name: value for name, value in given.items() if value is not None}, dropped or None


def _set_headers(webhook: Webhook, fields: dict, settings: Settings) -> dict:
    """Apply the `headers` and `secret_headers` of a create or a PATCH to `webhook` (its
    contract already changed), and return the columns that changed. A null in `headers`
    drops that default header."""
    changes = {}
    if isinstance(fields.get("headers"), dict):
        contract, _ = contract_of(webhook, installation_defaults(settings))
        inherited = frozenset(name.lower() for name, value in contract.inherited if value is not None)
        given, changes["dropped_headers"] = _dropped_headers(fields["headers"], inherited)
        fields = {**fields, "headers": given}
    changes["headers"] = _custom_headers(fields, webhook.headers or CustomHeaders(), _signed_headers(webhook, settings))
    for key, value in changes.items():
        setattr(webhook, key, value)
    return changes


def _custom_headers(fields: dict, stored: CustomHeaders, signed: frozenset[str]) -> CustomHeaders:
    """`headers` (without its nulls) and `secret_headers` of a create or a PATCH, checked, as they are stored.

    `headers` replaces all custom headers (absent: they stay). Secret values are shown
    masked (`••••1234`); one sent back as exactly that mask keeps its stored value, so a
    GET-then-PATCH or a saved form never overwrites a secret with its mask. A value kept
    that way must stay secret: making a header plain needs its value again, or the mask
    would be a way to read a secret back. `secret_headers` names the headers to keep
    secret besides the credentials that always are (absent: those secret before).
    """
    if "headers" in fields:
        given = fields["headers"]
        kept = _kept_secrets(given, stored) if isinstance(given, dict) else {}
        values = _headers({name: kept.get(name, value) for name, value in given.items()} if kept else given,
                          signed)
    else:
        values, kept = dict(stored), {name: stored[name] for name in stored.secret_names}
    if "secret_headers" in fields:
        marked = _secret_header_names(fields["secret_headers"], values)
    else:
        marked = stored.secret_names
    headers = CustomHeaders(values, secret=marked)
    exposed = [name for name in kept if not headers.is_secret(name)]
    if exposed:
        raise InvalidInput("secret_headers", f"{exposed[0]!r} holds a secret: to make it a plain header, "
                                             "send its whole value in headers too")
    return headers


def _signed_headers(webhook: Webhook, settings: Settings) -> frozenset[str]:
    """What no custom header may be: the Standard Webhooks headers, and those the webhook's
    contract as it applies signs into."""
    contract, _ = contract_of(webhook, installation_defaults(settings))
    return contracts.signature_headers_of(contract.signatures) | frozenset(contracts.STANDARD_HEADERS)


def _check_contract(webhook: Webhook, fields: dict, settings: Settings) -> None:
    """What only the whole contract can tell: the secret fits the signatures, and no stored
    header carries the name of a signature header the contract now has."""
    _check_standard_secret(webhook, webhook.secret, settings, "secret" if "secret" in fields else "signatures")
    if "headers" not in fields:
        signed = _signed_headers(webhook, settings)
        clash = next((name for name in webhook.headers if name.lower() in signed), None)
        if clash is not None:
            raise InvalidInput("signatures", f"a signature header would replace the webhook's own header {clash!r}: "
                                             "rename or remove that header first")


def _check_envelope_format(webhook: Webhook) -> None:
    """An envelope shapes untemplated `standard` bodies; a chat format or a payload_template
    makes its own body, so a webhook's own envelope next to one would be ignored without a
    word: refused instead. (A tenant's envelope applies to its untemplated `standard`
    webhooks only.)"""
    if webhook.envelope is None:
        return
    if webhook.payload_format != "standard":
        raise InvalidInput("envelope", f"applies to the standard payload format only, not {webhook.payload_format}: "
                                       "set the envelope to null or the payload_format to standard")
    if webhook.payload_template is not None:
        raise InvalidInput("envelope", "a payload_template makes the whole body, so the envelope would never be "
                                       "used: set the envelope or the payload_template to null")


def _check_standard_secret(webhook: Webhook, secret: str, settings: Settings, field_name: str) -> None:
    contract, _ = contract_of(webhook, installation_defaults(settings))
    if contracts.needs_standard_secret(contract.signatures) and not contracts.is_standard_secret(secret):
        raise InvalidInput(field_name, contracts.STANDARD_SECRET_NEEDED)


def _tenant_defaults(tenant: Tenant | NamedTenant) -> Tenant:
    """The tenant row whose defaults a new webhook inherits (unsaved, without any, if new)."""
    if isinstance(tenant, Tenant):
        return tenant
    return find_tenant(tenant.slug) or Tenant(slug=tenant.slug)


def _kept_secrets(given: dict, stored: CustomHeaders) -> dict[str, str]:
    """The secrets sent back as their mask: name -> the stored value they keep."""
    kept = {}
    for name, value in given.items():
        if not isinstance(value, str) or not looks_masked(value):
            continue
        current = stored.get_case_insensitive(name)
        if current is None or not stored.is_secret(name) or value != mask(current):
            raise InvalidInput("headers", f"the value of {name!r} is masked ({MASK}) but is not the mask of its "
                                          "stored value: send the mask shown for it unchanged, or the whole new value")
        kept[name] = current
    return kept


def _secret_header_names(value: object, headers: dict[str, str]) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise InvalidInput("secret_headers", "must be a list of header names, such as [\"X-Custom-Auth\"]")
    present = {name.lower() for name in headers}
    for name in value:
        if name.lower() not in present:
            raise InvalidInput("secret_headers", f"{name!r} is not one of the webhook's headers")
    return value


def _events(value: object, settings: Settings) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        raise InvalidInput("events", "must be a non-empty list of event types, such as [\"order.created\"], [\"order.*\"] or [\"*\"]")
    for pattern in value:
        if not is_valid_pattern(pattern):
            raise InvalidInput("events", f"{pattern!r} is not an event type or a wildcard such as \"order.*\"")
    if settings.auto_register_event_types:
        return list(dict.fromkeys(value))
    exact = {pattern for pattern in value if not is_wildcard(pattern)}
    known = {name for (name,) in EventType.active().select(EventType.name).where(EventType.name.in_(exact)).tuples()}
    unknown = sorted(exact - known)
    if unknown:
        raise InvalidInput("events", f"unknown event type {unknown[0]!r}; see GET /api/v1/event-types")
    return list(dict.fromkeys(value))


def _options(fields: dict, settings: Settings) -> dict:
    """The per-webhook options present in `fields` but the template, checked; absent ones
    are left out."""
    parsers = {
        "filter": validate_filter,
        "timeout": lambda value: _timeout(value, settings),
        "retry_schedule": contracts.parse_retry_schedule,
        "rate_limit": _rate_limit,
        "max_in_flight": _max_in_flight,
        "ordered": _ordered,
        "payload_format": payloads.checked_format,
    }
    return {key: parser(fields[key]) for key, parser in parsers.items() if key in fields}


def _template(fields: dict, settings: Settings, events: list[str]) -> dict:
    """The payload_template in `fields`, checked on what the webhook receives; {} if absent."""
    if "payload_template" not in fields:
        return {}
    template = payloads.validate_template(fields.get("payload_format", "standard"), fields["payload_template"],
                                          _example_event(events), settings)
    return {"payload_template": template}


def _number(field: str, value: object, low: float, high: float, what: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidInput(field, f"must be {what} from {low:g} to {high:g}, or null for the default")
    return float(value)


def _timeout(value: object, settings: Settings) -> float | None:
    """Below lease_seconds too: a send still running when its lease ends would be claimed
    and sent a second time by another sweep."""
    if isinstance(value, str):
        value = _duration("timeout", value)
    return _number("timeout", value, 0.1, min(60, settings.lease_seconds - 1), "a number of seconds")


def _rate_limit(value: object) -> float | None:
    return _number("rate_limit", value, 0.1, 10000, "deliveries per second")


def _max_in_flight(value: object) -> int | None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 1000):
        raise InvalidInput("max_in_flight", "must be a whole number of concurrent requests from 1 to 1000, or null for the default")
    return value


def _duration(field: str, value: object, where: str = "") -> float:
    try:
        return durations.parse(value)
    except ValueError as exc:
        raise InvalidInput(field, f"{where}{exc}") from None


def _ordered(value: object) -> bool:
    return _flag("ordered", value)


def _example_event(events: list[str] | None) -> dict:
    """A sample event for checking a template: a subscribed type's example from the catalog."""
    examples = EventType.active().where(EventType.example.is_null(False))
    found = next((t for t in examples if matches(events or ["*"], t.name)), None)
    return formats.sample_event(found.name, found.example) if found else formats.sample_event()
