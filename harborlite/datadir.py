"""The data folder is private to the user harborlite runs as.

It holds the database (password hashes, session tokens), the token signing key, the generated
admin password, logs and, for the embedded registry, every private layer. So:

- the process's umask becomes ``0o077`` before anything is written, so every folder harborlite
  or its registry child (which inherits the umask) makes is 0700 and every file 0600;
- harborlite refuses to start on a data folder that others could have tampered with: the
  folder, or an entry at its top level (the database, ``token.key``, ``registry/``...),
  writable by group or others, or owned by another user. The refusal is one line naming the
  path and the command that fixes it;
- what an older install left readable by others (0644 files, 0755 folders) is tightened, once:
  after that the top level is private and the walk is skipped.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("harborlite")

PRIVATE_UMASK = 0o077
_OTHERS = stat.S_IRWXG | stat.S_IRWXO
_OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH


class DataDirError(SystemExit):
    """The data folder is not safe to use; the message names the path and the fix (a
    ``SystemExit``: the command ends with it, printed on one line, status 1)."""


def secure_data_dir(data_dir: Path) -> None:
    """Make ``data_dir`` (if missing) private, check it, and tighten what others may read."""
    os.umask(PRIVATE_UMASK)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    check_data_dir(data_dir)
    if _readable_by_others(data_dir):
        tightened = tighten(data_dir)
        if tightened:
            log.warning(
                "made %d entries of the data folder %s private to its owner (0700/0600)",
                tightened,
                data_dir,
            )


def check_data_dir(data_dir: Path) -> None:
    """Raise :class:`DataDirError` when ``data_dir`` or an entry at its top level is writable
    by group or others, or is owned by another user."""
    for path in [data_dir, *sorted(data_dir.iterdir())]:
        info = path.lstat()
        if info.st_uid != os.geteuid():
            raise DataDirError(
                f"harborlite: refusing to start: {path} in the data folder is owned by "
                f"{_user(info.st_uid)}, not by {_user(os.geteuid())} who runs harborlite; "
                f"fix: chown -R {_user(os.geteuid())} {data_dir}"
            )
        if not stat.S_ISLNK(info.st_mode) and info.st_mode & _OTHERS_WRITE:
            mode = stat.S_IMODE(info.st_mode)
            raise DataDirError(
                f"harborlite: refusing to start: {path} is writable by group or others "
                f"(mode {mode:04o}), so its contents may have been changed by another user; "
                f"check it, then fix: chmod -R go-rwx {data_dir}"
            )


def tighten(data_dir: Path) -> int:
    """Take group and others' permissions off every folder and file under ``data_dir`` that
    this user owns (symbolic links are left alone); how many changed."""
    changed = 0
    for root, folders, files in os.walk(data_dir):
        for name in [".", *folders, *files]:
            path = os.path.join(root, name)
            try:
                info = os.lstat(path)
                if stat.S_ISLNK(info.st_mode) or info.st_uid != os.geteuid():
                    continue
                if info.st_mode & _OTHERS:
                    os.chmod(path, stat.S_IMODE(info.st_mode) & ~_OTHERS)
                    changed += 1
            except OSError as error:  # removed meanwhile (the registry's uploads), or not ours
                log.debug("cannot tighten %s: %s", path, error)
    return changed


def _readable_by_others(data_dir: Path) -> bool:
    """Whether the folder or an entry at its top level lets group or others in (an older
    install, or files made before the umask: the walk is due)."""
    return any(path.lstat().st_mode & _OTHERS for path in [data_dir, *data_dir.iterdir()])


def _user(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)
