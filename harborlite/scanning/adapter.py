"""The client of the Harbor Scanner Adapter API v1.1/v1.2 (base ``<url>/api/v1``), over aiohttp.

``GET /metadata``, ``POST /scan`` (202 and an id), ``GET /scan/{id}/report`` (302 with
``Refresh-After`` while the scan runs, 200 with the report). aiohttp's errors become
:class:`AdapterError` here, with a sentence naming the adapter and what went wrong.
"""

from __future__ import annotations

import base64
import json
import ssl
from dataclasses import dataclass
from typing import Any

import aiohttp

METADATA_MIME = "application/vnd.scanner.adapter.metadata+json; version=1.0"
SCAN_REQUEST_MIME = "application/vnd.scanner.adapter.scan.request+json; version=1.0"
SCAN_RESPONSE_MIME = "application/vnd.scanner.adapter.scan.response+json; version=1.0"
ERROR_MIME = "application/vnd.scanner.adapter.error+json; version=1.0"
AUTH_TYPES = ("", "Basic", "Bearer", "X-ScannerAdapter-API-Key")
ANSWER_LIMIT = 64 * 1024 * 1024  # a report of a large image is a few MB
CALL_TIMEOUT = aiohttp.ClientTimeout(total=30, sock_connect=5)


class AdapterError(Exception):
    """A call to a scanner adapter failed; ``args[0]`` says how."""


class AdapterUnreachable(AdapterError):
    """The adapter could not be reached at all (refused, reset, no answer in time)."""


@dataclass(frozen=True)
class Endpoint:
    """Where and how to reach one adapter (the credential already opened)."""

    url: str
    auth: str = ""
    credential: str = ""
    skip_cert_verify: bool = False

    @property
    def base(self) -> str:
        return self.url.rstrip("/") + "/api/v1"

    def headers(self) -> dict[str, str]:
        """The adapter's authentication header: Basic takes ``user:password`` (sent base64
        encoded; a value already encoded is sent as it is), Bearer a token, the API key its
        own header."""
        if not self.auth or not self.credential:
            return {}
        if self.auth == "Basic":
            value = self.credential
            if value.lower().startswith("basic "):
                return {"Authorization": value}
            if ":" in value:
                value = base64.b64encode(value.encode()).decode("ascii")
            return {"Authorization": f"Basic {value}"}
        if self.auth == "Bearer":
            value = self.credential
            if value.lower().startswith("bearer "):
                return {"Authorization": value}
            return {"Authorization": f"Bearer {value}"}
        return {"X-ScannerAdapter-API-Key": self.credential}

    def ssl_context(self) -> ssl.SSLContext | bool:
        return False if self.skip_cert_verify else True


@dataclass(frozen=True)
class ReportAnswer:
    """One poll of a report: the report (200), or how long to wait (302)."""

    report: dict[str, Any] | None
    refresh_after: float | None = None


def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=CALL_TIMEOUT)


async def _body(response: aiohttp.ClientResponse, what: str) -> bytes:
    data = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        data += chunk
        if len(data) > ANSWER_LIMIT:
            raise AdapterError(f"{what} is larger than {ANSWER_LIMIT} bytes")
    return bytes(data)


def _json(body: bytes, what: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise AdapterError(f"{what} is not JSON") from None


def _error_message(body: bytes) -> str:
    """The adapter's ``{"error": {"message": ...}}``, else the start of its body."""
    try:
        found = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace").strip()
    if isinstance(found, dict):
        error = found.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    return body[:200].decode("utf-8", "replace").strip()


def _unreachable(endpoint: Endpoint, error: Exception) -> AdapterUnreachable:
    reason = str(error) or type(error).__name__
    if isinstance(error, TimeoutError):
        reason = "no answer in time"
    return AdapterUnreachable(f"the scanner adapter at {endpoint.url} cannot be reached: {reason}")


async def metadata(endpoint: Endpoint) -> dict[str, Any]:
    """The adapter's metadata (``scanner``, ``capabilities``, ``properties``)."""
    headers = {"Accept": METADATA_MIME, **endpoint.headers()}
    try:
        async with _session() as session:
            async with session.get(
                endpoint.base + "/metadata", headers=headers, ssl=endpoint.ssl_context()
            ) as response:
                status = response.status
                body = await _body(response, "the adapter's metadata")
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        raise _unreachable(endpoint, error) from None
    if status != 200:
        raise AdapterError(
            f"the scanner adapter at {endpoint.url} answered {status} to GET /api/v1/metadata"
            + (f": {_error_message(body)}" if body else "")
        )
    found = _json(body, "the adapter's metadata")
    if not isinstance(found, dict) or not isinstance(found.get("scanner"), dict):
        raise AdapterError(f"the scanner adapter at {endpoint.url} gave metadata without a scanner")
    return found


async def submit(endpoint: Endpoint, request: dict[str, Any]) -> str:
    """``POST /scan``: the scan request id the adapter gave."""
    headers = {
        "Content-Type": SCAN_REQUEST_MIME,
        "Accept": SCAN_RESPONSE_MIME,
        **endpoint.headers(),
    }
    try:
        async with _session() as session:
            async with session.post(
                endpoint.base + "/scan",
                data=json.dumps(request).encode(),
                headers=headers,
                ssl=endpoint.ssl_context(),
            ) as response:
                status = response.status
                body = await _body(response, "the adapter's scan answer")
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        raise _unreachable(endpoint, error) from None
    if status != 202:
        raise AdapterError(
            f"the scanner adapter refused the scan request ({status}): {_error_message(body)}"
        )
    found = _json(body, "the adapter's scan answer")
    if not isinstance(found, dict) or not isinstance(found.get("id"), str) or not found["id"]:
        raise AdapterError("the scanner adapter accepted the scan without giving its id")
    return str(found["id"])


async def report(endpoint: Endpoint, request_id: str, mime_type: str) -> ReportAnswer:
    """One poll of ``GET /scan/{id}/report``."""
    headers = {"Accept": mime_type, **endpoint.headers()}
    url = f"{endpoint.base}/scan/{request_id}/report"
    try:
        async with _session() as session:
            async with session.get(
                url, headers=headers, ssl=endpoint.ssl_context(), allow_redirects=False
            ) as response:
                status = response.status
                refresh = response.headers.get("Refresh-After", "")
                body = await _body(response, "the scan report")
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        raise _unreachable(endpoint, error) from None
    if status == 302:
        try:
            wait = float(refresh)
        except ValueError:
            wait = 5.0
        return ReportAnswer(None, max(0.0, wait))
    if status == 200:
        found = _json(body, "the scan report")
        if not isinstance(found, dict):
            raise AdapterError("the scan report is not a JSON object")
        return ReportAnswer(found)
    if status == 404:
        raise AdapterError(f"the scanner adapter does not know scan request {request_id}")
    raise AdapterError(f"the scanner adapter failed the scan ({status}): {_error_message(body)}")
