"""Names the registry would reject get nothing, and a repository is never just its project."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.artifacts.copy import copy_artifact
from harborlite.audit.events import Actor, Origin
from harborlite.auth.scopes import parse_scope
from harborlite.db.models import Artifact, Project, Repository
from harborlite.errors import BadRequest
from harborlite.oci.reference import valid_repository_name
from harborlite.upstream.client import Upstream
from harborlite.v2.routes import Kind, parse_route, stores_content

NAMES = [
    # (name, the registry accepts it)
    ("team/app", True),
    ("team/sub/app", True),
    ("team", True),  # the grammar allows it; the gateway refuses pushes to it (below)
    ("a0/b-c/d.e/f_g/h__i/j---k", True),
    ("a" * 127 + "/" + "b" * 127, True),  # 255 characters
    ("a" * 128 + "/" + "b" * 127, False),  # 256 characters
    ("team/../secret/app", False),
    ("team/./x", False),
    ("team//app", False),
    ("/team/app", False),
    ("team/app/", False),
    ("", False),
    ("Team/app", False),
    ("team/App", False),
    ("team/ap p", False),
    ("team/app\n", False),
    ("tëam/app", False),
    ("team/\u0430pp", False),  # a Cyrillic a
    ("team/١٢٣", False),  # Arabic-Indic digits
    ("team/-app", False),
    ("team/app-", False),
    ("team/a___b", False),
    ("team/a..b", False),
    ("team/a._b", False),
    ("localhost:5000/team/app", False),
    ("team/app:v1", False),
    ("team/app@sha256:" + "a" * 64, False),
    ("team\\app", False),
    ("team/%2e%2e/app", False),
]


@pytest.mark.parametrize(("name", "accepted"), NAMES)
def test_repository_names_follow_distributions_grammar(name: str, accepted: bool) -> None:
    assert valid_repository_name(name) is accepted


@pytest.mark.parametrize(("name", "accepted"), [n for n in NAMES if n[0] and "\n" not in n[0]])
def test_a_scope_names_a_valid_repository_only_with_a_name_the_registry_accepts(
    name: str, accepted: bool
) -> None:
    assert parse_scope(f"repository:{name}:pull,push").names_valid_repository is accepted


def test_only_repository_scopes_name_repositories() -> None:
    assert not parse_scope("registry:catalog:*").names_valid_repository
    assert parse_scope("repository(plugin):team/app:pull").names_valid_repository


@pytest.mark.parametrize(
    ("method", "path", "refused"),
    [
        ("POST", "/v2/team/blobs/uploads/", True),
        ("PATCH", "/v2/team/blobs/uploads/abc", True),
        ("PUT", "/v2/team/blobs/uploads/abc", True),
        ("GET", "/v2/team/blobs/uploads/abc", True),
        ("DELETE", "/v2/team/blobs/uploads/abc", True),
        ("PUT", "/v2/team/manifests/v1", True),
        # what exists stays readable and deletable
        ("GET", "/v2/team/manifests/v1", False),
        ("HEAD", "/v2/team/manifests/v1", False),
        ("DELETE", "/v2/team/manifests/v1", False),
        ("GET", "/v2/team/tags/list", False),
        ("GET", "/v2/team/blobs/sha256:" + "a" * 64, False),
        # a repository inside its project
        ("POST", "/v2/team/app/blobs/uploads/", False),
        ("PUT", "/v2/team/app/manifests/v1", False),
        ("PUT", "/v2/team/team/manifests/v1", False),
    ],
)
def test_a_push_to_a_repository_named_like_its_project_is_refused(
    method: str, path: str, refused: bool
) -> None:
    route = parse_route(path)
    assert route is not None and route.kind is not Kind.BASE
    assert (route.named_like_project and stores_content(route, method)) is refused


def test_a_copy_into_a_repository_named_like_its_project_is_refused() -> None:
    """Refused before the database or the registry is asked anything."""
    project = Project(id=1, name="team")
    with pytest.raises(BadRequest, match="only a project name: copy to team/<name>"):
        asyncio.run(
            copy_artifact(
                cast(AsyncSession, None),
                cast(Upstream, None),
                source=Repository(id=1, name="team/app", project_id=1),
                root=Artifact(id=1, digest="sha256:" + "a" * 64),
                project=project,
                target="team",
                by=Actor("admin", Origin("127.0.0.1", "test")),
            )
        )
