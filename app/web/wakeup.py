"""Waking this process's sender after a write that made deliveries due."""

from __future__ import annotations

from starlette.requests import Request


def wake_sender(request: Request) -> None:
    """`serve --no-sender` (and tests that drive the dispatcher themselves) has none: the
    workers find the rows through LISTEN/NOTIFY on PostgreSQL, or on their next tick."""
    dispatcher = request.app.state.dispatcher
    if dispatcher is not None:
        dispatcher.wake()
