"""GET /api/v1/openapi.json: the API described for client generators and for schemathesis,
which throws generated requests at every operation (tests/api/test_schemathesis.py).

Written by hand, next to the handlers it describes: the handlers validate by hand too,
and a test compares the paths here with the route table so neither drifts alone.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from app import __version__
from app.rules.filter_text import SYMBOLS
from app.rules.filters import OPERATORS


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _answers(success: int, schema: dict | None, *errors: int) -> dict:
    answers = {str(success): {"description": "success", **(_json(schema) if schema else {})}}
    for status in (401, 429, 503, *errors):
        answers[str(status)] = {"description": "error", **_json(_ref("Error"))}
    return answers


ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
# The delivery contract (docs/contracts.md); null: the level above (tenant, then config.toml).
CONTRACT_FIELDS = {
    "signatures": {"type": ["array", "null"], "items": {"type": "object"},
                   "description": "Signatures sent on every request, replacing the default list: "
                                  "{\"scheme\": \"standard\"} (Standard Webhooks v1), {\"scheme\": \"ed25519\"} "
                                  "(v1a, verified with public_key), or {\"scheme\": \"hmac\", \"header\", \"value\" "
                                  "(with {digest}), \"content\" (with {body}, default \"{body}\"), \"algorithm\" "
                                  "(sha256, sha1, sha512), \"encoding\" (hex, base64), \"separator\"}."},
    "envelope": {"type": ["object", "null"],
                 "description": "The body as a JSON template: a string that is exactly one placeholder ({event.id}, "
                                "{event.type}, {event.time}, {event.data}, {event.data.<path>}, {tenant}, "
                                "{webhook.id}, {webhook.name}, {delivery.id}) becomes that JSON value. For the standard "
                                "payload_format only (a webhook's own with a chat format: 422)."},
    "auto_disable": {"type": ["object", "null"],
                     "description": "{\"rule\": \"deliveries\", \"failures\": 5, \"period\": \"24h\"}, "
                                    "{\"rule\": \"attempts\", \"failures\": 5} or {\"rule\": \"never\"}."},
}
SECRET = {"type": "string", "minLength": 1, "maxLength": 256,
          "description": "Your own signing secret: 16-256 visible ASCII characters, or whsec_ + base64 (needed by the "
                         "standard scheme). Generated when absent."}
TENANT_FIELDS = {
    **CONTRACT_FIELDS, "retry_schedule": {"type": ["array", "null"], "items": {"type": ["number", "string"]}},
    "headers": {"type": ["object", "null"], "additionalProperties": {"type": ["string", "null"]},
                "description": "Default headers of the tenant's webhooks, over the installation's (config.toml) and "
                               "Hookline's; each webhook's own headers merge over them per name. Values may hold "
                               "placeholders; null drops a header of a level below; no credentials (set those per "
                               "webhook, where they are encrypted). null: none of its own."},
    "notify": {"type": ["array", "null"], "items": {"type": "string"}, "maxItems": 20,
               "description": "Addresses the owners' mail about failing webhooks goes to; null: the tenant's users "
                              "whose names are addresses"},
}
TIME = {"type": ["string", "null"], "format": "date-time"}
WEBHOOK_FIELDS = {
    "name": {"type": "string", "maxLength": 200},
    "url": {"type": "string", "format": "uri"},
    "description": {"type": "string", "maxLength": 2000},
    "events": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    "enabled": {"type": "boolean"},
    "headers": {"type": "object", "additionalProperties": {"type": ["string", "null"]},
                "description": "Custom request headers; values may hold placeholders ({event.id}, {event.type}, "
                               "{delivery.id}, {webhook.id}, {tenant}, {timestamp}, {attempt}; {{ and }} for braces). "
                               "User-Agent may be set; merged per name over the tenant's and the installation's default "
                               "headers; null drops a default header (User-Agent, X-Webhook-Event, "
                               "X-Webhook-Timestamp, or an inherited one). Values of secret headers are encrypted at rest and shown "
                               "masked (••••1234); a masked value sent back unchanged keeps the stored value."},
    "secret_headers": {"type": "array", "items": {"type": "string"},
                       "description": "Headers whose values are secret. Authorization, Proxy-Authorization, Cookie "
                                      "and names with a word such as key, token, secret or password always are."},
    "filter": {"type": ["object", "null"]},
    "timeout": {"type": ["number", "string", "null"]},
    "retry_schedule": {"type": ["array", "null"], "items": {"type": ["number", "string"]}},
    "rate_limit": {"type": ["number", "null"]},
    "max_in_flight": {"type": ["integer", "null"]},
    "ordered": {"type": "boolean"},
    "payload_format": {"type": "string", "enum": ["standard", "slack", "discord", "teams"]},
    "payload_template": {"type": ["string", "null"]},
    **CONTRACT_FIELDS,
}
NAME = [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]
EVENT_TYPE_FIELDS = {"description": {"type": "string"}, "example": {}}
EMIT_BODY = {
    "type": "object",
    "properties": {"type": {"type": "string"}, "event": {"type": "string"}, "data": {},
                   "idempotency_key": {"type": "string"}, "tenant": {"type": "string"}},
    "additionalProperties": False,
}
# W3C Trace Context (app/rules/tracecontext.py): headers of a single emit, fields of a batch item.
TRACE_FIELDS = {"traceparent": {"type": "string", "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}"},
                "tracestate": {"type": "string"}}
TRACE_HEADERS = [{"name": name, "in": "header", "required": False, "schema": schema}
                 for name, schema in TRACE_FIELDS.items()]
BATCH_ITEM = {**EMIT_BODY, "properties": {**EMIT_BODY["properties"], **TRACE_FIELDS}}

def _exact(properties: dict, optional: tuple[str, ...] = ()) -> dict:
    """An object with exactly these properties, all present but `optional`: what the answers
    hold, so schemathesis's response check catches a field added, renamed or dropped."""
    return {"type": "object", "required": [name for name in properties if name not in optional],
            "properties": properties, "additionalProperties": False}


def _list_of(item: dict, **more: dict) -> dict:
    return _exact({"data": {"type": "array", "items": item}, **more})


STRING, INTEGER, STRING_OR_NULL = {"type": "string"}, {"type": "integer"}, {"type": ["string", "null"]}
INTEGER_OR_NULL = {"type": ["integer", "null"]}
ANY_JSON: dict = {}
CURSOR = {"type": ["string", "null"], "description": "Pass as `before` for the next page; null on the last."}
DELIVERY_FIELDS = {
    "id": STRING, "event_id": STRING, "event_type": STRING, "webhook_id": STRING,
    "status": {"type": "string", "enum": ["pending", "delivering", "succeeded", "failed", "cancelled"]},
    "attempts": INTEGER, "next_attempt_at": TIME, "last_status_code": INTEGER_OR_NULL,
    "last_error": STRING_OR_NULL, "created_at": TIME, "updated_at": TIME,
}
EVENT_FIELDS = {
    "id": STRING, "type": STRING, "data": ANY_JSON, "created_at": TIME,
    # As stored: version 00, whatever version came in (app/rules/tracecontext.py).
    "traceparent": {"type": ["string", "null"], "pattern": "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"},
    "tracestate": STRING_OR_NULL,
}
COUNTS = {"succeeded": INTEGER, "failed": INTEGER, "pending": INTEGER, "cancelled": INTEGER}

WEBHOOK_ANSWER = {
    **WEBHOOK_FIELDS, "id": STRING, "tenant": STRING, "description": STRING, "url": STRING,
    "filter": {"type": ["object", "null"]}, "timeout": {"type": ["number", "null"]},
    "retry_schedule": {"type": ["array", "null"], "items": {"type": "number"}},
    "previous_secret_expires_at": TIME, "disabled_reason": STRING_OR_NULL,
    "consecutive_failures": INTEGER, "created_at": TIME, "updated_at": TIME,
    "public_key": {"type": ["string", "null"], "description": "whpk_…: verifies ed25519 signatures"},
}

SCHEMAS = {
    "Error": _exact({"error": _exact({"message": STRING, "field": STRING}, optional=("field",))}),
    "Webhook": _exact(WEBHOOK_ANSWER),
    "Tenant": _exact({
        **TENANT_FIELDS, "slug": STRING, "created_at": TIME,
        "inherited": _exact({
            "signatures": {"type": "array", "items": {"type": "object"}}, "envelope": {"type": ["object", "null"]},
            "auto_disable": {"type": "object"}, "retry_schedule": {"type": "array", "items": {"type": "number"}},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        }),
    }),
    "CreatedWebhook": _exact({**WEBHOOK_ANSWER, "secret": {"type": "string", "description": "shown this once"}}),
    "Delivery": _exact(DELIVERY_FIELDS),
    "Attempt": _exact({
        "number": INTEGER, "started_at": TIME, "duration_ms": INTEGER,
        "request_headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "response_status": INTEGER_OR_NULL, "response_body": STRING_OR_NULL, "error": STRING_OR_NULL,
    }),
    "DeliveryDetail": _exact({**DELIVERY_FIELDS, "payload": ANY_JSON,
                              "attempt_log": {"type": "array", "items": _ref("Attempt")}}),
    "Event": _exact(EVENT_FIELDS),
    "EventType": _exact({"name": STRING, "description": STRING, "example": ANY_JSON, "created_at": TIME,
                         "archived_at": TIME}),
    "FanOutDelivery": _exact({
        **DELIVERY_FIELDS,
        "webhook": _exact({"id": STRING, "name": STRING, "url": STRING, "deleted": {"type": "boolean"}}),
        "links": _exact({"delivery": STRING, "webhook": STRING}),
    }),
    "Stats": _exact({
        "period": {"type": "string", "enum": ["24h", "7d", "30d"]},
        "counts": _exact(COUNTS),
        "success_rate": {"type": ["number", "null"], "minimum": 0, "maximum": 1,
                         "description": "succeeded / (succeeded + failed); null when none finished"},
        "attempts": INTEGER,
        "latency_ms": _exact({"p50": INTEGER_OR_NULL, "p95": INTEGER_OR_NULL, "p99": INTEGER_OR_NULL}),
        "hours": {"type": "array", "description": "every UTC hour of the period, oldest first, the current one last",
                  "items": _exact({"start": {"type": "string", "format": "date-time"}, **COUNTS})},
    }),
    "Progress": _exact({"id": STRING, "webhook_id": STRING, "since": TIME, "created_at": TIME, "total": INTEGER,
                        "succeeded": INTEGER, "failed": INTEGER, "pending": INTEGER, "done": {"type": "boolean"}}),
}
PERIOD = [{"name": "period", "in": "query", "required": False,
           "schema": {"type": "string", "enum": ["24h", "7d", "30d"], "default": "24h"}}]
TENANT_QUERY = {"name": "tenant", "in": "query", "required": False, "schema": {"type": "string"},
                "description": "Admin keys: the tenant to read (default: `default`); a tenant key may name only its own."}

PATHS = {
    "/api/v1/events": {
        "post": {
            "summary": "Emit an event to every subscribed webhook of the tenant",
            "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                            "schema": {"type": "string", "minLength": 1, "maxLength": 255}}, *TRACE_HEADERS],
            "requestBody": {"required": True, **_json(EMIT_BODY)},
            "responses": _answers(202, _exact({"id": STRING, "deliveries": INTEGER}), 400, 403, 409, 413, 415, 422),
        },
        "get": {
            "summary": "The tenant's events, newest first, a page at a time",
            "parameters": [
                TENANT_QUERY,
                {"name": "type", "in": "query", "required": False, "schema": {"type": "string"},
                 "description": "An exact type (`order.created`) or a family (`order.*`, also `order.item.added`)"},
                {"name": "since", "in": "query", "required": False, "schema": {"type": "string", "format": "date-time"},
                 "description": "Created at or after (ISO 8601; UTC if no offset)"},
                {"name": "until", "in": "query", "required": False, "schema": {"type": "string", "format": "date-time"},
                 "description": "Created before"},
                {"name": "where", "in": "query", "required": False, "style": "form", "explode": True,
                 "schema": {"type": "array", "items": {"type": "string"}},
                 "description": "A payload condition `<path> <operator> <value>` such as `data.order_id eq 1234`, "
                                f"the operator one of {', '.join(OPERATORS)}, or {' '.join(f'`{s}`' for s in SYMBOLS)} "
                                f"for {', '.join(SYMBOLS.values())} (`data.total >= 100`); or a filter in its JSON form "
                                "(docs/filters.md); repeated: all must hold. Evaluated over at most 1,000 events "
                                "per request: a page may then be short, and next_cursor goes on from there."},
                {"name": "limit", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}},
                {"name": "before", "in": "query", "required": False, "schema": {"type": "string"},
                 "description": "The next_cursor of the previous page"},
            ],
            "responses": _answers(200, _list_of(_ref("Event"), next_cursor=CURSOR), 403, 422),
        },
    },
    "/api/v1/events/batch": {
        "post": {
            "summary": "Emit up to 1,000 events in one transaction; an error names the item",
            "parameters": TRACE_HEADERS,  # the default of items that send no trace context of their own
            "requestBody": {"required": True, **_json({
                "type": "object", "required": ["events"], "additionalProperties": False,
                "properties": {"events": {"type": "array", "items": BATCH_ITEM, "minItems": 1, "maxItems": 1000}},
            })},
            "responses": _answers(202, _list_of(_exact({"id": STRING, "deliveries": INTEGER,
                                                        "replayed": {"type": "boolean", "const": True}},
                                                       optional=("replayed",))),
                                  400, 403, 409, 413, 415, 422),
        },
    },
    "/api/v1/events/{id}": {
        "parameters": ID,
        "get": {"summary": "One event with its deliveries",
                "responses": _answers(200, _exact({**EVENT_FIELDS, "deliveries": {"type": "array",
                                                                                  "items": _ref("Delivery")}}), 404)},
    },
    "/api/v1/events/{id}/deliveries": {
        "parameters": ID,
        "get": {"summary": "Where one event went: each webhook's delivery, its status, attempts and last error",
                "responses": _answers(200, _list_of(_ref("FanOutDelivery"), event=_ref("Event")), 404)},
    },
    "/api/v1/stats": {
        "get": {"summary": "Delivery statistics of a tenant's webhooks over a period (UTC hours)",
                "parameters": [TENANT_QUERY, *PERIOD], "responses": _answers(200, _ref("Stats"), 403, 404, 422)},
    },
    "/api/v1/webhooks/{id}/stats": {
        "parameters": ID,
        "get": {"summary": "One webhook's delivery statistics over a period: the dashboard's Stats tab",
                "parameters": PERIOD, "responses": _answers(200, _ref("Stats"), 404, 422)},
    },
    "/api/v1/events/{id}/replay": {
        "parameters": ID,
        "post": {
            "summary": "Send a past event to one webhook of its tenant (or resend its delivery there)",
            "requestBody": {"required": True, **_json({"type": "object", "required": ["webhook_id"],
                                                       "additionalProperties": False,
                                                       "properties": {"webhook_id": {"type": "string"}}})},
            "responses": _answers(202, _ref("Delivery"), 400, 404, 409, 415, 422),
        },
    },
    "/api/v1/webhooks": {
        "get": {
            "summary": "List webhooks",
            "parameters": [{"name": "tenant", "in": "query", "required": False, "schema": {"type": "string"}}],
            "responses": _answers(200, _list_of(_ref("Webhook")), 403),
        },
        "post": {
            "summary": "Create a webhook; the answer holds its signing secret, once",
            "requestBody": {"required": True, **_json({"type": "object", "required": ["url"], "additionalProperties": False,
                                                       "properties": {**WEBHOOK_FIELDS, "tenant": {"type": "string"},
                                                                      "secret": SECRET}})},
            "responses": _answers(201, _ref("CreatedWebhook"), 400, 403, 413, 415, 422),
        },
    },
    "/api/v1/webhooks/{id}": {
        "parameters": ID,
        "get": {"summary": "One webhook", "responses": _answers(200, _ref("Webhook"), 404)},
        "patch": {
            "summary": "Change a webhook",
            "requestBody": {"required": True, **_json({"type": "object", "additionalProperties": False,
                                                       "properties": WEBHOOK_FIELDS})},
            "responses": _answers(200, _ref("Webhook"), 400, 404, 413, 415, 422),
        },
        "delete": {"summary": "Delete a webhook; waiting deliveries are cancelled", "responses": _answers(204, None, 404)},
    },
    "/api/v1/webhooks/{id}/rotate-secret": {
        "parameters": ID,
        "post": {
            "summary": "A new signing secret (yours, or generated), shown once, and a new ed25519 key pair; the old "
                       "ones keep signing for the grace period",
            "requestBody": {"required": False, **_json({"type": "object", "additionalProperties": False,
                                                        "properties": {"grace_seconds": {"type": "number"},
                                                                       "secret": SECRET}})},
            "responses": _answers(200, _exact({"secret": STRING, "public_key": STRING_OR_NULL,
                                               "previous_secret_expires_at": TIME}), 400, 404, 415, 422),
        },
    },
    "/api/v1/webhooks/{id}/recover": {
        "parameters": ID,
        "post": {
            "summary": "Send again every failed delivery of this webhook created since a time",
            "requestBody": {"required": True, **_json({"type": "object", "required": ["since"], "additionalProperties": False,
                                                       "properties": {"since": {"type": "string", "format": "date-time"}}})},
            "responses": _answers(202, _exact({"id": STRING, "total": INTEGER}), 400, 404, 415, 422),
        },
    },
    "/api/v1/recoveries/{id}": {
        "parameters": ID,
        "get": {"summary": "Progress of a recover action", "responses": _answers(200, _ref("Progress"), 404)},
    },
    "/api/v1/webhooks/{id}/test": {
        "parameters": ID,
        "post": {
            "summary": "Send one event to this webhook alone and report the first attempt",
            "requestBody": {"required": False, **_json({"type": "object", "additionalProperties": False,
                                                        "properties": {"type": {"type": "string"}, "data": {}}})},
            "responses": {
                **_answers(200, _exact({"delivery": _ref("Delivery"), "attempt": _ref("Attempt")}),
                           400, 404, 409, 413, 415, 422),
                "202": {"description": "the first attempt did not finish in time",
                        **_json(_exact({"delivery": _ref("Delivery"), "attempt": {"type": "null"}}))},
            },
        },
    },
    "/api/v1/webhooks/{id}/deliveries": {
        "parameters": ID,
        "get": {
            "summary": "A webhook's deliveries, newest first",
            "parameters": [
                {"name": "status", "in": "query", "required": False, "schema": {"type": "string"}},
                {"name": "event_type", "in": "query", "required": False, "schema": {"type": "string"}},
                {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer"}},
                {"name": "before", "in": "query", "required": False, "schema": {"type": "string"}},
            ],
            "responses": _answers(200, _list_of(_ref("Delivery"), next_cursor=CURSOR), 404, 422),
        },
    },
    "/api/v1/deliveries/{id}": {
        "parameters": ID,
        "get": {"summary": "One delivery with its payload and attempts", "responses": _answers(200, _ref("DeliveryDetail"), 404)},
    },
    "/api/v1/deliveries/{id}/resend": {
        "parameters": ID,
        "post": {"summary": "Queue one more attempt now", "responses": _answers(202, _ref("Delivery"), 404, 409)},
    },
    "/api/v1/event-types": {
        "get": {
            "summary": "The event-type catalog",
            "parameters": [{"name": "include_archived", "in": "query", "required": False, "schema": {"type": "boolean"}}],
            "responses": _answers(200, _list_of(_ref("EventType")), 422),
        },
        "post": {
            "summary": "Admin keys: add an event type",
            "requestBody": {"required": True, **_json({"type": "object", "required": ["name"], "additionalProperties": False,
                                                       "properties": {"name": {"type": "string"}, **EVENT_TYPE_FIELDS}})},
            "responses": _answers(201, _ref("EventType"), 400, 403, 409, 413, 415, 422),
        },
    },
    "/api/v1/event-types/{name}": {
        "parameters": NAME,
        "get": {"summary": "One event type", "responses": _answers(200, _ref("EventType"), 404)},
        "patch": {
            "summary": "Admin keys: change an event type's description or example, archive or unarchive it",
            "requestBody": {"required": True, **_json({"type": "object", "additionalProperties": False,
                                                       "properties": {**EVENT_TYPE_FIELDS, "archived": {"type": "boolean"}}})},
            "responses": _answers(200, _ref("EventType"), 400, 403, 404, 413, 415, 422),
        },
    },
    "/api/v1/tenants/{tenant}": {
        "parameters": [{"name": "tenant", "in": "path", "required": True, "schema": {"type": "string"}}],
        "get": {"summary": "A tenant's defaults for its webhooks (admin keys, or the tenant's own key)",
                "responses": _answers(200, _ref("Tenant"), 403, 404, 422)},
        "patch": {
            "summary": "Admin keys: set a tenant's defaults (null: the installation's); creates the tenant if new",
            "requestBody": {"required": True, **_json({"type": "object", "additionalProperties": False,
                                                       "properties": TENANT_FIELDS})},
            "responses": _answers(200, _ref("Tenant"), 400, 403, 413, 415, 422),
        },
    },
    "/api/v1/listen": {
        "get": {
            "summary": "Open a `hookline listen` session: an ephemeral webhook of the key's tenant whose deliveries "
                       "stream down this response (text/event-stream: `session`, then `delivery` per attempt, `end` "
                       "when the server shuts down) until the client disconnects; the webhook is then removed and its "
                       "pending deliveries cancelled",
            "x-streaming": True,
            "parameters": [
                {"name": "forward_to", "in": "query", "required": True, "schema": {"type": "string", "format": "uri"},
                 "description": "The CLI's local URL, shown in the dashboard; Hookline never requests it"},
                {"name": "events", "in": "query", "required": False, "schema": {"type": "string", "default": "*"},
                 "description": "Event types or wildcards, comma-separated"},
                {"name": "tenant", "in": "query", "required": False, "schema": {"type": "string"}},
                {"name": "Hookline-Listen-Secret", "in": "header", "required": False, "schema": {"type": "string"},
                 "description": "The signing secret of a previous session, kept by a reconnecting CLI"},
            ],
            "responses": {**_answers(200, None, 403, 422),
                          "200": {"description": "the session's events", "content": {"text/event-stream": {}}}},
        },
    },
    "/api/v1/listen/{id}/results": {
        "parameters": ID,
        "post": {
            "summary": "Report what the local URL answered to a pushed delivery: the attempt's outcome",
            "requestBody": {"required": True, **_json({
                "type": "object", "required": ["delivery_id", "duration_ms"], "additionalProperties": False,
                "properties": {"delivery_id": {"type": "string"}, "status_code": {"type": ["integer", "null"]},
                               "duration_ms": {"type": "integer"}, "response_body": {"type": ["string", "null"]},
                               "error": {"type": ["string", "null"]}},
            })},
            "responses": _answers(204, None, 400, 404, 413, 415, 422),
        },
    },
    "/api/v1/tenants/{tenant}/portal-link": {
        "parameters": [{"name": "tenant", "in": "path", "required": True, "schema": {"type": "string"}}],
        "post": {"summary": "Admin keys: a single-use dashboard link for a tenant",
                 "responses": _answers(201, _exact({"url": STRING, "expires_at": TIME}), 403, 422)},
    },
}

DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "Hookline API", "version": __version__},
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
    },
    "security": [{"bearer": []}, {"apiKey": []}],
}


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(DOCUMENT)


routes = [Route("/api/v1/openapi.json", openapi, methods=["GET"])]
