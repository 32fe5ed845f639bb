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
                                "{webhook.id}, {webhook.name}, {delivery.id}) becomes that JSON value."},
    "auto_disable": {"type": ["object", "null"],
                     "description": "{\"rule\": \"deliveries\", \"failures\": 5, \"period\": \"24h\"}, "
                                    "{\"rule\": \"attempts\", \"failures\": 5} or {\"rule\": \"never\"}."},
}
SECRET = {"type": "string", "minLength": 1, "maxLength": 256,
          "description": "Your own signing secret: 16-256 visible ASCII characters, or whsec_ + base64 (needed by the "
                         "standard scheme). Generated when absent."}
TENANT_FIELDS = {**CONTRACT_FIELDS, "retry_schedule": {"type": ["array", "null"], "items": {"type": ["number", "string"]}}}
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
                               "User-Agent may be set; null drops a default header (User-Agent, X-Webhook-Event, "
                               "X-Webhook-Timestamp). Values of secret headers are encrypted at rest and shown "
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

SCHEMAS = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["message"],
                                 "properties": {"message": {"type": "string"}, "field": {"type": "string"}}}},
    },
    "Webhook": {
        "type": "object",
        "properties": {**WEBHOOK_FIELDS, "id": {"type": "string"}, "tenant": {"type": "string"},
                       "public_key": {"type": ["string", "null"], "description": "whpk_…: verifies ed25519 signatures"},
                       "disabled_reason": {"type": ["string", "null"]}, "consecutive_failures": {"type": "integer"},
                       "created_at": TIME, "updated_at": TIME},
    },
    "Tenant": {
        "type": "object",
        "properties": {**TENANT_FIELDS, "slug": {"type": "string"}, "created_at": TIME,
                       "inherited": {"type": "object", "description": "What applies where the tenant sets nothing"}},
    },
    "Delivery": {
        "type": "object",
        "properties": {
            "id": {"type": "string"}, "event_id": {"type": "string"}, "event_type": {"type": "string"},
            "webhook_id": {"type": "string"}, "status": {"type": "string"}, "attempts": {"type": "integer"},
            "next_attempt_at": TIME, "last_status_code": {"type": ["integer", "null"]},
            "last_error": {"type": ["string", "null"]}, "created_at": TIME, "updated_at": TIME,
        },
    },
}

PATHS = {
    "/api/v1/events": {
        "post": {
            "summary": "Emit an event to every subscribed webhook of the tenant",
            "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                            "schema": {"type": "string", "minLength": 1, "maxLength": 255}}],
            "requestBody": {"required": True, **_json(EMIT_BODY)},
            "responses": _answers(202, {"type": "object", "properties": {"id": {"type": "string"},
                                                                          "deliveries": {"type": "integer"}}},
                                  400, 403, 409, 413, 415, 422),
        },
    },
    "/api/v1/events/batch": {
        "post": {
            "summary": "Emit up to 1,000 events in one transaction; an error names the item",
            "requestBody": {"required": True, **_json({
                "type": "object", "required": ["events"], "additionalProperties": False,
                "properties": {"events": {"type": "array", "items": EMIT_BODY, "minItems": 1, "maxItems": 1000}},
            })},
            "responses": _answers(202, {"type": "object"}, 400, 403, 409, 413, 415, 422),
        },
    },
    "/api/v1/events/{id}": {
        "parameters": ID,
        "get": {"summary": "One event with its deliveries", "responses": _answers(200, {"type": "object"}, 404)},
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
            "responses": _answers(200, {"type": "object", "properties": {"data": {"type": "array", "items": _ref("Webhook")}}}, 403),
        },
        "post": {
            "summary": "Create a webhook; the answer holds its signing secret, once",
            "requestBody": {"required": True, **_json({"type": "object", "required": ["url"], "additionalProperties": False,
                                                       "properties": {**WEBHOOK_FIELDS, "tenant": {"type": "string"},
                                                                      "secret": SECRET}})},
            "responses": _answers(201, _ref("Webhook"), 400, 403, 413, 415, 422),
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
            "responses": _answers(200, {"type": "object"}, 400, 404, 415, 422),
        },
    },
    "/api/v1/webhooks/{id}/recover": {
        "parameters": ID,
        "post": {
            "summary": "Send again every failed delivery of this webhook created since a time",
            "requestBody": {"required": True, **_json({"type": "object", "required": ["since"], "additionalProperties": False,
                                                       "properties": {"since": {"type": "string", "format": "date-time"}}})},
            "responses": _answers(202, {"type": "object"}, 400, 404, 415, 422),
        },
    },
    "/api/v1/recoveries/{id}": {
        "parameters": ID,
        "get": {"summary": "Progress of a recover action", "responses": _answers(200, {"type": "object"}, 404)},
    },
    "/api/v1/webhooks/{id}/test": {
        "parameters": ID,
        "post": {
            "summary": "Send one event to this webhook alone and report the first attempt",
            "requestBody": {"required": False, **_json({"type": "object", "additionalProperties": False,
                                                        "properties": {"type": {"type": "string"}, "data": {}}})},
            "responses": _answers(200, {"type": "object"}, 400, 404, 409, 413, 415, 422),
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
            "responses": _answers(200, {"type": "object", "properties": {"data": {"type": "array", "items": _ref("Delivery")}}},
                                  404, 422),
        },
    },
    "/api/v1/deliveries/{id}": {
        "parameters": ID,
        "get": {"summary": "One delivery with its payload and attempts", "responses": _answers(200, _ref("Delivery"), 404)},
    },
    "/api/v1/deliveries/{id}/resend": {
        "parameters": ID,
        "post": {"summary": "Queue one more attempt now", "responses": _answers(202, _ref("Delivery"), 404, 409)},
    },
    "/api/v1/event-types": {
        "get": {
            "summary": "The event-type catalog",
            "parameters": [{"name": "include_archived", "in": "query", "required": False, "schema": {"type": "boolean"}}],
            "responses": _answers(200, {"type": "object"}, 422),
        },
        "post": {
            "summary": "Admin keys: add an event type",
            "requestBody": {"required": True, **_json({"type": "object", "required": ["name"], "additionalProperties": False,
                                                       "properties": {"name": {"type": "string"}, **EVENT_TYPE_FIELDS}})},
            "responses": _answers(201, {"type": "object"}, 400, 403, 409, 413, 415, 422),
        },
    },
    "/api/v1/event-types/{name}": {
        "parameters": NAME,
        "get": {"summary": "One event type", "responses": _answers(200, {"type": "object"}, 404)},
        "patch": {
            "summary": "Admin keys: change an event type's description or example, archive or unarchive it",
            "requestBody": {"required": True, **_json({"type": "object", "additionalProperties": False,
                                                       "properties": {**EVENT_TYPE_FIELDS, "archived": {"type": "boolean"}}})},
            "responses": _answers(200, {"type": "object"}, 400, 403, 404, 413, 415, 422),
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
    "/api/v1/tenants/{tenant}/portal-link": {
        "parameters": [{"name": "tenant", "in": "path", "required": True, "schema": {"type": "string"}}],
        "post": {"summary": "Admin keys: a single-use dashboard link for a tenant",
                 "responses": _answers(201, {"type": "object"}, 403, 422)},
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
