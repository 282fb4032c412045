"""The OpenAPI 3.1 document of the tickets API, built from the pydantic schemas."""

from __future__ import annotations

from functools import cache
from typing import Any

from bot.tickets.query import MAX_PAGE, MAX_PER_PAGE, MAX_SEARCH, PER_PAGE
from bot.web.api.schemas import SCHEMAS

REF = "#/components/schemas/{model}"
REFERENCE_PARAM = {
    "name": "reference",
    "in": "path",
    "required": True,
    "description": "A ticket reference, e.g. HD-1042.",
    "schema": {"type": "string", "pattern": "^HD-[0-9]{4,9}$"},
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "The body is not valid JSON.",
        401: "No valid API token.",
        404: "No such ticket.",
        409: "The change conflicts with the ticket's state.",
        413: "The body is too large.",
        415: "The body is not JSON.",
        422: "The input does not match the schema.",
    }
    return {str(code): _json("Error", text[code]) for code in codes}


def _body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}


LIST_PARAMS: list[dict[str, Any]] = [
    {
        "name": "status",
        "in": "query",
        "schema": {"type": "string", "enum": ["new", "open", "pending", "resolved", "closed"]},
    },
    {
        "name": "priority",
        "in": "query",
        "schema": {"type": "string", "enum": ["low", "normal", "high", "urgent"]},
    },
    {
        "name": "assignee_id",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
    },
    {"name": "unassigned", "in": "query", "schema": {"type": "boolean"}},
    {
        "name": "q",
        "in": "query",
        "description": "Search in subject, description and reference.",
        "schema": {"type": "string", "maxLength": MAX_SEARCH},
    },
]
PAGE_PARAMS: list[dict[str, Any]] = [
    {
        "name": "page",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
    },
    {
        "name": "per_page",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": PER_PAGE},
    },
]


NUMBERS_PARAMS: list[dict[str, Any]] = [
    {
        "name": "days",
        "in": "query",
        "description": "The last N days, ending today (UTC); default 7.",
        "schema": {"type": "integer", "minimum": 1, "maximum": 366},
    },
]


@cache
def openapi_document() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in SCHEMAS:
        schema = model.model_json_schema(ref_template=REF, mode="serialization")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    for name in ("TicketCreate", "TicketUpdate", "CommentCreate"):
        schemas[name] = SCHEMAS_INPUT[name]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Helpdesk tickets API",
            "version": "1.0.0",
            "description": "Tickets: list, get, create, update, comment, CSV export; the numbers.",
        },
        "servers": [{"url": "/"}],
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/tickets": {
                "get": {
                    "operationId": "listTickets",
                    "summary": "List tickets, newest first, with filters and pagination.",
                    "parameters": LIST_PARAMS + PAGE_PARAMS,
                    "responses": {
                        "200": _json("TicketPage", "One page of tickets."),
                        **_errors(401, 422),
                    },
                },
                "post": {
                    "operationId": "createTicket",
                    "summary": "Open a ticket (SLA times are set from its priority).",
                    "requestBody": _body("TicketCreate"),
                    "responses": {
                        "201": _json("TicketDetail", "The new ticket."),
                        **_errors(400, 401, 413, 415, 422),
                    },
                },
            },
            "/api/v1/tickets/export.csv": {
                "get": {
                    "operationId": "exportTickets",
                    "summary": "Every ticket matching the filters, as CSV (at most 50,000).",
                    "parameters": LIST_PARAMS,
                    "responses": {
                        "200": {
                            "description": "CSV with a header row.",
                            "content": {"text/csv": {"schema": {"type": "string"}}},
                        },
                        **_errors(401, 422),
                    },
                },
            },
            "/api/v1/tickets/{reference}": {
                "parameters": [REFERENCE_PARAM],
                "get": {
                    "operationId": "getTicket",
                    "summary": "One ticket with its events.",
                    "responses": {
                        "200": _json("TicketDetail", "The ticket."),
                        **_errors(401, 404),
                    },
                },
                "patch": {
                    "operationId": "updateTicket",
                    "summary": "Change status, priority or assignee.",
                    "requestBody": _body("TicketUpdate"),
                    "responses": {
                        "200": _json("TicketDetail", "The updated ticket."),
                        **_errors(400, 401, 404, 409, 413, 415, 422),
                    },
                },
            },
            "/api/v1/numbers": {
                "get": {
                    "operationId": "getNumbers",
                    "summary": "Conversations, deflection, handoffs, response times, SLA "
                    "attainment, CSAT, and under `surveys` CSAT, CES and NPS per channel, "
                    "language, intent and agent with the low scores, for the last N days "
                    "(default 7).",
                    "parameters": NUMBERS_PARAMS,
                    "responses": {
                        "200": {
                            "description": "The numbers (definitions in docs/admins.md).",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        **_errors(401, 422),
                    },
                },
            },
            "/api/v1/tickets/{reference}/comments": {
                "parameters": [REFERENCE_PARAM],
                "post": {
                    "operationId": "addComment",
                    "summary": "A public reply (sent to the customer) or an internal note.",
                    "requestBody": _body("CommentCreate"),
                    "responses": {
                        "201": _json("TicketDetail", "The ticket with the new event."),
                        **_errors(400, 401, 404, 413, 415, 422),
                    },
                },
            },
        },
    }


def _input_schemas() -> dict[str, Any]:
    from bot.web.api.schemas import CommentCreate, TicketCreate, TicketUpdate

    return {
        model.__name__: model.model_json_schema(ref_template=REF, mode="validation")
        for model in (TicketCreate, TicketUpdate, CommentCreate)
    }


SCHEMAS_INPUT = _input_schemas()
