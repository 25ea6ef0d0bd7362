"""The listing indexes of the artifact index's tables (the tables are in ``harborlite.db.models``).

- ``ix_tags_artifact_push_time``: an artifact's tags newest first (the inline tags of an
  artifact page, the tag list), read in index order and stopped at the page's end.
- ``ix_artifacts_repository_manifest_media_type``: a repository's indexes, whose references'
  children a listing's count leaves out.
- ``ix_artifacts_repository_size_id``: ``sort=size``, read in order and stopped at the page.
- ``ix_artifacts_repository_push_time_id``: a repository's artifacts newest first with the id
  as tie-break, the listing's default order, in one index on PostgreSQL too (SQLite's rowid is
  in every index already).
"""

from __future__ import annotations

from sqlalchemy import Index

from harborlite.db.models import Artifact, Tag

TAGS_BY_ARTIFACT = Index("ix_tags_artifact_push_time", Tag.artifact_id, Tag.push_time, Tag.id)
ARTIFACTS_BY_PUSH = Index(
    "ix_artifacts_repository_push_time_id", Artifact.repository_id, Artifact.push_time, Artifact.id
)
INDEXES_BY_REPOSITORY = Index(
    "ix_artifacts_repository_manifest_media_type",
    Artifact.repository_id,
    Artifact.manifest_media_type,
)
ARTIFACTS_BY_SIZE = Index(
    "ix_artifacts_repository_size_id", Artifact.repository_id, Artifact.size, Artifact.id
)
