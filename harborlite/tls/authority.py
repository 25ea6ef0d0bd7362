"""A private certificate authority and the server certificate it signs, in the data folder.

``harborlite tls init HOST...`` writes ``tls/ca.crt``, ``tls/ca.key``, ``tls/server.crt`` and
``tls/server.key`` (keys 0600) and never replaces them unless told to; ``harborlite tls renew``
signs a new server certificate with the CA already there, so clients keep trusting it. Keys are
ECDSA P-256 (every registry client's TLS stack takes them); the server certificate names each
host as a DNS or an IP subject alternative name.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650  # ten years: clients are given the CA once
SERVER_DAYS = 825  # what Apple's platforms accept at most for a server certificate
_BACKDATE = datetime.timedelta(minutes=5)  # clocks of clients a little behind


class AuthorityError(Exception):
    """The files cannot be written or read; the message says which and why."""


@dataclass(frozen=True)
class TlsFiles:
    """Where ``tls init`` puts the CA and the server certificate."""

    folder: Path

    @classmethod
    def of(cls, data_dir: Path) -> TlsFiles:
        return cls(data_dir / "tls")

    @property
    def ca_cert(self) -> Path:
        return self.folder / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.folder / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.folder / "server.key"

    def all(self) -> tuple[Path, ...]:
        return (self.ca_cert, self.ca_key, self.server_cert, self.server_key)

    def existing(self) -> list[Path]:
        return [path for path in self.all() if path.exists()]


def subject_names(hosts: list[str]) -> list[x509.GeneralName]:
    """A DNS name, or an IP address, for each host (``[::1]`` without its brackets)."""
    names: list[x509.GeneralName] = []
    for host in hosts:
        bare = host.strip().strip("[]")
        if not bare:
            raise AuthorityError("a host name is empty")
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(bare)))
        except ValueError:
            if any(c.isspace() or c in "/:@" for c in bare):
                raise AuthorityError(f"{host!r} is neither a host name nor an IP address") from None
            names.append(x509.DNSName(bare.lower()))
    return names


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _ca_certificate(key: ec.EllipticCurvePrivateKey, label: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"harborlite private CA {label}")])
    now = _now()
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _server_certificate(
    key: ec.EllipticCurvePrivateKey,
    hosts: list[str],
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
) -> x509.Certificate:
    names = subject_names(hosts)
    now = _now()
    not_after = min(now + datetime.timedelta(days=SERVER_DAYS), ca_cert.not_valid_after_utc)
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0].strip("[]"))]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` whole to ``path`` (a temporary file renamed over it: a reader, such as
    a server reloading on SIGHUP, never sees half a file)."""
    temporary = path.with_name(f".{path.name}.new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(temporary, mode)
    os.replace(temporary, path)


def create_authority(files: TlsFiles, hosts: list[str], *, force: bool = False) -> None:
    """A new CA and a server certificate for ``hosts``. Refuses (:class:`AuthorityError`) when
    any of the files exists, unless ``force``."""
    if not hosts:
        raise AuthorityError("name at least one host the clients use to reach harborlite")
    subject_names(hosts)  # refuse a bad name before writing anything
    found = files.existing()
    if found and not force:
        shown = ", ".join(str(path) for path in found)
        raise AuthorityError(
            f"refusing to overwrite {shown}: clients trusting that CA would stop trusting "
            "harborlite. Use `harborlite tls renew` for a new server certificate from the same "
            "CA, or `harborlite tls init --force` to replace the CA too (then give every client "
            "the new ca.crt)"
        )
    files.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca_key = _new_key()
    ca_cert = _ca_certificate(ca_key, _now().strftime("%Y-%m-%d %H:%M:%S"))
    _write(files.ca_key, _key_pem(ca_key), 0o600)
    _write(files.ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    issue_server_certificate(files, hosts)


def issue_server_certificate(files: TlsFiles, hosts: list[str]) -> None:
    """A new server key and certificate for ``hosts``, signed by the CA in ``files``."""
    try:
        ca_cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
        loaded = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    except (OSError, ValueError) as error:
        raise AuthorityError(
            f"cannot read the CA in {files.folder} ({error}): run `harborlite tls init HOST`"
        ) from None
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise AuthorityError(f"{files.ca_key} is not a key harborlite made")
    key = _new_key()
    cert = _server_certificate(key, hosts, ca_cert, loaded)
    _write(files.server_key, _key_pem(key), 0o600)
    _write(files.server_cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def server_hosts(path: Path) -> list[str]:
    """The names a server certificate holds (DNS names, then IP addresses)."""
    return _alternative_names(x509.load_pem_x509_certificate(path.read_bytes()))


def _alternative_names(cert: x509.Certificate) -> list[str]:
    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    dns = extension.value.get_values_for_type(x509.DNSName)
    ips = extension.value.get_values_for_type(x509.IPAddress)
    return [*dns, *(str(ip) for ip in ips)]


@dataclass(frozen=True)
class CertificateFacts:
    """What ``tls show`` prints about one certificate."""

    path: Path
    subject: str
    names: tuple[str, ...]
    not_before: datetime.datetime
    not_after: datetime.datetime
    sha256: str  # colon-separated upper-case hex, as openssl x509 -fingerprint prints it

    @property
    def valid_now(self) -> bool:
        return self.not_before <= _now() <= self.not_after

    def summary(self) -> str:
        """One line for the log."""
        names = ", ".join(self.names) or self.subject
        return f"{names}, expires {self.not_after:%Y-%m-%d}, SHA-256 {self.sha256}"

    def lines(self, label: str) -> list[str]:
        days = (self.not_after - _now()).days
        state = "EXPIRED" if days < 0 else f"{days} days left"
        lines = [
            f"{label}: {self.path}",
            f"  subject:   {self.subject}",
        ]
        if self.names:
            lines.append(f"  names:     {', '.join(self.names)}")
        lines += [
            f"  expires:   {self.not_after:%Y-%m-%d %H:%M:%S} UTC ({state})",
            f"  SHA-256:   {self.sha256}",
        ]
        return lines


def describe(path: Path, pem: bytes | None = None) -> CertificateFacts:
    """The facts of the first certificate in the PEM file ``path`` (or in ``pem``, read from
    it already)."""
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes() if pem is None else pem)
    except (OSError, ValueError) as error:
        raise AuthorityError(f"cannot read the certificate {path}: {error}") from None
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    return CertificateFacts(
        path=path,
        subject=cert.subject.rfc4514_string(),
        names=tuple(_alternative_names(cert)),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        sha256=":".join(digest[i : i + 2] for i in range(0, len(digest), 2)),
    )
