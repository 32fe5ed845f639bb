"""W3C Trace Context rules (app/rules/tracecontext.py), as tables: what is accepted and how it
is stored, what is refused and what the refusal says, and the child an attempt sends."""

from __future__ import annotations

import pytest

from app.rules.tracecontext import (
    InvalidTraceContext,
    TraceContext,
    attempt_headers,
    child_traceparent,
    new_span_id,
    parse_traceparent,
    parse_tracestate,
    trace_context,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
VALID = f"00-{TRACE}-{PARENT}-01"
FORMAT = "must be 00-<trace id"


@pytest.mark.parametrize(
    "header, stored",
    [
        (VALID, VALID),
        (f"00-{TRACE}-{PARENT}-00", f"00-{TRACE}-{PARENT}-00"),  # not sampled: flags kept
        (f"00-{TRACE}-{PARENT}-ff", f"00-{TRACE}-{PARENT}-ff"),  # unknown flags are kept too
        (f" {VALID}\t", VALID),  # optional white space around a header value
        (f"01-{TRACE}-{PARENT}-01", VALID),  # a later version, read as 00
        (f"cc-{TRACE}-{PARENT}-01-what-the-future-holds", VALID),
    ],
)
def test_traceparent_accepted(header, stored):
    assert parse_traceparent(header) == stored


@pytest.mark.parametrize(
    "header, problem",
    [
        ("", FORMAT),
        ("00", FORMAT),
        (f"00-{TRACE}-{PARENT}", FORMAT),  # no flags
        (f"00-{TRACE.upper()}-{PARENT}-01", FORMAT),  # the spec's hex is lowercase
        (f"00-{TRACE}-{PARENT.upper()}-01", FORMAT),
        (f"00-{TRACE[:-1]}-{PARENT}-01", FORMAT),  # 31 digits
        (f"00-{TRACE}0-{PARENT}-01", FORMAT),  # 33 digits
        (f"00-{TRACE}-{PARENT[:-1]}-01", FORMAT),
        (f"00-{TRACE}-{PARENT}-1", FORMAT),
        (f"00-{TRACE}-{PARENT}-01-extra", FORMAT),  # version 00 has exactly four fields
        (f"00_{TRACE}_{PARENT}_01", FORMAT),
        (f"0g-{TRACE}-{PARENT}-01", FORMAT),
        (f"01-{TRACE}-{PARENT}-01extra", FORMAT),  # a later version continues only after a dash
        (f"ff-{TRACE}-{PARENT}-01", "version ff is invalid"),
        (f"00-{'0' * 32}-{PARENT}-01", "the trace id must not be all zeros"),
        (f"00-{TRACE}-{'0' * 16}-01", "the parent id must not be all zeros"),
        (17, "must be a string"),
    ],
)
def test_traceparent_refused(header, problem):
    with pytest.raises(InvalidTraceContext) as refused:
        parse_traceparent(header)
    assert str(refused.value).startswith(problem)


MEMBER = "list member {} is not key=value"


@pytest.mark.parametrize(
    "header, stored",
    [
        ("rojo=00f067aa0ba902b7", "rojo=00f067aa0ba902b7"),
        ("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
        ("tenant1@vendor=x y", "tenant1@vendor=x y"),  # a multi-tenant key; spaces inside a value
        ("rojo=ends with a space ", "rojo=ends with a space"),  # the space is optional white space
        ("a-b_c*d/e=1,,  ,f=2", "a-b_c*d/e=1,f=2"),  # empty members are dropped
        ("", None),
        (" , ", None),
        (",".join(f"k{n}=v" for n in range(32)), ",".join(f"k{n}=v" for n in range(32))),
    ],
)
def test_tracestate_accepted(header, stored):
    assert parse_tracestate(header) == stored


@pytest.mark.parametrize(
    "header, problem",
    [
        ("rojo", MEMBER.format(1)),
        ("rojo=", MEMBER.format(1)),  # a value has at least one character
        ("Rojo=1", MEMBER.format(1)),  # keys are lowercase
        ("1rojo=1", MEMBER.format(1)),  # a simple key starts with a letter
        ("rojo=1,congo=a=b", MEMBER.format(2)),
        ("1tenant@Vendor=1", MEMBER.format(1)),
        ("rojo=caf\u00e9", MEMBER.format(1)),
        ("rojo=1,rojo=2", "list member 2 repeats the key 'rojo'"),
        (",".join(f"k{n}=v" for n in range(33)), "at most 32 list members"),
        (",".join(f"k{n}={'v' * 30}" for n in range(20)), "at most 512 characters"),
        (["rojo=1"], "must be a string"),
    ],
)
def test_tracestate_refused(header, problem):
    with pytest.raises(InvalidTraceContext) as refused:
        parse_tracestate(header)
    assert str(refused.value).startswith(problem)


@pytest.mark.parametrize(
    "traceparent, tracestate, outcome",
    [
        (None, None, None),
        (VALID, None, TraceContext(VALID)),
        (VALID, "rojo=1", TraceContext(VALID, "rojo=1")),
        (VALID, " ", TraceContext(VALID)),  # an empty list is no list
        (None, "rojo=1", "tracestate: sent without a traceparent"),
        ("bad", "rojo=1", "traceparent: must be 00-"),
        (VALID, "rojo", "tracestate: list member 1"),
    ],
)
def test_trace_context_names_the_header(traceparent, tracestate, outcome):
    if isinstance(outcome, str):
        with pytest.raises(InvalidTraceContext) as refused:
            trace_context(traceparent, tracestate)
        assert str(refused.value).startswith(outcome)
    else:
        assert trace_context(traceparent, tracestate) == outcome


def test_the_parts_of_a_stored_context():
    context = TraceContext(VALID)
    assert (context.trace_id, context.parent_id, context.flags) == (TRACE, PARENT, "01")


def test_a_child_keeps_the_trace_and_flags_and_takes_the_new_parent():
    assert child_traceparent(f"00-{TRACE}-{PARENT}-00", "b7ad6b7169203331") == f"00-{TRACE}-b7ad6b7169203331-00"


@pytest.mark.parametrize(
    "traceparent, tracestate, span_id, expected",
    [
        (None, None, None, {}),  # no context: no header, the request as before
        (None, None, "b7ad6b7169203331", {}),
        (VALID, None, "b7ad6b7169203331", {"traceparent": f"00-{TRACE}-b7ad6b7169203331-01"}),
        (VALID, "rojo=1,congo=2", "b7ad6b7169203331",
         {"traceparent": f"00-{TRACE}-b7ad6b7169203331-01", "tracestate": "rojo=1,congo=2"}),
    ],
)
def test_attempt_headers(traceparent, tracestate, span_id, expected):
    assert attempt_headers(traceparent, tracestate, span_id) == expected


def test_every_attempt_without_a_span_gets_a_new_random_parent():
    sent = [parse_traceparent(attempt_headers(VALID, None)["traceparent"]) for _ in range(50)]
    parents = {header[36:52] for header in sent}
    assert len(parents) == 50 and PARENT not in parents
    assert {header[:36] for header in sent} == {f"00-{TRACE}-"} and {header[52:] for header in sent} == {"-01"}


def test_new_span_ids_are_16_hex_digits():
    assert all(len(span) == 16 and int(span, 16) for span in (new_span_id() for _ in range(100)))
