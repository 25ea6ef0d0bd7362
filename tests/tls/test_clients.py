"""Real clients verifying harborlite's certificate (from ``harborlite tls init``): skopeo and
podman with the CA by ``--cert-dir``, docker with it in ``/etc/docker/certs.d``, containerd's
``ctr --tlscacert`` and its CRI image service with a ``hosts.toml``; and each client refused
with the x509 error when it lacks the CA. No ``--tls-verify=false`` anywhere."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness import Harborlite
from tests.support.clients import ClientError, ContainersHome, Podman, run_client, skopeo_copy
from tests.support.docker import DockerCli, failed_output
from tests.support.images import BuiltImage, assert_same_blobs, build_oci_layout
from tests.support.processes import Containerd, which

UNKNOWN_AUTHORITY = "x509: certificate signed by unknown authority"
PASSWORD = "Passw0rd!x"


@dataclass(frozen=True)
class Setup:
    server: Harborlite
    project: str
    user: str
    cert_dir: Path  # holds ca.crt only, as --cert-dir wants it
    layout: Path
    built: BuiltImage

    @property
    def creds(self) -> tuple[str, str]:
        return (self.user, PASSWORD)

    def ref(self, name: str) -> str:
        return f"{self.server.host}/{self.project}/{name}"


@pytest.fixture(scope="module")
def setup(tls_harborlite: Harborlite, tmp_path_factory: pytest.TempPathFactory) -> Setup:
    server = tls_harborlite
    project, user = server.unique("tlsproj"), server.unique("tlsdev")
    server.create_project(project)
    server.create_user(user, PASSWORD)
    server.add_member(project, user, 2)  # developer
    cert_dir = tmp_path_factory.mktemp("certdir")
    assert server.ca is not None
    shutil.copy(server.ca, cert_dir / "ca.crt")
    layout = tmp_path_factory.mktemp("layout")
    built = build_oci_layout(layout, "v1", [200_000, 700_000], seed=1313)
    skopeo_copy(
        f"oci:{layout}:v1",
        f"docker://{f'{server.host}/{project}/base:v1'}",
        creds=(user, PASSWORD),
        tls_verify=True,
        extra=["--dest-cert-dir", str(cert_dir)],
    )
    return Setup(server, project, user, cert_dir, layout, built)


def test_skopeo_login_push_pull_verifying_the_certificate(setup: Setup, tmp_path: Path) -> None:
    home = ContainersHome(tmp_path / "home")
    login = [
        which("skopeo") or "/usr/bin/skopeo",
        "login",
        "--cert-dir",
        str(setup.cert_dir),
        "--authfile",
        str(home.authfile),
        "--username",
        setup.user,
        "--password-stdin",
        setup.server.host,
    ]
    run_client(login, env=home.env(), input=PASSWORD)
    ref = setup.ref("skopeo:v1")
    certs = ["--dest-cert-dir", str(setup.cert_dir), "--src-cert-dir", str(setup.cert_dir)]
    skopeo_copy(
        f"oci:{setup.layout}:v1", f"docker://{ref}", tls_verify=True, home=home, extra=certs
    )
    back = tmp_path / "back"
    skopeo_copy(f"docker://{ref}", f"oci:{back}:v1", tls_verify=True, home=home, extra=certs)
    assert_same_blobs(setup.layout, back)  # the blobs came over TLS intact


def test_skopeo_without_the_ca_is_refused(setup: Setup, tmp_path: Path) -> None:
    with pytest.raises(ClientError) as refused:
        skopeo_copy(
            f"docker://{setup.ref('base:v1')}",
            f"oci:{tmp_path / 'out'}:v1",
            creds=setup.creds,
            tls_verify=True,
        )
    assert UNKNOWN_AUTHORITY in refused.value.stderr


@pytest.mark.skipif(which("podman") is None, reason="podman is not installed")
def test_podman_with_cert_dir_login_push_pull(setup: Setup, tmp_path: Path) -> None:
    ref = setup.ref("podman:v1")
    cert_dir = ["--cert-dir", str(setup.cert_dir)]
    with Podman(tmp_path / "podman") as podman:
        authfile = ["--authfile", str(podman.authfile)]
        podman.run(
            "login",
            *cert_dir,
            *authfile,
            "--username",
            setup.user,
            "--password-stdin",
            setup.server.host,
            input=PASSWORD,
        )
        image_id = podman.load_oci_layout(setup.layout, "v1", ref)
        podman.run("push", *cert_dir, *authfile, ref)
        podman.rmi(ref, force=True)
        pulled = podman.run("pull", *cert_dir, *authfile, ref).stdout.split()[-1]
        assert pulled.removeprefix("sha256:") == image_id.removeprefix("sha256:")
        refused = podman.run("pull", *authfile, setup.ref("base:v1"), check=False)
        assert refused.returncode != 0
        assert UNKNOWN_AUTHORITY in refused.stderr


@pytest.fixture
def docker_trusts(setup: Setup) -> Iterator[Path]:
    """The CA where docker wants it for this server, removed afterwards."""
    folder = Path("/etc/docker/certs.d") / setup.server.host
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(setup.cert_dir / "ca.crt", folder / "ca.crt")
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_docker_without_the_ca_is_refused(setup: Setup, docker: DockerCli) -> None:
    assert not (Path("/etc/docker/certs.d") / setup.server.host).exists()
    refused = docker.login(setup.server.host, setup.user, PASSWORD, check=False)
    assert refused.returncode != 0
    assert UNKNOWN_AUTHORITY in refused.stderr + refused.stdout


def test_docker_with_the_ca_in_certs_d_push_pull(
    setup: Setup, docker: DockerCli, docker_trusts: Path, tmp_path: Path
) -> None:
    ref = setup.ref("docker:v1")
    image_id = docker.build_scratch(tmp_path / "ctx", ref, [5_000, 3_000], seed=1314)
    docker.login(setup.server.host, setup.user, PASSWORD)
    docker.push(ref)
    docker.rmi(ref)
    try:
        docker.pull(ref)
    except ClientError as error:
        raise AssertionError(failed_output(error)) from None
    assert docker.image_id(ref) == image_id


@pytest.mark.skipif(which("containerd") is None, reason="containerd is not installed")
def test_ctr_with_tlscacert_pull_and_push(setup: Setup, tmp_path: Path) -> None:
    user = f"{setup.user}:{PASSWORD}"
    base = setup.ref("base:v1")
    with Containerd(tmp_path / "containerd") as containerd:
        refused = containerd.ctr("images", "pull", "--user", user, base, check=False)
        assert refused.returncode != 0
        assert UNKNOWN_AUTHORITY in refused.stderr
        ca = str(setup.cert_dir / "ca.crt")
        containerd.ctr("images", "pull", "--tlscacert", ca, "--user", user, base)
        pushed = setup.ref("ctr:v1")
        containerd.ctr("images", "push", "--tlscacert", ca, "--user", user, pushed, base)
    back = tmp_path / "back"
    skopeo_copy(
        f"docker://{pushed}",
        f"oci:{back}:v1",
        creds=setup.creds,
        tls_verify=True,
        extra=["--src-cert-dir", str(setup.cert_dir)],
    )
    assert_same_blobs(setup.layout, back)


@pytest.mark.skipif(which("containerd") is None, reason="containerd is not installed")
def test_cri_pull_with_hosts_toml(setup: Setup, tmp_path: Path) -> None:
    """What kubelet does on a node given the CA and the hosts.toml ``tls init`` prints."""
    from harborlite.tls.trust import Endpoint, hosts_toml
    from tests.support.cri import CriError, CriImageClient

    certs_d = tmp_path / "certs.d"
    host_dir = certs_d / setup.server.host
    address, port = setup.server.host.rsplit(":", 1)
    ref = setup.ref("base:v1")
    with Containerd(tmp_path / "cri", cri=True, registry_config_path=certs_d) as containerd:
        cri = CriImageClient(containerd.socket, log_path=containerd.log_path)
        host_dir.mkdir(parents=True)
        toml = hosts_toml(Endpoint(address, int(port)), str(host_dir / "ca.crt"))
        # HTTPS to the host without its CA: refused (containerd reads hosts.toml per pull)
        without_ca = "\n".join(line for line in toml.splitlines() if "ca =" not in line)
        (host_dir / "hosts.toml").write_text(without_ca + "\n")
        with pytest.raises(CriError, match=UNKNOWN_AUTHORITY):
            cri.pull_image(ref, creds=setup.creds)
        shutil.copy(setup.cert_dir / "ca.crt", host_dir / "ca.crt")
        (host_dir / "hosts.toml").write_text(toml)
        cri.pull_image(ref, creds=setup.creds)
        status = cri.image_status(ref)
        assert status is not None and ref in status.repo_tags
