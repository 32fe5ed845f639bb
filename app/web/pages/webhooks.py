"""Dashboard pages for the webhooks list: create, edit, rename, toggle, test, rotate, delete.

A webhook's own address (/webhooks/{id}) opens its Deliveries tab; its name is renamed from
that page's heading, which htmx swaps for a small form and back.

Every action is a real form that works without JavaScript (POST, then a 303 or a page);
with htmx the same URLs answer with the fragment to swap: a table row, the form with its
errors (422), or the modal's next step. The form's delivery contract section
(app/web/contract_form.py) shows the request it would send, refreshed as fields change.
"""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.delivery import formats
from app.rules import contracts, durations, jsontext
from app.rules.errors import Conflict, InvalidInput
from app.rules.filters import EXAMPLE as FILTER_EXAMPLE
from app.services import catalog, contract_previews, stats, trial_sends, webhooks
from app.storage.models import PAYLOAD_FORMATS, Attempt
from app.web import contract_form, event_choice
from app.web.inputs import inline_error, parse_json
from app.web.serializers import public_key_of
from app.web.templating import flash, is_htmx, render, toast
from app.web.viewer import Viewer, viewer
from app.web.wakeup import wake_sender

SECRET_SNIPPET_LANGUAGES = ("python", "node")
FORM_FIELDS = ("name", "url", "description", "events", "headers", "secret_headers")
ADVANCED_FIELDS = ("filter", "timeout", "retry_schedule", "rate_limit", "max_in_flight", "ordered", "payload_format",
                   "payload_template")


def _state(request: Request):
    return request.app.state


def _fields_from_form(form: FormData) -> dict:
    """The form's fields in the shape the webhooks service takes (the same as the API's).

    Empty advanced fields are null: the global setting applies.
    """
    filter_text = form.get("filter", "").strip()
    schedule = form.get("retry_schedule", "").replace(",", " ").split()
    return {
        "name": form.get("name", ""),
        "url": form.get("url", ""),
        "description": form.get("description", ""),
        "events": event_choice.subscription(form.get("event_choice"), form.getlist("events")),
        "headers": contract_form.headers_of(form),
        "secret_headers": form.get("secret_headers", "").replace(",", " ").split(),
        "filter": parse_json(filter_text, field="filter") if filter_text else None,
        "timeout": form.get("timeout", "").strip() or None,  # the service reads "10" or "10s"
        "retry_schedule": schedule or None,
        "rate_limit": _form_number(form, "rate_limit", float),
        "max_in_flight": _form_number(form, "max_in_flight", int),
        "ordered": form.get("ordered") is not None,
        "payload_format": form.get("payload_format", "standard"),
        "payload_template": form.get("payload_template", "").strip() or None,
        **contract_form.contract_fields(form),
    }


def _new_fields_from_form(form: FormData) -> dict:
    """A new webhook's fields: an edit changes its secret by rotating it."""
    secret = form.get("secret", "").strip()
    return {**_fields_from_form(form), **({"secret": secret} if secret else {})}


def _form_number(form: FormData, key: str, kind: type) -> float | int | None:
    text = form.get(key, "").strip()
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        raise InvalidInput(key, "must be a whole number" if kind is int else "must be a number") from None


def _number_text(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _values_of(webhook) -> dict:
    """A stored webhook as the form's text fields."""
    return {
        "name": webhook.name, "url": webhook.url, "description": webhook.description,
        "events": webhook.events, "event_choice": event_choice.choice_of(webhook.events),
        # Secrets as their masks: saved back unchanged, a mask keeps the stored value.
        "headers": contract_form.header_lines(webhook.headers.shown()),
        "secret_headers": ", ".join(webhook.headers.secret_names),
        "filter": jsontext.dumps(webhook.filter, indent=2, nonfinite_as_null=True) if webhook.filter else "",
        "timeout": _number_text(webhook.timeout),
        "retry_schedule": ", ".join(durations.as_written(d) for d in webhook.retry_schedule or ()),
        "rate_limit": _number_text(webhook.rate_limit),
        "max_in_flight": _number_text(webhook.max_in_flight),
        "ordered": webhook.ordered,
        "payload_format": webhook.payload_format,
        "payload_template": webhook.payload_template or "",
        **contract_form.form_values(webhook.signatures, webhook.envelope, webhook.auto_disable),
        "send_default": contract_form.defaults_sent(webhook.dropped_headers or ()),
    }


async def _form_context(request: Request, who: Viewer, values: dict, errors: dict, webhook=None,
                        form: FormData | None = None) -> dict:
    listed_groups, operational_groups = event_choice.event_groups(await run_in_threadpool(catalog.list_event_types))
    customised = any(values.get(key) for key in ADVANCED_FIELDS if key != "payload_format")
    contract_set = values.get("signatures_set") == "custom" or any(
        values.get(key) for key in ("envelope", "auto_disable_rule", "secret"))
    return {
        **await _preview_context(request, who, form, webhook),
        "contract_open": contract_set or any(key in errors for key in contract_form.FIELDS + ("secret",))
        or set(values.get("send_default", contract_form.DEFAULT_HEADERS)) != set(contract_form.DEFAULT_HEADERS),
        "presets": contract_form.presets_json(),
        "default_headers": contract_form.DEFAULT_HEADERS,
        "algorithms": contracts.ALGORITHMS, "encodings": contracts.ENCODINGS, "separators": contracts.SEPARATORS,
        "viewer": who,
        "nav": "webhooks",
        "webhook": webhook,
        "values": values,
        "errors": errors,
        "event_groups": listed_groups, "operational_groups": operational_groups,
        "inline_fields": FORM_FIELDS + ADVANCED_FIELDS + contract_form.FIELDS + ("secret",),
        "advanced_open": customised or values.get("payload_format", "standard") != "standard"
        or any(key in errors for key in ADVANCED_FIELDS),
        "payload_formats": PAYLOAD_FORMATS,
        "default_templates": formats.DEFAULT_TEMPLATES,
        "filter_example": json.dumps(FILTER_EXAMPLE, indent=2),
    }


async def list_page(request: Request) -> Response:
    who = await viewer(request)

    rows, health = await run_in_threadpool(stats.webhooks_with_health, who.tenant.id, _state(request).clock())
    context = {"viewer": who, "nav": "webhooks", "webhooks": rows, "health": health}
    return render(request, "webhooks/list.html", context, partial="webhooks/_table.html")


async def _preview_context(request: Request, who: Viewer, form: FormData | None, webhook=None) -> dict:
    """The preview of the request the form would send (`form`: as sent; None: the
    webhook as stored, or a new one's defaults), or the problem that stops it."""
    settings, clock = _state(request).settings, _state(request).clock
    preview_url = f"/webhooks/{webhook.id}/preview" if webhook else "/webhooks/preview"
    try:
        if form is None:
            fields = _stored_fields(webhook)
        else:
            fields = _fields_from_form(form) if webhook else _new_fields_from_form(form)
        preview = await run_in_threadpool(
            contract_previews.webhook_preview, who.tenant, webhook, fields, settings, clock())
    except InvalidInput as exc:
        return contract_form.preview_context(None, exc, preview_url)
    return contract_form.preview_context(preview, None, preview_url)


def _stored_fields(webhook) -> dict:
    """What the preview needs of a stored webhook (None: a new one with no contract of its own)."""
    if webhook is None:
        return {"events": ["*"]}
    return {
        "name": webhook.name, "events": webhook.events,
        "headers": {**webhook.headers.shown(), **dict.fromkeys(webhook.dropped_headers or ())},
        "secret_headers": webhook.headers.secret_names,
        "payload_format": webhook.payload_format, "payload_template": webhook.payload_template,
        **contracts.shown_parts(webhook.signatures, webhook.envelope, None),
    }


async def preview(request: Request) -> Response:
    """The preview fragment for the form as it is now (htmx posts it as fields change)."""
    who = await viewer(request)
    form = await request.form()
    webhook = None
    if "id" in request.path_params:
        webhook = await run_in_threadpool(webhooks.get_webhook, request.path_params["id"], who.tenant.id)
    values = {"url": form.get("url", ""), "payload_format": form.get("payload_format", "standard")}
    context = {"viewer": who, "values": values, **await _preview_context(request, who, form, webhook)}
    return render(request, "webhooks/_preview.html", context)


async def new_page(request: Request) -> Response:
    who = await viewer(request)
    values = {"events": ["*"], "event_choice": event_choice.ALL, "payload_format": "standard", "send_default": list(contract_form.DEFAULT_HEADERS),
              **contract_form.form_values(None, None, None)}
    context = await _form_context(request, who, values, {})
    return render(request, "webhooks/form.html", context, partial="webhooks/_form.html")


async def create(request: Request) -> Response:
    who = await viewer(request)
    form = await request.form()
    settings, clock = _state(request).settings, _state(request).clock
    try:
        fields = _new_fields_from_form(form)
        created = await run_in_threadpool(webhooks.create_webhook, who.tenant, fields, settings, clock())
    except InvalidInput as exc:
        return await _form_error(request, who, form, exc)
    context = {"viewer": who, "nav": "webhooks", "webhook": created.webhook, "secret": created.secret, "created": True,
               "public_key": public_key_of(created.webhook)}
    headers = {"HX-Trigger": "webhooksChanged"} if is_htmx(request) else None
    return render(request, "webhooks/secret.html", context, partial="webhooks/_secret.html", status_code=201, headers=headers)


async def _form_error(request: Request, who: Viewer, form: FormData, exc: InvalidInput, webhook=None) -> Response:
    """422 with the form as it was sent and the message next to the offending field."""
    values = {key: form.get(key, "") for key in FORM_FIELDS + ADVANCED_FIELDS + ("secret",)}
    values.update(contract_form.values_as_sent(form))
    values["events"] = form.getlist("events")
    values["event_choice"] = event_choice.shown_choice(form.get("event_choice"), values["events"])
    values["ordered"] = form.get("ordered") is not None
    errors = contract_form.errors_of(exc, form) or inline_error(exc)
    context = await _form_context(request, who, values, errors, webhook, form)
    return render(request, "webhooks/form.html", context, partial="webhooks/_form.html", status_code=422)


async def edit_page(request: Request) -> Response:
    who = await viewer(request)
    webhook = await run_in_threadpool(webhooks.get_webhook, request.path_params["id"], who.tenant.id)
    context = await _form_context(request, who, _values_of(webhook), {}, webhook)
    return render(request, "webhooks/form.html", {**context, "tab": "edit"}, partial="webhooks/_form.html")


async def update(request: Request) -> Response:
    who = await viewer(request)
    form = await request.form()
    settings, clock = _state(request).settings, _state(request).clock
    webhook_id = request.path_params["id"]
    webhook = await run_in_threadpool(webhooks.get_webhook, webhook_id, who.tenant.id)
    try:
        fields = _fields_from_form(form)
        await run_in_threadpool(webhooks.update_webhook, webhook_id, who.tenant.id, fields, settings, clock())
    except InvalidInput as exc:
        return await _form_error(request, who, form, exc, webhook)
    if is_htmx(request):
        return Response(status_code=204, headers=toast("Webhook saved", "success", "webhooksChanged", "closeModal"))
    flash(request, "Webhook saved.")
    return RedirectResponse("/webhooks", status_code=303)


async def _row(request: Request, who: Viewer, webhook_id: str, headers: dict | None = None) -> Response:
    webhook, health = await run_in_threadpool(stats.webhook_with_health, webhook_id, who.tenant.id, _state(request).clock())
    context = {"viewer": who, "webhook": webhook, "health": health}
    return render(request, "webhooks/_row.html", context, headers=headers)


async def webhook_page(request: Request) -> Response:
    """A webhook's own address opens its Deliveries tab: what a user who clicks a webhook
    looks for is what it sent and what came back (GitHub's "Recent deliveries", Stripe's
    event list); its settings are one tab over (Edit). A redirect, so every tab keeps one URL,
    after the same 404 as the tab's for another tenant's webhook."""
    context = await _page_context(request, await viewer(request))
    return RedirectResponse(f"/webhooks/{context['webhook'].id}/deliveries", status_code=302)


async def _page_context(request: Request, who: Viewer) -> dict:
    webhook = await run_in_threadpool(webhooks.get_webhook, request.path_params["id"], who.tenant.id)
    return {"viewer": who, "nav": "webhooks", "webhook": webhook}


async def rename_form(request: Request) -> Response:
    """The name as an input in place of the page's heading (htmx), or the page with it."""
    who = await viewer(request)
    context = await _page_context(request, who)
    context.update(name=context["webhook"].name, error=None)
    return render(request, "webhooks/rename.html", context, partial="webhooks/_rename.html")


async def title(request: Request) -> Response:
    """The page's heading again, when a rename is cancelled."""
    who = await viewer(request)
    if not is_htmx(request):
        return RedirectResponse(f"/webhooks/{request.path_params['id']}", status_code=303)
    return render(request, "webhooks/_title.html", {**await _page_context(request, who), "focus_rename": True})


async def rename(request: Request) -> Response:
    who = await viewer(request)
    form = await request.form()
    settings, clock = _state(request).settings, _state(request).clock
    webhook_id = request.path_params["id"]
    name = form.get("name", "")
    try:
        webhook = await run_in_threadpool(
            webhooks.update_webhook, webhook_id, who.tenant.id, {"name": name}, settings, clock()
        )
    except InvalidInput as exc:
        error = inline_error(exc, "name").get("name", exc.message)
        context = {**await _page_context(request, who), "name": name, "error": error}
        return render(request, "webhooks/rename.html", context, partial="webhooks/_rename.html", status_code=422)
    if is_htmx(request):
        context = {"viewer": who, "webhook": webhook, "focus_rename": True}
        return render(request, "webhooks/_title.html", context, headers=toast("Name saved"))
    flash(request, "Name saved.")
    return RedirectResponse(f"/webhooks/{webhook_id}", status_code=303)


async def toggle(request: Request) -> Response:
    """On or off. The checkbox posts `enabled` only when it is checked."""
    who = await viewer(request)
    form = await request.form()
    settings, clock = _state(request).settings, _state(request).clock
    enabled = form.get("enabled") is not None
    await run_in_threadpool(
        webhooks.update_webhook, request.path_params["id"], who.tenant.id, {"enabled": enabled}, settings, clock()
    )
    if enabled:
        wake_sender(request)  # deliveries that waited while it was off are due now
    message = "Webhook enabled" if enabled else "Webhook disabled: no new events are sent to it"
    if is_htmx(request):
        return await _row(request, who, request.path_params["id"], toast(message))
    flash(request, message + ".")
    return RedirectResponse("/webhooks", status_code=303)


async def delete_page(request: Request) -> Response:
    """Without JavaScript, Delete (a button in a GET form) opens this confirmation; with it, hx-confirm asks."""
    return render(request, "webhooks/delete.html", await _page_context(request, await viewer(request)))


async def delete(request: Request) -> Response:
    who = await viewer(request)
    await run_in_threadpool(webhooks.delete_webhook, request.path_params["id"], who.tenant.id, request.app.state.clock())
    if is_htmx(request):
        return Response("", headers=toast("Webhook deleted"))  # the row swaps to nothing
    flash(request, "Webhook deleted.")
    return RedirectResponse("/webhooks", status_code=303)


async def test_page(request: Request) -> Response:
    who = await viewer(request)

    webhook, event_types = await run_in_threadpool(trial_sends.form_choices, request.path_params["id"], who.tenant.id)
    context = {
        "viewer": who, "nav": "webhooks", "webhook": webhook, "event_types": event_types, "errors": {},
        "values": {"type": catalog.TEST_EVENT_TYPE, "data": ""},
    }
    return render(request, "webhooks/test.html", context, partial="webhooks/_test_form.html")


async def send_test(request: Request) -> Response:
    """Deliver a test event through the normal path and report its first attempt."""
    who = await viewer(request)
    form = await request.form()
    settings, clock = _state(request).settings, _state(request).clock
    webhook_id = request.path_params["id"]
    type_name = form.get("type") or catalog.TEST_EVENT_TYPE
    try:
        data = parse_json(form["data"], field="data") if form.get("data", "").strip() else None
        delivery_id = await run_in_threadpool(
            trial_sends.send_test_event, webhook_id, who.tenant.id, settings, clock(), type_name, data
        )
    except InvalidInput as exc:
        return await _test_form_error(request, who, form, exc)
    except Conflict as exc:
        return _report(request, exc.message.capitalize(), "error")
    wake_sender(request)
    attempt = await trial_sends.first_attempt(delivery_id, settings.request_timeout + 5)
    message, level = _first_attempt_report(attempt)
    return _report(request, message, level)


def _first_attempt_report(attempt: Attempt | None) -> tuple[str, str]:
    """("Delivered: 200 in 45 ms", "success") or ("Failed: connection refused", "error")."""
    if attempt is None:
        return "Queued: the first attempt has not finished yet; see the delivery log.", "warning"
    if attempt.response_status is not None and 200 <= attempt.response_status < 300:
        return f"Delivered: {attempt.response_status} in {attempt.duration_ms} ms", "success"
    reason = attempt.error or f"the endpoint answered {attempt.response_status}"
    return f"Failed: {reason}", "error"


def _report(request: Request, message: str, level: str) -> Response:
    if is_htmx(request):
        return Response(status_code=204, headers=toast(message, level, "webhooksChanged", "closeModal"))
    flash(request, message, "success" if level == "success" else "error")
    return RedirectResponse("/webhooks", status_code=303)


async def _test_form_error(request: Request, who: Viewer, form: FormData, exc: InvalidInput) -> Response:
    webhook, event_types = await run_in_threadpool(trial_sends.form_choices, request.path_params["id"], who.tenant.id)
    context = {
        "viewer": who, "nav": "webhooks", "webhook": webhook, "event_types": event_types,
        "values": {"type": form.get("type", ""), "data": form.get("data", "")},
        "errors": inline_error(exc, "data"),
    }
    return render(request, "webhooks/test.html", context, partial="webhooks/_test_form.html", status_code=422)


async def rotate_secret(request: Request) -> Response:
    """A new secret, shown once; the old one keeps signing for the grace chosen in the form."""
    who = await viewer(request)
    form = await request.form()
    settings, clock = _state(request).settings, _state(request).clock
    grace = _form_number(form, "grace_seconds", int)
    own_secret = form.get("secret", "").strip() or None
    try:
        rotated = await run_in_threadpool(
            webhooks.rotate_secret, request.path_params["id"], who.tenant.id, settings, clock(), grace, own_secret
        )
    except InvalidInput as exc:
        return _report(request, f"Secret not rotated: {exc.message}", "error")
    context = {"viewer": who, "nav": "webhooks", "webhook": rotated.webhook, "secret": rotated.secret, "created": False,
               "public_key": public_key_of(rotated.webhook)}
    return render(request, "webhooks/secret.html", context, partial="webhooks/_secret.html")


routes = [
    Route("/webhooks", list_page, methods=["GET"]),
    Route("/webhooks", create, methods=["POST"]),
    Route("/webhooks/new", new_page, methods=["GET"]),
    Route("/webhooks/preview", preview, methods=["POST"]),
    Route("/webhooks/{id}/preview", preview, methods=["POST"]),
    Route("/webhooks/{id}", webhook_page, methods=["GET"]),
    Route("/webhooks/{id}/edit", edit_page, methods=["GET"]),
    Route("/webhooks/{id}/edit", update, methods=["POST"]),
    Route("/webhooks/{id}/name", rename_form, methods=["GET"]),
    Route("/webhooks/{id}/name", rename, methods=["POST"]),
    Route("/webhooks/{id}/title", title, methods=["GET"]),
    Route("/webhooks/{id}/toggle", toggle, methods=["POST"]),
    Route("/webhooks/{id}/delete", delete_page, methods=["GET"]),
    Route("/webhooks/{id}/delete", delete, methods=["POST"]),
    Route("/webhooks/{id}/test", test_page, methods=["GET"]),
    Route("/webhooks/{id}/test", send_test, methods=["POST"]),
    Route("/webhooks/{id}/rotate-secret", rotate_secret, methods=["POST"]),
]
