"""Projects and their members in the database. Each function takes a session."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, null, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.auth.permissions import Principal, ProjectAccess, Role, system_can
from harborlite.db.models import Member, Project, Repository, User, utcnow


async def get_project(session: AsyncSession, project_id: int) -> Project | None:
    return await session.get(Project, project_id)


async def get_project_by_name(session: AsyncSession, name: str) -> Project | None:
    result = await session.execute(select(Project).where(Project.name == name))
    return result.scalar_one_or_none()


async def ids_by_names(session: AsyncSession, names: set[str]) -> dict[str, int]:
    if not names:
        return {}
    rows = await session.execute(select(Project.name, Project.id).where(Project.name.in_(names)))
    return {name: project_id for name, project_id in rows.all()}


async def member_role(session: AsyncSession, project_id: int, user_id: int) -> Role | None:
    result = await session.execute(
        select(Member.role_id).where(Member.project_id == project_id, Member.user_id == user_id)
    )
    role_id = result.scalar_one_or_none()
    return Role(role_id) if role_id is not None else None


async def project_access(
    session: AsyncSession, principal: Principal, project: Project
) -> ProjectAccess:
    role = None
    if principal.user_id is not None:
        role = await member_role(session, project.id, principal.user_id)
    return ProjectAccess(project_id=project.id, name=project.name, public=project.public, role=role)


async def access_by_names(
    session: AsyncSession, principal: Principal, names: set[str]
) -> dict[str, ProjectAccess]:
    """The caller's access to each named project that exists (one query for all of them)."""
    if not names:
        return {}
    role_column: Any = Member.role_id if principal.user_id is not None else null()
    query = select(Project.id, Project.name, Project.public, role_column).where(
        Project.name.in_(names)
    )
    if principal.user_id is not None:
        query = query.outerjoin(
            Member, (Member.project_id == Project.id) & (Member.user_id == principal.user_id)
        )
    rows = await session.execute(query)
    return {
        name: ProjectAccess(
            project_id=pid,
            name=name,
            public=bool(public),
            role=Role(role_id) if role_id is not None else None,
        )
        for pid, name, public, role_id in rows.all()
    }


def new_project(
    session: AsyncSession,
    *,
    name: str,
    public: bool,
    owner: User | None,
    metadata: dict[str, str] | None = None,
) -> Project:
    """A project row added to the session, not flushed yet (the caller flushes)."""
    meta = dict(metadata or {})
    meta["public"] = "true" if public else "false"
    project = Project(
        name=name, public=public, owner_id=owner.id if owner else None, project_metadata=meta
    )
    session.add(project)
    return project


async def create_project(
    session: AsyncSession,
    *,
    name: str,
    public: bool,
    owner: User | None,
    metadata: dict[str, str] | None = None,
) -> Project:
    project = new_project(session, name=name, public=public, owner=owner, metadata=metadata)
    await session.flush()
    if owner is not None:
        session.add(Member(project_id=project.id, user_id=owner.id, role_id=Role.PROJECT_ADMIN))
        await session.flush()
    return project


async def lock_project(session: AsyncSession, project_id: int) -> None:
    """Hold the project's row until the transaction ends; what is read after this is current.

    A write that changes nothing: on PostgreSQL it takes the row lock (``FOR NO KEY UPDATE``,
    which rows referencing the project do not wait for); on SQLite it opens the write
    transaction (one writer at a time, and the pysqlite driver begins a transaction only at a
    write, so reads before it hold no snapshot). Two transactions that both lock the project
    before reading what a rule decides on (the last ProjectAdmin) run one after the other."""
    await session.execute(
        update(Project)
        .where(Project.id == project_id)
        .values(update_time=Project.update_time)
        .execution_options(synchronize_session=False)
    )


async def set_metadata(session: AsyncSession, project: Project, metadata: dict[str, str]) -> None:
    meta = dict(project.project_metadata or {})
    meta.update(metadata)
    if "public" in metadata:
        project.public = metadata["public"].lower() == "true"
        meta["public"] = "true" if project.public else "false"
    project.project_metadata = meta
    project.update_time = utcnow()
    await session.flush()


async def delete_project(session: AsyncSession, project: Project) -> None:
    await session.delete(project)
    await session.flush()


async def repository_count(session: AsyncSession, project_id: int) -> int:
    result = await session.execute(
        select(func.count()).select_from(Repository).where(Repository.project_id == project_id)
    )
    return int(result.scalar_one())


def visible_condition(principal: Principal) -> ColumnElement[bool] | None:
    """Which projects the caller may see: None for system admins (all of them)."""
    if system_can(principal, "project", "read"):
        return None
    if principal.user_id is None:
        return Project.public.is_(True)
    return Project.public.is_(True) | Project.id.in_(
        select(Member.project_id).where(Member.user_id == principal.user_id)
    )


async def list_projects(
    session: AsyncSession,
    principal: Principal,
    *,
    name: str | None = None,
    public: bool | None = None,
    owner: str | None = None,
    conditions: Sequence[ColumnElement[bool]] = (),
    order_by: Sequence[Any] = (),
    offset: int = 0,
    limit: int = 10,
) -> tuple[list[tuple[Project, Role | None]], int]:
    """Projects the caller may see (admins: all; others: public ones and their own)."""
    query = select(Project.id)
    visible = visible_condition(principal)
    if visible is not None:
        query = query.where(visible)
    if name:
        query = query.where(Project.name.contains(name, autoescape=True))
    if public is not None:
        query = query.where(Project.public.is_(public))
    if owner:
        query = query.where(Project.owner_id.in_(select(User.id).where(User.username == owner)))
    for condition in conditions:
        query = query.where(condition)
    count = query.with_only_columns(func.count(Project.id))
    total = int((await session.execute(count)).scalar_one())
    order = list(order_by) or [Project.creation_time.desc(), Project.name]
    role_col = Member.role_id if principal.user_id is not None else null()
    page = select(Project, role_col).where(Project.id.in_(query.subquery().select()))
    if principal.user_id is not None:
        page = page.outerjoin(
            Member, (Member.project_id == Project.id) & (Member.user_id == principal.user_id)
        )
    rows = await session.execute(page.order_by(*order).offset(offset).limit(limit))
    return [
        (project, Role(role_id) if role_id is not None else None) for project, role_id in rows.all()
    ], total


async def owner_names(session: AsyncSession, owner_ids: Sequence[int]) -> dict[int, str]:
    if not owner_ids:
        return {}
    rows = await session.execute(select(User.id, User.username).where(User.id.in_(set(owner_ids))))
    return {user_id: username for user_id, username in rows.all()}


async def repository_counts(session: AsyncSession, project_ids: Sequence[int]) -> dict[int, int]:
    if not project_ids:
        return {}
    rows = await session.execute(
        select(Repository.project_id, func.count())
        .where(Repository.project_id.in_(set(project_ids)))
        .group_by(Repository.project_id)
    )
    return {project_id: int(count) for project_id, count in rows.all()}


async def member_counts(session: AsyncSession, project_id: int) -> dict[Role, int]:
    rows = await session.execute(
        select(Member.role_id, func.count())
        .where(Member.project_id == project_id)
        .group_by(Member.role_id)
    )
    return {Role(role_id): int(count) for role_id, count in rows.all()}


async def count_by_visibility(
    session: AsyncSession, visible: ColumnElement[bool] | None
) -> dict[bool, int]:
    """public flag -> number of projects ``visible`` allows."""
    query = select(Project.public, func.count()).group_by(Project.public)
    query = query.where(visible if visible is not None else true())
    rows = await session.execute(query)
    return {bool(public): int(count) for public, count in rows.all()}


async def search_projects(
    session: AsyncSession, principal: Principal, fragment: str, limit: int = 100
) -> list[tuple[Project, Role | None]]:
    rows, _ = await list_projects(
        session, principal, name=fragment, order_by=[Project.name], limit=limit
    )
    return rows


async def admin_project_ids(session: AsyncSession, user_id: int) -> list[int]:
    """Projects in which the user is a project admin."""
    rows = await session.execute(
        select(Member.project_id).where(
            Member.user_id == user_id, Member.role_id == int(Role.PROJECT_ADMIN)
        )
    )
    return list(rows.scalars())


async def list_members(
    session: AsyncSession, project_id: int, *, entityname: str | None = None
) -> list[tuple[Member, User]]:
    rows, _ = await page_members(session, project_id, entityname=entityname)
    return rows


async def page_members(
    session: AsyncSession,
    project_id: int,
    *,
    entityname: str | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> tuple[list[tuple[Member, User]], int]:
    """A page of the project's members (oldest first), and how many there are in all."""
    query = (
        select(Member, User)
        .join(User, User.id == Member.user_id)
        .where(Member.project_id == project_id)
    )
    if entityname:
        query = query.where(User.username.contains(entityname, autoescape=True))
    total = 0
    if limit is not None:
        count = query.with_only_columns(func.count(Member.id)).order_by(None)
        total = int((await session.execute(count)).scalar_one())
    rows = await session.execute(query.order_by(Member.id).offset(offset).limit(limit))
    members = [(member, user) for member, user in rows.all()]
    return members, total if limit is not None else len(members)


async def get_member(session: AsyncSession, project_id: int, member_id: int) -> Member | None:
    member = await session.get(Member, member_id)
    if member is None or member.project_id != project_id:
        return None
    return member


async def find_member(session: AsyncSession, project_id: int, user_id: int) -> Member | None:
    result = await session.execute(
        select(Member).where(Member.project_id == project_id, Member.user_id == user_id)
    )
    return result.scalar_one_or_none()


def new_member(session: AsyncSession, project_id: int, user_id: int, role: Role) -> Member:
    """A membership added to the session, not flushed yet (the caller flushes)."""
    member = Member(project_id=project_id, user_id=user_id, role_id=int(role))
    session.add(member)
    return member


async def current_member(session: AsyncSession, project_id: int, member_id: int) -> Member | None:
    """The membership as the database has it now (read again, not from the session's memory)."""
    member = await session.get(Member, member_id, populate_existing=True)
    if member is None or member.project_id != project_id:
        return None
    return member


async def update_member(session: AsyncSession, member: Member, role: Role) -> None:
    member.role_id = int(role)
    member.update_time = utcnow()
    await session.flush()


async def delete_member(session: AsyncSession, member: Member) -> None:
    await session.delete(member)
    await session.flush()


async def count_project_admins(
    session: AsyncSession, project_id: int, *, besides: int | None = None
) -> int:
    """The project's ProjectAdmins; with ``besides``, not counting that membership."""
    query = (
        select(func.count())
        .select_from(Member)
        .where(Member.project_id == project_id, Member.role_id == int(Role.PROJECT_ADMIN))
    )
    if besides is not None:
        query = query.where(Member.id != besides)
    return int((await session.execute(query)).scalar_one())


async def delete_metadata(session: AsyncSession, project: Project, name: str) -> None:
    """Forget one metadata entry; without ``public`` a project is private."""
    meta = dict(project.project_metadata or {})
    meta.pop(name, None)
    if name == "public":
        project.public = False
    project.project_metadata = meta
    project.update_time = utcnow()
    await session.flush()
