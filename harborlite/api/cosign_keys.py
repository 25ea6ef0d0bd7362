"""``/projects/{project_name_or_id}/cosign-keys``: the project's trusted cosign public keys.

A harborlite extension (Harbor has no per-project key: its signed-only policy checks that a
signature exists, never that it is valid). With ``enable_content_trust_cosign`` set and keys
here, a pull needs a signature that verifies with one of them.

- ``GET`` lists them: ``[{id, name, algorithm, fingerprint, public_key, creator,
  creation_time}]``;
- ``POST {"public_key": "<PEM of cosign.pub>", "name": "..."}`` adds one (201, ``Location``);
- ``GET .../{key_id}`` shows one, ``DELETE .../{key_id}`` removes it.

Any caller who may read the project may read its keys (they are public keys); adding and
deleting them takes ``project update`` (ProjectAdmin), as the setting does.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harborlite.api.body import json_body, path_int
from harborlite.api.call import api_call
from harborlite.api.render import iso
from harborlite.signatures import operations
from harborlite.signatures import queries as keys
from harborlite.signatures.models import CosignKey


def key_json(key: CosignKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "algorithm": key.algorithm,
        "fingerprint": key.fingerprint,
        "public_key": key.pem,
        "creator": key.creator,
        "creation_time": iso(key.creation_time),
    }


async def list_keys(request: Request) -> Response:
    async with api_call(request) as call:
        found = await call.project()
        rows = await keys.list_keys(call.session, found.project.id)
    return JSONResponse([key_json(row) for row in rows], headers={"X-Total-Count": str(len(rows))})


async def add_key(request: Request) -> Response:
    async with api_call(request) as call:
        found = await call.project(("project", "update"))
        body = await json_body(request)
        row = await operations.add_key(
            call.session, found.project, body.get("public_key"), body.get("name"), by=call.actor
        )
        location = f"{request.url.path.rstrip('/')}/{row.id}"
    return Response(status_code=201, headers={"Location": location})


async def get_key(request: Request) -> Response:
    key_id = path_int(request, "key_id")
    async with api_call(request) as call:
        found = await call.project()
        row = await operations.key_of(call.session, found.project, key_id)
        return JSONResponse(key_json(row))


async def delete_key(request: Request) -> Response:
    key_id = path_int(request, "key_id")
    async with api_call(request) as call:
        found = await call.project(("project", "update"))
        await operations.delete_key(call.session, found.project, key_id, by=call.actor)
    return Response(status_code=200)


BASE = "/projects/{project_name_or_id}/cosign-keys"

_KEY = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "algorithm": {"type": "string", "description": "ecdsa-p256, ed25519 or rsa-<bits>"},
        "fingerprint": {"type": "string", "description": "hex SHA-256 of the DER public key"},
        "public_key": {"type": "string", "description": "the PEM of cosign.pub"},
        "creator": {"type": "string"},
        "creation_time": {"type": "string", "format": "date-time"},
    },
}
_PROJECT = [
    {"$ref": "#/parameters/requestId"},
    {"$ref": "#/parameters/isResourceName"},
    {"$ref": "#/parameters/projectNameOrId"},
]
_KEY_ID = {"name": "key_id", "in": "path", "type": "integer", "required": True}
_ERRORS = {
    "401": {"$ref": "#/responses/401"},
    "403": {"$ref": "#/responses/403"},
    "404": {"$ref": "#/responses/404"},
}


def _operation(summary: str, operation_id: str, parameters: list[Any], ok: dict[str, Any]) -> Any:
    return {
        "summary": summary,
        "operationId": operation_id,
        "tags": ["harborlite"],
        "x-harborlite": True,
        "parameters": parameters,
        "responses": {**ok, **_ERRORS},
    }


# harborlite's own operations, for the API description (api/openapi.py's EXTENSION_PATHS)
EXTENSION_PATHS: dict[str, dict[str, Any]] = {
    "/projects/{project_name_or_id}/cosign-keys": {
        "get": _operation(
            "The project's trusted cosign public keys",
            "listCosignKeys",
            _PROJECT,
            {"200": {"description": "The keys", "schema": {"type": "array", "items": _KEY}}},
        ),
        "post": _operation(
            "Trust a cosign public key: signed-only pulls then need a signature it verifies",
            "addCosignKey",
            [
                *_PROJECT,
                {
                    "name": "key",
                    "in": "body",
                    "required": True,
                    "schema": {
                        "type": "object",
                        "properties": {
                            "public_key": {"type": "string"},
                            "name": {"type": "string"},
                        },
                    },
                },
            ],
            {"201": {"description": "Added"}, "409": {"$ref": "#/responses/409"}},
        ),
    },
    "/projects/{project_name_or_id}/cosign-keys/{key_id}": {
        "get": _operation(
            "One trusted key",
            "getCosignKey",
            [*_PROJECT, _KEY_ID],
            {"200": {"description": "The key", "schema": _KEY}},
        ),
        "delete": _operation(
            "Stop trusting a key",
            "deleteCosignKey",
            [*_PROJECT, _KEY_ID],
            {"200": {"description": "Deleted"}},
        ),
    },
}


ROUTES = [
    Route(BASE, list_keys, methods=["GET"]),
    Route(BASE, add_key, methods=["POST"]),
    Route(BASE + "/{key_id}", get_key, methods=["GET"]),
    Route(BASE + "/{key_id}", delete_key, methods=["DELETE"]),
]
