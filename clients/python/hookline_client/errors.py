"""What can go wrong, as types a caller can catch one by one.

Every answer of Hookline's API with a status of 400 or more becomes an `APIError` subclass
chosen by its status, carrying the server's own message and the `field` it named. Not
reaching the server at all is an `Unreachable`. Both are raised only after the retries the
policy allows (app code never sees a 503 that a second attempt would have fixed).
"""

from __future__ import annotations


class HooklineError(Exception):
    """The base of every error this package raises."""


class Unreachable(HooklineError):
    """No answer from Hookline: connection refused or reset, DNS, TLS, or a timeout.

    `request_sent` is False when the request certainly never reached the server (the
    connection could not be made), True when it may have been processed: only requests that
    are safe to repeat are retried then.
    """

    def __init__(self, message: str, *, request_sent: bool):
        super().__init__(message)
        self.message = message
        self.request_sent = request_sent


class Timeout(Unreachable):
    """The server did not answer within the client's timeout."""


class APIError(HooklineError):
    """Hookline answered with an error. `status` is the HTTP status, `message` the server's
    explanation, `field` the input it named (dotted, `data.items[2].price`, or
    `events[3].type` in a batch) or None, `retry_after` the seconds it asked to wait."""

    def __init__(self, status: int, message: str, field: str | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, message={self.message!r}, field={self.field!r})"


class BadRequest(APIError):
    """400, 405, 415 or 431: the request itself was malformed (a bug on the calling side)."""


class AuthError(APIError):
    """401: the API key is missing, unknown or revoked."""


class PermissionDenied(APIError):
    """403: the key may not do this (another tenant, or the catalog without an admin key)."""


class NotFound(APIError):
    """404: no such id (ids of another tenant look the same)."""


class Conflict(APIError):
    """409: an idempotency key reused for a different event, an attempt in flight, a name taken."""


class TooLarge(APIError):
    """413: the body, or one event of a batch, is larger than the server accepts."""


class InvalidInput(APIError):
    """422: a value breaks a rule; `field` names it."""


class InvalidEvent(InvalidInput):
    """422 for an emitted event: unknown or archived type, data that is not strict JSON, ..."""


class RateLimited(APIError):
    """429: over the emit rate limit; `retry_after` says for how long."""


class Unavailable(APIError):
    """503: the server's database is busy or down; nothing was stored."""


class ServerError(APIError):
    """Any other status of 500 or more."""


class SpoolError(HooklineError):
    """The local spool cannot take the event (the disk is full, the file unwritable...)."""


class SpoolFull(SpoolError):
    """A limit of the spool (events, bytes or the age of its oldest event) would be
    exceeded: Hookline has been unreachable for too long. Nothing of the refused emit was
    written; earlier events stay in the spool and are still delivered."""


class SpoolLocked(SpoolError):
    """Another client (in this process or another) has the spool file open: two senders
    of one spool would interleave its events."""


class Closed(HooklineError):
    """The client was closed."""
