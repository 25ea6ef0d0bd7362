"""The bench's world: harborlite (with its embedded registry), tokens, test data, HTTP helpers.

The "bare registry" side is the very registry process harborlite supervises, reached directly
on its loopback port with a token harborlite signed: same binary, same config, same storage, so
the only difference between the two sides is harborlite in the path.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.harness import Harborlite, start_harborlite  # noqa: E402
from tests.support.images import BuiltImage, build_oci_layout  # noqa: E402

PROJECT = "bench"
ACCEPT_MANIFESTS = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)
MiB = 1024 * 1024


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def request(
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 60,
) -> Response:
    """One small HTTP request (setup work, never what is measured)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return Response(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        conn.close()


@dataclass
class Side:
    """One target of the comparison: its base URL and how the bench labels it."""

    label: str  # "registry" or "harborlite"
    url: str

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc


@dataclass
class BlobFile:
    path: Path
    digest: str
    size: int
    chunks: list[Path] = field(default_factory=list)


@dataclass
class World:
    server: Harborlite
    registry: Side
    harborlite: Side
    workdir: Path
    blob: BlobFile
    small: BuiltImage
    big_layout: Path
    big_image: BuiltImage
    many_layout: Path
    many_image: BuiltImage
    token: str = ""
    token_time: float = 0.0

    @property
    def sides(self) -> tuple[Side, Side]:
        return (self.registry, self.harborlite)

    @property
    def admin(self) -> tuple[str, str]:
        return self.server.admin

    def basic(self) -> str:
        user, password = self.admin
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def bearer(self) -> str:
        """A token for every bench repository, renewed well before it expires."""
        if not self.token or time.monotonic() - self.token_time > 600:
            scopes = [f"repository:{PROJECT}/{name}:pull,push" for name in REPOSITORIES]
            query = urlencode([("service", "harbor-registry")] + [("scope", s) for s in scopes])
            answer = request(
                "GET",
                f"{self.harborlite.url}/service/token?{query}",
                {"Authorization": self.basic()},
            )
            assert answer.status == 200, answer.body
            self.token = json.loads(answer.body)["token"]
            self.token_time = time.monotonic()
        return f"Bearer {self.token}"

    def harborlite_pid(self) -> int:
        return self.server.process.pid


REPOSITORIES = ("blob", "small", "upload-registry", "upload-harborlite")


def registry_url_of(data_dir: Path) -> str:
    config = yaml.safe_load((data_dir / "registry.yml").read_text())
    return "http://" + str(config["http"]["addr"])


def write_random_file(path: Path, size: int) -> str:
    hasher = hashlib.sha256()
    with open(path, "wb") as out:
        left = size
        while left:
            block = os.urandom(min(left, 4 * MiB))
            hasher.update(block)
            out.write(block)
            left -= len(block)
    return "sha256:" + hasher.hexdigest()


def split_file(path: Path, chunk_size: int) -> list[Path]:
    chunks: list[Path] = []
    with open(path, "rb") as source:
        index = 0
        while True:
            data = source.read(chunk_size)
            if not data:
                break
            chunk = path.with_name(f"{path.name}.chunk{index:03d}")
            chunk.write_bytes(data)
            chunks.append(chunk)
            index += 1
    return chunks


def monolithic_put(side: Side, repository: str, blob: BlobFile, authorization: str) -> float:
    """POST an upload, PUT the whole blob with ?digest=; return seconds."""
    started = time.perf_counter()
    start = request(
        "POST",
        f"{side.url}/v2/{repository}/blobs/uploads/",
        {"Authorization": authorization, "Content-Length": "0"},
    )
    assert start.status == 202, (side.label, start.status, start.body[:300])
    location = urljoin(side.url, start.headers["location"])
    separator = "&" if "?" in location else "?"
    result = curl(
        [
            "-X",
            "PUT",
            "-T",
            str(blob.path),
            "-H",
            "Content-Type: application/octet-stream",
            "-H",
            f"Authorization: {authorization}",
            f"{location}{separator}digest={blob.digest}",
        ]
    )
    assert result.startswith("201"), (side.label, "monolithic PUT", result)
    return time.perf_counter() - started


def chunked_put(side: Side, repository: str, blob: BlobFile, authorization: str) -> float:
    """POST, one PATCH per chunk (Content-Range), then PUT ?digest= with no body."""
    started = time.perf_counter()
    start = request(
        "POST",
        f"{side.url}/v2/{repository}/blobs/uploads/",
        {"Authorization": authorization, "Content-Length": "0"},
    )
    assert start.status == 202, (side.label, start.status, start.body[:300])
    location = urljoin(side.url, start.headers["location"])
    offset = 0
    for chunk in blob.chunks:
        size = chunk.stat().st_size
        out = curl(
            [
                "-X",
                "PATCH",
                "-T",
                str(chunk),
                "-H",
                "Content-Type: application/octet-stream",
                "-H",
                f"Content-Range: {offset}-{offset + size - 1}",
                "-H",
                f"Authorization: {authorization}",
                location,
            ],
            write_out="%{http_code} %header{location}",
        )
        status, _, new_location = out.partition(" ")
        assert status == "202", (side.label, "PATCH", out)
        location = urljoin(side.url, new_location.strip())
        offset += size
    separator = "&" if "?" in location else "?"
    out = curl(
        [
            "-X",
            "PUT",
            "-H",
            "Content-Length: 0",
            "-H",
            f"Authorization: {authorization}",
            f"{location}{separator}digest={blob.digest}",
        ]
    )
    assert out.startswith("201"), (side.label, "final PUT", out)
    return time.perf_counter() - started


def curl(args: list[str], write_out: str = "%{http_code} %{time_total} %{size_download}") -> str:
    """Run curl (a separate C process: the load generator for big transfers)."""
    argv = ["curl", "-s", "-S", "-o", "/dev/null", "-H", "Expect:", "-w", write_out, *args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"curl failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout.strip()


def registry_pids(server: Harborlite) -> list[int]:
    """Pids of the registry children this harborlite started (from its log)."""
    pids: list[int] = []
    for line in server.log_path.read_text(errors="replace").splitlines():
        if "registry started (pid " in line:
            pids.append(int(line.split("(pid ", 1)[1].split(")", 1)[0]))
    return pids


def stop_world(world: World) -> None:
    """Stop harborlite; if it was killed before it could stop its registry, stop that too."""
    pids = registry_pids(world.server)
    world.server.stop()
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if str(world.server.data_dir).encode() in cmdline:
            os.kill(pid, signal.SIGTERM)


def start_world(
    workdir: Path,
    *,
    blob_size: int,
    chunk_size: int,
    big_size: int,
    many_layers: int,
    many_layer_size: int,
) -> World:
    """Start harborlite, create the bench project and every piece of test data."""
    data_dir = workdir / "harborlite"
    data_dir.mkdir(parents=True)
    server = start_harborlite(
        data_dir=data_dir,
        extra_env={"HARBORLITE_TOKEN_EXPIRATION": "240", "HARBORLITE_LOG_LEVEL": "info"},
    )
    try:
        created = server.api(
            "POST",
            "/projects",
            auth=server.admin,
            json={"project_name": PROJECT, "metadata": {"public": "false"}},
        )
        assert created.status_code == 201, created.text
        registry = Side("registry", registry_url_of(data_dir))
        harborlite = Side("harborlite", server.url)

        blob_path = workdir / "blob.bin"
        digest = write_random_file(blob_path, blob_size)
        blob = BlobFile(blob_path, digest, blob_size, split_file(blob_path, chunk_size))

        small_layout = workdir / "small-layout"
        small = build_oci_layout(small_layout, "latest", [4096], seed=1)
        big_layout = workdir / "big-layout"
        big_image = build_oci_layout(big_layout, "latest", [big_size], seed=2, compresslevel=0)
        many_layout = workdir / "many-layout"
        many_image = build_oci_layout(
            many_layout, "latest", [many_layer_size] * many_layers, seed=3, compresslevel=0
        )
        world = World(
            server=server,
            registry=registry,
            harborlite=harborlite,
            workdir=workdir,
            blob=blob,
            small=small,
            big_layout=big_layout,
            big_image=big_image,
            many_layout=many_layout,
            many_image=many_image,
        )
        # The GET blob lives in bench/blob; the small image in bench/small (pushed through
        # harborlite, so the index knows it).
        monolithic_put(harborlite, f"{PROJECT}/blob", blob, world.bearer())
        from tests.support.clients import skopeo_copy

        skopeo_copy(
            f"oci:{small_layout}:latest",
            f"docker://{harborlite.host}/{PROJECT}/small:latest",
            creds=server.admin,
        )
        return world
    except BaseException:
        server.stop()
        raise
