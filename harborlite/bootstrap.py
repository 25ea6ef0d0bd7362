"""First start: data folder, signing key, admin user, the public ``library`` project."""

from __future__ import annotations

import logging
import os
import secrets
import string

from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.accounts import queries as accounts
from harborlite.accounts.passwords import hash_password
from harborlite.audit.events import CREATE, AuditEvent, record
from harborlite.auth.tokens import generate_key_pair
from harborlite.datadir import secure_data_dir
from harborlite.gc.storage import writable
from harborlite.projects import queries as projects
from harborlite.settings import Settings
from harborlite.storage.configured import registry_storage
from harborlite.uploads.purge import ensure_hourly

log = logging.getLogger("harborlite")


def prepare_data_dir(settings: Settings) -> None:
    """The data folder private (:mod:`harborlite.datadir`: the umask, the refusal of a folder
    others can write, older files tightened), then the signing key in it."""
    secure_data_dir(settings.data_dir)
    if not settings.key_path.exists() or not settings.cert_path.exists():
        log.info("generating the token signing key in %s", settings.data_dir)
        generate_key_pair(settings.key_path, settings.cert_path, "harborlite-token-signer")


def _random_password() -> str:
    alphabet = string.ascii_letters + string.digits
    while True:
        password = "".join(secrets.choice(alphabet) for _ in range(20))
        if (
            any(c.isupper() for c in password)
            and any(c.islower() for c in password)
            and any(c.isdigit() for c in password)
        ):
            return password


async def ensure_initial_state(session: AsyncSession, settings: Settings) -> str | None:
    """Create ``admin`` and ``library`` when missing, and schedule the purge of abandoned
    uploads when harborlite can write the registry's storage. Returns a generated admin
    password."""
    generated = None
    admin = await accounts.get_user_by_name(session, "admin")
    if admin is None:
        if settings.admin_password is not None:
            password = settings.admin_password.reveal()
        else:
            password = generated = _random_password()
            path = settings.admin_password_file
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(password + "\n")
        admin = await accounts.create_user(
            session,
            username="admin",
            password_hash=await hash_password(password),
            realname="system admin",
            comment="created on first start",
            sysadmin=True,
        )
        record(session, AuditEvent("system", CREATE, "user", "admin"))
    if await projects.get_project_by_name(session, "library") is None:
        await projects.create_project(session, name="library", public=True, owner=admin)
        record(session, AuditEvent("system", CREATE, "project", "library"))
    # abandoned uploads purged hourly, where harborlite has the registry's storage
    if settings.embedded_registry or writable(registry_storage(settings)):
        await ensure_hourly(session)
    await session.commit()
    return generated
