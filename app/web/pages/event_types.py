"""Dashboard pages for the event-type catalog: list, create, edit, archive (after a
confirmation: apps can no longer emit an archived type).

The catalog is shared by every tenant, so everyone signed in may read it and only admin
users may change it; others get the same page without the buttons, and a 403 if they
post anyway.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.rules import jsontext
from app.rules.errors import Conflict, Forbidden, InvalidInput
from app.services import catalog
from app.web.inputs import inline_error, parse_json
from app.web.templating import flash, is_htmx, render, toast
from app.web.viewer import Viewer, viewer


def example_text(example: object) -> str:
    """The example as the page shows and the form edits it; no example is an empty box."""
    return "" if example is None else jsontext.dumps(example, indent=2, nonfinite_as_null=True)


async def _admin(request: Request) -> Viewer:
    who = await viewer(request)
    if not who.is_admin:
        raise Forbidden("Only an admin can change event types: they are shared by every tenant.")
    return who


async def list_page(request: Request) -> Response:
    who = await viewer(request)
    rows = await run_in_threadpool(catalog.list_event_types, True)
    context = {
        "viewer": who, "nav": "event_types", "event_types": rows,
        "examples": {t.name: example_text(t.example) for t in rows},
        "built_in": {seed.name for seed in catalog.BUILT_IN},
    }
    return render(request, "event_types/list.html", context, partial="event_types/_table.html")


def _form_fields(form: FormData, creating: bool) -> dict:
    """What the form posts, as the service takes it: the example box holds JSON text."""
    text = form.get("example", "").strip()
    fields = {"description": form.get("description", ""), "example": parse_json(text, field="example") if text else None}
    if creating:
        fields["name"] = form.get("name", "").strip()
    return fields


def _render_form(request: Request, who: Viewer, values: dict, errors: dict, event_type=None, status_code: int = 200) -> Response:
    context = {"viewer": who, "nav": "event_types", "values": values, "errors": errors, "event_type": event_type}
    return render(request, "event_types/form.html", context, partial="event_types/_form.html", status_code=status_code)


def _form_error(request: Request, who: Viewer, form: FormData, exc: InvalidInput | Conflict, event_type=None) -> Response:
    """422 with the form as it was sent and the message next to its field (a taken name too)."""
    values = {key: form.get(key, "") for key in ("name", "description", "example")}
    return _render_form(request, who, values, inline_error(exc, "name"), event_type, status_code=422)


def _saved(request: Request, message: str) -> Response:
    if is_htmx(request):
        return Response(status_code=204, headers=toast(message, "success", "eventTypesChanged", "closeModal"))
    flash(request, message)
    return RedirectResponse("/event-types", status_code=303)


async def new_page(request: Request) -> Response:
    who = await _admin(request)
    return _render_form(request, who, {"name": "", "description": "", "example": ""}, {})


async def create(request: Request) -> Response:
    who = await _admin(request)
    form = await request.form()
    try:
        created = await run_in_threadpool(catalog.create_event_type, _form_fields(form, creating=True), request.app.state.clock())
    except (InvalidInput, Conflict) as exc:
        return _form_error(request, who, form, exc)
    return _saved(request, f"Event type {created.name} created.")


async def edit_page(request: Request) -> Response:
    who = await _admin(request)
    event_type = await run_in_threadpool(catalog.get_event_type, request.path_params["name"])
    values = {"name": event_type.name, "description": event_type.description, "example": example_text(event_type.example)}
    return _render_form(request, who, values, {}, event_type)


async def update(request: Request) -> Response:
    who = await _admin(request)
    form = await request.form()
    event_type = await run_in_threadpool(catalog.get_event_type, request.path_params["name"])
    try:
        await run_in_threadpool(catalog.update_event_type, event_type.name, _form_fields(form, creating=False),
                                request.app.state.clock())
    except InvalidInput as exc:
        return _form_error(request, who, form, exc, event_type)
    return _saved(request, f"Event type {event_type.name} saved.")


async def archive_page(request: Request) -> Response:
    """The confirmation: in the dialog for htmx, a page of its own without JavaScript."""
    who = await _admin(request)
    event_type = await run_in_threadpool(catalog.get_event_type, request.path_params["name"])
    context = {"viewer": who, "nav": "event_types", "event_type": event_type}
    return render(request, "event_types/archive.html", context, partial="event_types/_archive.html")


async def archive(request: Request) -> Response:
    """Archive (`archived=true`) or bring back (`archived=false`) a type."""
    await _admin(request)
    form = await request.form()
    name, archived = request.path_params["name"], form.get("archived") == "true"
    try:
        await run_in_threadpool(catalog.update_event_type, name, {"archived": archived}, request.app.state.clock())
    except InvalidInput as exc:
        message = exc.message.split(": ", 1)[-1].capitalize()
        if is_htmx(request):
            return Response(message, status_code=422, headers=toast(message, "error"))
        flash(request, message, "error")
        return RedirectResponse("/event-types", status_code=303)
    if archived:
        return _saved(request, f"Event type {name} archived: it can no longer be emitted.")
    return _saved(request, f"Event type {name} is active again.")


routes = [
    Route("/event-types", list_page, methods=["GET"]),
    Route("/event-types", create, methods=["POST"]),
    Route("/event-types/new", new_page, methods=["GET"]),
    Route("/event-types/{name}/edit", edit_page, methods=["GET"]),
    Route("/event-types/{name}/edit", update, methods=["POST"]),
    Route("/event-types/{name}/archive", archive_page, methods=["GET"]),
    Route("/event-types/{name}/archive", archive, methods=["POST"]),
]
