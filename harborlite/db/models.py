"""Tables. Models only declare; queries live in each domain's ``queries.py``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

MAX_KEY = 2**31 - 1  # the integer keys: a larger id names no row (PostgreSQL refuses to compare)


def utcnow() -> datetime:
    return datetime.now(UTC)


def table_of(model: type[Any]) -> Table:
    """A model's table, for Core statements that load no ORM object (and skip the ORM's
    bulk pass over every row)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both SQLite and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(255), unique=True)
    email: Mapped[str] = mapped_column(String(255), default="")
    realname: Mapped[str] = mapped_column(String(255), default="")
    comment: Mapped[str] = mapped_column(String(1024), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    sysadmin: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    creation_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# user names are unique whatever their case: ``Admin`` and ``admin`` are one name
Index("uq_users_username_lower", func.lower(User.username), unique=True)


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    # Harbor keeps every metadata value as a string: {"public": "true", ...}
    project_metadata: Mapped[dict[str, str]] = mapped_column("metadata", JSON, default=dict)
    creation_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Member(Base):
    __tablename__ = "members"
    __table_args__ = (
        UniqueConstraint("project_id", "user_id", name="uq_members_project_user"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role_id: Mapped[int] = mapped_column(Integer)
    creation_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Repository(Base):
    __tablename__ = "repositories"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255), unique=True)  # full name: project/repo
    description: Mapped[str] = mapped_column(Text, default="")
    pull_count: Mapped[int] = mapped_column(BigInteger, default=0)
    creation_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Artifact(Base):
    __tablename__ = "artifacts"
    __table_args__ = (
        UniqueConstraint("repository_id", "digest", name="uq_artifacts_repository_digest"),
        Index("ix_artifacts_repository_push_time", "repository_id", "push_time"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(255))  # config media type / artifactType
    manifest_media_type: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(32), default="UNKNOWN")  # IMAGE CHART CNAB UNKNOWN
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    pusher: Mapped[str] = mapped_column(String(255), default="")
    push_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    pull_time: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    pull_count: Mapped[int] = mapped_column(BigInteger, default=0)
    extra_attrs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    references: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    annotations: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # OCI 1.1: the manifest's own bytes, its ``artifactType`` (else its config media type; ""
    # for an index without one) and the digest of its ``subject`` (the artifact it refers to,
    # which may arrive later). ``subject_source`` says how the subject is known: ``subject``
    # (the manifest's field), ``tag`` (cosign's legacy ``sha256-<hex>.sig`` tag) or
    # ``fallback`` (listed in a referrers-tag-schema index). ``accessory_type`` is Harbor's
    # classification (signature.cosign, signature.notation, sbom.harbor, subject.accessory).
    manifest_size: Mapped[int] = mapped_column(BigInteger, default=0)
    artifact_type: Mapped[str] = mapped_column(String(255), default="")
    subject_digest: Mapped[str | None] = mapped_column(String(255), nullable=True)
    subject_source: Mapped[str | None] = mapped_column(String(16), nullable=True)
    accessory_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # Shown in lists: no index's child, no accessory of an indexed subject. Kept by
    # ``harborlite.artifacts.top_level`` wherever a link is made or undone (migration 0131).
    top_level: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


Index("ix_artifacts_repository_subject", Artifact.repository_id, Artifact.subject_digest)


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (
        UniqueConstraint("repository_id", "name", name="uq_tags_repository_name"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    artifact_id: Mapped[int] = mapped_column(
        ForeignKey("artifacts.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    push_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    pull_time: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AuditLog(Base):
    __tablename__ = "audit_logs"
    __table_args__ = (Index("ix_audit_logs_op_time", "op_time"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    username: Mapped[str] = mapped_column(String(255))
    operation: Mapped[str] = mapped_column(String(32))
    resource_type: Mapped[str] = mapped_column(String(32))
    resource: Mapped[str] = mapped_column(String(512))
    op_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    client_ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(512), default="")
    success: Mapped[bool] = mapped_column(Boolean, default=True)
    detail: Mapped[str] = mapped_column(Text, default="")


class ArtifactReference(Base):
    """An index (parent) naming a child manifest; ``child_id`` is set once the child is known."""

    __tablename__ = "artifact_references"
    __table_args__ = (
        UniqueConstraint("parent_id", "child_digest", name="uq_artifact_references_parent_child"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_id: Mapped[int] = mapped_column(
        ForeignKey("artifacts.id", ondelete="CASCADE"), index=True
    )
    child_id: Mapped[int | None] = mapped_column(
        ForeignKey("artifacts.id", ondelete="SET NULL"), nullable=True, index=True
    )
    child_digest: Mapped[str] = mapped_column(String(255))


class Label(Base):
    """Harbor's label: global (``scope="g"``, no project) or of one project (``scope="p"``)."""

    __tablename__ = "labels"
    __table_args__ = (
        UniqueConstraint("name", "scope", "project_id", name="uq_labels_name_scope_project"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    color: Mapped[str] = mapped_column(String(16), default="")
    scope: Mapped[str] = mapped_column(String(1))  # g or p
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=True, index=True
    )
    creation_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ArtifactLabel(Base):
    """A label attached to an artifact."""

    __tablename__ = "artifact_labels"
    __table_args__ = (
        UniqueConstraint("artifact_id", "label_id", name="uq_artifact_labels_artifact_label"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifacts.id", ondelete="CASCADE"))
    label_id: Mapped[int] = mapped_column(ForeignKey("labels.id", ondelete="CASCADE"), index=True)
    creation_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Robot(Base):
    """A robot account (Harbor's robot v2): a machine identity with a secret and permissions.

    ``name`` is the stored name: ``NAME`` for a system robot, ``PROJECT+NAME`` for a project
    robot; it logs in as the robot prefix (``robot$``) followed by it. ``permissions`` holds
    Harbor's list ``[{kind, namespace, access: [{resource, action, effect}]}]`` as given.
    """

    __tablename__ = "robots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    level: Mapped[str] = mapped_column(String(16))  # system or project
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=True, index=True
    )
    secret_hash: Mapped[str] = mapped_column(String(255))
    duration: Mapped[int] = mapped_column(Integer, default=-1)  # days; -1 never expires
    expires_at: Mapped[int] = mapped_column(BigInteger, default=-1)  # Unix seconds; -1 never
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    permissions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    creator_type: Mapped[str] = mapped_column(String(16), default="local")  # local or robot
    creator_ref: Mapped[int] = mapped_column(Integer, default=0)  # the creator's id
    last_used: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    creation_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Revocation(Base):
    """A right taken away at ``at_ms``: registry tokens issued before it stop carrying it.

    ``kind`` is ``user`` (``name`` a user name: deleted, disabled, password changed, demoted,
    removed from a project or given a lower role), ``robot`` (a robot's login name), ``project``
    (every token naming the project: deleted) or ``anonymous`` (anonymous tokens naming the
    project: made private). Rows older than a token's lifetime are pruned.
    """

    __tablename__ = "revocations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(255))
    at_ms: Mapped[int] = mapped_column(BigInteger, index=True)


class JobSchedule(Base):
    """When a background job of one kind (and one ``ref``: ``system``, a policy id) runs:
    Harbor's ``Hourly``, ``Daily``, ``Weekly``, ``Custom`` (a 6-field cron, seconds first) or
    ``None``; ``next_run`` is claimed by one replica (compare-and-set), which fires it."""

    __tablename__ = "job_schedules"
    __table_args__ = (UniqueConstraint("kind", "ref", name="uq_job_schedules_kind_ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    ref: Mapped[str] = mapped_column(String(64), default="system")
    schedule_type: Mapped[str] = mapped_column(String(16), default="None")
    cron: Mapped[str] = mapped_column(String(64), default="")
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    next_run: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    creation_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class JobExecution(Base):
    """One run of a background job: claimed by one replica, its log kept here."""

    __tablename__ = "job_executions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    ref: Mapped[str] = mapped_column(String(64), default="system")
    trigger: Mapped[str] = mapped_column(String(16), default="MANUAL")  # MANUAL or SCHEDULE
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="Pending", index=True)
    progress: Mapped[int] = mapped_column(Integer, default=0)  # percent
    owner: Mapped[str] = mapped_column(String(32), default="")  # the replica running it
    heartbeat: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    log: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    start_time: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    end_time: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    creation_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GcCandidate(Base):
    """A blob a garbage collection means to delete. ``delete``: marked, and a client touching
    it (a ``HEAD``, a mount, an upload, a manifest naming it) takes it back (the row goes);
    ``deleting``: being removed, so ``HEAD`` answers 404 and a manifest naming it is refused."""

    __tablename__ = "gc_candidates"

    digest: Mapped[str] = mapped_column(String(80), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="delete")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    execution_id: Mapped[int] = mapped_column(Integer, index=True)
