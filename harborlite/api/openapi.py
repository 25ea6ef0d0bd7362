"""harborlite's own API description, served at ``/api/v2.0/openapi.json`` (swagger 2.0).

``openapi.json`` beside this module is Harbor's swagger cut down to the operations harborlite
answers, with every definition, parameter and response they reference, plus harborlite's own
operations (``x-harborlite: true``) and fields. Regenerate it after adding or removing a route:

    python -m harborlite.api.openapi /work/shared/reference/harbor-api-v2.0-swagger.yaml

A test checks both ways that the routes and the document agree.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from harborlite.api.cosign_keys import EXTENSION_PATHS as COSIGN_KEY_PATHS
from harborlite.api.quotas import EXTENSION_PATHS as QUOTA_PATHS
from harborlite.api.registries import EXTENSION_FIELDS as REGISTRY_FIELDS
from harborlite.api.replication import EXTENSION_FIELDS as REPLICATION_FIELDS
from harborlite.api.webhooks import EXTENSION_PATHS as WEBHOOK_PATHS
from harborlite.services import services_of

DOCUMENT_PATH = Path(__file__).with_name("openapi.json")
METHODS = ("get", "head", "post", "put", "patch", "delete")

_ARTIFACT = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}"
_PATH_PARAMS = [
    {"$ref": "#/parameters/requestId"},
    {"$ref": "#/parameters/projectName"},
    {"$ref": "#/parameters/repositoryName"},
    {"$ref": "#/parameters/reference"},
]

# Operations harborlite has and Harbor's swagger does not.
EXTENSION_PATHS: dict[str, dict[str, Any]] = {
    "/openapi.json": {
        "get": {
            "summary": "This API description",
            "operationId": "getOpenAPI",
            "tags": ["harborlite"],
            "x-harborlite": True,
            "responses": {"200": {"description": "The swagger 2.0 document", "schema": {}}},
        }
    },
    _ARTIFACT + "/manifest": {
        "get": {
            "summary": "The artifact's manifest, as stored in the registry",
            "operationId": "getArtifactManifest",
            "tags": ["harborlite"],
            "x-harborlite": True,
            "parameters": _PATH_PARAMS,
            "produces": ["application/vnd.oci.image.manifest.v1+json"],
            "responses": {
                "200": {"description": "The manifest bytes", "schema": {"type": "object"}},
                "401": {"$ref": "#/responses/401"},
                "403": {"$ref": "#/responses/403"},
                "404": {"$ref": "#/responses/404"},
            },
        }
    },
    _ARTIFACT + "/config": {
        "get": {
            "summary": "The image's config (not for indexes)",
            "operationId": "getArtifactConfig",
            "tags": ["harborlite"],
            "x-harborlite": True,
            "parameters": _PATH_PARAMS,
            "responses": {
                "200": {"description": "The config JSON", "schema": {"type": "object"}},
                "401": {"$ref": "#/responses/401"},
                "403": {"$ref": "#/responses/403"},
                "404": {"$ref": "#/responses/404"},
            },
        }
    },
}
EXTENSION_PATHS.update(QUOTA_PATHS)  # /quotas/{id}/recount, /projects/{p}/uploads
EXTENSION_PATHS.update(COSIGN_KEY_PATHS)  # /projects/{p}/cosign-keys
EXTENSION_PATHS.update(WEBHOOK_PATHS)  # /projects/{p}/webhook/policies/{id}/secret

# Fields harborlite adds to Harbor's definitions.
_DISABLED = {
    "disabled": {
        "type": "boolean",
        "description": "The user may not log in (set by system administrators with "
        "PUT /users/{user_id})",
    }
}
EXTENSION_FIELDS: dict[str, dict[str, Any]] = {
    "UserResp": _DISABLED,
    "UserProfile": _DISABLED,
    "AuditLog": {
        "client_ip": {"type": "string", "description": "Where the request came from"},
        "user_agent": {"type": "string", "description": "The client's User-Agent"},
        "success": {"type": "boolean", "description": "Whether the operation succeeded"},
        "detail": {"type": "string", "description": "Why it failed, or what changed"},
    },
    "Robot": {
        "last_used": {
            "type": "string",
            "format": "date-time",
            "x-nullable": True,
            "description": "When the robot last logged in (at most once a minute), or null",
        }
    },
}
for _fields in (REGISTRY_FIELDS, REPLICATION_FIELDS):  # rate limits, bytes moved, throughput
    for _name, _extra in _fields.items():
        EXTENSION_FIELDS.setdefault(_name, {}).update(_extra)


# What harborlite answers beyond what Harbor's swagger says, as Harbor's own server does: a
# malformed parameter is a 400, a resource named in the path that does not exist a 404, a write
# whose body is not JSON a 415, a GC that is running (or not) a 412; an error is JSON whatever
# the operation produces; an addition is the JSON Harbor stores, not a JSON string.
ERROR_RESPONSES = {
    "400": "#/responses/400",
    "404": "#/responses/404",
    "409": "#/responses/409",
    "412": "#/responses/412",
    "415": "#/responses/415",
}
_ADDITIONS = (
    "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/additions"
)
_ARTIFACT_SCAN = (
    "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/scan"
)
OPERATION_RESPONSES: dict[tuple[str, str], list[str]] = {
    ("put", "/system/gc/schedule"): ["412"],
    ("put", "/system/gc/{gc_id}"): ["412"],
    # a scan already going (409), no usable scanner (412); nothing running to stop (412)
    ("post", _ARTIFACT_SCAN): ["409", "412"],
    ("post", _ARTIFACT_SCAN + "/stop"): ["412"],
    ("post", "/system/scanAll/stop"): ["412"],
    # the policy the body names does not exist
    ("post", "/replication/executions"): ["404"],
    # a registration's name or URL taken
    ("post", "/scanners"): ["409"],
    ("put", "/scanners/{registration_id}"): ["409"],
}
ANY_JSON_BODY = {("get", _ADDITIONS + "/{addition}"), ("get", _ADDITIONS + "/vulnerabilities")}


def with_error_responses(method: str, path: str, operation: dict[str, Any]) -> dict[str, Any]:
    """``operation`` as harborlite answers it (see ``ERROR_RESPONSES``)."""
    result = copy.deepcopy(operation)
    responses = result.setdefault("responses", {})
    statuses = ["400", *OPERATION_RESPONSES.get((method, path), [])]
    if "{" in path:
        statuses.append("404")
    if method in ("post", "put", "patch"):
        statuses.append("415")
    for status in statuses:
        responses.setdefault(status, {"$ref": ERROR_RESPONSES[status]})
    if (method, path) in ANY_JSON_BODY:
        responses["200"] = {**responses["200"], "schema": {}}
    produces = result.get("produces")
    if produces and "application/json" not in produces:
        result["produces"] = [*produces, "application/json"]
    result["responses"] = dict(sorted(responses.items()))
    return result


def route_operations(routes: Iterable[BaseRoute]) -> set[tuple[str, str]]:
    """(method, path) of every route; the HEAD Starlette adds to a GET route is left out."""
    operations: set[tuple[str, str]] = set()
    for route in routes:
        if not isinstance(route, Route) or route.methods is None:
            continue
        methods = set(route.methods)
        if "GET" in methods:
            methods.discard("HEAD")
        for method in methods:
            operations.add((method.lower(), route.path))
    return operations


def document_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }


def _references(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref)
        for value in node.values():
            found |= _references(value)
    elif isinstance(node, list):
        for value in node:
            found |= _references(value)
    return found


def build(swagger: dict[str, Any], operations: set[tuple[str, str]]) -> dict[str, Any]:
    """Harbor's swagger restricted to ``operations``, with what they reference."""
    paths: dict[str, dict[str, Any]] = {}
    for method, path in sorted(operations):
        source = EXTENSION_PATHS.get(path) or swagger["paths"].get(path)
        if source is None or method not in source:
            raise KeyError(f"{method.upper()} {path} is neither in Harbor's swagger nor ours")
        paths.setdefault(path, {})[method] = with_error_responses(method, path, source[method])
        if "parameters" in source:
            paths[path]["parameters"] = copy.deepcopy(source["parameters"])
    sections: dict[str, dict[str, Any]] = {"definitions": {}, "parameters": {}, "responses": {}}
    pending = _references(paths)
    seen: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        _, section, name = ref.split("/")
        node = copy.deepcopy(swagger[section][name])
        sections[section][name] = node
        pending |= _references(node)
    # go-swagger reads {type: object} as interface{}: Harbor's extra_attrs holds strings too
    if "ExtraAttrs" in sections["definitions"]:
        sections["definitions"]["ExtraAttrs"]["additionalProperties"] = {}
    for name, fields in EXTENSION_FIELDS.items():
        if name in sections["definitions"]:
            sections["definitions"][name].setdefault("properties", {}).update(fields)
    document = {key: swagger[key] for key in swagger if key not in ("paths", *sections)}
    document["info"] = {
        **swagger.get("info", {}),
        "title": "harborlite API (Harbor v2.0 compatible)",
        "description": "The operations of Harbor's API v2.0 harborlite answers, "
        "and its own (x-harborlite).",
    }
    document["paths"] = dict(sorted(paths.items()))
    for section, entries in sections.items():
        document[section] = dict(sorted(entries.items()))
    return document


@cache
def stored_document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DOCUMENT_PATH.read_text())
    return loaded


async def openapi_json(request: Request) -> Response:
    settings = services_of(request).settings
    document = dict(stored_document())
    document["host"] = settings.external_host
    document["schemes"] = [settings.external_url.split(":", 1)[0]]
    return JSONResponse(document)


ROUTES = [Route("/openapi.json", openapi_json, methods=["GET"])]


def main(argv: list[str]) -> int:
    import yaml

    from harborlite.api.routes import api_app

    if len(argv) != 1:
        print("usage: python -m harborlite.api.openapi HARBOR_SWAGGER.yaml", file=sys.stderr)
        return 2
    swagger = yaml.safe_load(Path(argv[0]).read_text())
    document = build(swagger, route_operations(api_app().routes))
    DOCUMENT_PATH.write_text(json.dumps(document, indent=1, sort_keys=False) + "\n")
    print(f"wrote {DOCUMENT_PATH} ({len(document['paths'])} paths)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
