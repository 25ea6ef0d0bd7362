"""Settings: read once from ``HARBORLITE_*`` environment variables into one frozen object."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names it."""


class Secret:
    """A string that never shows itself in a repr or a log line."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    host: str
    port: int
    external_url: str
    admin_password: Secret | None
    database_url: str
    registry_url: str | None
    token_expiration_minutes: int
    token_service: str
    token_issuer: str
    redis_url: str | None
    registry_binary: str
    log_level: str
    credential_cache_seconds: int
    token_reuse_ms: int = 1000  # a token signed moments ago is handed out again for its grant
    session_idle_minutes: int = 60
    external_registry_storage: Path | None = None
    robot_name_prefix: str = "robot$"  # Harbor's default; `$` needs quoting in shells
    gc_time_window_minutes: int = 120  # a blob younger than this is never collected
    # failed logins: this many for one account within the lockout window lock it for the
    # window; more (across accounts) from one client address lock that address
    login_max_failures: int = 5
    login_max_failures_per_address: int = 20
    login_lockout_seconds: int = 300
    # the connection budget (the slow-client defences): connections held open at once (more
    # get 503 + Retry-After), seconds a client may take to send its request head, seconds an
    # idle keep-alive connection stays open
    max_connections: int = 1024
    header_timeout_seconds: int = 15
    idle_timeout_seconds: int = 30
    # requests proxied to the registry at once per user and per client address, and uploads
    # (blob POST/PATCH/PUT) among them; more get 429 + Retry-After
    max_proxied_per_client: int = 64
    max_uploads_per_client: int = 32
    # a request body delivering fewer bytes per second than this, averaged over the window, is
    # cut off (0 turns the check off)
    min_body_rate: int = 1024
    body_rate_window_seconds: int = 30
    # unfinished uploads (the registry's _uploads) older than this are purged by a job
    upload_purge_hours: int = 24
    # HTTPS served directly (both or neither); the certificate is read again on SIGHUP
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # addresses (or networks) whose X-Forwarded-For / X-Forwarded-Proto are believed
    trusted_proxies: tuple[str, ...] = ()
    # where the embedded registry (or the external one, for registry-config) keeps blobs
    storage: str = "filesystem"
    s3_bucket: str = ""
    s3_region: str = ""
    s3_endpoint: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: Secret | None = None
    log_format: str = "text"  # or "json": one JSON object per line
    # scanning: how long one scan may take (submit to report) before it is failed
    scan_timeout_seconds: int = 600
    # proxy-cache projects: a pull by tag asks the upstream at most once per this many seconds
    proxy_check_seconds: int = 60
    # webhooks: how long one delivery may take; how often a failed one is tried again
    webhook_timeout_seconds: int = 10
    webhook_retries: int = 3
    # replication: how often a failed task is tried again
    replication_retries: int = 3
    # blob uploads written into the registry's folder by harborlite itself (hashed with
    # OpenSSL, faster than the registry): auto (the embedded registry's folder), on, off
    direct_uploads: str = "auto"

    @property
    def registry_storage_root(self) -> Path | None:
        """The registry's filesystem storage as harborlite reads it: its own child's, or the
        external registry's when ``HARBORLITE_REGISTRY_STORAGE`` names it (None: unknown)."""
        if self.storage == "s3":
            return None  # the registry keeps blobs in S3 (harborlite.storage.s3)
        if self.embedded_registry:
            return self.registry_storage_dir
        return self.external_registry_storage

    @property
    def embedded_registry(self) -> bool:
        """True when harborlite starts and supervises the registry itself."""
        return self.registry_url is None

    @property
    def realm(self) -> str:
        return f"{self.external_url}/service/token"

    @property
    def external_host(self) -> str:
        """host[:port] of the external URL, as clients write it in image names."""
        return urlsplit(self.external_url).netloc

    @property
    def registry_storage_dir(self) -> Path:
        return self.data_dir / "registry"

    @property
    def key_path(self) -> Path:
        return self.data_dir / "token.key"

    @property
    def cert_path(self) -> Path:
        return self.data_dir / "token.crt"

    @property
    def admin_password_file(self) -> Path:
        return self.data_dir / "admin-password"


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    parts = urlsplit(raw)
    if parts.scheme not in schemes or not parts.netloc:
        wanted = " or ".join(f"{s}://" for s in schemes)
        raise SettingsError(f"{name} must be a URL starting with {wanted}, got {raw!r}")
    return raw.rstrip("/")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read every setting once; raise :class:`SettingsError` naming the bad one."""
    env = os.environ if env is None else env
    data_dir = Path(env.get("HARBORLITE_DATA_DIR") or "./data").expanduser().resolve()
    host = env.get("HARBORLITE_HOST") or "127.0.0.1"
    port = _int(env, "HARBORLITE_PORT", 8080, 1, 65535)
    external = _url(env, "HARBORLITE_EXTERNAL_URL", ("http", "https"))
    tls_cert, tls_key = _tls(env)
    if external is None:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        external = f"{'https' if tls_cert else 'http'}://{shown}:{port}"
    database_url = env.get("HARBORLITE_DATABASE_URL") or ""
    if not database_url:
        database_url = f"sqlite+aiosqlite:///{data_dir / 'harborlite.db'}"
    elif database_url.startswith(("postgresql://", "postgres://")):
        database_url = "postgresql+asyncpg://" + database_url.split("://", 1)[1]
    if not database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise SettingsError(
            "HARBORLITE_DATABASE_URL must start with sqlite+aiosqlite:// or "
            f"postgresql+asyncpg:// (or postgresql://), got {database_url.split('://')[0]!r}"
        )
    admin = env.get("HARBORLITE_ADMIN_PASSWORD")
    if admin is not None and admin != "" and len(admin) < 8:
        raise SettingsError("HARBORLITE_ADMIN_PASSWORD must be at least 8 characters long")
    registry_url = _url(env, "HARBORLITE_REGISTRY_URL", ("http", "https"))
    storage_raw = env.get("HARBORLITE_REGISTRY_STORAGE") or ""
    external_storage = None
    if storage_raw:
        if registry_url is None:
            raise SettingsError(
                "HARBORLITE_REGISTRY_STORAGE is for an external registry: set "
                "HARBORLITE_REGISTRY_URL too (the embedded registry keeps its storage in the "
                "data folder)"
            )
        external_storage = Path(storage_raw).expanduser()
        if not external_storage.is_absolute():
            raise SettingsError(
                f"HARBORLITE_REGISTRY_STORAGE must be an absolute path, got {storage_raw!r}"
            )
    storage = (env.get("HARBORLITE_STORAGE") or "filesystem").lower()
    if storage not in ("filesystem", "s3"):
        raise SettingsError(f"HARBORLITE_STORAGE must be filesystem or s3, got {storage!r}")
    s3_bucket = env.get("HARBORLITE_S3_BUCKET") or ""
    if storage == "s3" and not s3_bucket:
        raise SettingsError("HARBORLITE_STORAGE=s3 needs HARBORLITE_S3_BUCKET")
    s3_access = env.get("HARBORLITE_S3_ACCESS_KEY") or None
    s3_secret = env.get("HARBORLITE_S3_SECRET_KEY") or None
    if (s3_access is None) != (s3_secret is None):
        raise SettingsError(
            "set both HARBORLITE_S3_ACCESS_KEY and HARBORLITE_S3_SECRET_KEY, or neither (the "
            "usual AWS credential chain)"
        )
    log_format = (env.get("HARBORLITE_LOG_FORMAT") or "text").lower()
    if log_format not in ("text", "json"):
        raise SettingsError(f"HARBORLITE_LOG_FORMAT must be text or json, got {log_format!r}")
    log_level = (env.get("HARBORLITE_LOG_LEVEL") or "info").lower()
    if log_level not in ("debug", "info", "warning", "error"):
        raise SettingsError(
            f"HARBORLITE_LOG_LEVEL must be debug, info, warning or error, got {log_level!r}"
        )
    return Settings(
        data_dir=data_dir,
        host=host,
        port=port,
        external_url=external,
        admin_password=Secret(admin) if admin else None,
        database_url=database_url,
        registry_url=registry_url,
        token_expiration_minutes=_int(env, "HARBORLITE_TOKEN_EXPIRATION", 30, 1, 60 * 24 * 30),
        token_service=env.get("HARBORLITE_TOKEN_SERVICE") or "harbor-registry",
        token_issuer=env.get("HARBORLITE_TOKEN_ISSUER") or "harborlite-token-issuer",
        redis_url=_url(env, "HARBORLITE_REDIS_URL", ("redis", "rediss", "unix")),
        registry_binary=env.get("HARBORLITE_REGISTRY_BINARY") or "/usr/bin/docker-registry",
        log_level=log_level,
        credential_cache_seconds=_int(env, "HARBORLITE_CREDENTIAL_CACHE_SECONDS", 300, 0, 86400),
        token_reuse_ms=_int(env, "HARBORLITE_TOKEN_REUSE_MS", 1000, 0, 5000),
        session_idle_minutes=_int(env, "HARBORLITE_SESSION_IDLE_MINUTES", 60, 1, 24 * 60),
        external_registry_storage=external_storage,
        robot_name_prefix=_robot_prefix(env),
        gc_time_window_minutes=_int(env, "HARBORLITE_GC_TIME_WINDOW_MINUTES", 120, 0, 60 * 24 * 30),
        login_max_failures=_int(env, "HARBORLITE_LOGIN_MAX_FAILURES", 5, 1, 1000),
        login_max_failures_per_address=_int(
            env, "HARBORLITE_LOGIN_MAX_FAILURES_PER_ADDRESS", 20, 1, 100_000
        ),
        login_lockout_seconds=_int(env, "HARBORLITE_LOGIN_LOCKOUT_SECONDS", 300, 1, 86400),
        max_connections=_int(env, "HARBORLITE_MAX_CONNECTIONS", 1024, 16, 1_000_000),
        header_timeout_seconds=_int(env, "HARBORLITE_HEADER_TIMEOUT_SECONDS", 15, 1, 3600),
        idle_timeout_seconds=_int(env, "HARBORLITE_IDLE_TIMEOUT_SECONDS", 30, 1, 3600),
        max_proxied_per_client=_int(env, "HARBORLITE_MAX_PROXIED_PER_CLIENT", 64, 1, 100_000),
        max_uploads_per_client=_int(env, "HARBORLITE_MAX_UPLOADS_PER_CLIENT", 32, 1, 100_000),
        min_body_rate=_int(env, "HARBORLITE_MIN_BODY_RATE", 1024, 0, 1 << 30),
        body_rate_window_seconds=_int(env, "HARBORLITE_BODY_RATE_WINDOW_SECONDS", 30, 1, 3600),
        upload_purge_hours=_int(env, "HARBORLITE_UPLOAD_PURGE_HOURS", 24, 1, 24 * 365),
        tls_cert=tls_cert,
        tls_key=tls_key,
        trusted_proxies=_trusted_proxies(env),
        storage=storage,
        s3_bucket=s3_bucket,
        s3_region=env.get("HARBORLITE_S3_REGION") or "us-east-1",
        s3_endpoint=_url(env, "HARBORLITE_S3_ENDPOINT", ("http", "https")),
        s3_access_key=s3_access,
        s3_secret_key=Secret(s3_secret) if s3_secret else None,
        log_format=log_format,
        scan_timeout_seconds=_int(env, "HARBORLITE_SCAN_TIMEOUT_SECONDS", 600, 1, 86400),
        proxy_check_seconds=_int(env, "HARBORLITE_PROXY_CHECK_SECONDS", 60, 0, 86400),
        webhook_timeout_seconds=_int(env, "HARBORLITE_WEBHOOK_TIMEOUT_SECONDS", 10, 1, 600),
        webhook_retries=_int(env, "HARBORLITE_WEBHOOK_RETRIES", 3, 0, 20),
        replication_retries=_int(env, "HARBORLITE_REPLICATION_RETRIES", 3, 0, 20),
        direct_uploads=_direct_uploads(env),
    )


def _direct_uploads(env: Mapping[str, str]) -> str:
    raw = (env.get("HARBORLITE_DIRECT_UPLOADS") or "auto").strip().lower()
    mode = {"1": "on", "true": "on", "yes": "on", "0": "off", "false": "off", "no": "off"}
    value = mode.get(raw, raw)
    if value not in ("auto", "on", "off"):
        raise SettingsError(f"HARBORLITE_DIRECT_UPLOADS must be auto, on or off, got {raw!r}")
    return value


def _robot_prefix(env: Mapping[str, str]) -> str:
    """``HARBORLITE_ROBOT_NAME_PREFIX``: what robot login names start with (``robot$``). It
    holds a ``$`` or ``+``, which no user name may, so a user can never pass for a robot."""
    prefix = env.get("HARBORLITE_ROBOT_NAME_PREFIX", "robot$")
    if not re.fullmatch(r"[a-z0-9._@+$-]{1,16}", prefix) or not set(prefix) & {"$", "+"}:
        raise SettingsError(
            "HARBORLITE_ROBOT_NAME_PREFIX must be 1 to 16 of a-z 0-9 . _ @ + $ - and hold a $ "
            f"or a + (got {prefix!r})"
        )
    return prefix


def _tls(env: Mapping[str, str]) -> tuple[Path | None, Path | None]:
    """``HARBORLITE_TLS_CERT`` and ``HARBORLITE_TLS_KEY``: both files, or neither."""
    cert_raw = env.get("HARBORLITE_TLS_CERT") or ""
    key_raw = env.get("HARBORLITE_TLS_KEY") or ""
    if not cert_raw and not key_raw:
        return None, None
    if not cert_raw or not key_raw:
        raise SettingsError("set both HARBORLITE_TLS_CERT and HARBORLITE_TLS_KEY, or neither")
    cert, key = Path(cert_raw).expanduser(), Path(key_raw).expanduser()
    for name, path in (("HARBORLITE_TLS_CERT", cert), ("HARBORLITE_TLS_KEY", key)):
        if not path.is_file():
            raise SettingsError(f"{name} names {path}, which is not a file")
    return cert.resolve(), key.resolve()


def _trusted_proxies(env: Mapping[str, str]) -> tuple[str, ...]:
    """``HARBORLITE_TRUSTED_PROXIES``: comma-separated addresses or networks (CIDR)."""
    raw = env.get("HARBORLITE_TRUSTED_PROXIES") or ""
    found: list[str] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            found.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise SettingsError(
                f"HARBORLITE_TRUSTED_PROXIES must list addresses or networks, got {item!r}"
            ) from None
    return tuple(found)
