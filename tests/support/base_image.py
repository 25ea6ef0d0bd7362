"""A Debian bookworm base image made here, for building harborlite's image in the tests.

harborlite's Dockerfile needs a base (``BASE_IMAGE``), and no image can be pulled from Docker
Hub on these machines. ``debootstrap`` makes a minimal bookworm from the Debian package mirror
with Debian's ``python3`` and ``python3-venv``; its root folder is tarred and ``docker import``-ed.

The tarball is cached outside the checkout (``$XDG_CACHE_HOME/harborlite-tests``, or
``~/.cache/harborlite-tests``; ``HARBORLITE_TEST_CACHE`` overrides), named by a hash of what went
into it (suite, variant, packages, mirror, this recipe's version and the CA bundle), written to a
temporary name and renamed, under an ``fcntl`` lock so that two pytest-xdist workers asking at
once make it once. Only the first run on a machine pays the debootstrap (minutes); every test
session's dockerd is new and empty, and importing the cached tarball into it takes seconds.

The base trusts what this machine trusts: its ``/etc/ssl/certs/ca-certificates.crt`` is this
machine's bundle (Debian's own, plus whatever CA the machine added). A ``docker build --network
host`` on it reaches PyPI as the machine's own pip does (Debian's pip reads that bundle), with no
certificate option in harborlite's Dockerfile. That is the test environment's concern: a base
image of a real user trusts their own network.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .docker import DockerCli

log = logging.getLogger(__name__)

# Bump when the steps below change what ends up in the tarball.
RECIPE_VERSION = 1
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DEBOOTSTRAP = "/usr/sbin/debootstrap"
IMAGE_NAME = "harborlite-test-base"
DEBOOTSTRAP_TIMEOUT = 1800.0
# the configuration of Debian's own image (debian:bookworm), which a tarball does not carry
_IMAGE_CONFIG = (
    "--change",
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "--change",
    'CMD ["bash"]',
)


def cache_dir() -> Path:
    """Where the base tarball is kept between runs (never inside the checkout)."""
    override = os.environ.get("HARBORLITE_TEST_CACHE")
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "harborlite-tests"


@dataclass(frozen=True)
class BaseRecipe:
    """What goes into the base: ``debootstrap --variant=VARIANT --include=PACKAGES SUITE``."""

    suite: str = "bookworm"
    variant: str = "minbase"
    packages: tuple[str, ...] = ("python3", "python3-venv", "ca-certificates")
    mirror: str = field(
        default_factory=lambda: os.environ.get(
            "HARBORLITE_TEST_DEBIAN_MIRROR", "http://deb.debian.org/debian"
        )
    )
    ca_bundle: Path | None = HOST_CA_BUNDLE

    def key(self) -> str:
        """A short hash of everything that went into the tarball: its cache name and tag."""
        digest = hashlib.sha256()
        described = {**asdict(self), "ca_bundle": None, "recipe": RECIPE_VERSION}
        digest.update(json.dumps(described, sort_keys=True).encode())
        if self.ca_bundle is not None and self.ca_bundle.exists():
            digest.update(self.ca_bundle.read_bytes())
        return digest.hexdigest()[:16]

    @property
    def tag(self) -> str:
        return f"{IMAGE_NAME}:{self.suite}-{self.key()}"


@dataclass(frozen=True)
class BaseImage:
    """The base as one daemon has it, and what it cost to get there."""

    tag: str
    tarball: Path
    debootstrap_seconds: float | None  # None: the tarball was in the cache
    import_seconds: float | None  # None: the daemon had the image already

    def describe(self) -> str:
        made = (
            f"debootstrap {self.debootstrap_seconds:.0f} s"
            if self.debootstrap_seconds is not None
            else "tarball cached"
        )
        imported = (
            f"import {self.import_seconds:.1f} s"
            if self.import_seconds is not None
            else "already imported"
        )
        return f"base image {self.tag}: {made}, {imported} ({self.tarball})"


def base_image(docker: DockerCli, recipe: BaseRecipe | None = None) -> BaseImage:
    """The base image in ``docker``'s daemon, tagged :attr:`BaseRecipe.tag`: imported from the
    cached tarball, which is made first if no run on this machine made it yet."""
    recipe = recipe or BaseRecipe()
    tarball, built_in = base_tarball(recipe)
    imported_in = None
    if not docker.has_image(recipe.tag):
        started = time.monotonic()
        docker.run("import", *_IMAGE_CONFIG, str(tarball), recipe.tag)
        imported_in = time.monotonic() - started
    image = BaseImage(recipe.tag, tarball, built_in, imported_in)
    log.info("%s", image.describe())
    return image


def base_tarball(recipe: BaseRecipe) -> tuple[Path, float | None]:
    """The cached tarball of ``recipe`` and how long making it took (None: it was cached)."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    tarball = folder / f"{IMAGE_NAME}-{recipe.suite}-{recipe.key()}.tar"
    if tarball.exists():
        return tarball, None
    with _locked(folder / "base-image.lock"):
        if tarball.exists():  # another worker made it while this one waited
            return tarball, None
        _remove_stale_builds(folder)
        started = time.monotonic()
        _make_tarball(recipe, tarball)
        took = time.monotonic() - started
    log.info("debootstrap of %s took %.0f s", tarball.name, took)
    return tarball, took


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _make_tarball(recipe: BaseRecipe, tarball: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix="build-", dir=tarball.parent))
    root = work / "root"
    try:
        _debootstrap(recipe, root, work / "debootstrap.log")
        if recipe.ca_bundle is not None and recipe.ca_bundle.exists():
            shutil.copyfile(recipe.ca_bundle, root / "etc/ssl/certs/ca-certificates.crt")
        # as Debian's own images: no downloaded packages, no package lists
        for leftovers in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (root / leftovers).glob("*"):
                if entry.is_file():
                    entry.unlink()
        partial = work / "base.tar"
        subprocess.run(
            ["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."],
            check=True,
            capture_output=True,
        )
        os.replace(partial, tarball)  # same folder, same file system: atomic
    finally:
        _unmount_under(work)
        shutil.rmtree(work, ignore_errors=True)


def _debootstrap(recipe: BaseRecipe, root: Path, log_path: Path) -> None:
    argv = [
        DEBOOTSTRAP,
        f"--variant={recipe.variant}",
        f"--include={','.join(recipe.packages)}",
        recipe.suite,
        str(root),
        recipe.mirror,
    ]
    with open(log_path, "wb") as output:
        result = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            timeout=DEBOOTSTRAP_TIMEOUT,
            check=False,
        )
    if result.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(
            f"debootstrap failed with status {result.returncode}: {' '.join(argv)}\n{tail}"
        )


def _remove_stale_builds(folder: Path) -> None:
    """Folders of a build that was killed (only the lock holder builds, so none is live)."""
    for stale in folder.glob("build-*"):
        _unmount_under(stale)
        shutil.rmtree(stale, ignore_errors=True)


def _unmount_under(folder: Path) -> None:
    """Unmount what a failed debootstrap left mounted in its target (proc, sys, ...)."""
    prefix = str(folder.resolve()) + "/"
    points = [
        fields[1]
        for fields in (line.split() for line in Path("/proc/self/mounts").read_text().splitlines())
        if len(fields) > 1 and fields[1].startswith(prefix)
    ]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
