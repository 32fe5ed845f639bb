"""Portal links: a signed, short-lived, single-use URL that opens the dashboard for one
tenant, so an app can give its own customers webhook settings without Hookline accounts.

The signature (itsdangerous, keyed by a server secret) makes links unforgeable; the
PortalToken row makes each link work once, even if it leaks from a browser history.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer

from app.db import write_transaction
from app.errors import Forbidden
from app.models import PortalToken, Tenant
from app.services.server_secrets import server_secret
from app.services.tenants import NamedTenant, for_write


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(server_secret("portal"), salt="hookline-portal-link")


def create_portal_token(tenant: Tenant | NamedTenant, now: datetime, ttl: float) -> tuple[str, datetime]:
    """The token for `/portal/<token>` and when it expires; a new tenant is created with it."""
    with write_transaction():
        row = PortalToken.create(tenant=for_write(tenant, now), expires_at=now + timedelta(seconds=ttl))
    return _serializer().dumps(row.id), row.expires_at


def redeem_portal_token(token: str, now: datetime) -> Tenant:
    """The tenant the link opens, marking the link used; refuses forged, expired or used links."""
    try:
        token_id = _serializer().loads(token)
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
        return PortalToken.get_by_id(token_id).tenant
