"""What the portal needs to know besides the settings: where its files are, cookie rules."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harborlite.resources import resource_dir
from harborlite.settings import Settings


@dataclass(frozen=True)
class PortalConfig:
    templates_dir: Path
    static_dir: Path
    idle_minutes: int = 60
    max_hours: int = 12
    secure_cookies: bool = False
    external_host: str = "127.0.0.1:8080"


def load_portal_config(settings: Settings) -> PortalConfig:
    """Read once at app creation; the idle expiry is ``HARBORLITE_SESSION_IDLE_MINUTES``."""
    return PortalConfig(
        templates_dir=resource_dir("templates"),
        static_dir=resource_dir("static"),
        idle_minutes=settings.session_idle_minutes,
        secure_cookies=settings.external_url.startswith("https://"),
        external_host=settings.external_host,
    )
