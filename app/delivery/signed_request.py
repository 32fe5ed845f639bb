"""The headers and body of one delivery attempt, from its webhook's resolved contract, pure.

The one place a request is put together: the sender (app/delivery/outbound.py) sends what
`build_request` makes, and the dashboard's preview shows what it makes for a sample event,
so the preview is byte for byte what a receiver gets. With Hookline's default contract it
makes exactly the request Hookline has always sent: Standard Webhooks headers, the
`X-Webhook-*` headers with `X-Webhook-Signature: sha256=<hex HMAC of "{timestamp}.{body}">`,
and the `{"id","type","timestamp","data"}` envelope.

Headers, in the order they are sent: the framing (`Content-Type`), the default headers that
the webhook neither overrides nor drops (`null` in the API), the webhook's own headers with
their placeholders filled in, and the signatures last: no other header can replace them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

from app import __version__
from app.config import Settings
from app.delivery.signing import SigningKeys, signature_headers
from app.rules.contracts import DEFAULT_SIGNATURES, AutoDisable, Layer, Resolved, Signature, resolve, signature_headers_of
from app.rules.placeholders import Envelope, Message, TextTemplate, attempt_values, header_template, standard_envelope

USER_AGENT = f"Hookline/{__version__}"
CONTENT_TYPE = "application/json"
# Sent unless a webhook's header of the same name replaces it or drops it (null).
DEFAULT_HEADERS = {"User-Agent": USER_AGENT, "X-Webhook-Event": "{event.type}", "X-Webhook-Timestamp": "{timestamp}"}
DEFAULT_HEADER_NAMES = frozenset(name.lower() for name in DEFAULT_HEADERS)


@dataclass(frozen=True)
class Contract:
    """A webhook's contract as it applies (app/rules/contracts.py `resolve`), with its headers."""

    signatures: tuple[Signature, ...] = DEFAULT_SIGNATURES
    envelope: Envelope | None = None  # None: Hookline's envelope
    headers: Mapping[str, str] = field(default_factory=dict)  # the webhook's own; values are templates
    dropped: frozenset[str] = frozenset()  # default headers it does not send, lower case

    @functools.cached_property
    def header_templates(self) -> tuple[tuple[str, TextTemplate | str], ...]:
        """Every header but the framing and the signatures, in order, as compiled templates
        (literal values as text): worked out once per contract (a claim makes one per
        webhook), not per attempt."""
        own = {name.lower() for name in self.headers}
        signed = signature_headers_of(self.signatures)
        defaults = [(name, value) for name, value in DEFAULT_HEADERS.items()
                    if name.lower() not in own and name.lower() not in self.dropped]
        kept = [(name, value) for name, value in self.headers.items() if name.lower() not in signed]
        templates = ((name, header_template(value)) for name, value in (*defaults, *kept))
        return tuple((name, template.pieces[0] if template.is_literal else template) for name, template in templates)


DEFAULT_CONTRACT = Contract()


@dataclass(frozen=True)
class Defaults:
    """The installation's contract (config.toml), under every tenant's."""

    layer: Layer = Layer()
    auto_disable: AutoDisable = AutoDisable()


HOOKLINE_DEFAULTS = Defaults()


def installation_defaults(settings: Settings) -> Defaults:
    return _defaults(settings.signatures, settings.envelope, settings.auto_disable_rule,
                     settings.auto_disable_failures, settings.auto_disable_period)


@functools.lru_cache(maxsize=16)
def _defaults(signatures: str, envelope: str, rule: str, failures: int, period: float) -> Defaults:
    auto_disable = AutoDisable("never", 0, 0) if rule == "never" or failures == 0 else AutoDisable(
        rule, failures, period if rule == "deliveries" else 0)
    return Defaults(Layer(signatures=signatures or None, envelope=envelope or None), auto_disable)


def contract_of(webhook, defaults: Defaults) -> tuple[Contract, Resolved]:
    """A webhook row's contract as it applies (its tenant row joined): precedence is
    `contracts.resolve`'s; the headers are the webhook's own."""
    tenant = webhook.tenant
    resolved = resolve(
        Layer(webhook.signatures, webhook.envelope, webhook.auto_disable, _schedule(webhook.retry_schedule)),
        Layer(tenant.signatures, tenant.envelope, tenant.auto_disable, _schedule(tenant.retry_schedule)),
        defaults.layer, defaults.auto_disable,
    )
    dropped = frozenset(name.lower() for name in webhook.dropped_headers or ())
    return Contract(resolved.signatures, resolved.envelope, webhook.headers, dropped), resolved


def _schedule(value: list | None) -> tuple[float, ...] | None:
    return None if value is None else tuple(value)


@dataclass(frozen=True)
class SignedRequest:
    headers: dict[str, str]
    body: bytes


def render_body(contract: Contract, message: Message) -> bytes:
    """The body of a `standard` delivery: the same bytes at every attempt."""
    if contract.envelope is None:
        return standard_envelope(message.event_id, message.event_type, message.created_at, message.data)
    return contract.envelope.render(message)


def build_request(
    contract: Contract, keys: SigningKeys, message: Message, timestamp: int, attempt: int, body: bytes | None = None,
) -> SignedRequest:
    """One attempt's request. `body`: already made (a chat format, a custom template);
    None renders the contract's envelope. `timestamp` is the attempt's unix time, `attempt`
    its number from 1. Raises signing.CannotSign when the keys do not fit the signatures."""
    if body is None:
        body = render_body(contract, message)
    values = attempt_values(message, timestamp, attempt)
    headers = {"Content-Type": CONTENT_TYPE}
    for name, template in contract.header_templates:
        headers[name] = template if type(template) is str else template.render(values)
    headers.update(signature_headers(contract.signatures, keys, message.event_id, timestamp, body, values))
    return SignedRequest(headers, body)
