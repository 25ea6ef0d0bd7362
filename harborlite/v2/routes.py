"""What a ``/v2/`` request is (its route: kind, repository, reference), and which registry
actions it needs. Its headers and origin are read with :mod:`harborlite.http.origin`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from urllib.parse import parse_qs


class Kind(Enum):
    BASE = "base"
    CATALOG = "catalog"
    TAGS = "tags"
    MANIFEST = "manifest"
    BLOB = "blob"
    UPLOAD = "upload"
    REFERRERS = "referrers"


_ROUTE = re.compile(
    r"^/v2/(?P<name>.+?)/(?:"
    r"(?P<tags>tags/list)|"
    r"manifests/(?P<manifest>[^/]+)|"
    r"blobs/uploads/(?P<upload>[^/]*)|"
    r"blobs/(?P<blob>[^/]+)|"
    r"referrers/(?P<referrers>[^/]+)"
    r")$"
)


@dataclass(frozen=True)
class Route:
    kind: Kind
    name: str = ""  # repository name
    reference: str = ""  # tag or digest, upload id, blob digest
    mount_from: str | None = None  # cross-repository mount source

    @property
    def project(self) -> str:
        return self.name.split("/", 1)[0]

    @property
    def named_like_project(self) -> bool:
        """A one-component name (``/v2/team/...``): the repository would be named exactly like
        its project, which Harbor's REST API cannot address (``/projects/team/repositories/``
        needs a name after the project's)."""
        return bool(self.name) and "/" not in self.name


def parse_route(path: str, query_string: bytes = b"") -> Route | None:
    if path in ("/v2", "/v2/"):
        return Route(Kind.BASE)
    if path == "/v2/_catalog":
        return Route(Kind.CATALOG)
    match = _ROUTE.match(path)
    if match is None:
        return None
    name = match.group("name")
    if match.group("tags"):
        return Route(Kind.TAGS, name)
    if match.group("manifest") is not None:
        return Route(Kind.MANIFEST, name, match.group("manifest"))
    if match.group("upload") is not None:
        mount_from = None
        if query_string:
            params = parse_qs(query_string.decode("latin-1"))
            if "mount" in params and params.get("from"):
                mount_from = params["from"][0]
        return Route(Kind.UPLOAD, name, match.group("upload"), mount_from)
    if match.group("blob") is not None:
        return Route(Kind.BLOB, name, match.group("blob"))
    return Route(Kind.REFERRERS, name, match.group("referrers"))


def stores_content(route: Route, method: str) -> bool:
    """Whether the request is part of a push: an upload (any step of it) or a manifest PUT.
    Those create a repository; reads and deletes only touch one that exists."""
    return route.kind is Kind.UPLOAD or (route.kind is Kind.MANIFEST and method == "PUT")


def required_actions(route: Route, method: str) -> tuple[str, ...]:
    """The actions the registry checks for this request (distribution's token protocol)."""
    if route.kind in (Kind.BASE, Kind.CATALOG):
        return ()
    if method in ("GET", "HEAD"):
        if route.kind is Kind.UPLOAD:
            return ("pull", "push")
        return ("pull",)
    if method == "DELETE":
        if route.kind is Kind.UPLOAD:
            return ("pull", "push")
        return ("delete",)
    return ("pull", "push")
