"""Which /v2/ endpoint a path is, and which registry actions it needs."""

from __future__ import annotations

import pytest

from harborlite.v2.routes import Kind, Route, parse_route, required_actions

D = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("path", "query", "route"),
    [
        ("/v2/", b"", Route(Kind.BASE)),
        ("/v2/_catalog", b"n=10", Route(Kind.CATALOG)),
        ("/v2/p/r/tags/list", b"", Route(Kind.TAGS, "p/r")),
        ("/v2/p/a/b/manifests/latest", b"", Route(Kind.MANIFEST, "p/a/b", "latest")),
        (f"/v2/p/r/manifests/{D}", b"", Route(Kind.MANIFEST, "p/r", D)),
        (f"/v2/p/r/blobs/{D}", b"", Route(Kind.BLOB, "p/r", D)),
        ("/v2/p/r/blobs/uploads/", b"", Route(Kind.UPLOAD, "p/r", "")),
        ("/v2/p/r/blobs/uploads/abc-123", b"_state=x%3D", Route(Kind.UPLOAD, "p/r", "abc-123")),
        (
            "/v2/p/r/blobs/uploads/",
            f"mount={D}&from=q/s".encode(),
            Route(Kind.UPLOAD, "p/r", "", mount_from="q/s"),
        ),
        # a repository whose name contains a keyword component
        ("/v2/p/blobs/manifests/v1", b"", Route(Kind.MANIFEST, "p/blobs", "v1")),
        (f"/v2/p/r/referrers/{D}", b"", Route(Kind.REFERRERS, "p/r", D)),
    ],
)
def test_parse_route(path: str, query: bytes, route: Route) -> None:
    assert parse_route(path, query) == route


@pytest.mark.parametrize("path", ["/v2/p", "/v2/p/r/unknown/x", "/v3/p/r/tags/list"])
def test_unknown_paths(path: str) -> None:
    assert parse_route(path) is None


@pytest.mark.parametrize(
    ("kind", "method", "actions"),
    [
        (Kind.MANIFEST, "GET", ("pull",)),
        (Kind.MANIFEST, "HEAD", ("pull",)),
        (Kind.MANIFEST, "PUT", ("pull", "push")),
        (Kind.MANIFEST, "DELETE", ("delete",)),
        (Kind.BLOB, "GET", ("pull",)),
        (Kind.BLOB, "DELETE", ("delete",)),
        (Kind.UPLOAD, "POST", ("pull", "push")),
        (Kind.UPLOAD, "PATCH", ("pull", "push")),
        (Kind.UPLOAD, "PUT", ("pull", "push")),
        (Kind.UPLOAD, "GET", ("pull", "push")),
        (Kind.UPLOAD, "DELETE", ("pull", "push")),
        (Kind.TAGS, "GET", ("pull",)),
        (Kind.BASE, "GET", ()),
    ],
)
def test_required_actions(kind: Kind, method: str, actions: tuple[str, ...]) -> None:
    assert required_actions(Route(kind, "p/r", "x"), method) == actions
