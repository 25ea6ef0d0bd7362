"""The images docker-compose.yml runs, built here from Debian packages and cached as tarballs.

No image can be pulled from Docker Hub on these machines, so each public image the compose file
names (``postgres:15``, ``redis:7``, ``registry:2``, ``nginx``, ``motoserver/moto``) has a
stand-in under ``images/`` built on the debootstrap base (tests/support/base_image.py) from
Debian's packages, started the way the public image starts; harborlite's own image is the
checkout's Dockerfile. Built once, they are saved with ``docker save`` in the base's cache folder,
named by a hash of what went into them (the Dockerfiles and their files, the base; for
harborlite the files its Dockerfile copies), and ``docker load``-ed by later runs. Saving and
building happen under the base's ``fcntl`` lock, so two workers never build the same set twice.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.harness import ROOT
from tests.support.base_image import BaseImage, _locked, cache_dir
from tests.support.docker import DockerCli

log = logging.getLogger(__name__)

IMAGES = Path(__file__).parent / "images"
# compose variable -> the folder under images/ whose Dockerfile stands in for the public image
SERVICES = {
    "POSTGRES_IMAGE": "postgres",
    "REDIS_IMAGE": "redis",
    "S3_IMAGE": "s3",
    "REGISTRY_IMAGE": "registry",
    "NGINX_IMAGE": "nginx",
}
BUILD_TIMEOUT = 900.0


@dataclass(frozen=True)
class ImageSet:
    """Tags of one cached tarball's images, and what getting them into the daemon took."""

    tags: dict[str, str]  # compose variable -> tag
    tarball: Path
    built_seconds: float | None  # None: loaded from the cache (or already in the daemon)
    loaded_seconds: float | None

    def describe(self) -> str:
        how = (
            f"built in {self.built_seconds:.0f} s"
            if self.built_seconds is not None
            else f"loaded in {self.loaded_seconds:.0f} s"
            if self.loaded_seconds is not None
            else "already in the daemon"
        )
        return f"{', '.join(self.tags.values())}: {how} ({self.tarball.name})"


def service_images(docker: DockerCli, base: BaseImage) -> ImageSet:
    """The stand-ins of the public images, tagged by the hash of their recipes."""
    digest = hashlib.sha256(base.tag.encode())
    for folder in sorted(SERVICES.values()):
        _hash_files(digest, IMAGES / folder, sorted((IMAGES / folder).rglob("*")))
    key = digest.hexdigest()[:16]
    tags = {var: f"harborlite-deploy/{folder}:{key}" for var, folder in SERVICES.items()}
    contexts = {tags[var]: IMAGES / folder for var, folder in SERVICES.items()}
    return _cached(docker, base, f"deploy-images-{key}.tar", "deploy-images-", contexts, tags)


def harborlite_image(docker: DockerCli, base: BaseImage) -> ImageSet:
    """harborlite's image from the checkout's Dockerfile, tagged by the hash of what it copies."""
    digest = hashlib.sha256(base.tag.encode())
    _hash_files(digest, ROOT, [ROOT / "Dockerfile", *build_context_files(ROOT)])
    key = digest.hexdigest()[:16]
    tag = f"harborlite-deploy/harborlite:{key}"
    return _cached(
        docker, base, f"harborlite-image-{key}.tar", "harborlite-image-", {tag: ROOT}, {"": tag}
    )


def build_context_files(tree: Path) -> list[Path]:
    """The files of ``tree`` its Dockerfile's ``COPY`` lines take, without bytecode."""
    sources: list[str] = []
    for line in (tree / "Dockerfile").read_text().splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
            sources += [w for w in words[1:-1] if not w.startswith("--")]
    found: list[Path] = []
    for source in sources:
        top = tree / source
        for path in [top, *sorted(top.rglob("*"))] if top.is_dir() else [top]:
            if path.is_file() and "__pycache__" not in path.parts:
                found.append(path)
    return found


def _hash_files(digest: hashlib._Hash, root: Path, paths: Iterable[Path]) -> None:
    for path in paths:
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(root)).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())


def _cached(
    docker: DockerCli,
    base: BaseImage,
    name: str,
    prefix: str,
    contexts: dict[str, Path],
    tags: dict[str, str],
) -> ImageSet:
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    tarball = folder / name
    if all(docker.has_image(tag) for tag in contexts):
        return ImageSet(tags, tarball, None, None)
    with _locked(folder / "base-image.lock"):
        if tarball.exists():
            started = time.monotonic()
            docker.run("load", "--input", str(tarball), timeout=BUILD_TIMEOUT)
            return ImageSet(tags, tarball, None, time.monotonic() - started)
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=len(contexts)) as pool:
            builds = [
                pool.submit(_build, docker, base, tag, context) for tag, context in contexts.items()
            ]
            for build in builds:
                build.result()
        built = time.monotonic() - started
        for stale in folder.glob(f"{prefix}*.tar"):
            stale.unlink()
        partial = folder / f".{name}.partial"
        docker.run("save", "--output", str(partial), *contexts, timeout=BUILD_TIMEOUT)
        os.replace(partial, tarball)
    image_set = ImageSet(tags, tarball, built, None)
    log.info("%s", image_set.describe())
    return image_set


def _build(docker: DockerCli, base: BaseImage, tag: str, context: Path) -> None:
    docker.run(
        "build",
        "--quiet",
        "--network",
        "host",  # apt-get and pip reach the mirror and PyPI as this machine does
        "--build-arg",
        f"BASE_IMAGE={base.tag}",
        "--tag",
        tag,
        str(context),
        timeout=BUILD_TIMEOUT,
    )
