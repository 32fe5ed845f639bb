"""Request bodies per payload format: the signed envelope, or a chat message, pure.

`standard` sends the event envelope as stored. `slack`, `discord` and `teams` turn it into
a message in the receiver's own format (Slack Block Kit, Discord embeds, a Teams Adaptive
Card), so an incoming-webhook URL of those services works without glue code.

Messages are Jinja2 templates that produce JSON, rendered in the immutable sandbox: a
template is user input, so it must not reach Python internals (`''.__class__...`) or
change the event. Autoescape is off (the output is JSON, not HTML); values go in through
`tojson`, which is what keeps the output valid JSON whatever the event holds. A custom
template replaces the default one and is rendered against a sample event when saved, so
syntax errors and non-JSON output are reported then, not at 3 a.m. on a live event.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar

from jinja2 import TemplateError, TemplateSyntaxError, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from app.errors import InvalidInput
from app.models import PAYLOAD_FORMATS

log = logging.getLogger("hookline.formats")

MAX_TEMPLATE_CHARS = 20_000
MAX_FACTS = 10  # top-level scalar fields of `data` shown as fields/facts
MAX_EXPONENT = 64
MAX_REPEAT = 100_000  # characters or items one call or `*` may make
MAX_RANGE_STEPS = 10_000
# What a template's Python code may raise besides Jinja's own errors (`1/0`, a huge range, ...).
RENDER_ERRORS = (TemplateError, ValueError, TypeError, ArithmeticError, LookupError, RecursionError)

SLACK = """{
  "text": {{ ("Hookline: " ~ event.type) | tojson }},
  "blocks": [
    {"type": "section",
     "text": {"type": "mrkdwn", "text": {{ ("*" ~ (event.type | mrkdwn) ~ "*\\n```" ~ (event.data | pretty(2800) | mrkdwn) ~ "```") | tojson }}}},
    {"type": "context",
     "elements": [{"type": "mrkdwn", "text": {{ ("`" ~ event.id ~ "` · " ~ event.type ~ " · " ~ event.timestamp) | tojson }}}]}
  ]
}"""

DISCORD = """{
  "content": {{ ("Hookline: **" ~ event.type ~ "**") | tojson }},
  "embeds": [{
    "title": {{ event.type | tojson }},
    "description": {{ ("```json\\n" ~ (event.data | pretty(3900)) ~ "\\n```") | tojson }},
    "fields": [
      {"name": "Event id", "value": {{ event.id | tojson }}, "inline": true}
      {%- for name, value in facts %},
      {"name": {{ name | tojson }}, "value": {{ value | tojson }}, "inline": true}
      {%- endfor %}
    ],
    "timestamp": {{ event.timestamp | tojson }}
  }]
}"""

TEAMS = """{
  "type": "message",
  "attachments": [{
    "contentType": "application/vnd.microsoft.card.adaptive",
    "contentUrl": null,
    "content": {
      "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
      "type": "AdaptiveCard",
      "version": "1.4",
      "body": [
        {"type": "TextBlock", "text": {{ event.type | tojson }}, "weight": "Bolder", "size": "Medium", "wrap": true},
        {"type": "FactSet", "facts": [
          {"title": "Event id", "value": {{ event.id | tojson }}},
          {"title": "Time", "value": {{ event.timestamp | tojson }}}
          {%- for name, value in facts %},
          {"title": {{ name | tojson }}, "value": {{ value | tojson }}}
          {%- endfor %}
        ]},
        {"type": "TextBlock", "text": {{ (event.data | pretty(4000)) | tojson }}, "fontType": "Monospace", "wrap": true}
      ]
    }
  }]
}"""

DEFAULT_TEMPLATES = {"slack": SLACK, "discord": DISCORD, "teams": TEAMS}
SAMPLE_DATA = {"id": "ord_1001", "total": 129.5, "currency": "EUR", "customer": {"email": "ada@example.com"}}


def _tojson(value: object, indent: int | None = None) -> str:
    """JSON text of a value; an undefined name becomes `null` rather than an error."""
    return json.dumps(value, ensure_ascii=False, indent=indent, default=_undefined_as_null)


def _undefined_as_null(value: object) -> None:
    if isinstance(value, Undefined):
        return None
    raise TypeError(f"{type(value).__name__} is not JSON")


def _pretty(value: object, limit: int = 2000) -> str:
    """Indented JSON cut to `limit` characters (chat services cap message sizes)."""
    text = value if isinstance(value, str) else _tojson(value, indent=2)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mrkdwn(value: object) -> str:
    """Slack's three control characters, escaped as Slack asks."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with limits on what makes huge values or long loops.

    The sandbox stops templates reaching Python internals but not `{{ "x" * 10**10 }}`,
    `"x".ljust(10**10)` or nested `range` loops, which would stall or exhaust the sender
    that renders them. So numbers given to calls are capped, `*` `**` `%` are checked, the
    filters that pad or repeat text are left out, and all `range` calls of one render
    share a budget.
    """

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context, operator, left, right):
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"exponents above {MAX_EXPONENT} are not allowed")
        if operator == "%" and isinstance(left, str):
            raise SecurityError("use ~ to join text, not %")
        if operator == "*":
            sequence, count = (left, right) if isinstance(left, (str, list, tuple)) else (right, left)
            if isinstance(sequence, (str, list, tuple)) and isinstance(count, int) and len(sequence) * count > MAX_REPEAT:
                raise SecurityError("a repeated string or list may not be that long")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context, __obj, *args, **kwargs):  # dunder names, as the base: a call may pass `obj=`
        for value in (*args, *kwargs.values()):
            if isinstance(value, int) and abs(value) > MAX_REPEAT:
                raise SecurityError(f"numbers above {MAX_REPEAT} are not allowed in calls")
        return super().call(__context, __obj, *args, **kwargs)


_range_budget: ContextVar[list[int]] = ContextVar("range_budget")


def _range(*args: int) -> range:
    numbers = range(*args)
    budget = _range_budget.get()
    budget[0] -= len(numbers)
    if budget[0] < 0:
        raise SecurityError(f"loops over range() may run at most {MAX_RANGE_STEPS} steps in one template")
    return numbers


_environment = _Sandbox(autoescape=False)
for _name in ("batch", "center", "format", "indent", "slice", "wordwrap"):
    del _environment.filters[_name]
for _name in ("lipsum", "cycler", "joiner"):
    del _environment.globals[_name]
_environment.globals["range"] = _range
_environment.filters.update(tojson=_tojson, pretty=_pretty, mrkdwn=_mrkdwn)


def _context(envelope: dict) -> dict:
    data = envelope.get("data")
    scalars = data.items() if isinstance(data, dict) else ()
    facts = [(str(k), _pretty(v, 1000)) for k, v in scalars if not isinstance(v, (dict, list))][:MAX_FACTS]
    return {"event": envelope, "facts": facts}


def _render(template: str, envelope: dict) -> bytes:
    """The template's output as compact JSON bytes; TemplateError or ValueError if it fails."""
    token = _range_budget.set([MAX_RANGE_STEPS])
    try:
        text = _environment.from_string(template).render(_context(envelope))
    finally:
        _range_budget.reset(token)
    return json.dumps(json.loads(text, parse_constant=_not_json), ensure_ascii=False, separators=(",", ":")).encode()


def _not_json(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def request_body(payload_format: str, payload_template: str | None, envelope: bytes) -> bytes:
    """The bytes to send (and sign) for one delivery.

    A template that fails on this event (it passed its check on a sample when saved) must
    not stall the queue: the message is rendered with the format's default template and
    says so, and for `standard` the envelope goes out unchanged.
    """
    template = payload_template or DEFAULT_TEMPLATES.get(payload_format)
    if template is None:
        return envelope
    event = json.loads(envelope)
    try:
        return _render(template, event)
    except RENDER_ERRORS as exc:
        log.warning("payload template failed on event %s: %s", event.get("id"), exc)
        if payload_template is None or payload_format not in DEFAULT_TEMPLATES:
            return envelope
        note = {**event, "type": f"{event.get('type')} (custom template failed: {exc})"}
        return _render(DEFAULT_TEMPLATES[payload_format], note)


def sample_event(event_type: str = "order.created", data: object = None) -> dict:
    return {
        "id": "evt_sample", "type": event_type, "timestamp": "2026-01-01T12:00:00.000000Z",
        "data": SAMPLE_DATA if data is None else data,
    }


def checked_format(value: object) -> str:
    if value not in PAYLOAD_FORMATS:
        raise InvalidInput("payload_format", f"must be one of {', '.join(PAYLOAD_FORMATS)}")
    return value


def validate_template(payload_format: str, template: object, event: dict | None = None) -> str | None:
    """The template to store (None: the format's default), or InvalidInput saying what is wrong.

    It is rendered against `event` (an event type's example) or a sample, and the output
    must be JSON.
    """
    checked_format(payload_format)
    if template is None or (isinstance(template, str) and not template.strip()):
        return None
    if not isinstance(template, str) or len(template) > MAX_TEMPLATE_CHARS:
        raise InvalidInput("payload_template", f"must be text of at most {MAX_TEMPLATE_CHARS} characters")
    try:
        _render(template, event or sample_event())
    except RENDER_ERRORS as exc:
        raise InvalidInput("payload_template", _describe(exc)) from None
    return template


def _describe(exc: Exception) -> str:
    if isinstance(exc, TemplateSyntaxError):
        return f"line {exc.lineno}: {exc.message}"
    if isinstance(exc, json.JSONDecodeError):
        return f"the output is not JSON (line {exc.lineno} of the output: {exc.msg})"
    if isinstance(exc, TemplateError):
        return f"the template failed: {exc.message or type(exc).__name__}"
    return f"the template failed: {exc}"
