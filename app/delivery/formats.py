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

Everything here is pure and imports nothing else of Hookline's but the JSON text rules
(app/rules/jsontext.py, pure too), so that a render process loads Jinja and these alone (20 MB
instead of 48). Numbers keep the digits the producer sent, through `tojson` as well. Where a tenant's template runs,
with what bounds on time and memory, is app/delivery/render_pool.py's concern; when, app/delivery/payloads.py's.
"""

from __future__ import annotations

import functools
import json
from contextvars import ContextVar

from jinja2 import TemplateError, TemplateSyntaxError, Undefined, pass_eval_context
from jinja2.filters import make_attrgetter
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from app.rules import jsontext

MAX_TEMPLATE_CHARS = 20_000
MAX_FACTS = 10  # top-level scalar fields of `data` shown as fields/facts
MAX_EXPONENT = 64
MAX_REPEAT = 100_000  # characters or items one call or `*` may make
MAX_RANGE_STEPS = 10_000
MAX_TEXT_CHARS = 1_000_000  # characters of a template's output, or of one text it joins or replaces
MAX_INDENT = 8
MAX_REASON_CHARS = 300  # of why a template failed

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
    if indent is not None and not (type(indent) is int and 0 <= indent <= MAX_INDENT):
        raise SecurityError(f"tojson's indent must be a whole number from 0 to {MAX_INDENT}")
    return jsontext.dumps(value, indent=indent, default=_undefined_as_null)


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


def _check_length(length: int) -> None:
    if length > MAX_TEXT_CHARS:
        raise SecurityError(f"a template may not make a text of more than {MAX_TEXT_CHARS:,} characters")


def _replaced_length(text: str | bytes, old: str | bytes, new: str | bytes, count: int = -1) -> int:
    found = text.count(old) if old else len(text) + 1
    return len(text) + (found if count < 0 else min(found, count)) * (len(new) - len(old))


def _replace(text: object, old: object, new: object, count: int | None = None) -> str:
    """Jinja's `replace` (autoescape is off), measured before the text is built: one
    `replace` could otherwise turn 100,000 characters into ten billion."""
    text, old, new, count = str(text), str(old), str(new), -1 if count is None else count
    _check_length(_replaced_length(text, old, new, count))
    return text.replace(old, new, count)


@pass_eval_context
def _join(eval_ctx, value, d: object = "", attribute: str | int | None = None) -> str:
    """Jinja's `join` (autoescape is off), measured before the text is built: a thousand
    references to one 100,000-character string join into 100 MB."""
    if attribute is not None:
        value = map(make_attrgetter(eval_ctx.environment, attribute), value)
    separator, items = str(d), [str(item) for item in value]
    _check_length(sum(map(len, items)) + len(separator) * max(len(items) - 1, 0))
    return separator.join(items)


def _joined_length(separator: str | bytes, items: list) -> int:
    return sum(len(item) for item in items if isinstance(item, (str, bytes))) + len(separator) * max(len(items) - 1, 0)


def _expanded_length(text: str | bytes, tabsize: int = 8) -> int:
    return len(text) + text.count("\t" if isinstance(text, str) else b"\t") * max(tabsize, 0)


# What the text methods that make long text from short arguments would make.
_MEASURES = {"join": _joined_length, "replace": _replaced_length, "expandtabs": _expanded_length}


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with limits on what makes huge values or long loops.

    The sandbox stops templates reaching Python internals but not `{{ "x" * 10**10 }}`,
    `"x".ljust(10**10)` or nested `range` loops, which would stall or exhaust the sender
    that renders them. So numbers given to calls are capped, `*` `**` `%` are checked, the
    filters that pad or repeat text are left out, all `range` calls of one render share a
    budget, and what `join`, `replace` and `expandtabs` would make (as filters or methods)
    is measured before it is made. `str.format` is refused: its padding is in the text.
    What no check here can see (text doubled in a loop, a loop over a long event field)
    is bounded by the render process's CPU and memory limits (app/delivery/render_pool.py).
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
        text = getattr(__obj, "__self__", None)
        measure = _MEASURES.get(getattr(__obj, "__name__", None)) if isinstance(text, (str, bytes)) else None
        if measure is not None:
            if measure is _joined_length and args:
                args = (list(args[0]), *args[1:])  # measured, then joined: an iterator is read once
            try:
                length = measure(text, *args, **kwargs)
            except TypeError:
                pass  # arguments the method refuses: the call itself says so
            else:
                _check_length(length)
        return super().call(__context, __obj, *args, **kwargs)

    def is_safe_attribute(self, obj, attr, value):
        if isinstance(obj, (str, bytes)) and attr in ("format", "format_map"):
            return False
        return super().is_safe_attribute(obj, attr, value)

    def wrap_str_format(self, value):
        return None  # no sandboxed str.format either: is_safe_attribute refuses it


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
_environment.filters.update(tojson=_tojson, pretty=_pretty, mrkdwn=_mrkdwn, replace=_replace, join=_join)
# Compiling is most of the cost of a render (~3 ms, against ~0.1-0.4 ms to render the
# default templates once compiled): each template text is compiled once per process.
_compiled = functools.lru_cache(maxsize=64)(_environment.from_string)


def _context(envelope: dict) -> dict:
    data = envelope.get("data")
    scalars = data.items() if isinstance(data, dict) else ()
    facts = [(str(k), _pretty(v, 1000)) for k, v in scalars if not isinstance(v, (dict, list))][:MAX_FACTS]
    return {"event": envelope, "facts": facts}


def render(template: str, envelope: bytes) -> bytes:
    """The template's output for this event, as compact JSON bytes. Raises whatever the
    template raises: a template is user code, any exception may come out of it."""
    return _render(template, jsontext.loads_stored(envelope))


def _render(template: str, event: dict) -> bytes:
    token = _range_budget.set([MAX_RANGE_STEPS])
    try:
        chunks, length = [], 0
        for chunk in _compiled(template).generate(_context(event)):
            length += len(chunk)
            _check_length(length)
            chunks.append(chunk)
    finally:
        _range_budget.reset(token)
    return jsontext.dumps(_output(("".join(chunks)))).encode()


def _output(text: str) -> object:
    """The output as a JSON value, its numbers with the digits the template wrote (those it
    copied from the event with `tojson` included). When it is not JSON, Python's reader
    runs again for its line and column, which tell the template's author where to look."""
    try:
        return jsontext.loads(text)
    except jsontext.JSONTextError:
        json.loads(text, parse_constant=_not_json)
        raise


def _not_json(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def default_body(payload_format: str, envelope: bytes) -> bytes:
    """The body without a custom template: the format's default message, or for `standard`
    the envelope unchanged."""
    template = DEFAULT_TEMPLATES.get(payload_format)
    return envelope if template is None else render(template, envelope)


def fallback_body(payload_format: str, envelope: bytes, reason: str) -> bytes:
    """The body when a custom template failed on this event (it passed its check on a
    sample when saved): the format's default message, saying so, or for `standard` the
    envelope unchanged. A failing template must not stall its webhook's queue."""
    if payload_format not in DEFAULT_TEMPLATES:
        return envelope
    event = jsontext.loads_stored(envelope)
    note = {**event, "type": f"{event.get('type')} (custom template failed: {reason})"}
    return _render(DEFAULT_TEMPLATES[payload_format], note)


def describe(exc: BaseException) -> str:
    """Why a template failed, for the person who wrote it (short: it goes into messages)."""
    if isinstance(exc, TemplateSyntaxError):
        reason = f"line {exc.lineno}: {exc.message}"
    elif isinstance(exc, json.JSONDecodeError):
        reason = f"the output is not JSON (line {exc.lineno} of the output: {exc.msg})"
    elif isinstance(exc, jsontext.JSONTextError):
        reason = f"the output is not JSON ({exc.reason})"
    elif isinstance(exc, TemplateError):
        reason = exc.message or type(exc).__name__
    else:
        reason = str(exc) or type(exc).__name__
    return reason if len(reason) <= MAX_REASON_CHARS else reason[: MAX_REASON_CHARS - 1] + "…"


def sample_event(event_type: str = "order.created", data: object = None) -> dict:
    return {
        "id": "evt_sample", "type": event_type, "timestamp": "2026-01-01T12:00:00.000000Z",
        "data": SAMPLE_DATA if data is None else data,
    }
