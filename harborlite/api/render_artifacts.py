"""Repositories, artifacts and tags as Harbor's API shows them."""

from __future__ import annotations

from typing import Any

from harborlite.api.call import encode_repository
from harborlite.api.render import iso
from harborlite.db.models import Artifact, Repository, Tag
from harborlite.oci.mediatypes import INDEX_MEDIA_TYPES

# Harbor shows a time that never happened (never pulled) as Go's zero time.
ZERO_TIME = "0001-01-01T00:00:00.000Z"


def repository_json(repository: Repository, artifact_count: int) -> dict[str, Any]:
    return {
        "id": repository.id,
        "project_id": repository.project_id,
        "name": repository.name,
        "description": repository.description or "",
        "artifact_count": artifact_count,
        "pull_count": int(repository.pull_count or 0),
        "creation_time": iso(repository.creation_time),
        "update_time": iso(repository.update_time),
    }


def tag_json(tag: Tag) -> dict[str, Any]:
    return {
        "id": tag.id,
        "repository_id": tag.repository_id,
        "artifact_id": tag.artifact_id,
        "name": tag.name,
        "push_time": iso(tag.push_time),
        "pull_time": iso(tag.pull_time) or ZERO_TIME,
        "immutable": False,
    }


def is_index(artifact: Artifact) -> bool:
    return artifact.manifest_media_type in INDEX_MEDIA_TYPES


def _addition_links(artifact: Artifact, base: str) -> dict[str, Any]:
    names: list[str] = []
    if artifact.type == "IMAGE" and not is_index(artifact):
        names = ["build_history", "vulnerabilities"]
    elif artifact.type == "IMAGE":
        names = ["vulnerabilities"]
    elif artifact.type == "CHART":
        names = ["values.yaml", "readme.md", "dependencies"]
    return {name: {"absolute": False, "href": f"{base}/additions/{name}"} for name in names}


def _reference_json(
    parent_id: int, ref: dict[str, Any], child_ids: dict[str, int | None]
) -> dict[str, Any]:
    digest = str(ref.get("child_digest") or "")
    result: dict[str, Any] = {
        "parent_id": parent_id,
        "child_id": child_ids.get(digest) or 0,
        "child_digest": digest,
    }
    if ref.get("platform"):
        result["platform"] = ref["platform"]
    if ref.get("annotations"):
        result["annotations"] = ref["annotations"]
    if ref.get("urls"):
        result["urls"] = list(ref["urls"])
    return result


def accessory_json(
    accessory: Artifact, subject: Artifact | None, repository_name: str
) -> dict[str, Any]:
    """Harbor's ``Accessory``: an artifact that refers to another (its subject)."""
    return {
        "id": accessory.id,
        "artifact_id": accessory.id,
        "subject_artifact_id": subject.id if subject is not None else 0,
        "subject_artifact_digest": accessory.subject_digest or "",
        "subject_artifact_repo": repository_name,
        "size": int(accessory.size or 0),
        "digest": accessory.digest,
        "type": accessory.accessory_type or "",
        "icon": "",
        "creation_time": iso(accessory.push_time),
    }


def artifact_json(
    artifact: Artifact,
    *,
    project_id: int,
    project_name: str,
    repository_name: str,
    tags: list[Tag] | None,
    child_ids: dict[str, int | None],
    labels: list[dict[str, Any]] | None = None,
    accessories: list[Artifact] | None = None,
    scan_overview: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``scan_overview``: Harbor's ``{<report mime type>: NativeReportSummary}`` (shown when
    asked for with ``with_scan_overview``; ``{}`` when never scanned)."""
    short = repository_name.split("/", 1)[1] if "/" in repository_name else repository_name
    base = (
        f"/api/v2.0/projects/{project_name}/repositories/{encode_repository(short)}"
        f"/artifacts/{artifact.digest}"
    )
    body: dict[str, Any] = {
        "id": artifact.id,
        "type": artifact.type,
        "media_type": artifact.media_type,
        "manifest_media_type": artifact.manifest_media_type,
        "artifact_type": artifact.artifact_type
        or ("" if is_index(artifact) else artifact.media_type),
        "project_id": project_id,
        "repository_id": artifact.repository_id,
        "repository_name": repository_name,
        "digest": artifact.digest,
        "size": int(artifact.size or 0),
        "icon": "",
        "push_time": iso(artifact.push_time),
        "pull_time": iso(artifact.pull_time) or ZERO_TIME,
        "extra_attrs": artifact.extra_attrs or {},
        "annotations": artifact.annotations or {},
        "references": [
            _reference_json(artifact.id, ref, child_ids) for ref in artifact.references or []
        ],
        "addition_links": _addition_links(artifact, base),
        "accessories": [
            accessory_json(accessory, artifact, repository_name) for accessory in accessories or []
        ],
    }
    if tags is not None:
        body["tags"] = [tag_json(tag) for tag in tags]
    if labels is not None:
        body["labels"] = labels
    if scan_overview is not None:
        body["scan_overview"] = scan_overview
    return body
