"""Scanner registrations, once for every surface: validate, create, update, delete, make one
the default, choose a project's scanner, and find the scanner a project scans with.

Harbor's validation and texts (``pkg/scan/dao/scanner/model.go`` ``Validate``): a name, an
``http``/``https`` URL, ``auth`` one of ``""``, ``Basic``, ``Bearer``,
``X-ScannerAdapter-API-Key``, and a credential when ``auth`` is set. The first registration
becomes the default, as in Harbor. The credential is kept sealed (:mod:`.sealing`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.db.models import Project, utcnow
from harborlite.errors import BadRequest, Conflict, NotFound, PreconditionFailed
from harborlite.scanning.adapter import AUTH_TYPES, Endpoint
from harborlite.scanning.models import ProjectScanner, Scanner
from harborlite.sealing import SecretBox

NAME = re.compile(r"^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$")


@dataclass(frozen=True)
class Settings:
    """What a registration request sets (Harbor's ``ScannerRegistrationReq``)."""

    name: str
    url: str
    description: str = ""
    auth: str = ""
    access_credential: str = ""
    skip_cert_verify: bool = False
    use_internal_addr: bool = False
    disabled: bool = False


def _text(body: dict[str, Any], key: str, default: str = "") -> str:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be a string")
    return value


def _flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BadRequest(f"{key} must be true or false")
    return value


def check_url(url: str) -> str:
    """The URL, trimmed; BadRequest with Harbor's words when it is not one."""
    url = url.strip()
    if not url:
        raise BadRequest("scanner registration validate: empty url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise BadRequest("scanner registration validate: invalid scheme")
    if not parts.hostname:
        raise BadRequest(f"scanner registration validate: invalid url {url!r}: no host")
    try:
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        raise BadRequest(f"scanner registration validate: invalid url {url!r}: bad port") from None
    return url.rstrip("/")


def settings_of(body: dict[str, Any], *, ping: bool = False) -> Settings:
    """The validated settings of a request body (``ping``: only name, url and auth count)."""
    name = _text(body, "name").strip()
    if not name:
        raise BadRequest("missing registration name")
    if not ping and (len(name) > 255 or not NAME.match(name)):
        raise BadRequest(
            f"invalid registration name {name!r}: letters, digits and single '.', '_' or '-' "
            "between them, at most 255 characters"
        )
    url = check_url(_text(body, "url"))
    auth = _text(body, "auth")
    if auth not in AUTH_TYPES:
        raise BadRequest(f"auth type {auth} is not supported")
    credential = _text(body, "access_credential")
    return Settings(
        name=name,
        url=url,
        description=_text(body, "description"),
        auth=auth,
        access_credential=credential,
        skip_cert_verify=_flag(body, "skip_certVerify"),
        use_internal_addr=_flag(body, "use_internal_addr"),
        disabled=_flag(body, "disabled"),
    )


def _require_credential(settings: Settings) -> None:
    if settings.auth and not settings.access_credential:
        raise BadRequest(f"access_credential is required for auth type {settings.auth}")


def endpoint_of(data_dir: Path, scanner: Scanner) -> Endpoint:
    return Endpoint(
        url=scanner.url,
        auth=scanner.auth,
        credential=SecretBox.for_data_dir(data_dir).open(scanner.credential),
        skip_cert_verify=scanner.skip_cert_verify,
    )


def endpoint_of_settings(settings: Settings) -> Endpoint:
    _require_credential(settings)
    return Endpoint(
        url=settings.url,
        auth=settings.auth,
        credential=settings.access_credential,
        skip_cert_verify=settings.skip_cert_verify,
    )


async def _unique(session: AsyncSession, settings: Settings, keep: int | None = None) -> None:
    for column, value, what in (
        (Scanner.name, settings.name, "name"),
        (Scanner.url, settings.url, "url"),
    ):
        where = [column == value]
        if keep is not None:
            where.append(Scanner.id != keep)
        found = await session.execute(select(Scanner.id).where(*where))
        if found.scalar() is not None:
            raise Conflict(f"scanner registration {what} {value} already exists")


async def list_scanners(session: AsyncSession) -> Sequence[Scanner]:
    found = await session.execute(select(Scanner).order_by(Scanner.id))
    return found.scalars().all()


async def get_scanner(session: AsyncSession, registration_id: str) -> Scanner:
    found = await session.execute(select(Scanner).where(Scanner.uuid == registration_id))
    scanner = found.scalar()
    if scanner is None:
        raise NotFound(f"scanner registration {registration_id} not found")
    return scanner


async def create(session: AsyncSession, data_dir: Path, settings: Settings) -> Scanner:
    _require_credential(settings)
    await _unique(session, settings)
    count = (await session.execute(select(func.count()).select_from(Scanner))).scalar_one()
    scanner = Scanner(
        uuid=str(uuid.uuid4()),
        name=settings.name,
        description=settings.description,
        url=settings.url,
        auth=settings.auth,
        credential=SecretBox.for_data_dir(data_dir).seal(settings.access_credential),
        skip_cert_verify=settings.skip_cert_verify,
        use_internal_addr=settings.use_internal_addr,
        disabled=settings.disabled,
        is_default=int(count) == 0,
    )
    session.add(scanner)
    await session.flush()
    return scanner


async def replace(
    session: AsyncSession, data_dir: Path, scanner: Scanner, settings: Settings
) -> Scanner:
    """PUT: every field set again; an empty credential keeps the stored one while ``auth``
    still needs one (Harbor's rule)."""
    await _unique(session, settings, keep=scanner.id)
    if settings.auth:
        if settings.access_credential:
            scanner.credential = SecretBox.for_data_dir(data_dir).seal(settings.access_credential)
        elif not scanner.credential or not scanner.auth:
            raise BadRequest(f"access_credential is required for auth type {settings.auth}")
    else:
        scanner.credential = ""
    scanner.name = settings.name
    scanner.url = settings.url
    scanner.description = settings.description
    scanner.auth = settings.auth
    scanner.skip_cert_verify = settings.skip_cert_verify
    scanner.use_internal_addr = settings.use_internal_addr
    scanner.disabled = settings.disabled
    scanner.update_time = utcnow()
    await session.flush()
    return scanner


async def delete(session: AsyncSession, scanner: Scanner) -> None:
    """Projects that chose it fall back to the default (their choice goes with it)."""
    await session.delete(scanner)
    await session.flush()


async def set_default(session: AsyncSession, scanner: Scanner, is_default: bool) -> None:
    if is_default:
        await session.execute(
            update(Scanner).where(Scanner.id != scanner.id).values(is_default=False)
        )
    scanner.is_default = is_default
    scanner.update_time = utcnow()
    await session.flush()


async def default_scanner(session: AsyncSession) -> Scanner | None:
    found = await session.execute(select(Scanner).where(Scanner.is_default.is_(True)))
    return found.scalar()


async def project_choice(session: AsyncSession, project_id: int) -> Scanner | None:
    found = await session.execute(
        select(Scanner)
        .join(ProjectScanner, ProjectScanner.scanner_id == Scanner.id)
        .where(ProjectScanner.project_id == project_id)
    )
    return found.scalar()


async def scanner_of_project(session: AsyncSession, project_id: int) -> Scanner | None:
    """The project's own scanner, else the default one."""
    return await project_choice(session, project_id) or await default_scanner(session)


async def set_project_scanner(
    session: AsyncSession, project: Project, registration_id: Any
) -> None:
    if not isinstance(registration_id, str) or not registration_id:
        raise BadRequest("uuid of the scanner registration is required")
    found = await session.execute(select(Scanner).where(Scanner.uuid == registration_id))
    scanner = found.scalar()
    if scanner is None:
        raise BadRequest(f"scanner registration {registration_id} not found")
    choice = await session.get(ProjectScanner, project.id)
    if choice is None:
        session.add(ProjectScanner(project_id=project.id, scanner_id=scanner.id))
    else:
        choice.scanner_id = scanner.id
    await session.flush()


async def usable_scanner(session: AsyncSession, project: Project) -> Scanner:
    """The scanner a scan of ``project`` uses; 412 when there is none or it is disabled."""
    scanner = await scanner_of_project(session, project.id)
    if scanner is None:
        raise PreconditionFailed(
            f"no scanner is configured for project {project.name}: register one "
            "(POST /api/v2.0/scanners) and make it the default or the project's scanner"
        )
    if scanner.disabled:
        raise PreconditionFailed(
            f"the scanner {scanner.name} of project {project.name} is disabled"
        )
    return scanner
