"""Who is looking at the dashboard, and which tenant they act for.

Two kinds of session (app/web/sessions.py says which cookie a request uses): a signed-in
user (admins may switch tenant), and a portal session opened by a portal link, which is
bound to one tenant, has no account and never sees API keys. Every page handler starts
with `await viewer(request)`, which also checks that the server has not ended the session
(sign-out, password change, removed user, idle or too old): a cookie alone is not enough.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from app.rules.errors import Forbidden
from app.services.sessions import resume_session
from app.services.tenants import admin_view
from app.services.users import needs_setup
from app.storage.models import Tenant, User
from app.web.sessions import DASHBOARD, PORTAL, session_jar


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
    jar = session_jar(request)
    settings, now = request.app.state.settings, request.app.state.clock()

    def signed_in(token: str) -> Viewer | None:
        session = resume_session(token, now, settings, portal=False)
        if session is None:
            return None
        user = session.user
        if not user.is_admin:
            return Viewer(user.tenant, user)
        tenant, switchable = admin_view(jar.data[DASHBOARD].get("tenant_id"), user.tenant)
        return Viewer(tenant, user, switchable)

    def portal(token: str) -> Viewer | None:
        session = resume_session(token, now, settings, portal=True)
        return Viewer(session.tenant, None) if session else None

    if token := jar.token(DASHBOARD):
        if found := await run_in_threadpool(signed_in, token):
            return found
        jar.end(DASHBOARD)
    if token := jar.token(PORTAL):
        if found := await run_in_threadpool(portal, token):
            return found
        jar.end(PORTAL)
        # A portal customer has no account: login or setup pages are not for them.
        raise Forbidden("Your portal session has ended. Open the webhook settings again from the app that sent you here.")
    raise SignInRequired(setup=await run_in_threadpool(needs_setup))
