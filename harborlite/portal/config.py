"""What the portal needs to know besides the settings: where its files are, cookie rules."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harborlite.settings import Settings, SettingsError

CHECKOUT_ROOT = Path(__file__).resolve().parents[2]


def _shipped_dir(package: str, folder: str) -> Path:
    """``templates/`` or ``static/`` of a checkout; the ``harborlite.<folder>`` package once
    installed (pyproject maps the top-level folders onto those package names)."""
    checkout = CHECKOUT_ROOT / folder
    if checkout.is_dir():
        return checkout
    try:
        spec = importlib.util.find_spec(package)
    except ModuleNotFoundError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    raise SettingsError(f"the portal's {folder}/ folder is missing (looked in {checkout})")


@dataclass(frozen=True)
class PortalConfig:
    templates_dir: Path
    static_dir: Path
    idle_minutes: int = 60
    max_hours: int = 12
    secure_cookies: bool = False
    external_host: str = "127.0.0.1:8080"


def load_portal_config(settings: Settings, env: Mapping[str, str] | None = None) -> PortalConfig:
    """Read once at app creation. ``HARBORLITE_SESSION_IDLE_MINUTES`` (default 60)."""
    env = os.environ if env is None else env
    raw = env.get("HARBORLITE_SESSION_IDLE_MINUTES") or "60"
    try:
        idle = int(raw)
    except ValueError:
        raise SettingsError(
            f"HARBORLITE_SESSION_IDLE_MINUTES must be a whole number, got {raw!r}"
        ) from None
    if not 1 <= idle <= 24 * 60:
        raise SettingsError(f"HARBORLITE_SESSION_IDLE_MINUTES must be 1 to 1440, got {idle}")
    return PortalConfig(
        templates_dir=_shipped_dir("harborlite.templates", "templates"),
        static_dir=_shipped_dir("harborlite.static", "static"),
        idle_minutes=idle,
        secure_cookies=settings.external_url.startswith("https://"),
        external_host=settings.external_host,
    )
