"""Deleting artifacts and tags from the portal: the registry first, then the index."""

from __future__ import annotations

from harborlite.errors import UpstreamUnavailable
from harborlite.registry.upstream import Upstream


async def delete_manifest(upstream: Upstream, repository: str, reference: str) -> bool:
    """Ask the registry to delete a manifest (by digest) or untag (by tag).

    True when the registry deleted it or did not know it; False when it does not support the
    operation (distribution 2.8 refuses DELETE by tag), in which case only the index changes.
    """
    status, _, _ = await upstream.fetch(
        "DELETE", repository, f"/v2/{repository}/manifests/{reference}", ("delete",)
    )
    if status in (200, 202, 404):
        return True
    if status in (400, 405):
        return False
    raise UpstreamUnavailable(
        f"the registry answered {status} when deleting {repository}:{reference}"
    )
