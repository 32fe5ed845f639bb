"""Portal links: a signed, short-lived, single-use URL that opens the dashboard for one
tenant, so an app can give its own customers webhook settings without Hookline accounts.

The signature (itsdangerous, with a key derived from the encryption key, never stored:
app/services/server_secrets.py) makes links unforgeable, even by someone holding a copy
of the database; the PortalToken row makes each link work once, even if it leaks from a
browser history.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer

from app.config import Settings
from app.rules.errors import Forbidden
from app.services.server_secrets import signing_keys
from app.services.sessions import start_session
from app.services.tenants import NamedTenant, for_write
from app.storage.db import write_transaction
from app.storage.models import PortalToken, Tenant


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(signing_keys("portal link"), salt="hookline-portal-link")


def create_portal_token(tenant: Tenant | NamedTenant, now: datetime, ttl: float) -> tuple[str, datetime]:
    """The token for `/portal/<token>` and when it expires; a new tenant is created with it."""
    with write_transaction():
        row = PortalToken.create(tenant=for_write(tenant, now), expires_at=now + timedelta(seconds=ttl))
    return _serializer().dumps(row.id), row.expires_at


def open_portal_session(link_token: str, now: datetime, settings: Settings) -> str:
    """The token of a new portal session for the link's tenant, marking the link used;
    refuses forged, expired or used links."""
    try:
        token_id = _serializer().loads(link_token)
    except BadSignature:
        raise Forbidden("This portal link is not valid.") from None
    with write_transaction():
        claimed = (
            PortalToken.update(used_at=now)
            .where((PortalToken.id == token_id) & PortalToken.used_at.is_null() & (PortalToken.expires_at > now))
            .execute()
        )
        if not claimed:
            raise Forbidden("This portal link has expired or was already used. Ask for a new one.")
        return start_session(now, settings, tenant=PortalToken.get_by_id(token_id).tenant)
