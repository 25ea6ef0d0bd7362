"""A webhook policy as the API reads and shows it, with Harbor's checks and messages
(src/server/v2.0/handler/webhook.go ``validateTargets``, ``validateEventTypes``;
src/lib/endpoint.go ``ParseEndpoint``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from harborlite.errors import BadRequest
from harborlite.webhooks.events import (
    DEFAULT_FORMAT,
    EVENT_TYPES,
    NOTIFY_TYPES,
    PAYLOAD_FORMATS,
    SLACK,
)

MAX_TARGETS = 10


@dataclass(frozen=True)
class PolicyFields:
    name: str
    description: str
    enabled: bool
    event_types: list[str]
    targets: list[dict[str, Any]]


def parse_address(raw: object) -> str:
    """Harbor's ``ParseEndpoint``: ``http`` or ``https`` (none given: ``http``), a host; kept
    as scheme, host and path only (Harbor's SSRF fix #3755 drops the rest)."""
    if not isinstance(raw, str):
        raise BadRequest("empty URL")
    trimmed = raw.strip(" ")
    endpoint = trimmed.rstrip("/")
    if not endpoint:
        raise BadRequest("empty URL")
    if "://" in trimmed:
        scheme = trimmed.split("://", 1)[0]
        if scheme not in ("http", "https"):
            raise BadRequest(f"invalid scheme: {scheme}")
    else:
        endpoint = "http://" + endpoint
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError:
        raise BadRequest(f"parse {endpoint!r}: invalid URI for request") from None
    if not host or any(c.isspace() for c in endpoint):
        raise BadRequest(f"parse {endpoint!r}: invalid URI for request")
    netloc = parts.netloc.rsplit("@", 1)[-1]  # never credentials in the address
    return f"{parts.scheme}://{netloc}{parts.path}"


def _target(raw: object, policy_name: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise BadRequest("each target must be a JSON object")
    kind = raw.get("type") or ""
    address = parse_address(raw.get("address"))
    if kind not in NOTIFY_TYPES:
        raise BadRequest(f"unsupported target type {kind} with policy {policy_name}")
    payload_format = raw.get("payload_format") or ""
    if not isinstance(payload_format, str):
        raise BadRequest(f"unsupported payload format type: {payload_format}")
    if payload_format and kind == SLACK:
        raise BadRequest("set payload format is not allowed for slack")
    if payload_format and payload_format not in PAYLOAD_FORMATS.get(kind, ()):
        raise BadRequest(f"unsupported payload format type: {payload_format}")
    auth_header = raw.get("auth_header") or ""
    if not isinstance(auth_header, str) or "\n" in auth_header or "\r" in auth_header:
        raise BadRequest("auth_header must be a string on one line")
    skip = raw.get("skip_cert_verify", False)
    if not isinstance(skip, bool):
        raise BadRequest("skip_cert_verify must be a boolean")
    target: dict[str, Any] = {
        "type": kind,
        "address": address,
        "auth_header": auth_header,
        "skip_cert_verify": skip,
    }
    if kind != SLACK:
        target["payload_format"] = payload_format or DEFAULT_FORMAT
    return target


def parse_policy(body: dict[str, Any]) -> PolicyFields:
    """The fields of a ``WebhookPolicy`` body; 400 with Harbor's message for a bad one."""
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("name is required")
    if len(name) > 255:
        raise BadRequest("name is longer than 255 characters")
    description = body.get("description") or ""
    if not isinstance(description, str):
        raise BadRequest("description must be a string")
    enabled = body.get("enabled", True)
    if not isinstance(enabled, bool):
        raise BadRequest("enabled must be a boolean")
    targets = body.get("targets")
    if not isinstance(targets, list) or not targets:
        raise BadRequest(f"empty notification target with policy {name}")
    if len(targets) > MAX_TARGETS:
        raise BadRequest(f"at most {MAX_TARGETS} targets in a policy")
    parsed = [_target(target, name) for target in targets]
    event_types = body.get("event_types")
    if not isinstance(event_types, list) or not event_types:
        raise BadRequest("empty event type")
    for event_type in event_types:
        if event_type not in EVENT_TYPES:
            raise BadRequest(f"unsupported event type {event_type}")
    unique = list(dict.fromkeys(event_types))
    return PolicyFields(name.strip(), description, enabled, unique, parsed)
