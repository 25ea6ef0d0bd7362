"""The destination's project (namespace) made sure of before the first copy into it, as Harbor
does: once per namespace per execution.

- a ``harbor`` endpoint (Harbor or another harborlite): through its projects API with the
  endpoint's credentials (:func:`harborlite.remote.projects.ensure_project`);
- this harborlite (the destination of a pull-based policy): through the projects domain, as
  the actor ``replication``, private, with its quota at the system default, audited, in one
  transaction;
- a ``docker-registry`` or ``docker-hub`` endpoint: nothing (a registry has no projects).

A refusal (the endpoint's user may not create projects) is a :class:`RemoteError` with status
403 (permanent: the task fails with the reason, not retried).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.audit.events import Actor
from harborlite.endpoints.queries import Endpoint
from harborlite.errors import Conflict, HarborliteError
from harborlite.projects import queries as project_queries
from harborlite.projects.operations import create_project
from harborlite.quotas.operations import create_project_quota
from harborlite.remote.errors import RemoteError
from harborlite.remote.projects import ensure_project
from harborlite.replication.local import ACTOR

# makes sure one project exists on a side; True when it created it
Ensure = Callable[[str], Awaitable[bool]]


async def ensure_local_project(sessions: async_sessionmaker[AsyncSession], name: str) -> bool:
    """This harborlite's project ``name``, created when missing (see the module's text)."""
    async with sessions() as session:
        if await project_queries.get_project_by_name(session, name) is not None:
            return False
        try:
            project = await create_project(
                session,
                name=name,
                public=False,
                owner=None,
                by=Actor(ACTOR),
                metadata={"public": "false"},
            )
            await create_project_quota(session, project.id)
            await session.commit()
        except Conflict:
            return False  # created in between: there now
        except HarborliteError as error:
            raise RemoteError(f"project {name} cannot be created: {error}", status=400) from None
    return True


class Namespaces:
    """Remembers, for one execution, which destination projects are known to exist."""

    def __init__(self, destination: Endpoint | None, ensure: Ensure | None) -> None:
        self.destination = destination
        self._ensure = ensure
        self._ready: set[str] = set()
        self._refused: dict[str, RemoteError] = {}

    @classmethod
    def for_destination(
        cls, destination: Endpoint | None, sessions: async_sessionmaker[AsyncSession]
    ) -> Namespaces:
        if destination is None:
            return cls(None, lambda name: ensure_local_project(sessions, name))
        if destination.type == "harbor":
            return cls(
                destination,
                lambda name: ensure_project(destination, name, user_agent="harborlite-replication"),
            )
        return cls(destination, None)

    async def prepare(self, repository: str) -> str | None:
        """Make sure the project of ``repository`` exists on the destination (once); a line for
        the task log when it was created, None otherwise. RemoteError when it cannot be."""
        if self._ensure is None or "/" not in repository:
            return None
        name = repository.split("/", 1)[0]
        if name in self._ready:
            return None
        if name in self._refused:
            raise self._refused[name]
        try:
            created = await self._ensure(name)
        except RemoteError as error:
            if error.status in (400, 401, 403):
                refused = RemoteError(
                    f"the destination project {name} does not exist and cannot be created: "
                    f"{error.message}",
                    status=403 if error.status != 400 else 400,
                )
                self._refused[name] = refused
                raise refused from None
            raise
        self._ready.add(name)
        where = "here" if self.destination is None else f"on {self.destination.name}"
        return f"created the project {name} {where}" if created else None
