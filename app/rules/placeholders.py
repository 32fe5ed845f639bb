"""A delivery's placeholders, pure: the text templates of headers and signed content, the
JSON template of a body (`envelope`), and what a delivery says about its event (`Message`).

- Text: `{placeholder}`s in text, `{{` and `}}` for literal braces. A header value may name
  what an attempt knows (`{event.type}`, `{delivery.id}`, `{timestamp}`, `{attempt}`...);
  a signature's `value` and `content` add `{digest}` and `{body}` (app/rules/contracts.py).
- Envelope: a JSON object. A string that is exactly one placeholder becomes that value as
  JSON (`"{event.data}"` is the event's data, not a string); placeholders in longer
  strings are replaced as text; everything else is copied.

Templates are not code: a placeholder is a name from a fixed list, looked up once, so a
render is one pass over pieces compiled when the template was saved, linear in the
template and the values it copies. An unknown placeholder is refused at save, naming its
path (`envelope.shop.name`).

The envelope is the same bytes at every retry: only what is fixed for a delivery may go in
it, never `{attempt}` or `{timestamp}` (those may go in headers and signed content).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from app.rules import jsontext
from app.rules.errors import InvalidInput

MAX_TEMPLATE_CHARS = 500  # of one header value, `value` or `content` template
MAX_ENVELOPE_CHARS = 20_000  # of the envelope's JSON text
MAX_ENVELOPE_PLACEHOLDERS = 64
# What an attempt's headers and signed content may say about it.
ATTEMPT_PLACEHOLDERS = ("event.id", "event.type", "delivery.id", "webhook.id", "tenant", "timestamp", "attempt")
# What a body may say: fixed for a delivery, so every retry sends the same bytes.
ENVELOPE_PLACEHOLDERS = ("event.id", "event.type", "event.time", "event.data", "tenant", "webhook.id",
                         "webhook.name", "delivery.id")
DATA_PREFIX = "event.data."
_PIECE = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_DATA_PATH = re.compile(r"^[^.{}\s]+(\.[^.{}\s]+)*$")


class TemplateProblem(ValueError):
    """What is wrong with a text template, said to follow its field's name."""


@dataclass(frozen=True)
class TextTemplate:
    """Text with `{placeholder}`s; `{{` and `}}` are literal braces. `pieces` alternate
    literal text and placeholder names, literal first: ("t=", "timestamp", ",v1=", "digest", "")."""

    pieces: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return self.pieces[1::2]

    @property
    def is_literal(self) -> bool:
        return len(self.pieces) == 1

    def render(self, values: Mapping[str, str]) -> str:
        pieces = self.pieces
        if len(pieces) == 1:
            return pieces[0]
        if len(pieces) == 3:  # the usual shape: "sha256={digest}", "{event.type}"
            return pieces[0] + values[pieces[1]] + pieces[2]
        pieces = list(pieces)
        pieces[1::2] = [values[name] for name in self.names]
        return "".join(pieces)

    def split(self, name: str) -> tuple[TextTemplate, TextTemplate]:
        """The template before and after its one `name` placeholder (`{body}`, `{digest}`)."""
        at = 1 + 2 * self.names.index(name)
        return TextTemplate(self.pieces[:at]), TextTemplate(self.pieces[at + 1:])


def parse_text(text: str, allowed: Sequence[str], max_chars: int = MAX_TEMPLATE_CHARS,
               data_paths: bool = False) -> TextTemplate:
    """A text template whose placeholders are all in `allowed` (and `{event.data.<path>}`
    with `data_paths`); TemplateProblem says what is wrong."""
    if len(text) > max_chars:
        raise TemplateProblem(f"must be at most {max_chars} characters")
    pieces, literal, position = [], [], 0
    for match in _PIECE.finditer(text):
        literal.append(text[position:match.start()])
        position = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            literal.append(token[0])
        elif match.group(1) is None:
            raise TemplateProblem(f"has a lone {token!r} at character {match.start() + 1}: write {token * 2} "
                                  f"for a literal {token}")
        else:
            name = match.group(1)
            if name not in allowed and not (data_paths and _is_data_path(name)):
                shown = ", ".join("{" + a + "}" for a in allowed) + (", {event.data.<path>}" if data_paths else "")
                raise TemplateProblem(f"has an unknown placeholder {{{name}}} (known: {shown}; {{{{ and }}}} "
                                      "for literal braces)")
            pieces += ["".join(literal), name]
            literal = []
    literal.append(text[position:])
    return TextTemplate((*pieces, "".join(literal)))


def _is_data_path(name: str) -> bool:
    return name.startswith(DATA_PREFIX) and bool(_DATA_PATH.match(name.removeprefix(DATA_PREFIX)))


@functools.lru_cache(maxsize=4096)
def header_template(value: str) -> TextTemplate:
    """A custom header's value as a template. Cached: a webhook's few values come back at
    every claim. A value saved before headers had placeholders, that is no template
    (a lone `{`), is sent as it was written."""
    try:
        return parse_text(value, ATTEMPT_PLACEHOLDERS, max_chars=len(value))
    except TemplateProblem:
        return TextTemplate((value,))


def checked_header_value(field_name: str, value: str) -> str:
    try:
        parse_text(value, ATTEMPT_PLACEHOLDERS, max_chars=len(value))
    except TemplateProblem as exc:
        raise InvalidInput(field_name, str(exc)) from None
    return value


# -- envelopes --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Value:
    """A string that was exactly one placeholder: that value as JSON."""

    name: str


@dataclass(frozen=True)
class _Text:
    """A string with placeholders in longer text: a JSON string of the text."""

    template: TextTemplate


@dataclass(frozen=True)
class Envelope:
    """A compiled envelope: JSON text pieces between slots, so a render is one join.

    `text` is the template as written (canonical JSON), for the API and for caching."""

    text: str
    pieces: tuple[str | _Value | _Text, ...]
    uses_data_paths: bool = False

    def render(self, message: Message) -> bytes:
        out = []
        for piece in self.pieces:
            if type(piece) is str:
                out.append(piece)
            elif type(piece) is _Value:
                out.append(message.json_value(piece.name))
            else:
                out.append(jsontext.dumps(piece.template.render(_TextValues(message))))
        return "".join(out).encode()

    @property
    def names(self) -> tuple[str, ...]:
        names = []
        for piece in self.pieces:
            if type(piece) is _Value:
                names.append(piece.name)
            elif type(piece) is _Text:
                names.extend(piece.template.names)
        return tuple(names)


def parse_envelope(value: object, field_name: str = "envelope") -> Envelope:
    """An envelope template (a JSON object), compiled; InvalidInput names the path."""
    if not isinstance(value, dict):
        raise InvalidInput(field_name, 'must be a JSON object, such as {"event": "{event.type}", "data": "{event.data}"}')
    try:
        text = jsontext.dumps(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(field_name, f"is not JSON: {exc}") from None
    if len(text) > MAX_ENVELOPE_CHARS:
        raise InvalidInput(field_name, f"must be at most {MAX_ENVELOPE_CHARS} characters of JSON")
    compiler = _EnvelopeCompiler()
    compiler.emit(value, field_name)
    pieces = compiler.pieces()
    if compiler.slots > MAX_ENVELOPE_PLACEHOLDERS:
        raise InvalidInput(field_name, f"may hold at most {MAX_ENVELOPE_PLACEHOLDERS} placeholders")
    return Envelope(text, pieces, compiler.data_paths)


@functools.lru_cache(maxsize=1024)
def compiled_envelope(text: str) -> Envelope:
    """A stored envelope (checked when saved), compiled once per distinct text."""
    return parse_envelope(jsontext.loads_stored(text))


class _EnvelopeCompiler:
    """Writes a JSON value as compact JSON text, leaving slots where placeholders go."""

    def __init__(self):
        self._out: list[str | _Value | _Text] = []
        self.slots = 0
        self.data_paths = False

    def emit(self, value: object, path: str) -> None:
        if isinstance(value, dict):
            self._out.append("{")
            for index, (key, child) in enumerate(value.items()):
                self._out.append(("," if index else "") + jsontext.dumps(key) + ":")
                self.emit(child, f"{path}.{key}")
            self._out.append("}")
        elif isinstance(value, list):
            self._out.append("[")
            for index, child in enumerate(value):
                if index:
                    self._out.append(",")
                self.emit(child, f"{path}[{index}]")
            self._out.append("]")
        elif isinstance(value, str):
            self._string(value, path)
        else:
            self._out.append(jsontext.dumps(value))

    def _string(self, value: str, path: str) -> None:
        try:
            template = parse_text(value, ENVELOPE_PLACEHOLDERS, max_chars=MAX_ENVELOPE_CHARS, data_paths=True)
        except TemplateProblem as exc:
            raise InvalidInput(path, str(exc) + _not_in_body(value)) from None
        self.slots += len(template.names)
        self.data_paths |= any(name.startswith(DATA_PREFIX) for name in template.names)
        if template.is_literal:
            self._out.append(jsontext.dumps(template.pieces[0]))
        elif template.pieces[0] == "" and template.pieces[2] == "" and len(template.pieces) == 3:
            self._out.append(_Value(template.names[0]))
        else:
            self._out.append(_Text(template))

    def pieces(self) -> tuple[str | _Value | _Text, ...]:
        merged: list[str | _Value | _Text] = []
        for piece in self._out:
            if type(piece) is str and merged and type(merged[-1]) is str:
                merged[-1] += piece
            else:
                merged.append(piece)
        return tuple(merged)


def _not_in_body(value: str) -> str:
    if "{attempt}" in value or "{timestamp}" in value:
        return ("; the body is the same bytes at every retry, so {attempt} and {timestamp} may go in headers "
                "and signed content only")
    return ""


# -- what a request says about its event -------------------------------------------------


def event_time(created_at: datetime) -> str:
    """ISO 8601 UTC with microseconds, as Hookline's own envelope writes `timestamp`."""
    return created_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def standard_envelope(event_id: str, type_name: str, created_at: datetime, data: str) -> bytes:
    """Hookline's envelope: `{"id","type","timestamp","data"}` as compact JSON, `data`
    spliced in as stored so every retry sends the same bytes. Written by json itself (non-ASCII
    escaped), as it always was."""
    head = json.dumps({"id": event_id, "type": type_name, "timestamp": event_time(created_at)}, separators=(",", ":"))
    return (head[:-1] + ',"data":' + data + "}").encode()


@dataclass(eq=False)
class Message:
    """One delivery's event and whose it is: what placeholders of bodies and headers say.

    `data` is the event's data as stored (compact JSON text): `{event.data}` splices it
    as it is, and it is parsed (once) only for `{event.data.<path>}`."""

    event_id: str
    event_type: str
    created_at: datetime
    data: str
    tenant: str
    webhook_id: str
    webhook_name: str
    delivery_id: str
    _parsed: object = field(default=None, repr=False)
    _is_parsed: bool = field(default=False, repr=False)

    def text(self, name: str) -> str:
        """A placeholder's value inside a longer string."""
        if name == "event.time":
            return event_time(self.created_at)
        if name.startswith("event.data"):
            value = self._at(name)
            return "" if value is None else value if isinstance(value, str) else jsontext.dumps(value)
        return getattr(self, _FIELDS[name])

    def json_value(self, name: str) -> str:
        """A placeholder's value as JSON text, for a string that is only it."""
        if name == "event.data":
            return self.data
        if name.startswith(DATA_PREFIX):
            return jsontext.dumps(self._at(name))
        return jsontext.dumps(self.text(name))

    def _at(self, name: str) -> object:
        if not self._is_parsed:
            self._parsed, self._is_parsed = jsontext.loads_stored(self.data), True
        value = self._parsed
        for part in name.split(".")[2:]:
            if isinstance(value, dict):
                value = value.get(part)
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return None
        return value


_FIELDS = {"event.id": "event_id", "event.type": "event_type", "tenant": "tenant", "webhook.id": "webhook_id",
           "webhook.name": "webhook_name", "delivery.id": "delivery_id"}


class _TextValues(Mapping[str, str]):
    """A message's placeholders as text, looked up only for the names a template holds."""

    __slots__ = ("_message",)

    def __init__(self, message: Message):
        self._message = message

    def __getitem__(self, name: str) -> str:
        return self._message.text(name)

    def __iter__(self):
        return iter(ENVELOPE_PLACEHOLDERS)

    def __len__(self) -> int:
        return len(ENVELOPE_PLACEHOLDERS)


def attempt_values(message: Message, timestamp: int, attempt: int) -> dict[str, str]:
    """The placeholders of an attempt's headers and signed content."""
    return {"event.id": message.event_id, "event.type": message.event_type, "delivery.id": message.delivery_id,
            "webhook.id": message.webhook_id, "tenant": message.tenant, "timestamp": str(timestamp),
            "attempt": str(attempt)}
