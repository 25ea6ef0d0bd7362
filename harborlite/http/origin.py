"""Where a request came from, read from the ASGI scope: one spelling for every surface.

Besides the client's address and user agent (for audit entries), whether a browser sent the
request (:func:`from_browser`), whether it sent it on a page's behalf (:func:`page_originated`,
the requests a cross-site page can make a browser send) and whether that page was harborlite's
own (:func:`same_origin`).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import Scope

from harborlite.audit.events import Origin

_CROSSED = ("cross-site", "same-site")  # Sec-Fetch-Site values of a request another site made
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of header ``name`` (lower-case bytes, as ASGI gives them)."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def origin_of(scope: Scope) -> Origin:
    """The client's address and user agent, as audit entries record them."""
    client = scope.get("client")
    return Origin(
        client_ip=client[0] if client else "",
        user_agent=header(scope, b"user-agent") or "",
    )


def page_originated(scope: Scope) -> bool:
    """A browser sent it for a web page: it names the page's origin (``Origin``, which browsers
    send with every POST, PUT, PATCH and DELETE) or says another site made it
    (``Sec-Fetch-Site``). curl, docker and Harbor's API clients send neither."""
    site = (header(scope, b"sec-fetch-site") or "").lower()
    return header(scope, b"origin") is not None or site in _CROSSED


def from_browser(scope: Scope) -> bool:
    """A browser sent it, by any sign browsers give and command-line clients do not: the
    ``Sec-Fetch-*`` headers (every current browser, on every request), an ``Origin``, the
    ``X-Requested-With`` of script requests, or a page navigation's ``Accept: text/html``."""
    if page_originated(scope) or header(scope, b"x-requested-with") is not None:
        return True
    if header(scope, b"sec-fetch-mode") is not None:
        return True
    return "text/html" in (header(scope, b"accept") or "").lower()


def origin_of_url(url: str) -> str:
    """``scheme://host[:port]`` of ``url`` as a browser writes it in ``Origin`` (lower-case,
    without the scheme's default port)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 address keeps its brackets
        host = f"[{host}]"
    port = parts.port
    if port is None or str(port) == _DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def same_origin(scope: Scope, external_url: str) -> bool:
    """The page that made the browser send it is one of harborlite's own (its ``Origin`` is the
    external URL's, and the browser does not say another site made it)."""
    site = (header(scope, b"sec-fetch-site") or "").lower()
    if site in _CROSSED:
        return False
    origin = header(scope, b"origin")
    if origin is None:
        return True
    try:
        return origin_of_url(origin.strip()) == origin_of_url(external_url)
    except ValueError:  # a port that is no number: not ours
        return False
