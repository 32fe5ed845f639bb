"""Who is looking at the dashboard, and which tenant they act for.

Two kinds of session: a signed-in user (admins may switch tenant), and a portal session
opened by a portal link, which is bound to one tenant, has no account and never sees API
keys. Every page handler starts with `await viewer(request)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from app.errors import Forbidden
from app.models import Tenant, User
from app.services.users import needs_setup


class SignInRequired(Exception):
    """Handled by sending the browser to the login (or first-run setup) page."""

    def __init__(self, setup: bool = False):
        self.setup = setup


@dataclass(frozen=True)
class Viewer:
    tenant: Tenant
    user: User | None  # None in a portal session
    tenants: tuple[Tenant, ...] = ()  # what an admin can switch to

    @property
    def is_portal(self) -> bool:
        return self.user is None

    @property
    def is_admin(self) -> bool:
        return self.user is not None and self.user.is_admin

    @property
    def name(self) -> str:
        return self.user.name if self.user else f"{self.tenant.slug} (portal)"


async def viewer(request: Request) -> Viewer:
    session = request.session
    now: datetime = request.app.state.clock()

    def load() -> Viewer | None:
        if "portal_tenant" in session:
            if session.get("portal_expires", 0) < now.timestamp():
                return None
            tenant = Tenant.get_or_none(Tenant.id == session["portal_tenant"])
            return Viewer(tenant, None) if tenant else None
        user = User.get_or_none(User.id == session.get("user_id"))
        if user is None:
            return None
        if not user.is_admin:
            return Viewer(user.tenant, user)
        tenant = Tenant.get_or_none(Tenant.id == session.get("tenant_id"))
        return Viewer(tenant or user.tenant, user, tuple(Tenant.select().order_by(Tenant.slug)))

    found = await run_in_threadpool(load)
    if found is None:
        was_portal = session.pop("portal_tenant", None) is not None
        session.pop("user_id", None)
        if was_portal:
            # A portal customer has no account: login or setup pages are not for them.
            raise Forbidden("Your portal session has ended. Open the webhook settings again from the app that sent you here.")
        raise SignInRequired(setup=await run_in_threadpool(needs_setup))
    return found
