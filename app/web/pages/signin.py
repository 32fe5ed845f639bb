"""First-run setup, sign-in, sign-out, the admin's tenant switch, and portal links."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.rules.errors import InvalidInput
from app.rules.ratelimit import retry_after_header
from app.services import overview, sessions, tenants, users
from app.storage.models import User
from app.web.inputs import client_ip
from app.web.sessions import DASHBOARD, PORTAL, session_jar
from app.web.templating import render
from app.web.viewer import viewer


def _safe_next(target: str | None) -> str:
    """Only same-site paths: `next` must not turn login into an open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/webhooks"


async def sign_in_as(request: Request, user: User) -> None:
    """A new server-side session and a fresh cookie (no fixation); the browser's previous
    dashboard session, if any, ends. A portal session in the same browser is left alone."""
    settings, now, jar = request.app.state.settings, request.app.state.clock(), session_jar(request)
    if previous := jar.token(DASHBOARD):
        await run_in_threadpool(sessions.end_session, previous)
    token = await run_in_threadpool(sessions.start_session, now, settings, user=user)
    jar.begin(DASHBOARD, token, tenant_id=user.tenant_id)


async def setup_page(request: Request) -> Response:
    if not await run_in_threadpool(users.needs_setup):
        return RedirectResponse("/login", status_code=303)
    return render(request, "setup.html", {"errors": {}, "values": {}})


async def setup_submit(request: Request) -> Response:
    """Every mistake is shown at once, not one per try."""
    form = await request.form()
    clock = request.app.state.clock
    errors = users.account_problems(form.get("name"), form.get("password"))
    if form.get("password") != form.get("password_confirm"):
        errors["password_confirm"] = "does not match the password"
    if not errors:
        try:
            user = await run_in_threadpool(users.create_first_admin, form.get("name"), form.get("password"), clock())
        except InvalidInput as exc:
            errors = {exc.field: exc.message.split(": ", 1)[1]}
        else:
            await sign_in_as(request, user)
            return RedirectResponse("/webhooks", status_code=303)
    return render(request, "setup.html", {"errors": errors, "values": form}, status_code=422)


async def login_page(request: Request) -> Response:
    if await run_in_threadpool(users.needs_setup):
        return RedirectResponse("/setup", status_code=303)
    return render(request, "login.html", {"error": None, "name": "", "next": _safe_next(request.query_params.get("next"))})


async def login_submit(request: Request) -> Response:
    form = await request.form()
    name, password = str(form.get("name", "")), str(form.get("password", ""))
    target = _safe_next(form.get("next"))
    limits, now, ip = request.app.state.limits, request.app.state.clock(), client_ip(request)
    per_user = (ip, users.login_limit_key(name))
    waiting = max(limits.login_ip.wait(ip, now), limits.login_user.wait(per_user, now))
    if waiting:
        retry_after = retry_after_header(waiting)
        error = f"Too many failed sign-ins from your address. Try again in {retry_after} seconds."
        context = {"error": error, "name": name, "next": target}
        return render(request, "login.html", context, status_code=429, headers={"Retry-After": retry_after})
    user = await run_in_threadpool(users.authenticate_user, name, password)
    if user is None:
        # Only failures count: a person who types the password right is never locked out
        # by their own earlier sign-ins.
        limits.login_ip.take(ip, now)
        limits.login_user.take(per_user, now)
        context = {"error": "Wrong name or password.", "name": name, "next": target, "invalid": "password"}
        return render(request, "login.html", context, status_code=422)
    await sign_in_as(request, user)
    return RedirectResponse(target, status_code=303)


async def logout(request: Request) -> Response:
    """Ends this browser's sessions on the server, so copies of its cookies are refused
    too: the dashboard's, and a portal session opened in it (say by a link someone else
    made it open), which would otherwise take over once the dashboard's is gone. A portal
    session never signs anyone else out: while the dashboard's is live, the CSRF token
    this needs is the dashboard's, not the portal's."""
    jar = session_jar(request)
    for kind in (DASHBOARD, PORTAL):
        if token := jar.token(kind):
            await run_in_threadpool(sessions.end_session, token)
        jar.end(kind)
    return RedirectResponse("/login", status_code=303)


async def switch_tenant(request: Request) -> Response:
    """Admins only: act for another tenant in the dashboard."""
    who = await viewer(request)
    form = await request.form()
    if not who.is_admin:
        return Response("Only admins can switch tenant.", status_code=403)
    tenant = await run_in_threadpool(tenants.find_tenant, form.get("tenant"))
    if tenant is None:
        return Response("Unknown tenant.", status_code=422)
    request.session["tenant_id"] = tenant.id
    return RedirectResponse("/", status_code=303)  # that tenant's landing page


async def home(request: Request) -> Response:
    """The Overview once the tenant has a webhook; before that the list, whose empty state
    says how to create one."""
    who = await viewer(request)
    has_webhooks = await run_in_threadpool(overview.has_webhooks, who.tenant.id)
    return RedirectResponse("/overview" if has_webhooks else "/webhooks", status_code=303)


routes = [
    Route("/", home),
    Route("/setup", setup_page, methods=["GET"]),
    Route("/setup", setup_submit, methods=["POST"]),
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login_submit, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/tenant", switch_tenant, methods=["POST"]),
]
