"""A hypothesis fuzz of ``/v2/`` and the token service on a real server and its registry.

Generated repository names, references, digests, headers (Accept, Content-Type, Authorization
garbage, Range), query strings (``n``, ``last``, ``scope``, ``service``) and bodies: harborlite
answers each with a status below 500 (the registry is up, so a 503 would be a fault too) and
its log holds no traceback. Examples per test: ``HARBORLITE_FUZZ_EXAMPLES`` (``make fuzz``).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.pushing import Pusher
from tests.fuzz.api_schema import examples_per_operation
from tests.harness import Harborlite, cleanup, start_harborlite

PROJECT = "fuzz"
REPOSITORY = f"{PROJECT}/app"
FUZZ = settings(
    max_examples=examples_per_operation(60),
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


class Target:
    def __init__(self, server: Harborlite, token: str, digest: str) -> None:
        self.server = server
        self.token = token
        self.digest = digest
        self.client = httpx.Client(base_url=server.url, timeout=30)


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    """A server of this module's own, so its log holds only this fuzz's requests."""
    server = start_harborlite()
    try:
        server.create_project(PROJECT, public=True)
        with Pusher(server) as pusher:
            pushed = pusher.image(REPOSITORY, "v1")
        token = server.token(f"repository:{REPOSITORY}:pull,push,delete", server.admin)
        found = Target(server, token, pushed.digest)
        yield found
        found.client.close()
    finally:
        cleanup(server)


@pytest.fixture(scope="module", autouse=True)
def no_traceback_in_the_log(target: Target) -> Iterator[None]:
    yield
    log = target.server.log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[-6000:]


# text fit for a header value: visible ASCII and spaces (no control characters: RFC 9110)
HEADER_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E),
    max_size=60,
).map(str.strip)  # h11 refuses a value with whitespace at either end
NAME_PART = st.from_regex(r"[a-z0-9]+([._-][a-z0-9]+)*", fullmatch=True).filter(
    lambda part: len(part) <= 30
)
NAMES = st.one_of(
    st.just(REPOSITORY),
    st.just(PROJECT),
    st.builds(lambda parts: "/".join(parts), st.lists(NAME_PART, min_size=1, max_size=4)),
    st.builds(lambda rest: f"{PROJECT}/{rest}", NAME_PART),
    st.text(max_size=40),
    st.sampled_from(["../x", "fuzz/../app", "a//b", "FUZZ/App", "-a", "a" * 300, "fuzz/app/"]),
)
DIGESTS = st.one_of(
    st.builds(
        lambda h: "sha256:" + h, st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
    ),
    st.builds(lambda h: "sha512:" + h, st.text(alphabet="0123456789abcdef", max_size=128)),
    st.sampled_from(["sha256:", "md5:abc", "sha256:XYZ", ":", "sha256:" + "0" * 65]),
)
REFERENCES = st.one_of(
    st.just("v1"),
    DIGESTS,
    st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}", fullmatch=True),
    st.text(max_size=40),
)


def _authorization(target: Target) -> st.SearchStrategy[str | None]:
    garbage_basic = st.builds(
        lambda raw: ("Basic " + base64.b64encode(raw).decode()).strip(), st.binary(max_size=40)
    )
    return st.one_of(
        st.none(),
        st.just(f"Bearer {target.token}"),
        st.builds(lambda text: ("Bearer " + text).strip(), HEADER_TEXT),
        st.builds(lambda text: ("Basic " + text).strip(), HEADER_TEXT),
        garbage_basic,
        HEADER_TEXT,
        st.builds(lambda cut: f"Bearer {target.token[:cut]}".strip(), st.integers(0, 400)),
    )


def _headers(target: Target) -> st.SearchStrategy[dict[str, str]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "Authorization": _authorization(target),
            "Accept": st.one_of(
                st.sampled_from(
                    [
                        "application/vnd.oci.image.manifest.v1+json",
                        "application/vnd.docker.distribution.manifest.v2+json",
                        "application/vnd.oci.image.index.v1+json, */*;q=0.1",
                        "*/*",
                    ]
                ),
                HEADER_TEXT,
            ),
            "Content-Type": st.one_of(
                st.sampled_from(
                    ["application/vnd.oci.image.manifest.v1+json", "application/octet-stream"]
                ),
                HEADER_TEXT,
            ),
            "Range": st.one_of(
                st.builds(
                    lambda a, b: f"bytes={a}-{b}", st.integers(-5, 10**12), st.integers(-5, 10**12)
                ),
                st.builds(lambda a: f"{a}-", st.integers(-5, 10**6)),
                HEADER_TEXT,
            ),
            "Content-Range": st.one_of(
                st.builds(lambda a, b: f"{a}-{b}", st.integers(-5, 10**9), st.integers(-5, 10**9)),
                HEADER_TEXT,
            ),
        },
    ).map(lambda headers: {k: v for k, v in headers.items() if v is not None})


BODIES = st.one_of(
    st.just(b""),
    st.binary(max_size=300),
    st.text(max_size=300).map(str.encode),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
        ),
        max_leaves=20,
    ).map(lambda value: httpx.Request("POST", "http://x", json=value).content),
    st.integers(1, 5000).map(lambda depth: b"[" * depth + b"]" * depth),
)


def _v2_request(target: Target) -> st.SearchStrategy[tuple[str, str, dict[str, str]]]:
    def path(kind: str, name: str, reference: str, digest: str, upload: str) -> str:
        n = quote(name, safe="/")
        return {
            "base": "/v2/",
            "catalog": "/v2/_catalog",
            "tags": f"/v2/{n}/tags/list",
            "manifest": f"/v2/{n}/manifests/{quote(reference, safe='')}",
            "blob": f"/v2/{n}/blobs/{quote(digest, safe='')}",
            "known_blob": f"/v2/{REPOSITORY}/blobs/{target.digest}",
            "uploads": f"/v2/{n}/blobs/uploads/",
            "upload": f"/v2/{n}/blobs/uploads/{quote(upload, safe='')}",
            "referrers": f"/v2/{n}/referrers/{quote(digest, safe='')}",
        }[kind]

    query = st.fixed_dictionaries(
        {},
        optional={
            "n": st.one_of(st.integers(-10, 10**12).map(str), st.text(max_size=10)),
            "last": st.text(max_size=30),
            "digest": DIGESTS,
            "mount": DIGESTS,
            "from": NAMES,
            "artifactType": st.text(max_size=20),
        },
    )
    paths = st.builds(
        path,
        st.sampled_from(
            [
                "base",
                "catalog",
                "tags",
                "manifest",
                "blob",
                "known_blob",
                "uploads",
                "upload",
                "referrers",
            ]
        ),
        NAMES,
        REFERENCES,
        DIGESTS,
        st.one_of(st.uuids().map(str), st.text(max_size=40)),
    )
    return st.tuples(
        st.sampled_from(["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS"]), paths, query
    )


def _assert_handled(response: httpx.Response, what: str) -> None:
    assert response.status_code < 500, f"{what} -> {response.status_code}: {response.text[:500]}"


@pytest.mark.timeout(600)
def test_v2_answers_generated_requests_without_a_server_error(target: Target) -> None:
    @FUZZ
    @given(request=_v2_request(target), headers=_headers(target), body=BODIES)
    def check(
        request: tuple[str, str, dict[str, str]], headers: dict[str, str], body: bytes
    ) -> None:
        method, path, query = request
        content = body if method in ("PUT", "PATCH", "POST") else None
        response = target.client.request(
            method, path, params=query, headers=headers, content=content
        )
        _assert_handled(response, f"{method} {path}?{query} {headers}")

    check()


SCOPES = st.one_of(
    st.builds(
        lambda kind, name, actions: f"{kind}:{name}:{actions}",
        st.sampled_from(["repository", "registry", "repository(plugin)", "", "x"]),
        NAMES,
        st.one_of(
            st.sampled_from(["pull", "push", "pull,push", "*", "delete", "pull,,push", ""]),
            st.text(max_size=20),
        ),
    ),
    st.just("registry:catalog:*"),
    st.text(max_size=60),
)


@pytest.mark.timeout(600)
def test_token_service_answers_generated_requests_without_a_server_error(target: Target) -> None:
    form = st.fixed_dictionaries(
        {},
        optional={
            "grant_type": st.one_of(
                st.sampled_from(["password", "refresh_token", "client_credentials"]),
                st.text(max_size=20),
            ),
            "username": st.one_of(st.just("admin"), st.text(max_size=30)),
            "password": st.one_of(st.just("Harbor12345"), st.text(max_size=30)),
            "refresh_token": st.one_of(st.just(target.token), st.text(max_size=60)),
            "service": st.one_of(st.just("harbor-registry"), st.text(max_size=20)),
            "scope": SCOPES,
            "client_id": st.text(max_size=20),
            "access_type": st.one_of(st.just("offline"), st.text(max_size=10)),
        },
    )
    query = st.lists(
        st.tuples(
            st.sampled_from(["scope", "service", "account", "offline_token", "client_id", "x"]),
            st.one_of(SCOPES, st.text(max_size=30)),
        ),
        max_size=6,
    )

    @FUZZ
    @given(
        post=st.booleans(),
        query=query,
        form=form,
        headers=_headers(target),
        raw=st.one_of(st.none(), BODIES),
    )
    def check(
        post: bool,
        query: list[tuple[str, str]],
        form: dict[str, str],
        headers: dict[str, str],
        raw: bytes | None,
    ) -> None:
        if post:
            if raw is not None:
                response = target.client.post(
                    "/service/token", params=query, headers=headers, content=raw
                )
            else:
                response = target.client.post(
                    "/service/token", params=query, headers=headers, data=form
                )
        else:
            response = target.client.get("/service/token", params=query, headers=headers)
        _assert_handled(response, f"{'POST' if post else 'GET'} {query} {form} {headers}")

    check()
