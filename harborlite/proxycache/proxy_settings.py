"""Harbor's proxy metadata on a project, checked and read.

``proxy_speed_kb`` (upstream bandwidth per transfer, in kilobits per second; ``-1``: no limit),
``max_upstream_conn`` (upstream transfers at once for the project; ``-1``: no limit; past it
a client is told 429 "too many requests to upstream registry") and
``proxy_cache_local_on_not_found`` (``true``: serve the cached copy when upstream says 404).
"""

from __future__ import annotations

from dataclasses import dataclass

from harborlite.errors import BadRequest

SPEED = "proxy_speed_kb"
MAX_CONN = "max_upstream_conn"
LOCAL_ON_NOT_FOUND = "proxy_cache_local_on_not_found"
KEYS = (SPEED, MAX_CONN, LOCAL_ON_NOT_FOUND)
DEFAULTS = {SPEED: "-1", MAX_CONN: "-1", LOCAL_ON_NOT_FOUND: "false"}


@dataclass(frozen=True)
class ProxySettings:
    speed_kbit: int = -1
    max_upstream_conn: int = -1
    local_on_not_found: bool = False

    @property
    def bytes_per_second(self) -> int | None:
        return None if self.speed_kbit <= 0 else self.speed_kbit * 1024 // 8


def checked(metadata: dict[str, str]) -> dict[str, str]:
    """The proxy keys of ``metadata``, with the defaults for those missing; BadRequest for a
    value of the wrong kind (nothing is created then)."""
    result = dict(DEFAULTS)
    for key in (SPEED, MAX_CONN):
        value = metadata.get(key, result[key]).strip()
        if not value.lstrip("-").isdigit() or int(value) < -1 or int(value) == 0:
            raise BadRequest(
                f"{key} must be -1 (no limit) or a positive whole number, got {value!r}"
            )
        result[key] = str(int(value))
    flag = metadata.get(LOCAL_ON_NOT_FOUND, result[LOCAL_ON_NOT_FOUND]).strip().lower()
    if flag not in ("true", "false"):
        raise BadRequest(f'{LOCAL_ON_NOT_FOUND} must be "true" or "false", got {flag!r}')
    result[LOCAL_ON_NOT_FOUND] = flag
    return result


def settings_of(metadata: dict[str, str] | None) -> ProxySettings:
    """What the project's metadata says (defaults for what is missing or unreadable)."""
    meta = metadata or {}

    def number(key: str) -> int:
        try:
            return int(str(meta.get(key, "-1")))
        except ValueError:
            return -1

    local = str(meta.get(LOCAL_ON_NOT_FOUND, "false")).lower() == "true"
    return ProxySettings(number(SPEED), number(MAX_CONN), local)
