"""harborlite serving HTTPS itself: every URL it writes says ``https://``, and the handshake
offers only TLS 1.2+ with forward-secret AEAD ciphers, and HTTP/1.1."""

from __future__ import annotations

import socket
import ssl

import pytest

from tests.harness import Harborlite, trusting


def handshake(server: Harborlite, context: ssl.SSLContext) -> ssl.SSLSocket:
    host, port = server.host.rsplit(":", 1)
    raw = socket.create_connection((host, int(port)), timeout=10)
    return context.wrap_socket(raw, server_hostname=host)


def test_the_challenge_realm_is_https(tls_harborlite: Harborlite) -> None:
    with tls_harborlite.client() as client:
        answer = client.get("/v2/library/x/manifests/latest")
    assert answer.status_code == 401
    challenge = answer.headers["www-authenticate"]
    assert f'realm="https://{tls_harborlite.host}/service/token"' in challenge


def test_an_upload_location_is_https(tls_harborlite: Harborlite) -> None:
    token = tls_harborlite.token("repository:library/tls-upload:pull,push", tls_harborlite.admin)
    with tls_harborlite.client() as client:
        started = client.post(
            "/v2/library/tls-upload/blobs/uploads/", headers={"Authorization": f"Bearer {token}"}
        )
        assert started.status_code == 202, started.text
        location = started.headers["location"]
        assert location.startswith(f"https://{tls_harborlite.host}/v2/library/tls-upload/"), (
            location
        )
        client.delete(location, headers={"Authorization": f"Bearer {token}"})


def test_the_api_says_https(tls_harborlite: Harborlite) -> None:
    info = tls_harborlite.api("GET", "/systeminfo", auth=tls_harborlite.admin).json()
    assert info["external_url"] == tls_harborlite.url
    assert tls_harborlite.url.startswith("https://")


def test_tls_12_or_13_with_an_aead_cipher_and_http_11(tls_harborlite: Harborlite) -> None:
    assert tls_harborlite.ca is not None
    context = trusting(tls_harborlite.ca)
    context.set_alpn_protocols(["h2", "http/1.1"])
    with handshake(tls_harborlite, context) as tls:
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        assert tls.selected_alpn_protocol() == "http/1.1"  # never h2: uvicorn speaks 1.1
        cipher = tls.cipher()
        assert cipher is not None and ("GCM" in cipher[0] or "CHACHA20" in cipher[0])


@pytest.mark.parametrize(
    "cipher", ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-AES128-SHA256"]
)
def test_a_client_offering_only_cbc_ciphers_is_refused(
    tls_harborlite: Harborlite, cipher: str
) -> None:
    assert tls_harborlite.ca is not None
    context = trusting(tls_harborlite.ca)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(cipher + ":@SECLEVEL=0")
    with pytest.raises(OSError):  # the server ends the handshake (alert, or just EOF)
        handshake(tls_harborlite, context).close()


def test_the_same_client_with_a_gcm_cipher_is_served(tls_harborlite: Harborlite) -> None:
    assert tls_harborlite.ca is not None
    context = trusting(tls_harborlite.ca)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
    with handshake(tls_harborlite, context) as tls:
        assert tls.version() == "TLSv1.2"
