"""Fixtures for end-to-end tests: a populated project with one user per role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness import Harborlite
from tests.support.images import BuiltImage, build_oci_layout

PASSWORD = "Passw0rd!x"


@dataclass
class Team:
    """A private project with a member per role, plus an outsider."""

    project: str
    public_project: str
    users: dict[str, str]  # role label -> user name

    def creds(self, role: str) -> tuple[str, str]:
        return (self.users[role], PASSWORD)


@pytest.fixture(scope="module")
def team(harborlite: Harborlite) -> Team:
    project = harborlite.unique("team")
    public = harborlite.unique("open")
    harborlite.create_project(project, public=False)
    harborlite.create_project(public, public=True)
    users = {}
    for role, role_id in [
        ("projectAdmin", 1),
        ("developer", 2),
        ("guest", 3),
        ("maintainer", 4),
        ("limitedGuest", 5),
        ("outsider", 0),
    ]:
        name = harborlite.unique(role.lower())
        harborlite.create_user(name, PASSWORD)
        if role_id:
            harborlite.add_member(project, name, role_id)
            harborlite.add_member(public, name, role_id)
        users[role] = name
    return Team(project=project, public_project=public, users=users)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, BuiltImage]]:
    layout = tmp_path_factory.mktemp("layout")
    built = build_oci_layout(layout, "v1", [300_000, 1_500_000, 20_000], seed=42)
    yield layout, built
