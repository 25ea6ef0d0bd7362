"""What the API refuses of a request before any handler work: bodies nested too deeply, bodies
over the limit (declared or chunked), and ``q`` with too many terms. Each is a 400 or a 413 in
Harbor's envelope, never a 500; raw requests against the running server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from harborlite.api.body import MAX_JSON_DEPTH
from harborlite.api.query import MAX_Q_TERMS, MAX_SORT_FIELDS, MAX_TERM_VALUES
from harborlite.http.guard import API_BODY_LIMIT
from tests.harness import Harborlite

JSON = {"Content-Type": "application/json"}


def refused(answer: httpx.Response, status: int, code: str) -> str:
    """The refusal is ``status`` in Harbor's envelope, with one entry; its message."""
    assert answer.status_code == status, (answer.status_code, answer.text[:300])
    assert answer.headers["content-type"] == "application/json", answer.headers
    body = answer.json()
    assert list(body) == ["errors"] and len(body["errors"]) == 1, body
    assert body["errors"][0]["code"] == code, body
    message: str = body["errors"][0]["message"]
    assert message and "Traceback" not in message
    return message


def nested_arrays(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def nested_objects(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize(
    "body",
    [
        nested_arrays(100_000),
        nested_objects(100_000),
        b'{"project_name": "p", "metadata": ' + nested_objects(5_000) + b"}",
        b'{"project_name": "p", "metadata": ' + nested_arrays(MAX_JSON_DEPTH) + b"}",
    ],
    ids=["arrays-100000", "objects-100000", "inside-a-field-5000", "just-past-the-limit"],
)
def test_a_body_nested_too_deeply_is_a_400(harborlite: Harborlite, body: bytes) -> None:
    answer = harborlite.api("POST", "/projects", auth=harborlite.admin, content=body, headers=JSON)
    message = refused(answer, 400, "BAD_REQUEST")
    assert f"deeper than {MAX_JSON_DEPTH}" in message


def test_a_deeply_nested_body_is_refused_by_every_json_endpoint(harborlite: Harborlite) -> None:
    project = harborlite.unique("deep")
    harborlite.create_project(project)
    user_id = harborlite.create_user(harborlite.unique("deepuser"))
    body = nested_objects(100_000)
    for method, path in [
        ("POST", "/users"),
        ("PUT", f"/users/{user_id}"),
        ("PUT", f"/projects/{project}"),
        ("POST", f"/projects/{project}/members"),
        ("POST", f"/projects/{project}/metadatas/"),
        ("POST", "/labels"),
    ]:
        answer = harborlite.api(method, path, auth=harborlite.admin, content=body, headers=JSON)
        assert f"deeper than {MAX_JSON_DEPTH}" in refused(answer, 400, "BAD_REQUEST"), path


def test_a_body_as_deep_as_the_limit_is_taken(harborlite: Harborlite) -> None:
    name = harborlite.unique("deepok")
    # the object is the first level, so its field "x" may nest one level less than the limit
    padding = nested_arrays(MAX_JSON_DEPTH - 1)
    body = b'{"project_name": "%s", "metadata": {"public": "false"}, "x": %s}' % (
        name.encode(),
        padding,
    )
    answer = harborlite.api("POST", "/projects", auth=harborlite.admin, content=body, headers=JSON)
    assert answer.status_code == 201, answer.text


def chunks(total: int, piece: int = 64 * 1024) -> Iterator[bytes]:
    """``total`` bytes of a JSON object, sent as a generator: httpx sends it chunked, with no
    Content-Length."""
    yield b'{"username": "'
    sent = 14
    while sent < total:
        part = min(piece, total - sent)
        yield b"x" * part
        sent += part
    yield b'"}'


def test_a_chunked_body_over_the_limit_is_a_413(harborlite: Harborlite) -> None:
    with httpx.Client(base_url=harborlite.url, auth=harborlite.admin, timeout=60) as client:
        request = client.build_request(
            "POST", "/api/v2.0/users", content=chunks(2 * API_BODY_LIMIT), headers=JSON
        )
        assert request.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in request.headers
        answer = client.send(request)
    message = refused(answer, 413, "PAYLOAD_TOO_LARGE")
    assert str(API_BODY_LIMIT) in message


def test_a_chunked_body_under_the_limit_is_read_whole(harborlite: Harborlite) -> None:
    name = harborlite.unique("chunked")

    def body() -> Iterator[bytes]:
        yield b'{"project_name": "'
        yield name.encode()
        yield b'", "metadata": {"public": "false"}}'

    with httpx.Client(base_url=harborlite.url, auth=harborlite.admin, timeout=60) as client:
        answer = client.post("/api/v2.0/projects", content=body(), headers=JSON)
    assert answer.status_code == 201, answer.text
    assert harborlite.api("GET", f"/projects/{name}", auth=harborlite.admin).status_code == 200


def test_a_declared_length_over_the_limit_is_a_413(harborlite: Harborlite) -> None:
    answer = harborlite.api(
        "POST",
        "/users",
        auth=harborlite.admin,
        content=b"{" + b" " * (2 * API_BODY_LIMIT) + b"}",
        headers=JSON,
    )
    assert str(API_BODY_LIMIT) in refused(answer, 413, "PAYLOAD_TOO_LARGE")


# each list with a string key it filters on
Q_PATHS = [
    ("/projects", "name"),
    ("/users", "username"),
    ("/audit-logs", "operation"),
    ("/labels", "name"),
    ("/projects/{project}/repositories", "name"),
]


@pytest.fixture(scope="module")
def project(harborlite: Harborlite) -> str:
    name = harborlite.unique("qterms")
    harborlite.create_project(name)
    return name


@pytest.mark.both_databases  # SQLite gave up on the statement (503), PostgreSQL ran it whole
@pytest.mark.parametrize(("path", "key"), Q_PATHS, ids=[path for path, _ in Q_PATHS])
def test_a_q_with_thousands_of_terms_is_a_400(
    harborlite: Harborlite, project: str, path: str, key: str
) -> None:
    q = ",".join(f"{key}=~n{n}" for n in range(3000))
    answer = harborlite.api(
        "GET", path.format(project=project), auth=harborlite.admin, params={"q": q}
    )
    assert f"at most {MAX_Q_TERMS} terms" in refused(answer, 400, "BAD_REQUEST")


@pytest.mark.parametrize(("path", "key"), Q_PATHS, ids=[path for path, _ in Q_PATHS])
def test_a_q_term_with_thousands_of_values_is_a_400(
    harborlite: Harborlite, project: str, path: str, key: str
) -> None:
    values = " ".join(f"n{n}" for n in range(3000))
    answer = harborlite.api(
        "GET",
        path.format(project=project),
        auth=harborlite.admin,
        params={"q": f"{key}={{{values}}}"},
    )
    assert f"at most {MAX_TERM_VALUES} values" in refused(answer, 400, "BAD_REQUEST")


def test_a_q_at_the_limits_is_answered(harborlite: Harborlite, project: str) -> None:
    terms = [f"name=~{project}"] * (MAX_Q_TERMS - 1)
    values = " ".join([project, *(f"other{n}" for n in range(MAX_TERM_VALUES - 1))])
    terms.append(f"name={{{values}}}")
    answer = harborlite.api(
        "GET", "/projects", auth=harborlite.admin, params={"q": ",".join(terms)}
    )
    assert answer.status_code == 200, answer.text
    assert [p["name"] for p in answer.json()] == [project]


def test_a_sort_of_thousands_of_fields_is_a_400(harborlite: Harborlite) -> None:
    answer = harborlite.api(
        "GET", "/projects", auth=harborlite.admin, params={"sort": ",".join(["name"] * 3000)}
    )
    assert f"at most {MAX_SORT_FIELDS} fields" in refused(answer, 400, "BAD_REQUEST")
