"""Harbor's projects API on a remote ``harbor`` endpoint (Harbor or another harborlite): make
sure a project exists before a replication copies into it, as Harbor's own adapter does.

``HEAD /api/v2.0/projects?project_name=<name>`` says whether it exists (200 / 404); when it
does not, ``POST /api/v2.0/projects {"project_name": ..., "metadata": {"public": "false"}}``
creates it, with the endpoint's credentials (HTTP Basic). A ``409`` (someone created it in
between) counts as there. Every other answer, and aiohttp's errors, become
:class:`~harborlite.remote.errors.RemoteError` with the remote's own message when it gave one.
"""

from __future__ import annotations

import json

import aiohttp

from harborlite.endpoints.queries import Endpoint
from harborlite.remote.client import registry_base, ssl_for
from harborlite.remote.errors import RemoteError, parse_retry_after

TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=15)


async def ensure_project(endpoint: Endpoint, name: str, *, user_agent: str = "harborlite") -> bool:
    """Create the project ``name`` on the endpoint unless it exists; True when it was created."""
    base = registry_base(endpoint)
    auth = None
    if endpoint.username:
        auth = aiohttp.BasicAuth(endpoint.username, endpoint.password or "")
    connector = aiohttp.TCPConnector(ssl=ssl_for(endpoint))
    headers = {"User-Agent": user_agent}
    try:
        async with aiohttp.ClientSession(
            timeout=TIMEOUT, connector=connector, headers=headers, auth=auth
        ) as http:
            async with http.head(
                f"{base}/api/v2.0/projects", params={"project_name": name}
            ) as answer:
                if answer.status == 200:
                    return False
                if answer.status != 404:
                    raise await _refusal(endpoint, answer, f"look up project {name}")
            body = {"project_name": name, "metadata": {"public": "false"}}
            async with http.post(f"{base}/api/v2.0/projects", json=body) as answer:
                if answer.status == 201:
                    return True
                if answer.status == 409:
                    return False
                raise await _refusal(endpoint, answer, f"create project {name}")
    except aiohttp.ClientError as error:
        raise RemoteError(
            f"{endpoint.name}: project {name}: the projects API is unreachable ({error})"
        ) from None
    except TimeoutError:
        raise RemoteError(f"{endpoint.name}: project {name}: the projects API timed out") from None


async def _refusal(endpoint: Endpoint, answer: aiohttp.ClientResponse, what: str) -> RemoteError:
    detail = ""
    try:
        first = json.loads(await answer.content.read(64 * 1024))["errors"][0]
        detail = f": {first.get('message', '')}".rstrip(": ")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, aiohttp.ClientError):
        pass
    if answer.status == 401:
        text = "authentication failed"
    elif answer.status == 403:
        text = "access denied"
    else:
        text = f"HTTP {answer.status}"
    return RemoteError(
        f"{endpoint.name}: {what}: {text}{detail}",
        status=answer.status,
        retry_after=parse_retry_after(answer.headers.get("Retry-After")),
    )
