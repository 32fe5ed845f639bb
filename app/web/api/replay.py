"""JSON API v1 for sending past events again: recover a webhook's failures, replay an event."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.services import replay
from app.services.replay import Progress
from app.storage.models import Event
from app.web.inputs import api_key, read_fields, scope_of
from app.web.serializers import JSONResponse, delivery_json, event_json, iso
from app.web.wakeup import wake_sender


def progress_json(progress: Progress) -> dict:
    recovery = progress.recovery
    return {
        "id": recovery.id,
        "webhook_id": recovery.webhook_id,
        "since": iso(recovery.since),
        "created_at": iso(recovery.created_at),
        "total": progress.total,
        "succeeded": progress.succeeded,
        "failed": progress.failed,
        "pending": progress.pending,
        "done": progress.done,
    }


def event_with_deliveries_json(event: Event, deliveries: list) -> dict:
    return {**event_json(event), "deliveries": [delivery_json(d) for d in deliveries]}


async def recover(request: Request) -> Response:
    key = await api_key(request)
    state = request.app.state
    fields = await read_fields(request, state.settings.max_payload_bytes, allowed={"since"})

    recovery = await run_in_threadpool(
        replay.recover_failed, request.path_params["id"], scope_of(key), fields.get("since"), state.clock()
    )
    if recovery.total:
        wake_sender(request)
    return JSONResponse({"id": recovery.id, "total": recovery.total}, status_code=202,
                        headers={"Location": f"/api/v1/recoveries/{recovery.id}"})


async def get_recovery(request: Request) -> Response:
    key = await api_key(request)
    progress = await run_in_threadpool(replay.recovery_progress, request.path_params["id"], scope_of(key))
    return JSONResponse(progress_json(progress))


async def get_event(request: Request) -> Response:
    key = await api_key(request)
    event, deliveries = await run_in_threadpool(replay.event_with_deliveries, request.path_params["id"], scope_of(key))
    return JSONResponse(event_with_deliveries_json(event, deliveries))


async def replay_event(request: Request) -> Response:
    key = await api_key(request)
    state = request.app.state
    fields = await read_fields(request, state.settings.max_payload_bytes, allowed={"webhook_id"})
    delivery = await run_in_threadpool(
        replay.replay_event, request.path_params["id"], fields.get("webhook_id"), scope_of(key), state.clock()
    )
    wake_sender(request)
    return JSONResponse(delivery_json(delivery), status_code=202)


routes = [
    Route("/api/v1/webhooks/{id}/recover", recover, methods=["POST"]),
    Route("/api/v1/recoveries/{id}", get_recovery, methods=["GET"]),
    Route("/api/v1/events/{id}", get_event, methods=["GET"]),
    Route("/api/v1/events/{id}/replay", replay_event, methods=["POST"]),
]
