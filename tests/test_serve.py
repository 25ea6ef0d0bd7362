"""``harborlite serve`` as a person at a terminal sees it: the HTTPS probes of clients on a
plain-HTTP port are not warnings, and Ctrl-C stops it with one line."""

from __future__ import annotations

import shutil
import signal
import socket
import ssl

from tests.harness import start_harborlite


def tls_probe(host: str, port: int) -> None:
    """What docker, skopeo and podman send first to a registry: a TLS ClientHello."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=10) as raw:
        try:
            with context.wrap_socket(raw, server_hostname=host):
                raise AssertionError("a plain-HTTP port answered a TLS handshake")
        except (ssl.SSLError, ConnectionError):
            pass  # the client then falls back to HTTP


def test_tls_probes_are_quiet_and_ctrl_c_stops_with_one_line() -> None:
    server = start_harborlite()
    try:
        port = int(server.host.rsplit(":", 1)[1])
        for _ in range(3):
            tls_probe("127.0.0.1", port)
        assert server.client().get("/api/v2.0/health").status_code == 200  # still serving
        before = server.log_path.read_text()
        server.process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        assert server.process.wait(timeout=30) == 0
        log = server.log_path.read_text()
    finally:
        server.stop()
        shutil.rmtree(server.data_dir, ignore_errors=True)
    assert "Invalid HTTP request" not in log
    assert "WARNING" not in before
    after = log[len(before) :].strip().splitlines()
    assert after == ["harborlite stopped"], after
    assert "Traceback" not in log


def test_sigterm_stops_with_one_line_and_exit_0() -> None:
    """``docker stop``, systemd and ``kill`` send SIGTERM: the same clean stop as Ctrl-C."""
    server = start_harborlite()
    try:
        before = server.log_path.read_text()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=30) == 0
        log = server.log_path.read_text()
    finally:
        server.stop()
        shutil.rmtree(server.data_dir, ignore_errors=True)
    assert log[len(before) :].strip().splitlines() == ["harborlite stopped"]
