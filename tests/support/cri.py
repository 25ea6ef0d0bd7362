"""A minimal CRI image-service client (what `crictl pull` does), standard library only.

crictl is not packaged on Debian 12 and the project has no gRPC dependency, so this speaks
just enough HTTP/2 (prior knowledge, over containerd's Unix socket) and protobuf to make the
unary calls of `runtime.v1.ImageService`: PullImage, ImageStatus, ListImages, RemoveImage.

It does not decode HPACK, so it cannot read `grpc-status`/`grpc-message` from the trailers.
It tells success from failure by the response message: a unary call that succeeds always
sends one DATA frame with the (possibly empty) message; a failed one sends only trailers. On
failure the error carries the tail of containerd's log, where the CRI plugin writes the reason
(e.g. "failed to fetch oauth token: unexpected status: 401 Unauthorized").
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from pathlib import Path

from .commands import Creds
from .processes import log_tail

SERVICE = "runtime.v1.ImageService"
_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_DATA, _HEADERS, _RST_STREAM, _SETTINGS, _PING, _GOAWAY, _CONTINUATION = 0, 1, 3, 4, 6, 7, 9
_END_STREAM, _ACK, _END_HEADERS, _PADDED, _PRIORITY = 0x1, 0x1, 0x4, 0x8, 0x20
_STREAM = 1


class CriError(RuntimeError):
    """A CRI call failed (the message ends with containerd's log tail when known)."""


@dataclass(frozen=True)
class CriImage:
    id: str
    repo_tags: tuple[str, ...]
    repo_digests: tuple[str, ...]
    size: int


# --- protobuf: just varints and length-delimited fields -------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs: ints for varints, bytes for length-delimited fields."""
    fields: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = _read_varint(data, pos)
            fields.append((number, value))
        elif wire_type == 2:
            length, pos = _read_varint(data, pos)
            fields.append((number, data[pos : pos + length]))
            pos += length
        elif wire_type in (1, 5):
            pos += 8 if wire_type == 1 else 4
        else:
            raise CriError(f"unsupported protobuf wire type {wire_type}")
    return fields


def _image_spec(ref: str) -> bytes:
    return _field(1, ref.encode())


def _parse_image(data: bytes) -> CriImage:
    image_id, tags, digests, size = "", [], [], 0
    for number, value in _fields(data):
        if number == 1 and isinstance(value, bytes):
            image_id = value.decode()
        elif number == 2 and isinstance(value, bytes):
            tags.append(value.decode())
        elif number == 3 and isinstance(value, bytes):
            digests.append(value.decode())
        elif number == 4 and isinstance(value, int):
            size = value
    return CriImage(image_id, tuple(tags), tuple(digests), size)


# --- HTTP/2: one stream, literal headers, no HPACK decoding ---------------------------------


def _frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream)


def _literal_header(name: str, value: str) -> bytes:
    # "Literal Header Field without Indexing — New Name", no Huffman; lengths < 127 here.
    encoded_name, encoded_value = name.encode(), value.encode()
    assert len(encoded_name) < 127 and len(encoded_value) < 127
    return (
        b"\x00"
        + bytes([len(encoded_name)])
        + encoded_name
        + bytes([len(encoded_value)])
        + encoded_value
    )


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise CriError("containerd closed the connection")
        data += chunk
    return bytes(data)


class CriImageClient:
    """Unary calls to the CRI image service on containerd's gRPC socket."""

    def __init__(self, socket_path: Path, *, log_path: Path | None = None, timeout: float = 120):
        self.socket_path = socket_path
        self.log_path = log_path
        self.timeout = timeout

    def _fail(self, message: str) -> CriError:
        if self.log_path is not None:
            message += f"\n--- last lines of {self.log_path} ---\n{log_tail(self.log_path, 15)}"
        return CriError(message)

    def call(self, method: str, request: bytes) -> bytes:
        """Send one request message to SERVICE/method and return the response message."""
        headers = b"".join(
            _literal_header(name, value)
            for name, value in (
                (":method", "POST"),
                (":scheme", "http"),
                (":path", f"/{SERVICE}/{method}"),
                (":authority", "localhost"),
                ("content-type", "application/grpc"),
                ("te", "trailers"),
            )
        )
        body = b"\x00" + struct.pack(">I", len(request)) + request
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout)
            sock.connect(str(self.socket_path))
            sock.sendall(
                _PREFACE
                + _frame(_SETTINGS, 0, 0)
                + _frame(_HEADERS, _END_HEADERS, _STREAM, headers)
                + headers
                + _frame(_DATA, _END_STREAM, _STREAM, body)
                + body
            )
            data = self._read_response(sock)
        if len(data) < 5:
            raise self._fail(f"CRI {method} failed (trailers only, no response message)")
        (length,) = struct.unpack(">I", data[1:5])
        return data[5 : 5 + length]

    def _read_response(self, sock: socket.socket) -> bytes:
        data = bytearray()
        while True:
            header = _recv_exact(sock, 9)
            length = int.from_bytes(header[:3], "big")
            kind, flags = header[3], header[4]
            stream = int.from_bytes(header[5:9], "big") & 0x7FFFFFFF
            payload = _recv_exact(sock, length)
            if kind == _SETTINGS and not flags & _ACK:
                sock.sendall(_frame(_SETTINGS, _ACK, 0))
            elif kind == _PING and not flags & _ACK:
                sock.sendall(_frame(_PING, _ACK, 0, payload) + payload)
            elif kind == _GOAWAY:
                raise self._fail(f"containerd sent GOAWAY: {payload[8:]!r}")
            elif stream != _STREAM:
                continue
            elif kind == _RST_STREAM:
                code = int.from_bytes(payload[:4], "big")
                raise self._fail(f"containerd reset the stream (HTTP/2 error {code})")
            elif kind == _DATA:
                if flags & _PADDED:
                    payload = payload[1 : len(payload) - payload[0]]
                data += payload
            if kind in (_DATA, _HEADERS, _CONTINUATION) and stream == _STREAM:
                if flags & _END_STREAM:
                    return bytes(data)

    def pull_image(self, ref: str, *, creds: Creds | None = None) -> str:
        """PullImage (as `crictl pull [--creds u:p] REF`); returns the image reference (ID)."""
        request = _field(1, _image_spec(ref))
        if creds is not None:
            request += _field(2, _field(1, creds[0].encode()) + _field(2, creds[1].encode()))
        for number, value in _fields(self.call("PullImage", request)):
            if number == 1 and isinstance(value, bytes):
                return value.decode()
        raise self._fail(f"PullImage {ref}: empty response")

    def image_status(self, ref: str) -> CriImage | None:
        """ImageStatus; None when containerd does not have the image."""
        for number, value in _fields(self.call("ImageStatus", _field(1, _image_spec(ref)))):
            if number == 1 and isinstance(value, bytes):
                return _parse_image(value)
        return None

    def list_images(self) -> list[CriImage]:
        response = self.call("ListImages", b"")
        return [
            _parse_image(value)
            for number, value in _fields(response)
            if number == 1 and isinstance(value, bytes)
        ]

    def remove_image(self, ref: str) -> None:
        self.call("RemoveImage", _field(1, _image_spec(ref)))
