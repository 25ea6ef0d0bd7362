"""The listing indexes of the artifact index's tables (the tables are in ``harborlite.db.models``).

- ``ix_tags_artifact_push_time``: an artifact's tags newest first (the inline tags of an
  artifact page, the tag list), read in index order and stopped at the page's end.
- ``ix_artifacts_repository_manifest_media_type``: a repository's indexes, whose references'
  children a listing's count leaves out.
- ``ix_artifacts_repository_size_id``: ``sort=size``, read in order and stopped at the page.
- ``ix_artifacts_repository_top_level_push_time_id`` (migration 0131): the artifacts a list
  shows, newest first, read in order (a page in the middle of a million skips index entries
  only) and counted from the index alone.
- ``ix_artifacts_digest`` (migration 0131): a digest in any repository (the scan overview of
  an index the portal's repository page shows for each artifact reads its children by digest;
  without it each was a scan of every artifact).
- ``ix_artifacts_repository_push_time_id``: a repository's artifacts newest first with the id
  as tie-break, the listing's default order, in one index on PostgreSQL too (SQLite's rowid is
  in every index already).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from harborlite.db.models import Artifact, Base, Tag

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
TOP_LEVEL_BY_PUSH = Index(
    "ix_artifacts_repository_top_level_push_time_id",
    Artifact.repository_id,
    Artifact.top_level,
    Artifact.push_time,
    Artifact.id,
)
BY_DIGEST = Index("ix_artifacts_digest", Artifact.digest)


class ListingCount(Base):
    """How many artifacts of a repository a list shows (its ``top_level`` rows), kept with the
    flag by :mod:`harborlite.artifacts.top_level` (migration 0131): a listing's count without
    counting a million index entries."""

    __tablename__ = "artifact_listing_counts"

    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    )
    top_level: Mapped[int] = mapped_column(BigInteger, default=0)
