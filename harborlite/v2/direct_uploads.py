"""Blob uploads answered by harborlite itself, written into the registry's filesystem storage
(:mod:`harborlite.uploads.direct`): ``POST`` (a start, or a whole blob with ``?digest=``),
``PATCH`` (a chunk), ``PUT ?digest=`` (the end), ``GET`` (the status) and ``DELETE`` (a cancel),
with the registry's headers and error codes.

The gateway routes an upload here after every check of the proxy path (token, permissions,
quota reservation, GC fence) when direct uploads are on and the upload is harborlite's: a
start without ``mount``, or an upload whose URL carries no ``_state`` (the registry's uploads
always carry theirs; they stay with the registry). Each request counts against its client's
upload budget (:mod:`harborlite.v2.budget`) as a proxied one does, and its body goes through
the body-rate guard around the app.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs

from starlette.types import Message, Receive, Scope, Send

from harborlite.http.origin import header
from harborlite.services import Services
from harborlite.uploads import direct
from harborlite.uploads.direct import (
    ClientLeft,
    DigestMismatch,
    DigestUnsupported,
    RangeInvalid,
    UploadSessions,
    UploadUnknown,
)
from harborlite.v2 import quota_guard
from harborlite.v2.budget import proxied
from harborlite.v2.challenge import API_VERSION, send_error
from harborlite.v2.forward import has_body
from harborlite.v2.registry_errors import STORAGE_FULL
from harborlite.v2.routes import Kind, Route

log = logging.getLogger("harborlite.uploads")

CLIENT_GONE = 499  # what the access log says when the client left mid-body
NOSNIFF = (b"x-content-type-options", b"nosniff")  # the registry sends it with every answer
# in an upload's Location, where the registry puts its ``_state``: clients that add
# ``&digest=`` to the Location (it always has a query with the registry) keep working
MARK = "_upload=harborlite"


class _Answer(Exception):
    """An error answer in the registry's envelope."""

    def __init__(self, status: int, code: str, message: str, detail: object = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.detail = status, code, message, detail


def _unknown() -> _Answer:
    return _Answer(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry")


def _digest_invalid(detail: object) -> _Answer:
    return _Answer(400, "DIGEST_INVALID", "provided digest did not match uploaded content", detail)


class DirectUploads:
    """The gateway's direct upload path; one per gateway (it keeps the running hashes)."""

    def __init__(self) -> None:
        self._sessions: dict[Path, UploadSessions] = {}

    def handles(self, services: Services, scope: Scope, route: Route) -> bool:
        """Whether this upload request is answered here rather than by the registry."""
        if route.kind is not Kind.UPLOAD or route.mount_from is not None:
            return False
        if services.storage_root is None or not direct.enabled(services.settings):
            return False
        if "_state" in _params(scope):
            return False  # an upload the registry started: it goes on there
        method: str = scope["method"]
        if method == "POST":
            return route.reference == ""
        return method in ("PATCH", "PUT", "GET", "HEAD", "DELETE") and route.reference != ""

    def _of(self, root: Path) -> UploadSessions:
        sessions = self._sessions.get(root)
        if sessions is None:
            sessions = self._sessions[root] = UploadSessions(root)
        return sessions

    async def serve(
        self, services: Services, scope: Scope, receive: Receive, send: Send, route: Route
    ) -> int:
        """Answer the request; the status sent. The quota's reservation (if the guard made
        one) is settled with the answer, as after the registry's."""
        assert services.storage_root is not None
        sessions = self._of(services.storage_root)
        method: str = scope["method"]
        status = 500
        headers: list[tuple[bytes, bytes]] = []
        try:
            with proxied(scope, None):  # the per-client budget, as for the registry
                try:
                    status, headers = await self._answer(services, sessions, scope, receive, route)
                except (UploadUnknown, RangeInvalid, DigestMismatch, DigestUnsupported) as error:
                    raise _answer_of(error) from None
        except _Answer as error:
            status = error.status
            await send_error(
                send, status, error.code, error.message, detail=error.detail, head=method == "HEAD"
            )
            return status
        except ClientLeft:
            status = CLIENT_GONE
            return status
        except OSError as error:
            head = method == "HEAD"
            if error.errno == errno.ENOSPC:  # said so, as for the registry's full disk
                log.warning("direct upload %s %s: the storage is full", method, scope["path"])
                status = 507
                await send_error(send, status, "UNKNOWN", STORAGE_FULL, head=head)
                return status
            log.exception("direct upload %s %s failed", method, scope["path"])
            await send_error(send, 500, "UNKNOWN", "unknown error", head=head)
            return 500
        finally:
            if method in ("POST", "PUT"):
                await quota_guard.uploaded(services, scope, route, status, headers)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return status

    async def _answer(
        self,
        services: Services,
        sessions: UploadSessions,
        scope: Scope,
        receive: Receive,
        route: Route,
    ) -> tuple[int, list[tuple[bytes, bytes]]]:
        method: str = scope["method"]
        name = route.name
        params = _params(scope)
        base = _base_url(services, scope)
        if method == "POST":
            digest = params.get("digest", [""])[0]
            upload = await sessions.start(name)
            if not (digest and has_body(scope)):  # a start (distribution ignores a bare digest)
                return 202, _upload_headers(base, name, upload, 0)
            try:
                done = await sessions.commit(name, upload, digest, _body(receive, services))
            except BaseException:
                await _discard(sessions, name, upload)  # nobody knows its id: it goes
                raise
            return 201, _created_headers(base, name, done.digest)
        upload = route.reference
        if method == "PATCH":
            start = _chunk_start(scope)
            size = await sessions.append(name, upload, _body(receive, services), start)
            return 202, _upload_headers(base, name, upload, size)
        if method == "PUT":
            digest = params.get("digest", [""])[0]
            if not digest:
                sessions.size(name, upload)  # an unknown upload is told so first
                raise _digest_invalid("digest missing")
            body = _body(receive, services) if has_body(scope) else None
            try:
                done = await sessions.commit(name, upload, digest, body)
            except OSError:  # a full disk: the partial blob goes, freeing its space
                await _discard(sessions, name, upload)
                raise
            return 201, _created_headers(base, name, done.digest)
        if method in ("GET", "HEAD"):
            size = sessions.size(name, upload)  # a 204 has no Content-Length (as Go answers)
            headers = _upload_headers(base, name, upload, size)
            return 204, [pair for pair in headers if pair[0] != b"content-length"]
        await sessions.cancel(name, upload)  # DELETE
        return 204, [
            (b"docker-upload-uuid", upload.encode()),
            API_VERSION,
            NOSNIFF,
        ]


async def _discard(sessions: UploadSessions, name: str, upload: str) -> None:
    try:
        await sessions.cancel(name, upload)
    except UploadUnknown:
        pass


def _params(scope: Scope) -> dict[str, list[str]]:
    query: bytes = scope.get("query_string", b"")
    return parse_qs(query.decode("latin-1")) if query else {}


def _base_url(services: Services, scope: Scope) -> str:
    """What the registry puts in front of its ``Location`` paths: the scheme harborlite is
    reached by and the ``Host`` the client used."""
    scheme = services.settings.external_url.split(":", 1)[0]
    return f"{scheme}://{header(scope, b'host') or services.settings.external_host}"


def _upload_headers(base: str, name: str, upload: str, size: int) -> list[tuple[bytes, bytes]]:
    return [
        (b"location", f"{base}/v2/{name}/blobs/uploads/{upload}?{MARK}".encode()),
        (b"range", f"0-{max(size - 1, 0)}".encode()),
        (b"docker-upload-uuid", upload.encode()),
        (b"content-length", b"0"),
        API_VERSION,
        NOSNIFF,
    ]


def _created_headers(base: str, name: str, digest: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"location", f"{base}/v2/{name}/blobs/{digest}".encode()),
        (b"docker-content-digest", digest.encode()),
        (b"content-length", b"0"),
        API_VERSION,
        NOSNIFF,
    ]


def _chunk_start(scope: Scope) -> int | None:
    """Where a chunk says it starts (``Content-Range: <start>-<end>``), checked against its
    ``Content-Length`` as distribution does; None without one."""
    raw = header(scope, b"content-range")
    length = header(scope, b"content-length")
    if raw is None or length is None:
        return None
    text = raw.strip().removeprefix("bytes").strip().lstrip("=").strip()
    first, _, last = text.partition("-")
    if not (first.isdigit() and last.isdigit() and length.strip().isdigit()):
        raise _Answer(400, "BLOB_UPLOAD_INVALID", "blob upload invalid", f"bad range {raw!r}")
    start, end = int(first), int(last)
    if start > end:
        raise _Answer(416, "RANGE_INVALID", "invalid content range")
    if int(length) != end - start + 1:
        raise _Answer(400, "SIZE_INVALID", "provided length did not match content length")
    return start


async def _body(receive: Receive, services: Services) -> AsyncIterator[bytes]:
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientLeft()
        chunk = message.get("body", b"")
        if chunk:
            services.metrics.stored_directly(len(chunk))
            yield chunk
        if not message.get("more_body", False):
            return


def _answer_of(error: Exception) -> _Answer:
    """The registry's answer to a domain error."""
    if isinstance(error, RangeInvalid):
        return _Answer(416, "RANGE_INVALID", "invalid content range")
    if isinstance(error, DigestMismatch):  # the registry's detail: the digest asked for
        return _digest_invalid({"Digest": error.args[0], "Reason": {}})
    if isinstance(error, DigestUnsupported):
        return _digest_invalid("digest parsing failed")
    return _unknown()
