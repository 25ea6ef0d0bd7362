"""Removing a tag from the registry itself, not just from harborlite's index.

Distribution 2.8 answers ``DELETE /v2/<name>/manifests/<tag>`` with 400: it deletes manifests by
digest only. With the embedded registry's filesystem storage harborlite removes the tag's
folder (``_manifests/tags/<tag>``), which is all a tag is to the registry: it then stops serving
the tag, stops listing it, and ``harborlite reindex`` does not bring it back. The manifest stays,
as in Harbor. With an external registry the tag stays in the registry; the index forgets it.
"""

from __future__ import annotations

import asyncio
import logging
import shutil

from harborlite.artifacts.manifests import valid_repository_name, valid_tag
from harborlite.services import Services

log = logging.getLogger("harborlite.registry")


async def remove_tag(services: Services, repository: str, tag: str) -> bool:
    """Untag in the registry's storage when harborlite can; tell the manifest caches either
    way. Returns True when the registry no longer knows the tag."""
    removed = False
    supervisor = services.supervisor
    if supervisor is not None and valid_repository_name(repository) and valid_tag(tag):
        folder = (
            supervisor.storage_root
            / "docker/registry/v2/repositories"
            / repository
            / "_manifests/tags"
            / tag
        )
        try:
            await asyncio.to_thread(shutil.rmtree, folder)
            removed = True
        except FileNotFoundError:
            removed = True
        except OSError as error:
            log.error("could not remove tag %s:%s from storage: %s", repository, tag, error)
    for listener in services.upstream.manifest_listeners:
        pending = listener("DELETE", repository, tag, 202, None)
        if pending is not None:
            await pending
    return removed
