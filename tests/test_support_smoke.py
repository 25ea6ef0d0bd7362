"""Proof that the test infrastructure in tests/support works on this machine.

Every client and server here is real: a bare distribution registry without auth (and one in
token mode, for its challenge), skopeo, podman, oras-py, containerd (ctr and the CRI image
service), PostgreSQL and Redis.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.clients import (
    ClientError,
    ContainersHome,
    Podman,
    oras_pull,
    oras_push,
    skopeo_copy,
    skopeo_inspect,
    skopeo_list_tags,
    skopeo_login,
)
from tests.support.cri import CriError, CriImageClient
from tests.support.images import (
    assert_same_blobs,
    build_oci_index_layout,
    build_oci_layout,
    layout_tags,
    read_json_blob,
    verify_layout_digests,
)
from tests.support.processes import (
    Containerd,
    ManagedProcess,
    PostgresServer,
    RedisServer,
    RegistryServer,
    StartupError,
    TokenAuthConfig,
    group_members,
)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with RegistryServer(tmp_path_factory.mktemp("registry")) as server:
        yield server


def _assert_gone(process: ManagedProcess) -> None:
    assert not process.running()
    assert group_members(process.pid) == []


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_skopeo_copies_an_image_into_the_registry_and_back(
    registry: RegistryServer, tmp_path: Path
) -> None:
    layout = tmp_path / "layout"
    image = build_oci_layout(layout, "v1", [1024, 300_000, 2_000_000], seed=1)
    verify_layout_digests(layout)
    ref = f"docker://{registry.host}/smoke/three:v1"

    skopeo_copy(f"oci:{layout}:v1", ref)
    stored = skopeo_inspect(ref, raw=True).stdout.encode()
    assert _digest(stored) == image.manifest_digest
    assert json.loads(skopeo_list_tags(f"docker://{registry.host}/smoke/three").stdout)["Tags"] == [
        "v1"
    ]

    pulled = tmp_path / "pulled"
    skopeo_copy(ref, f"oci:{pulled}:v1")
    assert layout_tags(pulled) == {"v1": image.manifest_digest}
    assert_same_blobs(
        layout, pulled, [image.manifest_digest, image.config_digest, *image.layer_digests]
    )
    assert len(image.layer_digests) == 3
    config = read_json_blob(pulled, image.config_digest)
    assert config["architecture"] == "amd64"
    # The registry stores the layers unchanged (gzip layers are not recompressed).
    for digest in image.layer_digests:
        blob = registry.storage_root.joinpath(
            "docker/registry/v2/blobs/sha256", digest[7:9], digest[7:], "data"
        )
        assert blob.read_bytes() == (layout / "blobs/sha256" / digest[7:]).read_bytes()


def test_skopeo_copies_a_multi_arch_index_with_all(
    registry: RegistryServer, tmp_path: Path
) -> None:
    layout = tmp_path / "layout"
    index = build_oci_index_layout(layout, "multi", [2048, 100_000], seed=2)
    ref = f"docker://{registry.host}/smoke/multi:multi"

    skopeo_copy(f"oci:{layout}:multi", ref, all_images=True)
    assert skopeo_inspect(ref, raw=True).stdout.encode() == index.index
    arm = skopeo_inspect(ref, extra=["--override-arch", "arm64"]).stdout
    assert json.loads(arm)["Architecture"] == "arm64"

    pulled = tmp_path / "pulled"
    skopeo_copy(ref, f"oci:{pulled}:multi", all_images=True)
    everything = [index.index_digest]
    for image in index.images:
        everything += [image.manifest_digest, image.config_digest, *image.layer_digests]
    assert len(set(everything)) == 1 + 2 * 4
    assert_same_blobs(layout, pulled, everything)


def test_skopeo_blob_info_cache_is_isolated_per_home(
    registry: RegistryServer, tmp_path: Path
) -> None:
    layout = tmp_path / "layout"
    build_oci_layout(layout, "v1", [4096], seed=3)
    home = ContainersHome(tmp_path / "home")
    base = f"docker://{registry.host}/smoke/cache"
    skopeo_copy(f"oci:{layout}:v1", f"{base}-a:v1", home=home)
    assert (home.blob_info_cache / "blob-info-cache-v1.boltdb").is_file()

    # A fresh home knows nothing: no cross-repository mount attempt.
    fresh = skopeo_copy(f"oci:{layout}:v1", f"{base}-b:v1", extra=["--debug"])
    assert "mount=" not in fresh.stderr
    # The shared home remembers repository -a and mounts from it.
    shared = skopeo_copy(f"oci:{layout}:v1", f"{base}-c:v1", home=home, extra=["--debug"])
    assert "from=smoke%2Fcache-a" in shared.stderr


def test_client_errors_carry_stderr_and_hide_passwords(registry: RegistryServer) -> None:
    with pytest.raises(ClientError) as caught:
        skopeo_inspect(f"docker://{registry.host}/smoke/absent:v1", creds=("alice", "s3cret-pw"))
    message = str(caught.value)
    assert "manifest unknown" in message
    assert "s3cret-pw" not in message
    assert "alice:***" in message


def test_oras_pushes_and_pulls_a_file_artifact(registry: RegistryServer, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    payload = source / "chart.tgz"
    payload.write_bytes(os.urandom(50_000))
    notes = source / "notes.txt"
    notes.write_text("hello from oras\n")
    target = f"{registry.host}/smoke/artifact:v1"

    # The bare registry ignores credentials; they are passed to exercise that code path.
    assert oras_push(target, [payload, notes], "user", "password") == 201
    pulled = oras_pull(target, tmp_path / "out", "user", "password")
    assert sorted(path.name for path in pulled) == ["chart.tgz", "notes.txt"]
    for path in pulled:
        assert path.read_bytes() == (source / path.name).read_bytes()


def test_podman_loads_pushes_and_pulls_back(registry: RegistryServer, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    image = build_oci_layout(layout, "v1", [1024, 200_000], seed=4)
    with Podman(tmp_path / "podman") as podman:
        name = f"{registry.host}/smoke/podman:v1"

        image_id = podman.load_oci_layout(layout, "v1", name)
        assert "sha256:" + image_id == image.config_digest
        digestfile = tmp_path / "digest"
        podman.push(name, digestfile=digestfile)
        pushed_digest = digestfile.read_text().strip()
        stored = skopeo_inspect(f"docker://{name}", raw=True).stdout.encode()
        assert _digest(stored) == pushed_digest
        # podman recompressed the layers it had stored uncompressed; the config is unchanged.
        assert json.loads(stored)["config"]["digest"] == image.config_digest

        podman.rmi(name, image_id, force=True)
        assert podman.image_ids() == []
        pulled = podman.pull(name)
        assert pulled.stdout.split()[-1] == image_id
        assert podman.image_ids() == [image_id]
        assert (podman.home.blob_info_cache / "blob-info-cache-v1.boltdb").is_file()


def test_containerd_pulls_over_plain_http(registry: RegistryServer, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    image = build_oci_layout(layout, "v1", [1024, 100_000], seed=5)
    ref = f"{registry.host}/smoke/ctr:v1"
    skopeo_copy(f"oci:{layout}:v1", f"docker://{ref}")

    with Containerd(tmp_path / "containerd") as containerd:
        containerd.pull(ref)
        assert containerd.image_names() == [ref]
        listing = containerd.ctr("images", "list").stdout
        assert image.manifest_digest in listing
        process = containerd.process
    _assert_gone(process)


def test_cri_image_service_pulls_from_the_registry(
    registry: RegistryServer, tmp_path: Path
) -> None:
    layout = tmp_path / "layout"
    image = build_oci_layout(layout, "v1", [1024, 100_000], seed=6)
    ref = f"{registry.host}/smoke/cri:v1"
    skopeo_copy(f"oci:{layout}:v1", f"docker://{ref}")

    with Containerd(tmp_path / "containerd", cri=True) as containerd:
        cri = CriImageClient(containerd.socket, log_path=containerd.log_path)
        assert cri.list_images() == []
        # The bare registry ignores credentials; they exercise the AuthConfig encoding.
        assert cri.pull_image(ref, creds=("user", "password")) == image.config_digest
        status = cri.image_status(ref)
        assert status is not None
        assert status.repo_tags == (ref,)
        assert status.repo_digests == (f"{registry.host}/smoke/cri@{image.manifest_digest}",)
        assert ref in containerd.ctr("images", "list", "--quiet", namespace="k8s.io").stdout

        with pytest.raises(CriError) as caught:
            cri.pull_image(f"{registry.host}/smoke/absent:v1")
        assert "smoke/absent:v1: not found" in str(caught.value)

        cri.remove_image(ref)
        assert cri.image_status(ref) is None


async def test_postgres_answers_select_1() -> None:
    with PostgresServer() as postgres:
        for url in (postgres.dsn, postgres.create_database()):
            assert url.startswith("postgresql+asyncpg://postgres@127.0.0.1:")
            conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
            try:
                assert await conn.fetchval("SELECT 1") == 1
            finally:
                await conn.close()
        process = postgres.process
        workdir = postgres.workdir
        assert str(postgres.socket_dir).startswith(str(workdir))
    _assert_gone(process)
    assert not workdir.exists()


def test_redis_answers_ping(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis") as server:
        client = redis.Redis.from_url(server.url)
        try:
            assert client.ping() is True
        finally:
            client.close()
        process = server.process
    _assert_gone(process)


def test_registry_stops_cleanly_and_reports_startup_failures(tmp_path: Path) -> None:
    with RegistryServer(tmp_path / "ok") as server:
        process = server.process
    _assert_gone(process)

    # Two storage drivers: the registry refuses the config and exits.
    with pytest.raises(StartupError) as caught:
        RegistryServer(tmp_path / "bad", extra_config={"storage": {"inmemory": {}}})
    assert "docker-registry failed to start" in str(caught.value)
    assert "storage" in str(caught.value).split("--- last lines of", 1)[1]


def _self_signed_certificate(directory: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "harborlite-test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    path = directory / "token-signer.crt"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def test_registry_in_token_mode_challenges(tmp_path: Path) -> None:
    auth = TokenAuthConfig(
        realm="http://127.0.0.1:9/service/token",
        service="harbor-registry",
        issuer="harborlite",
        rootcertbundle=_self_signed_certificate(tmp_path),
    )
    with RegistryServer(tmp_path / "registry", token_auth=auth) as server:
        response = httpx.get(f"{server.url}/v2/smoke/x/manifests/v1")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        'Bearer realm="http://127.0.0.1:9/service/token",service="harbor-registry",'
        'scope="repository:smoke/x:pull"'
    )


def test_logins_write_the_given_authfile(registry: RegistryServer, tmp_path: Path) -> None:
    authfile = tmp_path / "auth.json"
    skopeo_login(registry.host, "alice", "pw", authfile)
    assert registry.host in json.loads(authfile.read_text())["auths"]
    with Podman(tmp_path / "podman") as podman:
        podman.login(registry.host, "bob", "pw")
        assert registry.host in json.loads(podman.authfile.read_text())["auths"]


def test_a_process_ignoring_sigterm_is_killed(tmp_path: Path) -> None:
    marker = tmp_path / "trapped"
    script = f"trap '' TERM; touch {marker}; sleep 60 & sleep 60; wait"
    process = ManagedProcess("stubborn", ["sh", "-c", script], tmp_path / "log")
    process.wait_until(marker.exists, timeout=5)
    started = time.monotonic()
    process.stop(timeout=0.5)
    assert time.monotonic() - started >= 0.5  # SIGTERM was ignored; SIGKILL ended it
    _assert_gone(process)
