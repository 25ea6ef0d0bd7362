"""Registry endpoints: create, update, delete, once for every surface (API, portal).

Only system administrators reach these (the surfaces check). Names are unique (409); the
secret is sealed before it is stored and never leaves sealed except as :class:`Endpoint`; an
endpoint that a replication policy or a proxy-cache project uses cannot be deleted (412).
Each change is audited (without the secret).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.audit.events import CREATE, DELETE, UPDATE, Actor, record
from harborlite.db.errors import flush_unique
from harborlite.db.models import utcnow
from harborlite.endpoints import health, queries
from harborlite.endpoints import validation as check
from harborlite.endpoints.models import Registry
from harborlite.endpoints.queries import Endpoint, endpoint_of
from harborlite.errors import BadRequest, Conflict, NotFound, PreconditionFailed
from harborlite.proxycache import queries as proxy_queries
from harborlite.sealing import SecretBox

RESOURCE_TYPE = "registry"
USERS = {"replication_policies": "replication policies", "projects": "proxy-cache projects"}


def _taken(name: str) -> str:
    return f"registry {name} already exists"


async def registry_of(session: AsyncSession, registry_id: int) -> Registry:
    row = await queries.get_registry(session, registry_id) if 0 < registry_id < 2**31 else None
    if row is None:
        raise NotFound(f"registry {registry_id} not found")
    return row


def _store_credential(row: Registry, credential: check.Credential, secrets: SecretBox) -> None:
    row.credential_type = credential.type
    if credential.access_key != row.access_key:
        row.access_key = credential.access_key
        if credential.access_secret is None:  # another user: the old secret is not theirs
            row.access_secret_sealed = None
    if credential.access_secret is not None:
        row.access_secret_sealed = (
            secrets.seal(credential.access_secret) if credential.access_secret else None
        )
    if row.access_key is None:
        row.access_secret_sealed = None


async def create_registry(
    session: AsyncSession, body: dict[str, Any], secrets: SecretBox, *, by: Actor
) -> Registry:
    """A new endpoint from Harbor's ``Registry`` body (plus ``rate_per_second``)."""
    name = check.check_name(body.get("name"))
    kind = check.check_type(body.get("type"))
    url = check.check_url(check.default_url(kind, body.get("url")))
    row = Registry(
        name=name,
        type=kind,
        url=url,
        insecure=check.check_insecure(body.get("insecure")),
        ca_certificate=check.check_ca(body.get("ca_certificate")),
        credential_type="basic",
        access_key=None,
        access_secret_sealed=None,
        rate_per_second=check.check_rate(body.get("rate_per_second")),
        description=check.check_description(body.get("description")),
        status="unknown",
        status_message="",
    )
    credential = check.check_credential(body.get("credential"))
    if credential is not None:
        _store_credential(row, credential, secrets)
    if await queries.find_by_name(session, name) is not None:
        raise Conflict(_taken(name))
    session.add(row)
    await flush_unique(session, _taken(name))
    await health.ensure_schedule(session)
    record(session, by.event(CREATE, RESOURCE_TYPE, name, detail=f"{kind} {url}"))
    return row


async def update_registry(
    session: AsyncSession, row: Registry, body: dict[str, Any], secrets: SecretBox, *, by: Actor
) -> Registry:
    """Harbor's ``RegistryUpdate``: every field optional; ``access_secret`` ``"*****"`` (what
    the API shows) or absent keeps the stored secret. The type does not change."""
    changed: list[str] = []
    if body.get("name") is not None:
        name = check.check_name(body["name"])
        if name != row.name:
            other = await queries.find_by_name(session, name)
            if other is not None and other.id != row.id:
                raise Conflict(_taken(name))
            row.name = name
            changed.append("name")
    if body.get("url") is not None:
        url = check.check_url(check.default_url(row.type, body["url"]))
        if url != row.url:
            row.url, row.status = url, "unknown"
            changed.append("url")
    if body.get("description") is not None:
        row.description = check.check_description(body["description"])
        changed.append("description")
    if body.get("insecure") is not None:
        row.insecure = check.check_insecure(body["insecure"])
        changed.append("insecure")
    if "ca_certificate" in body:
        row.ca_certificate = check.check_ca(body["ca_certificate"])
        changed.append("ca_certificate")
    if "rate_per_second" in body:
        row.rate_per_second = check.check_rate(body["rate_per_second"])
        changed.append("rate_per_second")
    if body.get("type") is not None and body["type"] != row.type:
        raise BadRequest("the type of a registry cannot be changed")
    credential = check.flat_credential(body)
    if credential is None and isinstance(body.get("credential"), dict):
        credential = check.check_credential(body["credential"])
    if credential is not None:
        if credential.access_key is None:  # only a secret, or only the type: keep the user
            credential = check.Credential(credential.type, row.access_key, credential.access_secret)
        _store_credential(row, credential, secrets)
        changed.append("credential")
    row.update_time = utcnow()
    await flush_unique(session, _taken(row.name))
    record(session, by.event(UPDATE, RESOURCE_TYPE, row.name, detail=", ".join(changed)))
    return row


async def delete_registry(session: AsyncSession, registry_id: int, *, by: Actor) -> None:
    row = await registry_of(session, registry_id)
    used = [USERS.get(table, table) for table, _ in await queries.references(session, row.id)]
    proxies = await proxy_queries.projects_using(session, row.id)
    if proxies:
        used.append(f"proxy-cache projects ({', '.join(proxies)})")
    if used:
        raise PreconditionFailed(
            f"the registry {row.id} is referenced by {' and '.join(used)}, cannot delete it"
        )
    await session.delete(row)
    record(session, by.event(DELETE, RESOURCE_TYPE, row.name))


async def endpoint_to_ping(
    session: AsyncSession, body: dict[str, Any], secrets: SecretBox
) -> Endpoint:
    """Harbor's ``RegistryPing``: a stored endpoint (``id``) with the fields given over it, or
    the endpoint the fields describe."""
    raw_id = body.get("id")
    if raw_id is not None:
        if isinstance(raw_id, bool) or not isinstance(raw_id, int):
            raise BadRequest("id must be a whole number")
        base = endpoint_of(await registry_of(session, raw_id), secrets)
    else:
        kind = check.check_type(body.get("type"))
        if body.get("url") in (None, "") and kind != "docker-hub":
            raise BadRequest("url is required")
        base = Endpoint(0, "ping", kind, "", False, None, None, None, None, "", "unknown")
    kind = base.type if body.get("type") is None else check.check_type(body.get("type"))
    url = base.url if body.get("url") is None else check.check_url(body["url"])
    if not url:
        url = check.check_url(check.default_url(kind, None))
    username, password = base.username, base.password
    credential = check.flat_credential(body)
    if credential is not None:
        if credential.access_key is not None and credential.access_key != username:
            username, password = credential.access_key or None, None
        if credential.access_secret is not None:
            password = credential.access_secret
    return Endpoint(
        id=base.id,
        name=base.name,
        type=kind,
        url=url,
        insecure=base.insecure
        if body.get("insecure") is None
        else check.check_insecure(body["insecure"]),
        ca_pem=base.ca_pem
        if "ca_certificate" not in body
        else check.check_ca(body["ca_certificate"]),
        username=username,
        password=password,
        rate_per_second=base.rate_per_second,
        description=base.description,
        status=base.status,
    )
