"""The dashboard's "delivery contract" fields, shared by the webhook form and the tenant
settings page: form fields to the API's shape and back, errors to the field that shows
them, and the presets that fill the fields.

The form spells a contract out in plain fields (a scheme per checkbox, the hmac scheme's
header, value, content, algorithm, encoding and separator, the envelope as JSON text, the
auto-disable rule), so nobody types the signatures list as JSON; what it sends to the
services is exactly what the API takes, so both are checked by the same rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.datastructures import FormData

from app.rules import durations, jsontext
from app.rules.errors import InvalidInput
from app.web.inputs import parse_json

DEFAULT_HEADERS = ("User-Agent", "X-Webhook-Event", "X-Webhook-Timestamp")
HMAC_PARTS = ("header", "value", "content", "algorithm", "encoding", "separator")
FIELDS = ("signatures_set", "sig_standard", "sig_ed25519", "sig_hmac", *(f"hmac_{p}" for p in HMAC_PARTS),
          "envelope", "auto_disable_rule", "auto_disable_failures", "auto_disable_period")
CHECKBOXES = ("sig_standard", "sig_ed25519", "sig_hmac")
HMAC_DEFAULTS = {"hmac_value": "{digest}", "hmac_content": "{body}", "hmac_algorithm": "sha256",
                 "hmac_encoding": "hex", "hmac_separator": ""}

# Form values each preset sets; `add_headers` are header lines the webhook form gains.
_HMAC = {"signatures_set": "custom", "sig_standard": False, "sig_ed25519": False, "sig_hmac": True, **HMAC_DEFAULTS}
PRESETS = {
    "Hookline default": {
        **_HMAC, "sig_standard": True, "hmac_header": "X-Webhook-Signature", "hmac_value": "sha256={digest}",
        "hmac_content": "{timestamp}.{body}", "envelope": "", "send_default": list(DEFAULT_HEADERS),
    },
    "body-only HMAC hex": {**_HMAC, "hmac_header": "X-Signature"},
    "GitHub style": {
        **_HMAC, "hmac_header": "X-Hub-Signature-256", "hmac_value": "sha256={digest}",
        "add_headers": ["X-GitHub-Event: {event.type}"],
    },
    "Stripe style": {
        **_HMAC, "hmac_header": "Stripe-Signature", "hmac_value": "t={timestamp},v1={digest}",
        "hmac_content": "{timestamp}.{body}", "hmac_separator": ",",
    },
}


def presets_json() -> dict[str, str]:
    """Preset name -> its values as JSON, for the buttons' data attribute (static/app.js)."""
    return {name: jsontext.dumps(values) for name, values in PRESETS.items()}


def preview_context(preview: object | None, problem: InvalidInput | None, url: str) -> dict:
    """What templates/webhooks/_preview.html shows: the request, or the problem that stops
    it, and where htmx posts the form to refresh it."""
    error = problem.message[:1].upper() + problem.message[1:] if problem else None
    return {"preview": preview, "preview_error": error, "preview_url": url}


def contract_fields(form: FormData) -> dict:
    """`signatures`, `envelope` and `auto_disable` as the API takes them (null: inherited)."""
    envelope = form.get("envelope", "").strip()
    return {
        "signatures": _signatures(form) if form.get("signatures_set") == "custom" else None,
        "envelope": parse_json(envelope, field="envelope") if envelope else None,
        "auto_disable": _auto_disable(form),
    }


def _signatures(form: FormData) -> list[dict]:
    chosen = [{"scheme": scheme} for scheme in ("standard", "ed25519") if form.get(f"sig_{scheme}")]
    if form.get("sig_hmac"):
        item = {"scheme": "hmac", **{part: form.get(f"hmac_{part}", "").strip() for part in HMAC_PARTS}}
        chosen.append({key: value for key, value in item.items() if value or key == "header"})
    if not chosen:
        raise InvalidInput("signatures", "choose at least one signature, or let the webhook inherit them")
    return chosen


def _auto_disable(form: FormData) -> dict | None:
    rule = form.get("auto_disable_rule", "")
    if not rule:
        return None
    value: dict = {"rule": rule}
    if rule != "never":
        failures = form.get("auto_disable_failures", "").strip()
        if failures:
            if not failures.isdigit():
                raise InvalidInput("auto_disable.failures", "must be a whole number")
            value["failures"] = int(failures)
    if rule == "deliveries" and form.get("auto_disable_period", "").strip():
        value["period"] = form.get("auto_disable_period").strip()
    return value


def default_headers_dropped(form: FormData) -> dict[str, None]:
    """The default headers unticked in the form, as the API drops them (null); none when
    the form has no such boxes (`default_headers` marks that it has)."""
    if not form.get("default_headers"):
        return {}
    kept = set(form.getlist("send_default"))
    return {name: None for name in DEFAULT_HEADERS if name not in kept}


def defaults_sent(dropped: Iterable[str]) -> list[str]:
    """The default headers' ticked boxes: those not `dropped` (names in any case)."""
    lowered = {name.lower() for name in dropped}
    return [name for name in DEFAULT_HEADERS if name.lower() not in lowered]


def headers_of(form: FormData) -> dict[str, str | None]:
    """The headers textarea with the unticked default headers dropped (null), as the API
    takes `headers`; a line that sets a default header sends it, ticked or not."""
    return {**default_headers_dropped(form), **parse_header_lines(form.get("headers", ""))}


def parse_header_lines(text: str) -> dict[str, str]:
    """A headers textarea (one `Name: value` per line, blank lines ignored) as names to values."""
    headers = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise InvalidInput("headers", f"line {number} is not 'Name: value'")
        headers[name.strip()] = value.strip()
    return headers


def header_lines(headers: dict[str, str]) -> str:
    """Headers as the textarea shows them, the opposite of `parse_header_lines`."""
    return "\n".join(f"{name}: {value}" for name, value in headers.items())


def form_values(signatures: str | None, envelope: str | None, auto_disable: str | None) -> dict:
    """Stored contract parts (JSON texts, None: inherited) as the form's fields."""
    values: dict = {"signatures_set": "inherit", **HMAC_DEFAULTS}
    if signatures is not None:
        values["signatures_set"] = "custom"
        for item in jsontext.loads_stored(signatures):
            values[f"sig_{item['scheme']}"] = True
            if item["scheme"] == "hmac":
                values.update({f"hmac_{part}": item.get(part, "") for part in HMAC_PARTS})
    values["envelope"] = jsontext.dumps(jsontext.loads_stored(envelope), indent=2) if envelope else ""
    if auto_disable is not None:
        rule = jsontext.loads_stored(auto_disable)
        values["auto_disable_rule"] = rule["rule"]
        values["auto_disable_failures"] = str(rule.get("failures", ""))
        values["auto_disable_period"] = durations.as_written(rule["period"]) if "period" in rule else ""
    return values


def values_as_sent(form: FormData) -> dict:
    """The contract fields of a refused form, to show it again as it was sent."""
    values = {key: form.get(key, "") for key in FIELDS if key not in CHECKBOXES}
    values.update({key: form.get(key) is not None for key in CHECKBOXES})
    values["send_default"] = form.getlist("send_default")
    return values


_SIGNATURE_ITEM = re.compile(r"^signatures\[(\d+)\]\.?(\w*)")


def error_field(exc: InvalidInput, form: FormData) -> str | None:
    """The form field that shows an error of the contract's parts (None: not one of them):
    `signatures[1].value` is the hmac scheme's value box when the hmac item is the second."""
    field = exc.field or ""
    if match := _SIGNATURE_ITEM.match(field):
        hmac_index = sum(1 for scheme in ("standard", "ed25519") if form.get(f"sig_{scheme}"))
        if int(match.group(1)) == hmac_index and form.get("sig_hmac") and match.group(2) in HMAC_PARTS:
            return f"hmac_{match.group(2)}"
        return "signatures"
    if field.startswith("auto_disable"):
        part = field.partition(".")[2]
        return f"auto_disable_{part}" if part in ("failures", "period") else "auto_disable_rule"
    if field == "signatures" or field.startswith("envelope") or field == "secret":
        return field.split(".")[0].split("[")[0]
    return None


def errors_of(exc: InvalidInput, form: FormData) -> dict[str, str] | None:
    """{form field: message} for an error of the contract's parts, else None."""
    field = error_field(exc, form)
    if field is None:
        return None
    reason = exc.message.removeprefix(f"{exc.field}: ")
    where = (exc.field or "").removeprefix(field) if field in ("envelope",) else ""
    return {field: f"{where.lstrip('.')}: {reason}" if where else reason}
