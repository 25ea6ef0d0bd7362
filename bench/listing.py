"""Seed a repository with many artifacts through harborlite's own index functions.

Used when ``bench/api_listing.py`` (the API owner's bench) is not there. The artifacts are
index rows only (no registry content): what the artifacts API lists is the index.
"""

from __future__ import annotations

import asyncio
import hashlib

from environment import PROJECT, World

from harborlite.artifacts import queries as artifacts
from harborlite.db.engine import make_engine, make_sessionmaker
from harborlite.projects import queries as projects


async def _seed(database_url: str, repository: str, count: int) -> None:
    engine = make_engine(database_url)
    try:
        sessions = make_sessionmaker(engine)
        async with sessions() as session:
            project = await projects.get_project_by_name(session, PROJECT)
            assert project is not None
            project_id = project.id
        batch = 500
        for start in range(0, count, batch):
            async with sessions() as session:
                for index in range(start, min(count, start + batch)):
                    digest = (
                        "sha256:" + hashlib.sha256(f"{repository}/{index}".encode()).hexdigest()
                    )
                    await artifacts.record_push(
                        session,
                        project_id=project_id,
                        repository_name=repository,
                        manifest=artifacts.PushedManifest(
                            digest=digest,
                            manifest_media_type="application/vnd.oci.image.manifest.v1+json",
                            media_type="application/vnd.oci.image.config.v1+json",
                            type="IMAGE",
                            size=1000 + index,
                            extra_attrs={"architecture": "amd64", "os": "linux"},
                        ),
                        tag=f"v{index}",
                        pusher="admin",
                    )
                await session.commit()
    finally:
        await engine.dispose()


def seed_artifacts(world: World, name: str, count: int) -> str:
    """Create ``count`` tagged artifacts in ``bench/name``; returns the repository name."""
    repository = f"{PROJECT}/{name}"
    database_url = f"sqlite+aiosqlite:///{world.server.data_dir / 'harborlite.db'}"
    asyncio.run(_seed(database_url, repository, count))
    return repository
