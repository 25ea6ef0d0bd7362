"""The ``proxy_projects`` table (migration ``0122_proxy_cache``): which projects are caches.

A project with a row here is a proxy-cache project of the registry endpoint ``registry_id``
(Harbor's ``projects.registry_id``). The row goes with its project. ``registry_id`` carries no
foreign key on purpose: an endpoint in use is refused deletion by the endpoints domain (see
:func:`harborlite.proxycache.queries.projects_using`), with a message, not an integrity error.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from harborlite.db.models import Base


class ProxyProject(Base):
    __tablename__ = "proxy_projects"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    registry_id: Mapped[int] = mapped_column(Integer, index=True)
