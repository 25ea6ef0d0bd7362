"""Where the files beside the package are: a checkout's top level, or an install's share/."""

from __future__ import annotations

import sys
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent


def resource_dir(name: str) -> Path:
    """``migrations``, ``templates`` or ``static``: from the checkout when run from one,
    else from ``<prefix>/share/harborlite`` where ``pip install .`` puts them."""
    local = _CHECKOUT / name
    if local.is_dir():
        return local
    for prefix in (sys.prefix, sys.base_prefix):
        installed = Path(prefix) / "share" / "harborlite" / name
        if installed.is_dir():
            return installed
    raise RuntimeError(f"harborlite's {name}/ folder is missing: reinstall the package")
