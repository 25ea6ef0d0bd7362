"""The registry calls harborlite makes for itself, each with a token scoped to exactly it.

Every call gives up after ``OWN_CALLS`` and reaches the registry inside
:func:`harborlite.upstream.client.reaching`, the one translation of aiohttp's errors; answers
are read whole (:func:`harborlite.upstream.client.read_body`) up to a limit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from urllib.parse import urlsplit

from harborlite.auth.scopes import Access
from harborlite.errors import HarborliteError, NotFound, RegistryRefused
from harborlite.oci.mediatypes import MANIFEST_MEDIA_TYPES, OCI_IMAGE_CONFIG, OCI_MANIFEST
from harborlite.upstream.client import ANSWER_LIMIT, OWN_CALLS, Upstream, reaching, read_body

log = logging.getLogger("harborlite.api")

# the Accept of every manifest read harborlite makes: each manifest kind it indexes
ACCEPT = ", ".join(sorted(MANIFEST_MEDIA_TYPES))


async def get_manifest(upstream: Upstream, repository: str, digest: str) -> tuple[bytes, str]:
    """The manifest bytes and their media type."""
    status, headers, body = await upstream.fetch(
        "GET", repository, f"/v2/{repository}/manifests/{digest}", ("pull",), {"Accept": ACCEPT}
    )
    if status == 404:
        raise NotFound(f"manifest {repository}@{digest} is not in the registry")
    if status != 200:
        raise RegistryRefused(f"the registry answered {status} for manifest {repository}@{digest}")
    return body, headers.get("Content-Type", "")


async def get_blob(
    upstream: Upstream, repository: str, digest: str, limit: int = ANSWER_LIMIT
) -> bytes:
    status, _, body = await upstream.fetch(
        "GET", repository, f"/v2/{repository}/blobs/{digest}", ("pull",), limit=limit
    )
    if status == 404:
        raise NotFound(f"blob {digest} of {repository} is not in the registry")
    if status != 200:
        raise RegistryRefused(f"the registry answered {status} for blob {repository}@{digest}")
    return body


async def delete_manifest(upstream: Upstream, repository: str, digest: str) -> None:
    """Delete by digest; a manifest already gone counts as deleted."""
    status, _, body = await upstream.fetch(
        "DELETE", repository, f"/v2/{repository}/manifests/{digest}", ("delete",)
    )
    if status in (200, 202, 404):
        return
    log.error("registry refused to delete %s@%s: %s %s", repository, digest, status, body[:200])
    raise RegistryRefused(f"the registry refused to delete {repository}@{digest} ({status})")


async def put_manifest(
    upstream: Upstream, repository: str, reference: str, body: bytes, media_type: str
) -> None:
    """Store ``body`` under ``reference`` (a tag): how a tag made through the API reaches pulls."""
    headers = {
        "Authorization": upstream.own_authorization(repository, ("pull", "push")),
        "Content-Type": media_type,
    }
    url = f"{upstream.base_url}/v2/{repository}/manifests/{reference}"
    with reaching():
        async with upstream.session.put(
            url, data=body, headers=headers, timeout=OWN_CALLS
        ) as response:
            status = response.status
            text = await response.content.read(2048)
    if status != 201:
        log.error("registry refused tag %s:%s: %s %s", repository, reference, status, text)
        raise RegistryRefused(f"the registry refused to tag {repository}:{reference} ({status})")


async def mount_blob(upstream: Upstream, source: str, target: str, digest: str) -> None:
    """Make the blob ``digest`` of ``source`` a blob of ``target`` without moving its bytes
    (``POST /v2/<target>/blobs/uploads/?mount=<digest>&from=<source>``, with a token for both).

    A registry that opens an upload instead (202: it does not have the blob in ``source``) has
    that upload cancelled, and the blob is :class:`NotFound`."""
    token, _, _ = upstream.signer.sign(
        "harborlite",
        [Access("repository", target, ("pull", "push")), Access("repository", source, ("pull",))],
        expiration_seconds=60,
    )
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{upstream.base_url}/v2/{target}/blobs/uploads/"
    with reaching():
        async with upstream.session.post(
            url, params={"mount": digest, "from": source}, headers=headers, timeout=OWN_CALLS
        ) as response:
            status = response.status
            location = response.headers.get("Location", "")
            await read_body(response, 64 * 1024, f"the mount of {digest}")
        if status == 202 and location:  # not mounted: an upload was opened instead; close it
            if location.startswith("/"):
                location = upstream.base_url + location
            async with upstream.session.delete(
                location, headers=headers, timeout=OWN_CALLS
            ) as cancelled:
                await read_body(cancelled, 64 * 1024, "the cancelled upload")
    if status == 201:
        return
    if status == 202:
        raise NotFound(f"blob {digest} of {source} is not in the registry")
    raise RegistryRefused(f"the registry refused to mount {digest} from {source} ({status})")


async def catalog(upstream: Upstream, page_size: int = 1000) -> list[str]:
    """Every repository name the registry holds (``/v2/_catalog``, page after page)."""
    token, _, _ = upstream.signer.sign(
        "harborlite", [Access("registry", "catalog", ("*",))], expiration_seconds=300
    )
    headers = {"Authorization": f"Bearer {token}"}
    names: list[str] = []
    last = ""
    while True:
        url = f"{upstream.base_url}/v2/_catalog?n={page_size}" + (f"&last={last}" if last else "")
        with reaching():
            async with upstream.session.get(url, headers=headers, timeout=OWN_CALLS) as response:
                status = response.status
                body = await read_body(response, ANSWER_LIMIT, "the catalog")
        if status != 200:
            raise RegistryRefused(f"the registry's catalog answered {status}")
        try:
            page = json.loads(body).get("repositories") or []
        except (ValueError, AttributeError):
            raise RegistryRefused("the registry's catalog is not a JSON object") from None
        names.extend(str(name) for name in page)
        if len(page) < page_size:
            return names
        last = page[-1]


UNTAG_CONFIG = b"{}"
UNTAG_CONFIG_DIGEST = "sha256:" + hashlib.sha256(UNTAG_CONFIG).hexdigest()


async def upload_blob(upstream: Upstream, repository: str, data: bytes, digest: str) -> None:
    """A small monolithic upload (POST, then PUT with the digest)."""
    headers = {"Authorization": upstream.own_authorization(repository, ("pull", "push"))}
    with reaching():
        uploads = f"{upstream.base_url}/v2/{repository}/blobs/uploads/"
        async with upstream.session.post(uploads, headers=headers, timeout=OWN_CALLS) as response:
            location = response.headers.get("Location", "")
            if response.status != 202 or not location:
                raise RegistryRefused(f"the registry refused an upload to {repository}")
        parts = urlsplit(location)  # the registry's own host may not be the one we reach
        query = f"{parts.query}&" if parts.query else ""
        url = f"{upstream.base_url}{parts.path}?{query}digest={digest}"
        headers["Content-Type"] = "application/octet-stream"
        async with upstream.session.put(
            url, data=data, headers=headers, timeout=OWN_CALLS
        ) as response:
            if response.status != 201:
                raise RegistryRefused(f"the registry refused a blob of {repository}")


async def untag(upstream: Upstream, repository: str, tag: str) -> None:
    """Remove ``tag`` from the registry over HTTP, which distribution 2.8 has no call for.

    The tag is pointed at a throwaway manifest of its own (an empty image with a random
    annotation, so no other tag can name it), which is then deleted by digest: the registry
    deletes every tag naming a deleted manifest. The tag's old manifest and its other tags
    stay. A tag the registry does not have is left alone; if the delete fails, the tag is put
    back on its old manifest before the error is raised."""
    status, headers, old = await upstream.fetch(
        "GET", repository, f"/v2/{repository}/manifests/{tag}", ("pull",), {"Accept": ACCEPT}
    )
    if status == 404:
        return
    if status != 200:
        raise RegistryRefused(f"the registry answered {status} for {repository}:{tag}")
    await upload_blob(upstream, repository, UNTAG_CONFIG, UNTAG_CONFIG_DIGEST)
    throwaway = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_IMAGE_CONFIG,
                "digest": UNTAG_CONFIG_DIGEST,
                "size": len(UNTAG_CONFIG),
            },
            "layers": [],
            "annotations": {"io.harborlite.untag": secrets.token_hex(16)},
        },
        separators=(",", ":"),
    ).encode()
    await put_manifest(upstream, repository, tag, throwaway, OCI_MANIFEST)
    digest = "sha256:" + hashlib.sha256(throwaway).hexdigest()
    try:
        await delete_manifest(upstream, repository, digest)
    except HarborliteError:
        # deletes disabled, or the registry went away: the tag must not stay on the throwaway
        await put_manifest(upstream, repository, tag, old, headers.get("Content-Type", ""))
        raise
