"""An endpoint's fields as a request gives them, checked with Harbor's rules and texts.

The URL is Harbor's ``lib.ValidateHTTPURL``: trimmed, ``http://`` when it names no scheme,
``http`` or ``https`` only, and rebuilt from scheme, host and path (no user, query or
fragment: a URL that carries them is refused, where Harbor drops them silently). The type is
one harborlite can talk to; the credential is ``basic``; the CA certificate PEM certificates.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from harborlite.endpoints.queries import DOCKER_HUB_URL, TYPES
from harborlite.errors import BadRequest

MAX_NAME = 255
MAX_URL = 2048
MAX_KEY = 1024
MAX_SECRET = 4096
MAX_DESCRIPTION = 1024
MAX_CA = 64 * 1024
MAX_RATE = 10_000.0
HIDDEN_SECRET = "*****"  # what the API shows for a stored secret, and a PUT keeps


@dataclass(frozen=True)
class Credential:
    type: str
    access_key: str | None
    access_secret: str | None  # None: keep what is stored (an update)


def check_url(value: object) -> str:
    if not isinstance(value, str):
        raise BadRequest("url must be a string")
    text = value.strip()
    if not text.rstrip("/"):
        raise BadRequest("empty string")
    if len(text) > MAX_URL:
        raise BadRequest(f"url must be at most {MAX_URL} characters")
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise BadRequest(f"malformed URL: {text}") from None
    if parts.scheme not in ("http", "https"):
        raise BadRequest(f"invalid HTTP scheme: {parts.scheme}")
    if not parts.hostname or any(c.isspace() for c in text):
        raise BadRequest(f"malformed URL: {text}")
    if parts.username is not None or parts.password is not None:
        raise BadRequest("the URL must not hold credentials: give them as the credential")
    if parts.query or parts.fragment:
        raise BadRequest(f"the URL must not have a query or a fragment: {text}")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = host if port is None else f"{host}:{port}"
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


def check_type(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise BadRequest("type is required")
    if value not in TYPES:
        raise BadRequest(f"unsupported registry type: {value}; supported: {', '.join(TYPES)}")
    return value


def check_name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadRequest("name is required")
    name = value.strip()
    if len(name) > MAX_NAME:
        raise BadRequest(f"name must be at most {MAX_NAME} characters")
    if any(not c.isprintable() for c in name):
        raise BadRequest("name must not hold control characters")
    return name


def check_description(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest("description must be a string")
    if len(value) > MAX_DESCRIPTION:
        raise BadRequest(f"description must be at most {MAX_DESCRIPTION} characters")
    return value


def check_insecure(value: object) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BadRequest("insecure must be a boolean")
    return value


def check_ca(value: object) -> str | None:
    """PEM certificates OpenSSL can load as trust anchors (None: none)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadRequest("ca_certificate must be a string")
    if len(value) > MAX_CA:
        raise BadRequest(f"ca_certificate must be at most {MAX_CA} characters")
    if "PRIVATE KEY" in value:
        raise BadRequest("ca_certificate holds a private key: give the CA certificate only")
    if "-----BEGIN CERTIFICATE-----" not in value:
        raise BadRequest("invalid CA certificate: not a PEM certificate")
    try:
        ssl.create_default_context(cadata=value)
    except (ssl.SSLError, ValueError) as error:
        raise BadRequest(f"invalid CA certificate: {error}") from None
    return value


def check_rate(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest("rate_per_second must be a number of requests per second")
    if not 0 < float(value) <= MAX_RATE:
        raise BadRequest(f"rate_per_second must be above 0 and at most {MAX_RATE:g}")
    return float(value)


def _optional_str(value: object, key: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be a string")
    if len(value) > limit:
        raise BadRequest(f"{key} must be at most {limit} characters")
    return value


def check_credential_type(value: object) -> str:
    if value is None or value == "":
        return "basic"
    if value != "basic":
        raise BadRequest(f"unsupported credential type: {value}; supported: basic")
    return "basic"


def check_credential(value: object) -> Credential | None:
    """``credential: {type, access_key, access_secret}`` of a create (None: anonymous)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequest("credential must be an object {type, access_key, access_secret}")
    kind = check_credential_type(value.get("type"))
    key = _optional_str(value.get("access_key"), "access_key", MAX_KEY) or None
    secret = _optional_str(value.get("access_secret"), "access_secret", MAX_SECRET)
    if secret == HIDDEN_SECRET:
        secret = None
    if key is None and secret:
        raise BadRequest("access_secret needs an access_key")
    return Credential(kind, key, secret)


def default_url(kind: str, url: object) -> object:
    """Docker Hub's registry when a ``docker-hub`` endpoint names no URL."""
    if kind == "docker-hub" and (url is None or url == ""):
        return DOCKER_HUB_URL
    return url


def flat_credential(body: dict[str, Any]) -> Credential | None:
    """The flat ``credential_type, access_key, access_secret`` of an update or a ping (None:
    none of them given)."""
    keys = ("credential_type", "access_key", "access_secret")
    if all(body.get(key) is None for key in keys):
        return None
    kind = check_credential_type(body.get("credential_type"))
    key = _optional_str(body.get("access_key"), "access_key", MAX_KEY)
    secret = _optional_str(body.get("access_secret"), "access_secret", MAX_SECRET)
    if secret == HIDDEN_SECRET:
        secret = None
    return Credential(kind, key, secret)
