"""The client of one remote distribution registry: manifests, tags, blobs, referrers.

:class:`RemoteRegistry` speaks the OCI distribution API to an :class:`Endpoint` and handles
authentication itself: anonymous, HTTP Basic, and the bearer token flow of a
``WWW-Authenticate: Bearer realm=...,service=...,scope=...`` challenge (Harbor, harborlite,
Docker Hub), the token cached per scope until it expires. TLS follows the endpoint: its CA
certificate when it has one, no verification when it is ``insecure``. With
``rate_per_second`` every request first takes a token of the endpoint's bucket. aiohttp's errors,
a ``429`` (with its ``Retry-After``) and any refusal become :class:`RemoteError`.

Blobs stream both ways: :meth:`open_blob` yields the bytes in chunks, :meth:`put_blob` sends an
async iterable as one upload (``POST`` then ``PUT ?digest=``). Use it as ``async with``, or call
:meth:`close`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import Any
from urllib.parse import quote

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from harborlite.endpoints.queries import DOCKER_HUB_URL, Endpoint
from harborlite.remote.challenge import Challenge, TokenCache, parse_challenge
from harborlite.remote.errors import RemoteError, parse_retry_after
from harborlite.remote.ratelimit import TokenBucket, bucket_for
from harborlite.remote.types import (
    ACCEPT_MANIFESTS,
    MAX_MANIFEST_BYTES,
    OCI_INDEX,
    BlobStream,
    RemoteManifest,
)

TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=15, sock_read=120)
CHUNK = 256 * 1024
PAGE = 1000
_HUB_WEB = ("https://hub.docker.com", "https://docker.io", "https://index.docker.io")


def registry_base(endpoint: Endpoint) -> str:
    """The URL of the endpoint's distribution API (Docker Hub's web address means registry-1)."""
    url = endpoint.url.strip().rstrip("/")
    if endpoint.type == "docker-hub" and (not url or url in _HUB_WEB):
        return DOCKER_HUB_URL
    return url


def ssl_for(endpoint: Endpoint) -> ssl.SSLContext | bool:
    if endpoint.insecure:
        return False
    if endpoint.ca_pem:
        try:
            return ssl.create_default_context(cadata=endpoint.ca_pem)
        except (ssl.SSLError, ValueError) as error:
            raise RemoteError(
                f"the CA certificate of endpoint {endpoint.name} is unusable: {error}"
            ) from None
    return True


def _digest_of(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _next_link(response: aiohttp.ClientResponse) -> str | None:
    for link in response.headers.getall("Link", []):
        for part in link.split(","):
            target, _, params = part.partition(";")
            if 'rel="next"' in params.replace(" ", "") or "rel=next" in params.replace(" ", ""):
                return target.strip().strip("<>")
    return None


def _pull(repository: str) -> str:
    return f"repository:{repository}:pull"


def _push(repository: str) -> str:
    return f"repository:{repository}:pull,push"


class RemoteRegistry:
    def __init__(
        self,
        endpoint: Endpoint,
        *,
        user_agent: str = "harborlite",
        limiter: TokenBucket | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.base = URL(registry_base(endpoint))
        self.user_agent = user_agent
        self._ssl = ssl_for(endpoint)
        self._limiter = limiter or bucket_for(endpoint.id, endpoint.rate_per_second)
        self._tokens = TokenCache()
        self._basic: str | None = None  # the Basic Authorization value, when it has a user
        if endpoint.username:
            pair = f"{endpoint.username}:{endpoint.password or ''}".encode()
            self._basic = "Basic " + base64.b64encode(pair).decode("ascii")
        self._scheme: str | None = None  # "basic" / "bearer", once a challenge said which
        self._bearer: Challenge | None = None
        self._session: aiohttp.ClientSession | None = None

    # -- lifecycle -----------------------------------------------------------------------
    async def __aenter__(self) -> RemoteRegistry:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=TIMEOUT,
                connector=aiohttp.TCPConnector(ssl=self._ssl, limit=16),
                headers={"User-Agent": self.user_agent},
            )
        return self._session

    def _url(self, path: str) -> URL:
        return URL(str(self.base) + path, encoded=True)

    # -- authentication ------------------------------------------------------------------
    async def _token(self, scope: str, challenge: Challenge) -> str:
        """A bearer token for ``scope`` from the challenge's realm (cached)."""
        cached = self._tokens.get(scope)
        if cached is not None:
            return cached
        if not challenge.realm:
            raise RemoteError(f"{self.endpoint.name}: a Bearer challenge without a realm")
        query: list[tuple[str, str]] = []
        if challenge.service:
            query.append(("service", challenge.service))
        for one in scope.split():
            query.append(("scope", one))
        try:
            headers = {"Authorization": self._basic} if self._basic else {}
            async with self._http().get(
                challenge.realm, params=query, headers=headers, allow_redirects=True
            ) as response:
                if response.status in (401, 403):
                    raise RemoteError(
                        f"{self.endpoint.name}: the token service refused the credentials",
                        status=response.status,
                    )
                self._raise_for_limits(response)
                if response.status != 200:
                    raise RemoteError(
                        f"{self.endpoint.name}: the token service answered {response.status}",
                        status=response.status,
                    )
                answer = json.loads(await response.read())
        except aiohttp.ClientError as error:
            raise RemoteError(
                f"{self.endpoint.name}: the token service is unreachable ({error})"
            ) from None
        except ValueError:
            raise RemoteError(f"{self.endpoint.name}: the token service answered no JSON") from None
        if not isinstance(answer, dict):
            raise RemoteError(f"{self.endpoint.name}: the token service answered no object")
        token = answer.get("token") or answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise RemoteError(f"{self.endpoint.name}: the token service gave no token")
        expires = answer.get("expires_in")
        self._tokens.put(scope, token, float(expires) if isinstance(expires, int | float) else None)
        return token

    async def _authorization(self, scope: str) -> dict[str, str]:
        """The Authorization header a request with ``scope`` goes with, as far as known."""
        if self._scheme == "bearer" and self._bearer is not None:
            return {"Authorization": f"Bearer {await self._token(scope, self._bearer)}"}
        if self._scheme == "basic" and self._basic is not None:
            return {"Authorization": self._basic}
        return {}

    def _raise_for_limits(self, response: aiohttp.ClientResponse) -> None:
        if response.status == 429:
            raise RemoteError(
                f"{self.endpoint.name}: too many requests (429)",
                status=429,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )

    async def _learn(self, response: aiohttp.ClientResponse, scope: str) -> bool:
        """After a 401: learn the scheme from the challenge; True when a retry may succeed."""
        challenge = parse_challenge(response.headers.get("WWW-Authenticate"))
        if challenge is None:
            return False
        if challenge.scheme == "basic":
            if self._basic is None or self._scheme == "basic":
                return False
            self._scheme = "basic"
            return True
        self._tokens.drop(scope)
        self._scheme, self._bearer = "bearer", challenge
        return True

    @asynccontextmanager
    async def _request(
        self,
        method: str,
        path_or_url: str | URL,
        *,
        scope: str,
        headers: dict[str, str] | None = None,
        data: Any = None,
        retry_auth: bool = True,
        allow_redirects: bool = True,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """One request with authentication (one retry after a 401 challenge) and the rate
        limit; the response is yielded open (its body not read) and closed afterwards."""
        url = path_or_url if isinstance(path_or_url, URL) else self._url(path_or_url)
        attempts = 2 if retry_auth else 1
        for attempt in range(attempts):
            if self._limiter is not None:
                await self._limiter.acquire()
            sent = CIMultiDict(headers or {})
            sent.update(await self._authorization(scope))
            try:
                response = await self._http().request(
                    method, url, headers=sent, data=data, allow_redirects=allow_redirects
                )
            except (aiohttp.ClientError, TimeoutError, OSError) as error:
                raise RemoteError(
                    f"{self.endpoint.name}: {method} {url.path} failed"
                    f" ({error or type(error).__name__})"
                ) from None
            try:
                if (
                    response.status == 401
                    and attempt + 1 < attempts
                    and await self._learn(response, scope)
                ):
                    continue
                self._raise_for_limits(response)
                yield response
                return
            finally:
                response.release()
        raise AssertionError("unreachable")  # pragma: no cover

    def _refused(self, response: aiohttp.ClientResponse, what: str) -> RemoteError:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if response.status == 401:
            text = "authentication failed"
        elif response.status == 403:
            text = "access denied"
        else:
            text = f"HTTP {response.status}"
        return RemoteError(
            f"{self.endpoint.name}: {what}: {text}", status=response.status, retry_after=retry_after
        )

    # -- the API -------------------------------------------------------------------------
    async def ping(self) -> None:
        """``GET /v2/``: reachable, and the credentials (when there are any) accepted."""
        anonymous = self._basic is None
        async with self._request("GET", "/v2/", scope="", retry_auth=not anonymous) as response:
            if response.status == 200:
                return
            if response.status == 401 and anonymous:
                return  # reachable; anonymous callers get their tokens per repository
            raise self._refused(response, "ping")

    async def _paged(self, first: str, scope: str, key: str) -> list[str]:
        found: list[str] = []
        url: URL | None = self._url(first)
        while url is not None:
            async with self._request("GET", url, scope=scope) as response:
                if response.status == 404 and key == "tags":
                    return found
                if response.status != 200:
                    raise self._refused(response, f"list {key}")
                try:
                    page = json.loads(await response.read())
                except ValueError:
                    raise RemoteError(f"{self.endpoint.name}: list {key}: not JSON") from None
                names = page.get(key) if isinstance(page, dict) else None
                found.extend(str(name) for name in names or [])
                link = _next_link(response)
                url = None if link is None else self.base.join(URL(link, encoded=True))
        return found

    async def catalog(self) -> list[str]:
        return await self._paged(f"/v2/_catalog?n={PAGE}", "registry:catalog:*", "repositories")

    async def tags(self, repository: str) -> list[str]:
        return await self._paged(f"/v2/{repository}/tags/list?n={PAGE}", _pull(repository), "tags")

    async def manifest(self, repository: str, reference: str) -> RemoteManifest | None:
        path = f"/v2/{repository}/manifests/{quote(reference, safe=':')}"
        headers = {"Accept": ACCEPT_MANIFESTS}
        async with self._request("GET", path, scope=_pull(repository), headers=headers) as response:
            if response.status == 404:
                return None
            if response.status != 200:
                raise self._refused(response, f"get manifest {repository}:{reference}")
            if (response.content_length or 0) > MAX_MANIFEST_BYTES:
                raise RemoteError(f"{self.endpoint.name}: manifest larger than 4 MiB")
            body = await response.content.read(MAX_MANIFEST_BYTES + 1)
            if len(body) > MAX_MANIFEST_BYTES:
                raise RemoteError(f"{self.endpoint.name}: manifest larger than 4 MiB")
            media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        digest = _digest_of(body)
        if reference.startswith("sha256:") and reference != digest:
            raise RemoteError(f"{self.endpoint.name}: the manifest does not match {reference}")
        if not media_type or media_type in ("application/json", "text/plain"):
            try:
                declared = json.loads(body).get("mediaType")
            except (ValueError, AttributeError):
                declared = None
            media_type = declared if isinstance(declared, str) else media_type
        return RemoteManifest(body=body, media_type=media_type, digest=digest)

    async def manifest_digest(self, repository: str, reference: str) -> str | None:
        """The digest ``reference`` names, by ``HEAD`` (which Docker Hub does not count)."""
        path = f"/v2/{repository}/manifests/{quote(reference, safe=':')}"
        headers = {"Accept": ACCEPT_MANIFESTS}
        async with self._request(
            "HEAD", path, scope=_pull(repository), headers=headers
        ) as response:
            if response.status == 404:
                return None
            if response.status != 200:
                raise self._refused(response, f"head manifest {repository}:{reference}")
            digest = response.headers.get("Docker-Content-Digest")
        if digest:
            return digest
        found = await self.manifest(repository, reference)
        return None if found is None else found.digest

    async def put_manifest(
        self, repository: str, reference: str, body: bytes, media_type: str
    ) -> str:
        path = f"/v2/{repository}/manifests/{quote(reference, safe=':')}"
        headers = {"Content-Type": media_type}
        async with self._request(
            "PUT", path, scope=_push(repository), headers=headers, data=body
        ) as response:
            if response.status not in (200, 201):
                detail = await _error_text(response)
                error = self._refused(response, f"put manifest {repository}:{reference}{detail}")
                raise error
            return response.headers.get("Docker-Content-Digest") or _digest_of(body)

    async def delete_manifest(self, repository: str, digest: str) -> bool:
        """Delete by digest; False when the registry has none or does not allow deletes."""
        path = f"/v2/{repository}/manifests/{digest}"
        scope = f"repository:{repository}:delete"
        async with self._request("DELETE", path, scope=scope) as response:
            if response.status in (200, 202, 204):
                return True
            if response.status in (404, 405) or (
                response.status == 400 and "UNSUPPORTED" in await _error_text(response)
            ):
                return False
            raise self._refused(response, f"delete manifest {repository}@{digest}")

    async def referrers(self, repository: str, digest: str) -> list[dict[str, Any]] | None:
        """The OCI referrers of ``digest`` (None: the registry does not serve that API)."""
        found: list[dict[str, Any]] = []
        url: URL | None = self._url(f"/v2/{repository}/referrers/{digest}")
        while url is not None:
            async with self._request(
                "GET", url, scope=_pull(repository), headers={"Accept": OCI_INDEX}
            ) as response:
                if response.status in (404, 405, 400):
                    return None if not found else found
                if response.status != 200:
                    raise self._refused(response, f"referrers of {repository}@{digest}")
                if not response.headers.get("Content-Type", "").startswith(OCI_INDEX):
                    return None
                try:
                    index = json.loads(await response.read())
                except ValueError:
                    return None
                manifests = index.get("manifests") if isinstance(index, dict) else None
                if not isinstance(manifests, list):
                    return None
                found.extend(item for item in manifests if isinstance(item, dict))
                link = _next_link(response)
                url = None if link is None else self.base.join(URL(link, encoded=True))
        return found

    async def has_blob(self, repository: str, digest: str) -> bool:
        path = f"/v2/{repository}/blobs/{digest}"
        async with self._request("HEAD", path, scope=_pull(repository)) as response:
            if response.status == 200:
                return True
            if response.status == 404:
                return False
            raise self._refused(response, f"head blob {repository}@{digest}")

    async def mount_blob(self, repository: str, digest: str, source_repository: str) -> bool:
        """Cross-repository mount; False when the registry started an upload instead."""
        path = (
            f"/v2/{repository}/blobs/uploads/?mount={quote(digest, safe=':')}"
            f"&from={quote(source_repository, safe='/')}"
        )
        scope = f"{_push(repository)} {_pull(source_repository)}"
        async with self._request("POST", path, scope=scope) as response:
            if response.status == 201:
                return True
            if response.status != 202:
                raise self._refused(response, f"mount blob {digest} into {repository}")
            location = response.headers.get("Location")
        if location:  # an upload was started instead: cancel it, nothing is left behind
            try:
                async with self._request(
                    "DELETE", self.base.join(URL(location, encoded=True)), scope=_push(repository)
                ):
                    pass
            except RemoteError:
                pass
        return False

    def open_blob(self, repository: str, digest: str) -> AbstractAsyncContextManager[BlobStream]:
        return self._open_blob(repository, digest)

    @asynccontextmanager
    async def _open_blob(self, repository: str, digest: str) -> AsyncIterator[BlobStream]:
        path = f"/v2/{repository}/blobs/{digest}"
        async with self._request("GET", path, scope=_pull(repository)) as response:
            if response.status != 200:
                raise self._refused(response, f"get blob {repository}@{digest}")
            size = response.content_length
            if size is None:
                raise RemoteError(f"{self.endpoint.name}: blob {digest} without a length")
            yield BlobStream(size=size, chunks=_chunks(response, self.endpoint.name))

    async def put_blob(
        self, repository: str, digest: str, size: int, chunks: AsyncIterable[bytes]
    ) -> None:
        """One monolithic streamed upload: ``POST`` an upload, ``PUT`` its bytes and digest."""
        start = f"/v2/{repository}/blobs/uploads/"
        async with self._request("POST", start, scope=_push(repository)) as response:
            if response.status != 202:
                raise self._refused(response, f"start upload into {repository}")
            location = response.headers.get("Location")
        if not location:
            raise RemoteError(f"{self.endpoint.name}: upload started without a Location")
        target = self.base.join(URL(location, encoded=True)).update_query(digest=digest)
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        async with self._request(
            "PUT", target, scope=_push(repository), headers=headers, data=chunks, retry_auth=False
        ) as response:
            if response.status not in (201, 204):
                detail = await _error_text(response)
                raise self._refused(response, f"upload blob {digest} into {repository}{detail}")


async def _chunks(response: aiohttp.ClientResponse, name: str) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.content.iter_chunked(CHUNK):
            yield chunk
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        raise RemoteError(f"{name}: the blob download broke off ({error})") from None


async def _error_text(response: aiohttp.ClientResponse) -> str:
    """The first error's code and message of a registry's error body (``": CODE message"``)."""
    try:
        body = json.loads(await response.content.read(64 * 1024))
        first = body["errors"][0]
        return f": {first.get('code', '')} {first.get('message', '')}".rstrip()
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, aiohttp.ClientError):
        return ""
