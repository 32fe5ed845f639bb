"""Delivery contracts, pure: which signatures a webhook's requests carry, with which
secret, when a failing webhook is switched off, and which level's choice applies.

A contract lets Hookline serve a receiver that was written years ago for another system
without changing it: its signature header and scheme, its other headers, its envelope
(docs/contracts.md). Headers and envelopes are templates over a delivery's placeholders
(app/rules/placeholders.py); the signatures are here:

- `standard` is Standard Webhooks v1 (HMAC keyed by the base64 of a `whsec_` secret),
  `ed25519` its asymmetric v1a, `hmac` any HMAC a hand-written verifier checks, keyed by
  the secret's text as UTF-8: a header, a `value` template around `{digest}`, a `content`
  template around `{body}`, an algorithm and an encoding (app/delivery/signing.py signs).

Everything is checked at save, with the offending path named (`signatures[1].value`) in
the API's field-error type, so a contract that would fail or sign nothing is refused then,
not at 3 a.m. Each part is stored as canonical JSON text at the webhook, its tenant or the
installation; `resolve` picks, per part, the first level that sets it, and compiles each
distinct text once.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from app.rules import durations, jsontext
from app.rules.custom_headers import is_credential_name
from app.rules.errors import InvalidInput, reject_unknown
from app.rules.header_rules import header_problem
from app.rules.placeholders import (
    ATTEMPT_PLACEHOLDERS, Envelope, TemplateProblem, TextTemplate, checked_header_value, compiled_envelope, parse_envelope,
    parse_text,
)

SCHEMES = ("standard", "ed25519", "hmac")
ALGORITHMS = ("sha256", "sha1", "sha512")
ENCODINGS = ("hex", "base64")
# How an hmac header joins one value per live secret during a rotation; absent: the newest
# secret's value alone (a receiver that compares the whole header can check only one).
SEPARATORS = (",", " ", ", ", ";")
MAX_SIGNATURES = 5
MIN_SECRET_CHARS, MAX_SECRET_CHARS = 16, 256
SECRET_PREFIX = "whsec_"

# The Standard Webhooks headers: set by the `standard` and `ed25519` schemes only.
STANDARD_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
# How a request is framed: never a custom or a signature header.
FRAMING_HEADERS = ("content-type", "content-length", "content-encoding", "transfer-encoding", "host", "connection")
# The event's trace context, continued by every attempt (app/rules/tracecontext.py).
TRACE_HEADERS = ("traceparent", "tracestate")
# Set by Hookline on every request that needs them: never a custom or a signature header.
RESERVED_HEADERS = FRAMING_HEADERS + TRACE_HEADERS

# -- signatures ------------------------------------------------------------------------


@dataclass(frozen=True)
class Standard:
    """Standard Webhooks v1: `webhook-signature: v1,<base64 HMAC-SHA256>` keyed by a whsec_ secret."""

    scheme = "standard"


@dataclass(frozen=True)
class Ed25519:
    """Standard Webhooks v1a: `webhook-signature: v1a,<base64 Ed25519>` with the webhook's key pair."""

    scheme = "ed25519"


@dataclass(frozen=True)
class Hmac:
    """Any HMAC contract: `header: value(digest=encoding(HMAC(secret text, content(body))))`."""

    header: str
    value: TextTemplate  # around {digest}
    content: TextTemplate  # around {body}
    algorithm: str = "sha256"
    encoding: str = "hex"
    separator: str | None = None  # joins one value per live secret during a rotation

    scheme = "hmac"

    @functools.cached_property
    def parts(self) -> tuple[TextTemplate | str, ...]:
        """`content` before and after `{body}`, `value` before and after `{digest}`; the
        literal ones as plain text, so most attempts render nothing but the timestamp."""
        split = (*self.content.split("body"), *self.value.split("digest"))
        return tuple(part.pieces[0] if part.is_literal else part for part in split)


Signature = Standard | Ed25519 | Hmac
HMAC_FIELDS = ("scheme", "header", "value", "content", "algorithm", "encoding", "separator")


def parse_signatures(value: object, field_name: str = "signatures") -> tuple[Signature, ...]:
    """The `signatures` list of the API, checked; InvalidInput names the item and field."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_SIGNATURES:
        raise InvalidInput(field_name, f"must be a list of 1 to {MAX_SIGNATURES} signatures such as "
                                       '[{"scheme": "standard"}] or [{"scheme": "hmac", "header": "X-Signature"}]')
    parsed, headers = [], set()
    for index, item in enumerate(value):
        where = f"{field_name}[{index}]"
        signature = _parse_signature(item, where)
        if isinstance(signature, Hmac):
            if signature.header.lower() in headers:
                raise InvalidInput(f"{where}.header", f"{signature.header!r} is already the header of another signature")
            headers.add(signature.header.lower())
        elif signature in parsed:
            raise InvalidInput(f"{where}.scheme", f"{signature.scheme!r} is listed twice")
        parsed.append(signature)
    return tuple(parsed)


def _parse_signature(item: object, where: str) -> Signature:
    if not isinstance(item, dict):
        raise InvalidInput(where, 'must be an object such as {"scheme": "standard"}')
    scheme = item.get("scheme")
    if scheme not in SCHEMES:
        raise InvalidInput(f"{where}.scheme", f"must be one of {', '.join(SCHEMES)}")
    if scheme != "hmac":
        reject_unknown(item, ("scheme",), prefix=f"{where}.")
        return Standard() if scheme == "standard" else Ed25519()
    reject_unknown(item, HMAC_FIELDS, prefix=f"{where}.")
    header = item.get("header")
    if problem := header_problem(header, "x"):
        raise InvalidInput(f"{where}.header", f"{header!r} {problem}" if isinstance(header, str) else "required: "
                           "the name of the header that carries the signature, such as \"X-Signature\"")
    if header.lower() in RESERVED_HEADERS or header.lower() in STANDARD_HEADERS:
        raise InvalidInput(f"{where}.header", f"{header!r} is set by Hookline and cannot carry an hmac signature")
    value = _template_field(item, "value", "{digest}", where, ("digest", *ATTEMPT_PLACEHOLDERS))
    content = _template_field(item, "content", "{body}", where, ("body", *ATTEMPT_PLACEHOLDERS))
    algorithm = _choice(item, "algorithm", ALGORITHMS, where)
    encoding = _choice(item, "encoding", ENCODINGS, where)
    separator = item.get("separator")
    if separator is not None and separator not in SEPARATORS:
        raise InvalidInput(f"{where}.separator", "must be one of " + ", ".join(repr(s) for s in SEPARATORS) +
                           ", or absent (during a rotation the newest secret's value alone)")
    return Hmac(header, value, content, algorithm, encoding, separator)


def _template_field(item: dict, name: str, default: str, where: str, allowed: tuple[str, ...]) -> TextTemplate:
    text = item.get(name, default)
    needed = default[1:-1]
    if not isinstance(text, str):
        raise InvalidInput(f"{where}.{name}", f"must be a text template such as {default!r}")
    try:
        template = parse_text(text, allowed)
    except TemplateProblem as exc:
        raise InvalidInput(f"{where}.{name}", str(exc)) from None
    if template.names.count(needed) != 1:
        raise InvalidInput(f"{where}.{name}", f"must hold {default} exactly once (it has it "
                                              f"{template.names.count(needed)} times), e.g. {default!r}")
    return template


def _choice(item: dict, name: str, choices: tuple[str, ...], where: str) -> str:
    value = item.get(name, choices[0])
    if value not in choices:
        raise InvalidInput(f"{where}.{name}", f"must be one of {', '.join(choices)}")
    return value


def signatures_json(signatures: Sequence[Signature]) -> list[dict]:
    """The list as the API shows it, every hmac field spelled out (defaults included)."""
    shown = []
    for signature in signatures:
        if isinstance(signature, Hmac):
            item = {"scheme": "hmac", "header": signature.header, "value": _written(signature.value),
                    "content": _written(signature.content), "algorithm": signature.algorithm,
                    "encoding": signature.encoding}
            if signature.separator is not None:
                item["separator"] = signature.separator
            shown.append(item)
        else:
            shown.append({"scheme": signature.scheme})
    return shown


def _written(template: TextTemplate) -> str:
    """The template's text as written: literal braces doubled again."""
    pieces = [piece.replace("{", "{{").replace("}", "}}") for piece in template.pieces]
    pieces[1::2] = ["{" + name + "}" for name in template.names]
    return "".join(pieces)


def signature_headers_of(signatures: Sequence[Signature]) -> frozenset[str]:
    """The header names (lower case) these signatures set: no custom header may."""
    names = {s.header.lower() for s in signatures if isinstance(s, Hmac)}
    if any(not isinstance(s, Hmac) for s in signatures):
        names.update(STANDARD_HEADERS)
    return frozenset(names)


def needs_standard_secret(signatures: Sequence[Signature]) -> bool:
    return any(isinstance(s, Standard) for s in signatures)


# -- secrets ---------------------------------------------------------------------------


def checked_secret(value: object, field_name: str = "secret") -> str:
    """A secret a user brings: 16-256 visible ASCII characters (what their receivers
    already hold), or a Standard Webhooks `whsec_` + base64 one."""
    if isinstance(value, str) and value.startswith(SECRET_PREFIX) and _standard_key(value) is not None \
            and len(value) <= MAX_SECRET_CHARS:
        return value
    if not isinstance(value, str) or not MIN_SECRET_CHARS <= len(value) <= MAX_SECRET_CHARS \
            or not all("!" <= c <= "~" for c in value):
        raise InvalidInput(field_name, f"must be {MIN_SECRET_CHARS} to {MAX_SECRET_CHARS} visible ASCII characters "
                                       "(no spaces), or a Standard Webhooks secret (whsec_ + base64); leave it out "
                                       "and Hookline generates one")
    return value


def is_standard_secret(secret: str) -> bool:
    return secret.startswith(SECRET_PREFIX) and _standard_key(secret) is not None


def _standard_key(secret: str) -> bytes | None:
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        return None
    return key or None


STANDARD_SECRET_NEEDED = ("the standard scheme needs a Standard Webhooks secret (whsec_ followed by base64, as "
                          "Hookline generates): rotate to one, or sign with an hmac scheme")


# -- auto-disable ----------------------------------------------------------------------

AUTO_DISABLE_RULES = ("deliveries", "attempts", "never")
MAX_AUTO_DISABLE_FAILURES = 1000
MAX_AUTO_DISABLE_PERIOD = 30 * 86400


@dataclass(frozen=True)
class AutoDisable:
    """When the engine switches a failing webhook off (app/delivery/policy.py decides).

    `deliveries`: after `failures` deliveries in a row failed for good and nothing
    succeeded for `period` seconds (Hookline's rule). `attempts`: after `failures` failed
    attempts in a row, retries included (what many systems document: "disabled after 5
    failed attempts"). `never`: never."""

    rule: str = "deliveries"
    failures: int = 5
    period: float = 86400

    @property
    def counts_attempts(self) -> bool:
        return self.rule == "attempts"

    def as_json(self) -> dict:
        if self.rule == "never":
            return {"rule": "never"}
        shown = {"rule": self.rule, "failures": self.failures}
        return {**shown, "period": self.period} if self.rule == "deliveries" else shown


def parse_auto_disable(value: object, field_name: str = "auto_disable") -> AutoDisable:
    if not isinstance(value, dict) or value.get("rule") not in AUTO_DISABLE_RULES:
        raise InvalidInput(f"{field_name}.rule" if isinstance(value, dict) else field_name,
                           'must be {"rule": "deliveries", "failures": 5, "period": "24h"}, {"rule": "attempts", '
                           '"failures": 5} or {"rule": "never"}')
    rule = value["rule"]
    allowed = {"deliveries": ("rule", "failures", "period"), "attempts": ("rule", "failures"), "never": ("rule",)}
    reject_unknown(value, allowed[rule], prefix=f"{field_name}.")
    if rule == "never":
        return AutoDisable("never", 0, 0)
    failures = value.get("failures", 5)
    if type(failures) is not int or not 1 <= failures <= MAX_AUTO_DISABLE_FAILURES:
        raise InvalidInput(f"{field_name}.failures", f"must be a whole number from 1 to {MAX_AUTO_DISABLE_FAILURES}")
    if rule == "attempts":
        return AutoDisable("attempts", failures, 0)
    try:
        period = durations.parse(value.get("period", 86400))
    except ValueError as exc:
        raise InvalidInput(f"{field_name}.period", str(exc)) from None
    if period > MAX_AUTO_DISABLE_PERIOD:
        raise InvalidInput(f"{field_name}.period", "must be at most 30 days")
    return AutoDisable("deliveries", failures, period)


# -- retry schedules ---------------------------------------------------------------------

MAX_RETRIES = 20
MAX_RETRY_DELAY = 7 * 86400


def parse_retry_schedule(value: object, field_name: str = "retry_schedule") -> list[float] | None:
    """A webhook's or a tenant's schedule: the wait before each attempt, in seconds (entry
    0 only counts as an attempt: the first one's time is set when the event is emitted)."""
    if value is None:
        return None
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_RETRIES:
        raise InvalidInput(field_name, f"must be a list of 1 to {MAX_RETRIES} delays such as [0, \"5s\", \"5m\", "
                                       "\"2h\"], or null for the default")
    delays = []
    for index, item in enumerate(value):
        try:
            delay = durations.parse(item)
        except ValueError as exc:
            raise InvalidInput(field_name, f"[{index}] {exc}") from None
        if delay > MAX_RETRY_DELAY:
            raise InvalidInput(field_name, f"[{index}] {item!r} is longer than 7 days")
        delays.append(delay)
    return delays


def stored_parts(fields: Mapping[str, object]) -> dict[str, str | None]:
    """The contract parts present in `fields` (an API body), checked, as stored: canonical
    JSON text; null sets a part back to the level above."""
    parsers = {
        "signatures": lambda value: jsontext.dumps(signatures_json(parse_signatures(value))),
        "envelope": lambda value: parse_envelope(value).text,
        "auto_disable": lambda value: jsontext.dumps(parse_auto_disable(value).as_json()),
    }
    return {key: None if fields[key] is None else parser(fields[key]) for key, parser in parsers.items() if key in fields}


def shown_parts(signatures: str | None, envelope: str | None, auto_disable: str | None) -> dict[str, object]:
    """Stored contract parts as the API shows them (None: not set at this level)."""
    return {name: None if text is None else jsontext.loads_stored(text)
            for name, text in (("signatures", signatures), ("envelope", envelope), ("auto_disable", auto_disable))}


# -- default headers ---------------------------------------------------------------------

MAX_DEFAULT_HEADERS = 20


def stored_default_headers(value: object, signatures: Sequence[Signature]) -> str:
    """`value` checked by parse_default_headers against the headers `signatures` set, as
    the tenant row stores it (JSON text): saving and the settings page's preview agree."""
    return jsontext.dumps(parse_default_headers(value, signature_headers_of(signatures)))


def parse_default_headers(value: object, signed: frozenset[str] = frozenset(),
                          field_name: str = "headers") -> dict[str, str | None]:
    """A tenant's or the installation's default headers, checked: names to text templates
    over the attempt's placeholders, or null to drop a header of a level below (Hookline's
    `User-Agent`, `X-Webhook-Event`, `X-Webhook-Timestamp`, or the installation's). Not a
    header Hookline sets nor one the signatures `signed` (lower case) set, and not a
    credential: defaults are stored in clear, a credential belongs in a webhook's own
    headers, which are encrypted."""
    if not isinstance(value, dict) or len(value) > MAX_DEFAULT_HEADERS:
        raise InvalidInput(field_name, f"must be an object of at most {MAX_DEFAULT_HEADERS} header names to values "
                                       '(or null to drop one), such as {"X-Event": "{event.type}"}')
    for name, text in value.items():
        where = f"{field_name}.{name}"
        if problem := header_problem(name, "" if text is None else text):
            raise InvalidInput(where, f"{name!r} {problem}")
        if name.lower() in RESERVED_HEADERS or name.lower() in STANDARD_HEADERS or name.lower() in signed:
            raise InvalidInput(where, f"{name!r} is set by Hookline and cannot be overridden")
        if text is not None and is_credential_name(name):
            raise InvalidInput(where, f"{name!r} names a credential: set it on each webhook's headers, where it "
                                      "is stored encrypted and shown masked")
        if text is not None:
            checked_header_value(where, text)
    return dict(value)


def merged_headers(*levels: Iterable[tuple[str, str | None]]) -> tuple[tuple[str, str | None], ...]:
    """Header levels, lowest first, merged per name (without case, as HTTP compares
    names): a higher level's value replaces a lower one's and is sent where the higher
    level lists it; None drops it (kept in the result, so a level above still drops)."""
    merged: dict[str, tuple[str, str | None]] = {}
    for level in levels:
        for name, value in level:
            merged.pop(name.lower(), None)
            merged[name.lower()] = (name, value)
    return tuple(merged.values())


@functools.lru_cache(maxsize=1024)
def compiled_headers(text: str | None) -> tuple[tuple[str, str | None], ...]:
    return () if text is None else tuple(jsontext.loads_stored(text).items())


# -- one webhook's contract, resolved ----------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """One level's contract settings, as stored (JSON texts; None: not set at this level).
    Levels are the webhook, its tenant and the installation (config.toml)."""

    signatures: str | None = None
    envelope: str | None = None
    auto_disable: str | None = None
    retry_schedule: tuple[float, ...] | None = None
    headers: str | None = None  # default headers (a tenant's, the installation's)


@dataclass(frozen=True)
class Resolved:
    """What applies to a webhook: each part from the first level that sets it."""

    signatures: tuple[Signature, ...]
    envelope: Envelope | None  # None: Hookline's envelope
    auto_disable: AutoDisable
    retry_schedule: tuple[float, ...] | None  # None: the installation's retry_schedule
    # The tenant's default headers merged over the installation's (`merged_headers`; None
    # drops a header): Hookline's defaults lie under them, the webhook's own above.
    default_headers: tuple[tuple[str, str | None], ...] = ()


@functools.lru_cache(maxsize=4096)
def resolve(webhook: Layer, tenant: Layer, installation: Layer, default_auto_disable: AutoDisable) -> Resolved:
    """Precedence webhook > tenant > installation > Hookline's default, in this one place:
    each part from the first level that sets it, except the headers, which merge per
    name (the webhook's own headers, in Contract.header_templates, merge over these).
    Cached: the claim resolves every webhook it sends to, and the levels rarely change."""
    levels = (webhook, tenant, installation)
    signatures = next((level.signatures for level in levels if level.signatures is not None), None)
    envelope = next((level.envelope for level in levels if level.envelope is not None), None)
    auto_disable = next((level.auto_disable for level in levels if level.auto_disable is not None), None)
    return Resolved(
        signatures=DEFAULT_SIGNATURES if signatures is None else compiled_signatures(signatures),
        envelope=None if envelope is None else compiled_envelope(envelope),
        auto_disable=default_auto_disable if auto_disable is None else parse_auto_disable(
            jsontext.loads_stored(auto_disable)),
        retry_schedule=webhook.retry_schedule if webhook.retry_schedule is not None else tenant.retry_schedule,
        default_headers=merged_headers(compiled_headers(installation.headers), compiled_headers(tenant.headers)),
    )


@functools.lru_cache(maxsize=1024)
def compiled_signatures(text: str) -> tuple[Signature, ...]:
    return parse_signatures(jsontext.loads_stored(text))


DEFAULT_SIGNATURES: tuple[Signature, ...] = (
    Standard(),
    Hmac("X-Webhook-Signature", parse_text("sha256={digest}", ("digest",)),
         parse_text("{timestamp}.{body}", ("timestamp", "body"))),
)
