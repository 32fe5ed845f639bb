"""Errors that services raise and the web layer turns into 4xx answers, and the one check
for fields a request may not send."""

from __future__ import annotations

from collections.abc import Collection, Iterable


class ServiceError(Exception):
    status_code = 400

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(ServiceError):
    """A request value breaks a rule; `field` names it (dotted for nested values)."""

    status_code = 422

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}", field)


class NotFound(ServiceError):
    status_code = 404


class Conflict(ServiceError):
    status_code = 409


class Forbidden(ServiceError):
    status_code = 403


class Unauthorized(ServiceError):
    status_code = 401


class BadRequest(ServiceError):
    """Malformed HTTP input (400), too large (413) or of the wrong content type (415)."""

    def __init__(self, message: str, status_code: int = 400):
        super().__init__(message)
        self.status_code = status_code


class TooManyRequests(ServiceError):
    """A rate limit (app/rules/ratelimit.py) refused the request; `retry_after` is in seconds."""

    status_code = 429

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after


def first_unknown(fields: Iterable[str], allowed: Collection[str]) -> str | None:
    """The first name of `fields` (in sorted order, so the answer does not depend on how the
    client ordered its JSON) that `allowed` does not hold; None if all are allowed."""
    return min((name for name in fields if name not in allowed), default=None)


def reject_unknown(fields: Iterable[str], allowed: Collection[str], prefix: str = "") -> None:
    """Refuse a field no one reads: a typo (`evnets`) would otherwise be ignored in silence.
    The error names the field (below `prefix`) and lists the allowed ones, sorted."""
    name = first_unknown(fields, allowed)
    if name is not None:
        raise InvalidInput(prefix + name, f"unknown field (allowed: {', '.join(sorted(allowed))})")
