"""``harborlite tls init``, ``renew`` and ``show``: a private CA and a server certificate in
the data folder, never overwritten without ``--force``, and where each client wants the CA."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tests.harness import ROOT
from tests.tls.conftest import harborlite_cli

HOSTS = ("registry.example.com", "10.1.2.3", "::1")


def fingerprint(path: Path) -> str:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    data_dir = tmp_path_factory.mktemp("tlsinit") / "data"
    done = harborlite_cli(data_dir, "tls", "init", *HOSTS, HARBORLITE_PORT="8443")
    assert done.returncode == 0, done
    return data_dir, done


def test_init_writes_a_ca_and_a_server_certificate_for_the_names(
    made: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    data_dir, _ = made
    tls = data_dir / "tls"
    assert sorted(p.name for p in tls.iterdir()) == ["ca.crt", "ca.key", "server.crt", "server.key"]
    for key in ("ca.key", "server.key"):
        assert (tls / key).stat().st_mode & 0o777 == 0o600
    ca = x509.load_pem_x509_certificate((tls / "ca.crt").read_bytes())
    server = x509.load_pem_x509_certificate((tls / "server.crt").read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["registry.example.com"]
    assert names.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("10.1.2.3"),
        ipaddress.ip_address("::1"),
    ]
    assert server.issuer == ca.subject
    server.verify_directly_issued_by(ca)
    public = ca.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)


def test_init_prints_the_settings_and_where_each_client_wants_the_ca(
    made: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    data_dir, done = made
    tls = data_dir / "tls"
    out = done.stdout
    assert f"HARBORLITE_TLS_CERT={tls / 'server.crt'}" in out
    assert f"HARBORLITE_TLS_KEY={tls / 'server.key'}" in out
    name = "registry.example.com:8443"  # the first host, with the port
    for expected in (
        f"cp {tls / 'ca.crt'} /etc/docker/certs.d/{name}/ca.crt",
        f"cp {tls / 'ca.crt'} /etc/containerd/certs.d/{name}/ca.crt",
        f"/etc/containerd/certs.d/{name}/hosts.toml",
        f'server = "https://{name}"',
        f'[host."https://{name}"]',
        f'ca = "/etc/containerd/certs.d/{name}/ca.crt"',
        'config_path = "/etc/containerd/certs.d"',
        f"cp {tls / 'ca.crt'} /etc/containers/certs.d/{name}/ca.crt",
        "--cert-dir DIR",
        f"ctr images pull --tlscacert {tls / 'ca.crt'} {name}/",
        "Kubernetes node",
    ):
        assert expected in out, expected


def test_init_refuses_to_overwrite_without_force(
    made: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    data_dir, _ = made
    tls = data_dir / "tls"
    before = {p.name: p.read_bytes() for p in tls.iterdir()}
    again = harborlite_cli(data_dir, "tls", "init", "other.example.com")
    assert again.returncode == 1
    assert again.stderr.startswith("error: refusing to overwrite ")
    assert str(tls / "ca.key") in again.stderr and "--force" in again.stderr
    assert {p.name: p.read_bytes() for p in tls.iterdir()} == before


def test_init_force_replaces_the_ca(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert harborlite_cli(data_dir, "tls", "init", "a.example").returncode == 0
    old = fingerprint(data_dir / "tls" / "ca.crt")
    forced = harborlite_cli(data_dir, "tls", "init", "--force", "b.example")
    assert forced.returncode == 0, forced
    assert fingerprint(data_dir / "tls" / "ca.crt") != old


def test_port_443_and_ipv6_names_in_the_paths(tmp_path: Path) -> None:
    done = harborlite_cli(
        tmp_path / "a", "tls", "init", "reg.example", HARBORLITE_EXTERNAL_URL="https://reg.example"
    )
    assert "/etc/docker/certs.d/reg.example/ca.crt" in done.stdout  # no :443
    six = harborlite_cli(tmp_path / "b", "tls", "init", "::1", HARBORLITE_PORT="5443")
    assert "/etc/docker/certs.d/[::1]:5443/ca.crt" in six.stdout


def test_init_refuses_a_bad_name_and_writes_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    done = harborlite_cli(data_dir, "tls", "init", "bad name")
    assert done.returncode == 1
    assert "neither a host name nor an IP address" in done.stderr
    assert not (data_dir / "tls").exists()


def test_renew_keeps_the_ca_and_the_names(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert harborlite_cli(data_dir, "tls", "init", *HOSTS).returncode == 0
    tls = data_dir / "tls"
    ca, server = fingerprint(tls / "ca.crt"), fingerprint(tls / "server.crt")
    renewed = harborlite_cli(data_dir, "tls", "renew")
    assert renewed.returncode == 0, renewed
    assert fingerprint(tls / "ca.crt") == ca
    assert fingerprint(tls / "server.crt") != server
    cert = x509.load_pem_x509_certificate((tls / "server.crt").read_bytes())
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate((tls / "ca.crt").read_bytes()))
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["registry.example.com"]


def test_show_prints_the_ca_and_the_fingerprints(
    made: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    data_dir, _ = made
    tls = data_dir / "tls"
    shown = harborlite_cli(data_dir, "tls", "show")
    assert shown.returncode == 0, shown
    assert shown.stdout.startswith((tls / "ca.crt").read_text().strip())
    assert f"SHA-256:   {fingerprint(tls / 'ca.crt')}" in shown.stdout
    assert f"SHA-256:   {fingerprint(tls / 'server.crt')}" in shown.stdout
    assert "names:     registry.example.com, 10.1.2.3, ::1" in shown.stdout
    assert "expires:   " in shown.stdout and "days left" in shown.stdout


def test_show_without_a_ca_says_what_to_run(tmp_path: Path) -> None:
    shown = harborlite_cli(tmp_path / "data", "tls", "show")
    assert shown.returncode == 1
    assert "run `harborlite tls init HOST`" in shown.stderr


def test_serve_refuses_a_pair_it_cannot_serve_in_one_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert harborlite_cli(data_dir, "tls", "init", "127.0.0.1").returncode == 0
    other = tmp_path / "other"
    assert harborlite_cli(other, "tls", "init", "127.0.0.1").returncode == 0
    done = subprocess.run(
        [sys.executable, "-m", "harborlite", "serve"],
        env={
            "PATH": "/usr/bin:/bin",
            "HARBORLITE_DATA_DIR": str(data_dir),
            "HARBORLITE_TLS_CERT": str(data_dir / "tls" / "server.crt"),
            "HARBORLITE_TLS_KEY": str(other / "tls" / "server.key"),  # not its key
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("harborlite: refusing to start: HARBORLITE_TLS_CERT: "), done.stderr
    assert "cannot be served" in last
