"""``GET /v2/<name>/referrers/<digest>``: the OCI 1.1 referrers API, from harborlite's index.

distribution 2.8 (and 3.x) has no referrers API, so harborlite answers it itself from what it
recorded at each manifest push (the ``subject`` of each manifest, and the referrers-tag-schema
indexes ``harborlite reindex`` imported). As the spec asks (distribution-spec v1.1, "Listing
Referrers"):

- an image index (``application/vnd.oci.image.index.v1+json``) of a descriptor per manifest of
  this repository whose subject is the digest: ``mediaType``, ``size`` (the manifest's bytes),
  ``digest``, ``artifactType`` (its own, else its config media type; none for an index without
  one) and ``annotations`` (when it has some);
- an empty index, never a 404, when there are none, also for a digest the repository does not
  hold (its referrers may be pushed first);
- 400 ``DIGEST_INVALID`` for what is not a digest;
- ``?artifactType=`` keeps the referrers of that type, and the answer then carries
  ``OCI-Filters-Applied: artifactType``;
- paging: at most ``n`` descriptors (default 100, at most 1000); when more follow, a
  ``Link: <...>; rel="next"`` whose ``last`` is an opaque cursor.

The caller needs pull on the repository, as for a manifest (checked by the gateway).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.types import Scope, Send

from harborlite.artifacts.accessories import referrers_of
from harborlite.db.models import Artifact
from harborlite.oci.mediatypes import OCI_INDEX
from harborlite.oci.reference import is_digest
from harborlite.services import Services
from harborlite.v2.challenge import API_VERSION, send_error
from harborlite.v2.routes import Route

DEFAULT_PAGE = 100
MAX_PAGE = 1000


def descriptor_of(artifact: Artifact) -> dict[str, Any]:
    """The referrer as the index lists it."""
    descriptor: dict[str, Any] = {
        "mediaType": artifact.manifest_media_type,
        "size": int(artifact.manifest_size or 0),
        "digest": artifact.digest,
    }
    if artifact.artifact_type:
        descriptor["artifactType"] = artifact.artifact_type
    if artifact.annotations:
        descriptor["annotations"] = dict(artifact.annotations)
    return descriptor


async def serve_referrers(services: Services, scope: Scope, send: Send, route: Route) -> int:
    """Answer the referrers request; the status sent."""
    method: str = scope["method"]
    head = method == "HEAD"
    if method not in ("GET", "HEAD"):
        await send_error(
            send,
            405,
            "UNSUPPORTED",
            f"{method} is not supported on referrers: only GET lists them",
            headers=[(b"allow", b"GET, HEAD")],
        )
        return 405
    if not is_digest(route.reference):
        message = (
            f"invalid digest {route.reference!r}: expected sha256:<64 hex>, sha384:<96 hex> "
            "or sha512:<128 hex>, lower case"
        )
        await send_error(send, 400, "DIGEST_INVALID", message, head=head)
        return 400
    params = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    artifact_type = params.get("artifactType", [None])[0] or None
    try:
        raw_n = params.get("n", [""])[0]
        n = DEFAULT_PAGE if raw_n == "" else int(raw_n)
        raw_last = params.get("last", [""])[0]
        after = 0 if raw_last == "" else int(raw_last)
    except ValueError:
        await send_error(
            send, 400, "PAGINATION_NUMBER_INVALID", "n and last must be whole numbers", head=head
        )
        return 400
    if n < 1 or after < 0:
        await send_error(send, 400, "PAGINATION_NUMBER_INVALID", "n must be at least 1", head=head)
        return 400
    n = min(n, MAX_PAGE)
    async with services.sessions() as session:
        rows = await referrers_of(
            session,
            route.name,
            route.reference,
            artifact_type=artifact_type,
            after_id=after,
            limit=n + 1,
        )
    headers: list[tuple[bytes, bytes]] = []
    if artifact_type is not None:
        headers.append((b"oci-filters-applied", b"artifactType"))
    if len(rows) > n:
        rows = rows[:n]
        query: dict[str, str | int] = {"n": n, "last": rows[-1].id}
        if artifact_type is not None:
            query["artifactType"] = artifact_type
        link = f'</v2/{route.name}/referrers/{route.reference}?{urlencode(query)}>; rel="next"'
        headers.append((b"link", link.encode("latin-1")))
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [descriptor_of(artifact) for artifact in rows],
    }
    data = json.dumps(index).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", OCI_INDEX.encode()),
                (b"content-length", str(len(data)).encode()),
                API_VERSION,
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else data})
    return 200
