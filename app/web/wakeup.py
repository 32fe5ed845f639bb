"""Waking this process's sender after a write that made deliveries due."""

from __future__ import annotations

from starlette.requests import Request


def wake_sender(request: Request) -> None:
    """`serve --no-sender` (and tests that drive the dispatcher themselves) has none: the
    workers find the rows through LISTEN/NOTIFY on PostgreSQL, or on their next tick. The
    listen sessions held here push theirs at once; those of other processes find emits
    made here on their next tick (`sweep_interval`)."""
    dispatcher = request.app.state.dispatcher
    if dispatcher is not None:
        dispatcher.wake()
    request.app.state.listen_hub.wake()  # listen sessions' deliveries are this process's to push
