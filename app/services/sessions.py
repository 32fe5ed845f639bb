"""Browser sessions the server can end: one BrowserSession row per signed-in dashboard or
open portal session, found by the hash of the random token its cookie carries.

A signed cookie alone is valid until it expires, so a copy made before sign-out would keep
working; the row is what sign-out, a password change or a removed user deletes. Reading it
costs one primary-key lookup per page; writing last-seen happens at most once per
`touch_interval`, not on every request, so an open dashboard polling every 2 s does not
queue behind the sender for SQLite's write lock.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import peewee

from app.config import Settings
from app.storage.db import write_transaction
from app.storage.models import BrowserSession, Tenant, User

# Last-seen is written at most this often (and at most ten times per idle timeout), so
# an idle session ends within this much of session_idle_timeout.
TOUCH_INTERVAL = 60


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def touch_interval(idle_timeout: float) -> float:
    return min(TOUCH_INTERVAL, idle_timeout / 10)


def start_session(now: datetime, settings: Settings, *, user: User | None = None, tenant: Tenant | None = None) -> str:
    """A new session for `user` (the dashboard) or `tenant` (the portal); returns the token
    for its cookie. Ended sessions are deleted on the way, so the table holds live ones."""
    lifetime = settings.session_max_age if user is not None else settings.portal_session_ttl
    token = secrets.token_urlsafe(32)
    with write_transaction():
        BrowserSession.delete().where(BrowserSession.ended(now, settings.session_idle_timeout)).execute()
        BrowserSession.create(
            id=_digest(token), user=user, tenant=tenant,
            created_at=now, last_seen_at=now, expires_at=now + timedelta(seconds=lifetime),
        )
    return token


def resume_session(token: str, now: datetime, settings: Settings, *, portal: bool) -> BrowserSession | None:
    """The live session of a cookie's token, or None if it never existed, was ended, or is
    too old or idle (then it is deleted). A dashboard token never resumes a portal session
    or the other way round."""
    session = BrowserSession.get_or_none(BrowserSession.id == _digest(token))
    if session is None or (session.user_id is None) != portal:
        return None
    if session.has_ended(now, settings.session_idle_timeout):
        with write_transaction():
            session.delete_instance()
        return None
    if (now - session.last_seen_at).total_seconds() >= touch_interval(settings.session_idle_timeout):
        try:
            with write_transaction():
                BrowserSession.update(last_seen_at=now).where(BrowserSession.id == session.id).execute()
        except peewee.OperationalError:
            pass  # a busy database: the next request writes last-seen, this page still shows
    return session


def end_session(token: str) -> None:
    with write_transaction():
        BrowserSession.delete().where(BrowserSession.id == _digest(token)).execute()


def end_user_sessions(user: User) -> int:
    """Every session of `user`, in every browser; the caller's transaction, if any."""
    with write_transaction():
        return BrowserSession.delete().where(BrowserSession.user == user).execute()
