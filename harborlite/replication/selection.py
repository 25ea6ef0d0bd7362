"""Which repositories and artifacts a policy's filters select, and where each one goes.

Filters (Harbor's src/pkg/reg/filter): ``name`` matches the whole repository name, project
included (``library/**``), doublestar; ``tag`` keeps an artifact when one of its tags matches
(``matches``) or when none does (``excludes``); an untagged artifact is judged as the tag ``""``
(so ``**`` keeps it and ``v*`` does not); ``label`` keeps an artifact that carries every label
named (``matches``) or none of them (``excludes``); ``resource`` ``image`` keeps container
images (image manifests and indexes), ``artifact`` keeps everything. Several filters of a kind
all apply.

Destination names (Harbor's ``replaceNamespace``, src/controller/replication/transfer):
with namespace ``n`` and repository ``a/b/c``, ``dest_namespace_replace_count`` -1 gives ``n/c``
(the legacy mode: the last component kept), 0 ``n/a/b/c``, 1 ``n/b/c``, 2 ``n/c``, 3 ``n``;
a count above the repository's components is an error for that repository. Without a
namespace the name is unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from harborlite.replication.policy import EXCLUDES, LABEL, NAME, RESOURCE, TAG, Filter
from harborlite.retention.rules import glob_match

IMAGE_CONFIGS = (
    "application/vnd.docker.container.image.v1+json",
    "application/vnd.oci.image.config.v1+json",
)


@dataclass(frozen=True)
class Candidate:
    """An artifact a policy may copy: its repository (with project), digest and tags."""

    repository: str
    digest: str
    tags: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    image: bool = True  # an image manifest or index (not a chart, an SBOM, a signature...)


def repository_selected(filters: Sequence[Filter], repository: str) -> bool:
    return all(glob_match(str(f.value), repository) for f in filters if f.type == NAME and f.value)


def tags_kept(filters: Sequence[Filter], tags: Sequence[str]) -> tuple[str, ...] | None:
    """The tags of an artifact the tag filters keep; ``None`` when they drop it. An artifact
    kept by its digest only (untagged, or no tag of it kept) gives ``()``."""
    tag_filters = [f for f in filters if f.type == TAG and f.value]
    if not tag_filters:
        return tuple(tags)
    kept = list(tags)
    for tag_filter in tag_filters:
        pattern, exclude = str(tag_filter.value), tag_filter.decoration == EXCLUDES
        if not tags:
            if glob_match(pattern, "") == exclude:
                return None
            continue
        kept = [tag for tag in kept if glob_match(pattern, tag) != exclude]
        if not kept:
            return None
    return tuple(kept)


def labels_kept(filters: Sequence[Filter], labels: Sequence[str]) -> bool:
    have = set(labels)
    for label_filter in (f for f in filters if f.type == LABEL):
        wanted = set(label_filter.value)
        if label_filter.decoration == EXCLUDES:
            if wanted & have:
                return False
        elif not wanted <= have:
            return False
    return True


def resource_kept(filters: Sequence[Filter], image: bool) -> bool:
    return all(image or f.value == "artifact" for f in filters if f.type == RESOURCE)


def select(filters: Sequence[Filter], candidate: Candidate) -> Candidate | None:
    """``candidate`` with the tags to copy when the filters keep it, else None."""
    if not repository_selected(filters, candidate.repository):
        return None
    if not resource_kept(filters, candidate.image) or not labels_kept(filters, candidate.labels):
        return None
    tags = tags_kept(filters, candidate.tags)
    if tags is None:
        return None
    return replace(candidate, tags=tags)


class NamespaceError(ValueError):
    """The flattening level asks for more path components than the repository has."""


def destination(repository: str, namespace: str, replace_count: int) -> str:
    """The repository name on the destination (Harbor's ``replaceNamespace``)."""
    if not namespace:
        return repository
    if replace_count < 0:
        return f"{namespace}/{repository.rsplit('/', 1)[-1]}"
    parts = repository.split("/")
    if replace_count == 0:
        return f"{namespace}/{repository}"
    if replace_count == len(parts):
        return namespace
    if replace_count > len(parts):
        raise NamespaceError(
            f"the repository {repository} contains only {len(parts)} substrings, but the "
            f"destination namespace replace count is {replace_count}"
        )
    return f"{namespace}/{'/'.join(parts[replace_count:])}"
