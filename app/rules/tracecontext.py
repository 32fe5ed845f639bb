"""W3C Trace Context (https://www.w3.org/TR/trace-context/), pure: parse what a producer sends
with an event, and make the `traceparent` of each attempt, a child of the event's.

A producer that emits inside a trace sends `traceparent` (and maybe `tracestate`); the
event keeps both, and every attempt sends `00-<the same trace id>-<a new span id>-<the same
flags>` with the event's `tracestate`, so the receiver's spans join the producer's trace.

Strict, because the API answers: the spec tells a vendor that receives an invalid header to
ignore it and start a new trace, which suits a proxy in the middle of a call. Hookline
stores the context for hours of retries; silently dropping a malformed one would lose the
producer's trace without anyone noticing, so an emit with one is refused (422) with the
header named. The one leniency is the spec's own: a future version (01-fe) is read as
version 00 where it agrees with it, and what we send is version 00.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
VERSION = "00"
_INVALID_VERSION = "ff"
_VERSION_00 = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
# A higher version: the fields of version 00, then more only after a dash.
_LATER_VERSION = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16

MAX_TRACESTATE_MEMBERS = 32
# The spec asks vendors to pass on at least 512 characters; longer lists may be cut.
MAX_TRACESTATE_CHARS = 512
_SIMPLE_KEY = r"[a-z][a-z0-9_\-*/]{0,255}"
_MULTI_TENANT_KEY = r"[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13}"
# Printable ASCII but `,` and `=`; may contain spaces, must not end with one.
_MEMBER = re.compile(rf"^(?:{_SIMPLE_KEY}|{_MULTI_TENANT_KEY})=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{{0,255}}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$")


class InvalidTraceContext(ValueError):
    """What is wrong with a header, said to follow its name (`header`, when known)."""

    def __init__(self, problem: str, header: str | None = None):
        super().__init__(f"{header}: {problem}" if header else problem)
        self.problem = problem
        self.header = header


@dataclass(frozen=True)
class TraceContext:
    """An event's trace context as stored: a valid version 00 `traceparent` and the `tracestate`
    to pass on with it (None: none was sent)."""

    traceparent: str
    tracestate: str | None = None

    @property
    def trace_id(self) -> str:
        return self.traceparent[3:35]

    @property
    def parent_id(self) -> str:
        return self.traceparent[36:52]

    @property
    def flags(self) -> str:
        return self.traceparent[53:55]


def parse_traceparent(text: str) -> str:
    """The header in version 00 form, or InvalidTraceContext saying why."""
    if not isinstance(text, str):
        raise InvalidTraceContext("must be a string like 00-<32 hex digits>-<16 hex digits>-<2 hex digits>")
    text = text.strip(" \t")
    found = _VERSION_00.match(text)
    if found is None and text[:2] != VERSION:
        found = _LATER_VERSION.match(text)
    if found is None:
        raise InvalidTraceContext("must be 00-<trace id: 32 lowercase hex digits>-<parent id: 16 lowercase hex "
                                  "digits>-<flags: 2 lowercase hex digits>")
    version, trace_id, parent_id, flags = found.group(1, 2, 3, 4)
    if version == _INVALID_VERSION:
        raise InvalidTraceContext("version ff is invalid")
    if trace_id == _ZERO_TRACE:
        raise InvalidTraceContext("the trace id must not be all zeros")
    if parent_id == _ZERO_SPAN:
        raise InvalidTraceContext("the parent id must not be all zeros")
    return f"{VERSION}-{trace_id}-{parent_id}-{flags}"


def parse_tracestate(text: str) -> str | None:
    """The list members, joined with `,` and without the optional spaces around them; None
    for an empty list. Duplicate keys are refused, as the spec's list cannot hold them."""
    if not isinstance(text, str):
        raise InvalidTraceContext("must be a string of key=value pairs separated by commas")
    members = [member.strip(" \t") for member in text.split(",")]
    members = [member for member in members if member]  # empty members are allowed and dropped
    if not members:
        return None
    if len(members) > MAX_TRACESTATE_MEMBERS:
        raise InvalidTraceContext(f"at most {MAX_TRACESTATE_MEMBERS} list members")
    keys = set()
    for position, member in enumerate(members, start=1):
        if not _MEMBER.match(member):
            raise InvalidTraceContext(f"list member {position} is not key=value (a key of lowercase letters, digits "
                                      "and _-*/ starting with a letter, optionally tenant@system; a value of "
                                      "printable ASCII but , and =, not ending with a space)")
        key = member.split("=", 1)[0]
        if key in keys:
            raise InvalidTraceContext(f"list member {position} repeats the key {key!r}")
        keys.add(key)
    joined = ",".join(members)
    if len(joined) > MAX_TRACESTATE_CHARS:
        raise InvalidTraceContext(f"at most {MAX_TRACESTATE_CHARS} characters")
    return joined


def trace_context(traceparent: object, tracestate: object) -> TraceContext | None:
    """Both headers as a producer sent them (None: absent). A `tracestate` alone is refused:
    the spec ties it to the `traceparent` it came with. Errors name the header."""
    if traceparent is None:
        if tracestate is not None:
            raise InvalidTraceContext(f"sent without a {TRACEPARENT}", TRACESTATE)
        return None
    try:
        parent = parse_traceparent(traceparent)
    except InvalidTraceContext as exc:
        raise InvalidTraceContext(exc.problem, TRACEPARENT) from None
    try:
        state = None if tracestate is None else parse_tracestate(tracestate)
    except InvalidTraceContext as exc:
        raise InvalidTraceContext(exc.problem, TRACESTATE) from None
    return TraceContext(parent, state)


def new_span_id() -> str:
    """16 random hex digits, never all zeros (the spec's invalid id)."""
    while (span_id := secrets.token_hex(8)) == _ZERO_SPAN:
        continue
    return span_id


def child_traceparent(traceparent: str, span_id: str) -> str:
    """The `traceparent` of a request made on behalf of `traceparent`'s span: the same trace
    and flags, `span_id` as the new parent. `traceparent` is in stored (version 00) form."""
    return f"{traceparent[:36]}{span_id}{traceparent[52:]}"


def attempt_headers(traceparent: str | None, tracestate: str | None, span_id: str | None = None) -> dict[str, str]:
    """The trace headers of one attempt of an event with this stored context: none for an
    event without one (the request is byte for byte what it was before trace context),
    else a child `traceparent` whose parent is `span_id` (the attempt's span, when spans
    are exported) or a new random one, and the event's `tracestate` unchanged."""
    if traceparent is None:
        return {}
    headers = {TRACEPARENT: child_traceparent(traceparent, span_id or new_span_id())}
    if tracestate:
        headers[TRACESTATE] = tracestate
    return headers
