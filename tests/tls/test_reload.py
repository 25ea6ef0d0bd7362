"""SIGHUP reloads the certificate: new handshakes get the new one, a keep-alive connection
opened before stays open, and a bad new file (garbage, or a key that is not the
certificate's) keeps the one served, with an error in the log."""

from __future__ import annotations

import hashlib
import http.client
import signal
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests.harness import Harborlite, cleanup, start_harborlite, trusting
from tests.support.polling import eventually
from tests.tls.conftest import TlsSetup, harborlite_cli, tls_setup


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Harborlite, TlsSetup]]:
    setup = tls_setup("127.0.0.1")
    server = start_harborlite(data_dir=setup.data_dir, extra_env=setup.env(), ca=setup.ca)
    try:
        yield server, setup
    finally:
        cleanup(server)


def connect(setup: TlsSetup) -> http.client.HTTPSConnection:
    return http.client.HTTPSConnection(
        "127.0.0.1", setup.port, context=trusting(setup.ca), timeout=10
    )


def peer_fingerprint(connection: http.client.HTTPSConnection) -> str:
    sock = connection.sock
    assert isinstance(sock, ssl.SSLSocket)
    der = sock.getpeercert(binary_form=True)
    assert der is not None
    return hashlib.sha256(der).hexdigest()


def file_fingerprint(path: Path) -> str:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex()


def served_fingerprint(setup: TlsSetup) -> str:
    """What a new connection is handed."""
    connection = connect(setup)
    try:
        connection.request("GET", "/api/v2.0/health")
        assert connection.getresponse().read()
        return peer_fingerprint(connection)
    finally:
        connection.close()


def health(connection: http.client.HTTPSConnection) -> int:
    connection.request("GET", "/api/v2.0/health")
    answer = connection.getresponse()
    answer.read()
    return answer.status


def hup_and_wait(server: Harborlite, line: str) -> None:
    count = server.log_path.read_text().count(line)
    server.process.send_signal(signal.SIGHUP)
    eventually(
        lambda: server.log_path.read_text().count(line) > count, f"the log line {line!r}", 10
    )
    assert server.process.poll() is None


RELOADED = "TLS: certificate reloaded from"
NOT_RELOADED = "TLS: certificate NOT reloaded, still serving the previous one"


def test_sighup_serves_a_renewed_certificate_and_keeps_open_connections(
    served: tuple[Harborlite, TlsSetup],
) -> None:
    server, setup = served
    cert = setup.tls / "server.crt"
    first = file_fingerprint(cert)
    kept = connect(setup)
    assert health(kept) == 200
    socket_before = kept.sock
    assert peer_fingerprint(kept) == first

    renewed = harborlite_cli(setup.data_dir, "tls", "renew")
    assert renewed.returncode == 0, renewed
    second = file_fingerprint(cert)
    assert second != first
    assert served_fingerprint(setup) == first  # nothing changes before the signal

    hup_and_wait(server, RELOADED)
    assert served_fingerprint(setup) == second
    assert health(kept) == 200  # the keep-alive connection survived the reload
    assert kept.sock is socket_before and peer_fingerprint(kept) == first
    kept.close()


def test_a_bad_new_certificate_keeps_the_served_one(served: tuple[Harborlite, TlsSetup]) -> None:
    server, setup = served
    cert, key = setup.tls / "server.crt", setup.tls / "server.key"
    serving = served_fingerprint(setup)
    good_cert, good_key = cert.read_bytes(), key.read_bytes()
    try:
        cert.write_bytes(b"-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n")
        hup_and_wait(server, NOT_RELOADED)
        assert served_fingerprint(setup) == serving

        # a valid certificate whose key is another one (renewed, then the old key put back)
        cert.write_bytes(good_cert)
        assert harborlite_cli(setup.data_dir, "tls", "renew").returncode == 0
        key.write_bytes(good_key)
        hup_and_wait(server, NOT_RELOADED)
        assert served_fingerprint(setup) == serving
    finally:
        cert.write_bytes(good_cert)
        key.write_bytes(good_key)
    assert "cannot be served" in server.log_path.read_text()
