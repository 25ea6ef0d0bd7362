"""What user names and e-mail addresses may be."""

from __future__ import annotations

import re

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,254}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

USERNAME_RULE = "1 to 255 letters, digits, '.', '_', '-' or '@', starting with a letter or digit"


def valid_username(name: str) -> bool:
    return _USERNAME.match(name) is not None


def valid_email(address: str) -> bool:
    return _EMAIL.match(address) is not None


def shown_username(username: str) -> str:
    """``username`` as a failed login's audit entry and log line may show it: verbatim when it
    is a valid user name, else only its length (it may be a password typed in the wrong
    field)."""
    if valid_username(username):
        return username
    return f"(not a user name, {len(username)} characters)"
