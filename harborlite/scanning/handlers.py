"""The scanning job kinds, composed for :mod:`harborlite.jobs.handlers`: ``SCAN`` (one scan
request) and ``SCAN_ALL`` (ask for a scan of every image)."""

from __future__ import annotations

from harborlite.auth.tokens import TokenSigner
from harborlite.jobs.runner import Handler, JobContext
from harborlite.scanning.job import run_scan
from harborlite.scanning.operations import SCAN, SCAN_ALL
from harborlite.scanning.scan_all import run_scan_all
from harborlite.settings import Settings


def internal_url(settings: Settings) -> str:
    """harborlite's own address, for an adapter registered with ``use_internal_addr``."""
    scheme = "https" if settings.tls_cert else "http"
    host = settings.host
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "[::1]"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{scheme}://{host}:{settings.port}"


def scan_handlers(settings: Settings, signer: TokenSigner) -> dict[str, Handler]:
    async def scan(context: JobContext) -> None:
        await run_scan(
            context,
            signer,
            registry_url=settings.external_url.rstrip("/"),
            internal_url=internal_url(settings),
            data_dir=settings.data_dir,
            timeout=float(settings.scan_timeout_seconds),
        )

    return {SCAN: scan, SCAN_ALL: run_scan_all}
