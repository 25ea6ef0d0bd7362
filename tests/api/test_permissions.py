"""Each endpoint x each kind of caller, on a private and on a public project, as one table.

Expected outcomes are written out here (ARCHITECTURE.md "Roles and permissions"), not computed
from the permission function under test: allowed callers get the endpoint's success status,
others 401 when anonymous and 403 when signed in, as Harbor answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.api.pushing import Pusher
from tests.harness import Harborlite

PASSWORD = "Passw0rd!x"
ROLES = {"pa": 1, "d": 2, "g": 3, "m": 4, "lg": 5}
CALLERS = ("admin", "pa", "m", "d", "g", "lg", "non", "anon")

MEMBERS = frozenset({"admin", "pa", "m", "d", "g", "lg"})
EVERYONE = frozenset(CALLERS)
PA = frozenset({"admin", "pa"})
PM = frozenset({"admin", "pa", "m"})
PMD = frozenset({"admin", "pa", "m", "d"})
PMDG = frozenset({"admin", "pa", "m", "d", "g"})


@dataclass
class World:
    server: Harborlite
    users: dict[str, str]  # caller -> user name
    projects: dict[bool, str]  # public? -> project name
    candidates: list[str]
    pusher: Pusher
    counter: list[int] = field(default_factory=lambda: [0])

    def auth(self, caller: str) -> tuple[str, str] | None:
        if caller == "anon":
            return None
        if caller == "admin":
            return self.server.admin
        return (self.users[caller], PASSWORD)

    def fresh(self, prefix: str) -> str:
        self.counter[0] += 1
        return f"{prefix}{self.counter[0]}"


@pytest.fixture(scope="module")
def world(harborlite: Harborlite) -> Iterator[World]:
    users = {}
    for caller in ("pa", "m", "d", "g", "lg", "non"):
        users[caller] = harborlite.unique(f"perm-{caller}-")
        harborlite.create_user(users[caller], PASSWORD)
    candidates = [harborlite.unique("cand") for _ in ("admin", "pa", "refused")]
    for name in candidates:
        harborlite.create_user(name, PASSWORD)
    projects = {}
    pusher = Pusher(harborlite)
    for public in (False, True):
        name = harborlite.unique("permpub" if public else "permpriv")
        harborlite.create_project(name, public=public)
        for caller, role_id in ROLES.items():
            harborlite.add_member(name, users[caller], role_id)
        pusher.image(f"{name}/app", "v1")
        projects[public] = name
    yield World(harborlite, users, projects, candidates, pusher)
    pusher.close()


Prepare = Callable[[World, str, str], dict[str, Any]]


def nothing(world: World, project: str, caller: str) -> dict[str, Any]:
    return {}


def fresh_repository(world: World, project: str, caller: str) -> dict[str, Any]:
    repo = world.fresh("gone")
    world.pusher.image(f"{project}/{repo}", "1")
    return {"repo": repo}


def fresh_artifact(world: World, project: str, caller: str) -> dict[str, Any]:
    pushed = world.pusher.image(f"{project}/arts", None, seed=world.fresh(caller))
    return {"digest": pushed.digest}


def fresh_tag(world: World, project: str, caller: str) -> dict[str, Any]:
    tag = world.fresh("t")
    response = world.server.api(
        "POST",
        f"/projects/{project}/repositories/app/artifacts/v1/tags",
        auth=world.server.admin,
        json={"name": tag},
    )
    assert response.status_code == 201, response.text
    return {"tag": tag}


def fresh_project(world: World, project: str, caller: str) -> dict[str, Any]:
    name = world.fresh(f"{project}-x")
    world.server.create_project(name, public=project == world.projects[True])
    for member, role_id in ROLES.items():
        world.server.add_member(name, world.users[member], role_id)
    return {"p": name}


def candidate(world: World, project: str, caller: str) -> dict[str, Any]:
    index = {"admin": 0, "pa": 1}.get(caller, 2)
    return {"candidate": world.candidates[index]}


def unique_tag(world: World, project: str, caller: str) -> dict[str, Any]:
    return {"tag": world.fresh("new")}


def without_severity(world: World, project: str, caller: str) -> dict[str, Any]:
    world.server.api("DELETE", f"/projects/{project}/metadatas/severity", auth=world.server.admin)
    return {}


def with_prevent_vul(world: World, project: str, caller: str) -> dict[str, Any]:
    world.server.api(
        "POST",
        f"/projects/{project}/metadatas/",
        auth=world.server.admin,
        json={"prevent_vul": "false"},
    )
    return {}


def project_id(world: World, project: str) -> int:
    response = world.server.api("GET", f"/projects/{project}", auth=world.server.admin)
    assert response.status_code == 200, response.text
    return int(response.json()["project_id"])


def fresh_label(world: World, project: str, caller: str) -> dict[str, Any]:
    pid = project_id(world, project)
    name = world.fresh("label")
    response = world.server.api(
        "POST",
        "/labels",
        auth=world.server.admin,
        json={"name": name, "scope": "p", "project_id": pid},
    )
    assert response.status_code == 201, response.text
    label = int(response.headers["Location"].rsplit("/", 1)[1])
    return {"pid": pid, "label": label, "name": world.fresh("label")}


def attached_label(world: World, project: str, caller: str) -> dict[str, Any]:
    names = fresh_label(world, project, caller)
    response = world.server.api(
        "POST",
        f"/projects/{project}/repositories/app/artifacts/v1/labels",
        auth=world.server.admin,
        json={"id": names["label"]},
    )
    assert response.status_code == 200, response.text
    return names


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str  # formatted with p and what prepare returns
    private: frozenset[str]  # who succeeds on the private project
    public: frozenset[str]  # who succeeds on the public project
    ok: int = 200
    body: dict[str, Any] | None = None
    prepare: Prepare = nothing


ART = "/projects/{p}/repositories/app/artifacts"
CASES = [
    Case("read project", "GET", "/projects/{p}", MEMBERS, EVERYONE),
    Case(
        "update project", "PUT", "/projects/{p}", PA, PA, body={"metadata": {"auto_scan": "false"}}
    ),
    Case("delete project", "DELETE", "/projects/{p}", PA, PA, prepare=fresh_project),
    Case("project summary", "GET", "/projects/{p}/summary", MEMBERS, EVERYONE),
    Case("project deletable", "GET", "/projects/{p}/_deletable", PA, PA),
    Case("project logs", "GET", "/projects/{p}/logs", PA, PA),
    Case("list metadata", "GET", "/projects/{p}/metadatas/", MEMBERS, EVERYONE),
    Case("read metadata", "GET", "/projects/{p}/metadatas/public", MEMBERS, EVERYONE),
    Case(
        "add metadata",
        "POST",
        "/projects/{p}/metadatas/",
        PA,
        PA,
        body={"severity": "low"},
        prepare=without_severity,
    ),
    Case(
        "update metadata",
        "PUT",
        "/projects/{p}/metadatas/prevent_vul",
        PA,
        PA,
        body={"prevent_vul": "false"},
        prepare=with_prevent_vul,
    ),
    Case(
        "delete metadata",
        "DELETE",
        "/projects/{p}/metadatas/prevent_vul",
        PA,
        PA,
        prepare=with_prevent_vul,
    ),
    Case("list members", "GET", "/projects/{p}/members", PMDG, PMDG),
    Case(
        "add member",
        "POST",
        "/projects/{p}/members",
        PA,
        PA,
        ok=201,
        body={"role_id": 3, "member_user": {"username": "{candidate}"}},
        prepare=candidate,
    ),
    Case("list repositories", "GET", "/projects/{p}/repositories", MEMBERS, EVERYONE),
    Case("read repository", "GET", "/projects/{p}/repositories/app", MEMBERS, EVERYONE),
    Case(
        "update repository",
        "PUT",
        "/projects/{p}/repositories/app",
        PMD,
        PMD,
        body={"description": "changed"},
    ),
    Case(
        "delete repository",
        "DELETE",
        "/projects/{p}/repositories/{repo}",
        PM,
        PM,
        prepare=fresh_repository,
    ),
    Case("list artifacts", "GET", ART, MEMBERS, EVERYONE),
    Case("read artifact", "GET", ART + "/v1", MEMBERS, EVERYONE),
    Case("build history", "GET", ART + "/v1/additions/build_history", MEMBERS, EVERYONE),
    Case(
        "delete artifact",
        "DELETE",
        "/projects/{p}/repositories/arts/artifacts/{digest}",
        PM,
        PM,
        prepare=fresh_artifact,
    ),
    Case("list tags", "GET", ART + "/v1/tags", MEMBERS, EVERYONE),
    Case(
        "copy artifact",
        "POST",
        "/projects/{p}/repositories/copies/artifacts?from={p}/app:v1",
        PMD,
        PMD,
        ok=201,
    ),
    Case(
        "create tag",
        "POST",
        ART + "/v1/tags",
        PMD,
        PMD,
        ok=201,
        body={"name": "{tag}"},
        prepare=unique_tag,
    ),
    Case("delete tag", "DELETE", ART + "/v1/tags/{tag}", PM, PM, prepare=fresh_tag),
    Case(
        "list project labels",
        "GET",
        "/labels?scope=p&project_id={pid}",
        PMDG,
        PMDG,
        prepare=fresh_label,
    ),
    Case("read project label", "GET", "/labels/{label}", PMDG, PMDG, prepare=fresh_label),
    Case(
        "create project label",
        "POST",
        "/labels",
        PM,
        PM,
        ok=201,
        body={"name": "{name}", "scope": "p", "project_id": "{pid}"},
        prepare=fresh_label,
    ),
    Case(
        "update project label",
        "PUT",
        "/labels/{label}",
        PM,
        PM,
        body={"name": "{name}"},
        prepare=fresh_label,
    ),
    Case("delete project label", "DELETE", "/labels/{label}", PM, PM, prepare=fresh_label),
    Case(
        "add artifact label",
        "POST",
        ART + "/v1/labels",
        PMD,
        PMD,
        body={"id": "{label}"},
        prepare=fresh_label,
    ),
    Case(
        "remove artifact label",
        "DELETE",
        ART + "/v1/labels/{label}",
        PMD,
        PMD,
        prepare=attached_label,
    ),
]


def _fill(value: Any, names: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = value[1:-1] if value.startswith("{") and value.endswith("}") else ""
        if isinstance(names.get(whole), int):
            return names[whole]  # "{pid}" stands for the number itself
        return value.format(**names)
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    return value


def expected(case: Case, public: bool, caller: str) -> int:
    if caller in (case.public if public else case.private):
        return case.ok
    return 401 if caller == "anon" else 403


def test_every_endpoint_for_every_caller_on_private_and_public_projects(world: World) -> None:
    mismatches = []
    checked = 0
    with httpx.Client(base_url=world.server.url + "/api/v2.0", timeout=30) as client:
        for case in CASES:
            for public in (False, True):
                project = world.projects[public]
                # Callers that must be refused share one real target: a wrong grant would
                # still show, as a success where a refusal was expected.
                shared = {"p": project, **case.prepare(world, project, "refused")}
                for caller in CALLERS:
                    if expected(case, public, caller) == case.ok:
                        names = {"p": project, **case.prepare(world, project, caller)}
                    else:
                        names = shared
                    response = client.request(
                        case.method,
                        case.path.format(**names),
                        json=_fill(case.body, names) if case.body is not None else None,
                        auth=world.auth(caller),
                    )
                    checked += 1
                    want = expected(case, public, caller)
                    if response.status_code != want:
                        mismatches.append(
                            f"{case.name} {'public' if public else 'private'} as {caller}: "
                            f"{response.status_code} (wanted {want}) {response.text[:120]}"
                        )
                    elif want >= 400:
                        code = response.json()["errors"][0]["code"]
                        assert code == ("UNAUTHORIZED" if want == 401 else "FORBIDDEN")
    assert mismatches == []
    assert checked == len(CASES) * 2 * len(CALLERS)


SYSTEM_CASES = [
    # name, method, path, who succeeds (the others: 401 anonymous, 403 signed in)
    ("list users", "GET", "/users", frozenset({"admin"})),
    ("current user", "GET", "/users/current", MEMBERS | {"non"}),
    ("search users", "GET", "/users/search?username=a", MEMBERS | {"non"}),
    ("statistics", "GET", "/statistics", MEMBERS | {"non"}),
    ("audit logs", "GET", "/audit-logs", MEMBERS | {"non"}),
    ("all repositories", "GET", "/repositories", EVERYONE),
    ("search", "GET", "/search?q=perm", EVERYONE),
    ("projects", "GET", "/projects", EVERYONE),
    ("systeminfo", "GET", "/systeminfo", EVERYONE),
    ("global labels", "GET", "/labels", MEMBERS | {"non"}),
]


def test_system_endpoints_for_every_caller(world: World) -> None:
    mismatches = []
    with httpx.Client(base_url=world.server.url + "/api/v2.0", timeout=30) as client:
        for name, method, path, allowed in SYSTEM_CASES:
            for caller in CALLERS:
                response = client.request(method, path, auth=world.auth(caller))
                want = 200 if caller in allowed else (401 if caller == "anon" else 403)
                if response.status_code != want:
                    mismatches.append(f"{name} as {caller}: {response.status_code} (wanted {want})")
    assert mismatches == []


def test_only_system_admins_write_global_labels(world: World) -> None:
    mismatches = []
    with httpx.Client(base_url=world.server.url + "/api/v2.0", timeout=30) as client:
        made = client.post(
            "/labels", json={"name": world.fresh("g"), "scope": "g"}, auth=world.server.admin
        )
        assert made.status_code == 201, made.text
        label = made.headers["Location"].removeprefix("/api/v2.0")
        for caller in CALLERS:
            refused = 401 if caller == "anon" else 403
            writes = [
                ("POST", "/labels", {"name": world.fresh("g"), "scope": "g"}, 201),
                ("PUT", label, {"name": world.fresh("g")}, 200),
            ]
            for method, path, body, ok in writes:
                response = client.request(method, path, json=body, auth=world.auth(caller))
                want = ok if caller == "admin" else refused
                if response.status_code != want:
                    mismatches.append(f"{method} {path} as {caller}: {response.status_code}")
            if caller != "admin":
                response = client.delete(label, auth=world.auth(caller))
                if response.status_code != refused:
                    mismatches.append(f"DELETE {label} as {caller}: {response.status_code}")
        assert client.delete(label, auth=world.server.admin).status_code == 200
    assert mismatches == []


def test_private_projects_and_their_repositories_stay_hidden(world: World) -> None:
    private, public = world.projects[False], world.projects[True]
    for caller in ("non", "anon"):
        with httpx.Client(base_url=world.server.url + "/api/v2.0", timeout=30) as client:
            auth = world.auth(caller)
            projects = client.get("/projects", params={"page_size": 100, "name": "perm"}, auth=auth)
            names = {p["name"] for p in projects.json()}
            assert public in names and private not in names
            repos = client.get("/repositories", params={"page_size": 100}, auth=auth).json()
            assert not any(r["name"].startswith(f"{private}/") for r in repos)
            found = client.get("/search", params={"q": private}, auth=auth).json()
            assert found == {"project": [], "repository": []}
