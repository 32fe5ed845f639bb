"""Dashboard page of a tenant's settings, for admins: the delivery contract its webhooks
inherit (default headers, signatures, envelope, retry schedule, auto-disable), with the
preview of the request a webhook that sets none of its own would send.

The same defaults as `PATCH /api/v1/tenants/{tenant}`, through the same service. A plain
form (POST, then a 303 back to the page, or the page with its errors and 422); the preview
is refreshed with htmx as fields change.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.rules import contracts, durations, jsontext
from app.rules.errors import Forbidden, InvalidInput, NotFound
from app.services import contract_previews, tenants
from app.storage.models import Tenant
from app.web import contract_form
from app.web.inputs import inline_error
from app.web.serializers import tenant_json
from app.web.templating import flash, render
from app.web.viewer import Viewer, viewer


async def _admin(request: Request) -> Viewer:
    who = await viewer(request)
    if not who.is_admin:
        raise Forbidden("Only an admin can change a tenant's settings.")
    return who


async def _tenant(slug: str) -> Tenant:
    tenant = await run_in_threadpool(tenants.find_tenant, slug)
    if tenant is None:
        raise NotFound(f"no tenant {slug!r}")
    return tenant


def _fields_from_form(form: FormData) -> dict:
    schedule = form.get("retry_schedule", "").replace(",", " ").split()
    return {**_contract_from_form(form), "retry_schedule": schedule or None}


def _contract_from_form(form: FormData) -> dict:
    """The contract parts the preview shows too: no header lines and every default header
    ticked is `headers` null, the installation's."""
    return {**contract_form.contract_fields(form), "headers": contract_form.headers_of(form) or None}


def _stored_headers(tenant: Tenant) -> dict | None:
    return None if tenant.headers is None else jsontext.loads_stored(tenant.headers)


def _values_of(tenant: Tenant) -> dict:
    headers = _stored_headers(tenant) or {}
    return {
        **contract_form.form_values(tenant.signatures, tenant.envelope, tenant.auto_disable),
        "retry_schedule": ", ".join(durations.as_written(d) for d in tenant.retry_schedule or ()),
        # A null drops a header inherited from below: an unticked box for Hookline's own.
        "headers": contract_form.header_lines({name: value for name, value in headers.items() if value is not None}),
        "send_default": contract_form.defaults_sent(name for name, value in headers.items() if value is None),
    }


async def _page(request: Request, who: Viewer, tenant: Tenant, values: dict, errors: dict,
                form: FormData | None = None, status_code: int = 200) -> Response:
    context = {
        "viewer": who, "nav": "tenant", "tenant": tenant, "values": values, "errors": errors,
        "presets": contract_form.presets_json(), "algorithms": contracts.ALGORITHMS,
        "encodings": contracts.ENCODINGS, "separators": contracts.SEPARATORS,
        "inline_fields": contract_form.FIELDS + ("retry_schedule", "headers"),
        "default_headers": contract_form.DEFAULT_HEADERS,
        "inherited": tenant_json(tenant, request.app.state.settings)["inherited"],
        **await _preview_context(request, tenant, form),
    }
    return render(request, "tenants/settings.html", context, status_code=status_code)


async def _preview_context(request: Request, tenant: Tenant, form: FormData | None) -> dict:
    """The preview for the form as sent, or for the tenant as stored (`form` None)."""
    settings, clock = request.app.state.settings, request.app.state.clock
    try:
        if form is not None:
            fields = _contract_from_form(form)
        else:
            fields = {**contracts.shown_parts(tenant.signatures, tenant.envelope, None),
                      "headers": _stored_headers(tenant)}
        preview = await run_in_threadpool(contract_previews.tenant_preview, tenant, fields, settings, clock())
    except InvalidInput as exc:
        return contract_form.preview_context(None, exc, f"/tenants/{tenant.slug}/preview")
    return contract_form.preview_context(preview, None, f"/tenants/{tenant.slug}/preview")


async def settings_page(request: Request) -> Response:
    who = await _admin(request)
    tenant = await _tenant(request.path_params["tenant"])
    return await _page(request, who, tenant, _values_of(tenant), {})


async def save(request: Request) -> Response:
    who = await _admin(request)
    tenant = await _tenant(request.path_params["tenant"])
    form = await request.form()
    settings, clock = request.app.state.settings, request.app.state.clock
    try:
        fields = _fields_from_form(form)
        # The service asks whether the actor is an admin; the viewer says so as a key would.
        await run_in_threadpool(tenants.update_tenant_defaults, who, tenant.slug, fields,
                                settings.signatures or None, clock())
    except InvalidInput as exc:
        values = {**contract_form.values_as_sent(form), "retry_schedule": form.get("retry_schedule", ""),
                  "headers": form.get("headers", "")}
        errors = contract_form.errors_of(exc, form) or inline_error(exc)
        return await _page(request, who, tenant, values, errors, form, status_code=422)
    flash(request, f"Settings of tenant {tenant.slug} saved: its webhooks without their own follow them from their next attempt.")
    return RedirectResponse(f"/tenants/{tenant.slug}", status_code=303)


async def preview(request: Request) -> Response:
    await _admin(request)
    tenant = await _tenant(request.path_params["tenant"])
    form = await request.form()
    context = {"values": {}, **await _preview_context(request, tenant, form)}
    return render(request, "webhooks/_preview.html", context)


routes = [
    Route("/tenants/{tenant}", settings_page, methods=["GET"]),
    Route("/tenants/{tenant}", save, methods=["POST"]),
    Route("/tenants/{tenant}/preview", preview, methods=["POST"]),
]
