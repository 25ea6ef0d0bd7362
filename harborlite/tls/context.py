"""The server's TLS context: TLS 1.2 and 1.3 only, forward-secret AEAD ciphers, HTTP/1.1 by
ALPN, and the certificate read again on SIGHUP.

:class:`ServedCertificate` owns the one :class:`ssl.SSLContext` uvicorn's listening socket
uses. A reload reads the certificate and key files once, tries them on a scratch context,
and only when that works loads them into the live one (``load_cert_chain``): handshakes from
then on get the new certificate, connections already open keep theirs and stay open. A file
that is missing, unreadable, not PEM, or a key that does not match its certificate leaves the
live context as it was, with an error in the log. The bytes read are handed to OpenSSL
through an anonymous in-memory file (``memfd``), so the pair loaded is the pair checked even
when the files change again meanwhile, and the key is never copied to disk.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

from harborlite.tls.authority import AuthorityError, describe

log = logging.getLogger("harborlite")

# TLS 1.2: ECDHE key exchange with AES-GCM or ChaCha20 only (no CBC, no RSA key exchange, no
# SHA-1 MACs); TLS 1.3 suites are OpenSSL's defaults, all of them AEAD
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL:!MD5:!DSS"


class TlsError(Exception):
    """The certificate or key cannot be loaded; the message names the file and why."""


@contextlib.contextmanager
def _in_memory(name: str, data: bytes) -> Iterator[str]:
    """A path OpenSSL can open that holds ``data`` and lives only in memory."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    try:
        os.write(fd, data)
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)


def _load(context: ssl.SSLContext, cert_pem: bytes, key_pem: bytes) -> None:
    with _in_memory("tls-cert", cert_pem) as cert, _in_memory("tls-key", key_pem) as key:
        context.load_cert_chain(cert, key)


def new_server_context() -> ssl.SSLContext:
    """A server context with the protocol versions, ciphers and options harborlite serves."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    context.options |= ssl.OP_NO_RENEGOTIATION
    context.set_alpn_protocols(["http/1.1"])  # uvicorn's httptools protocol speaks HTTP/1.1
    return context


class ServedCertificate:
    """The live server context and the files it is loaded from."""

    def __init__(self, cert_path: Path, key_path: Path) -> None:
        self.cert_path = cert_path
        self.key_path = key_path
        self.context = new_server_context()
        self.reloads = 0  # successful reloads since start
        summary = self._load_files(self.context)
        log.info("TLS: serving the certificate %s (%s)", cert_path, summary)

    def _read(self) -> tuple[bytes, bytes]:
        try:
            return self.cert_path.read_bytes(), self.key_path.read_bytes()
        except OSError as error:
            raise TlsError(f"cannot read {error.filename}: {error.strerror}") from None

    def _load_files(self, context: ssl.SSLContext) -> str:
        """Load the pair into ``context`` after checking it on a scratch one; a summary."""
        cert_pem, key_pem = self._read()
        try:
            facts = describe(self.cert_path, cert_pem)
        except AuthorityError as error:
            raise TlsError(str(error)) from None
        try:
            _load(new_server_context(), cert_pem, key_pem)
        except ssl.SSLError as error:
            raise TlsError(
                f"{self.cert_path} with {self.key_path} cannot be served: {error.reason or error} "
                "(is the key the certificate's?)"
            ) from None
        if not facts.valid_now:
            log.warning(
                "TLS: the certificate %s is not valid now (valid %s to %s UTC): clients will "
                "refuse it",
                self.cert_path,
                f"{facts.not_before:%Y-%m-%d %H:%M}",
                f"{facts.not_after:%Y-%m-%d %H:%M}",
            )
        _load(context, cert_pem, key_pem)
        return facts.summary()

    def reload(self) -> bool:
        """Read the files again into the live context; False (logged) when they are bad."""
        try:
            summary = self._load_files(self.context)
        except TlsError as error:
            log.error("TLS: certificate NOT reloaded, still serving the previous one: %s", error)
            return False
        self.reloads += 1
        log.info(
            "TLS: certificate reloaded from %s (%s); new connections get it, open ones keep theirs",
            self.cert_path,
            summary,
        )
        return True

    def reload_on_sighup(self) -> Callable[[], None]:
        """Reload on every SIGHUP from now on; returns what puts the previous handler back."""

        def handle(signum: int, frame: FrameType | None) -> None:
            self.reload()

        previous = signal.signal(signal.SIGHUP, handle)

        def restore() -> None:
            signal.signal(signal.SIGHUP, previous)

        return restore
