"""Checking JSON answers against Harbor's swagger 2.0 schemas: field names, types, required.

Stricter than Harbor's own clients: a field the schema does not declare is an error (a typo
would otherwise pass). A bare ``{type: object}`` without properties is go-swagger's
``interface{}`` and accepts any value, as Harbor's generated server does.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from harborlite.api.openapi import EXTENSION_FIELDS

# The checkout's parent holds ``shared/`` (here and in CI's clean clone alike).
CHECKOUT = Path(__file__).resolve().parents[2]
SWAGGER = CHECKOUT.parent / "shared" / "reference" / "harbor-api-v2.0-swagger.yaml"
LOCAL_COPY = CHECKOUT / "harborlite" / "api" / "openapi.json"


@cache
def document() -> dict[str, Any]:
    if SWAGGER.exists():
        loaded: dict[str, Any] = yaml.safe_load(SWAGGER.read_text())
        return loaded
    import json

    served: dict[str, Any] = json.loads(LOCAL_COPY.read_text())
    return served


def resolve(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        section, name = node["$ref"].split("/")[1:]
        node = document()[section][name]
    return node


def path_template(method: str, template: str) -> dict[str, Any]:
    operation: dict[str, Any] = document()["paths"][template][method.lower()]
    return operation


def response_schema(method: str, template: str, status: int) -> dict[str, Any] | None:
    responses = path_template(method, template)["responses"]
    response = resolve(responses.get(str(status)) or responses.get("default"))
    if response is None:
        raise AssertionError(f"{method} {template} does not document status {status}")
    schema = response.get("schema")
    return resolve(schema) if schema is not None else None


def response_headers(method: str, template: str, status: int) -> set[str]:
    response = resolve(path_template(method, template)["responses"][str(status)])
    return set(response.get("headers", {}))


def _prop_name(name: str) -> str:
    return name.strip("'")  # the swagger quotes a few keys: "'os.features'"


def _is_time(value: str) -> bool:
    text = value.replace("Z", "+00:00")
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", value) is not None
    return True


# Fields harborlite adds to Harbor's definitions, on purpose (documented in its own OpenAPI):
# the audit log keeps where a change came from, which Harbor does not record.
EXTENSIONS = {name: frozenset(fields) for name, fields in EXTENSION_FIELDS.items()}


def validate(value: Any, schema: Any, where: str = "$", name: str = "") -> list[str]:
    """The ways ``value`` departs from ``schema``; empty when it conforms."""
    if isinstance(schema, dict) and "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
    schema = resolve(schema)
    if not name:  # a definition reached already resolved: its name, for its extension fields
        definitions = document().get("definitions", {})
        name = next((key for key, node in definitions.items() if node is schema), "")
    if schema.get("type") == "object" and not schema.get("properties"):
        if schema.get("additionalProperties") is None:
            return []  # interface{}: any value
    if value is None:
        return [] if schema.get("x-nullable") else [f"{where}: null where {schema.get('type')}"]
    kind = schema.get("type")
    if kind is None and ("properties" in schema or "additionalProperties" in schema):
        kind = "object"
    errors: list[str] = []
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__} where object"]
        properties = {_prop_name(k): v for k, v in schema.get("properties", {}).items()}
        extra = schema.get("additionalProperties")
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{where}: required field {key!r} missing")
        for key, item in value.items():
            if key in properties:
                errors += validate(item, properties[key], f"{where}.{key}")
            elif isinstance(extra, dict):
                errors += validate(item, extra, f"{where}.{key}")
            elif extra is not True and key not in EXTENSIONS.get(name, ()):
                errors.append(f"{where}: field {key!r} is not in the schema")
        return errors
    if kind == "array":
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__} where array"]
        for index, item in enumerate(value):
            errors += validate(item, schema.get("items", {}), f"{where}[{index}]")
        return errors
    if kind == "string":
        if not isinstance(value, str):
            return [f"{where}: {value!r} where string"]
        if schema.get("format") == "date-time" and not _is_time(value):
            return [f"{where}: {value!r} is not a date-time"]
        if "enum" in schema and value not in schema["enum"]:
            return [f"{where}: {value!r} not one of {schema['enum']}"]
        return []
    if kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{where}: {value!r} where integer"]
    if kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if ok else [f"{where}: {value!r} where number"]
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{where}: {value!r} where boolean"]
    return []
