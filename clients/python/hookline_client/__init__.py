"""Hookline's Python client: emit events that are retried safely and, with a spool, never lost.

    from hookline_client import Hookline

    with Hookline("https://hookline.example.com", api_key) as hookline:
        emitted = hookline.emit("order.created", {"id": "ord_1001", "total": 4990})

`AsyncHookline` is the same for asyncio. README.md explains retries and the spool.
"""

__version__ = "0.1.0"

from hookline_client._async import AsyncHookline  # noqa: E402 - after __version__, which _http reads
from hookline_client._core import PartialBatch, RetryPolicy  # noqa: E402
from hookline_client._spool import SpoolLimits  # noqa: E402
from hookline_client._sync import Hookline  # noqa: E402
from hookline_client.errors import (  # noqa: E402
    APIError, AuthError, BadRequest, Closed, Conflict, HooklineError, InvalidEvent, InvalidInput, NotFound,
    PermissionDenied, RateLimited, ServerError, SpoolError, SpoolFull, SpoolLocked, Timeout, TooLarge, Unavailable,
    Unreachable,
)
from hookline_client.types import (  # noqa: E402
    Attempt, CreatedWebhook, Delivery, DeliveryDetail, DeliveryPage, Emitted, Event, EventType, Spooled, TestSend,
    Webhook, WebhookFields,
)

__all__ = [
    "APIError", "AsyncHookline", "Attempt", "AuthError", "BadRequest", "Closed", "Conflict", "CreatedWebhook",
    "Delivery", "DeliveryDetail", "DeliveryPage", "Emitted", "Event", "EventType", "Hookline", "HooklineError",
    "InvalidEvent", "InvalidInput", "NotFound", "PartialBatch", "PermissionDenied", "RateLimited", "RetryPolicy",
    "ServerError", "SpoolError", "SpoolFull", "SpoolLimits", "SpoolLocked", "Spooled", "TestSend", "Timeout",
    "TooLarge", "Unavailable", "Unreachable", "Webhook", "WebhookFields",
]
