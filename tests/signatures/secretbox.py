"""NaCl's ``crypto_secretbox`` (XSalsa20 and Poly1305), in plain Python for the tests.

cosign encrypts its private keys with it (go-securesystemslib ``encrypted``, through
``golang.org/x/crypto/nacl/secretbox``) and PyNaCl is not installed here. Written from the
published algorithms (D. J. Bernstein, "The Salsa20 family of stream ciphers", "Extending the
Salsa20 nonce", "The Poly1305-AES message-authentication code"; RFC 8439 section 2.5 for
Poly1305), for key files of a few hundred bytes: slow, and not constant-time, so never for
anything but tests. ``box = tag (16 bytes) || ciphertext``, as ``secretbox.Seal`` appends it.
"""

from __future__ import annotations

import hmac
import struct

KEY_SIZE, NONCE_SIZE, TAG_SIZE = 32, 24, 16
_SIGMA = struct.unpack("<4I", b"expand 32-byte k")
_MASK = 0xFFFFFFFF


class Unopened(ValueError):
    """The box does not open with this key and nonce (wrong password, or altered bytes)."""


def _rotl(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (32 - shift))) & _MASK


def _rounds(state: list[int]) -> list[int]:
    x = list(state)
    for _ in range(10):  # 20 rounds: a column round and a row round each time
        for a, b, c, d in (
            (0, 4, 8, 12),
            (5, 9, 13, 1),
            (10, 14, 2, 6),
            (15, 3, 7, 11),
            (0, 1, 2, 3),
            (5, 6, 7, 4),
            (10, 11, 8, 9),
            (15, 12, 13, 14),
        ):
            x[b] ^= _rotl((x[a] + x[d]) & _MASK, 7)
            x[c] ^= _rotl((x[b] + x[a]) & _MASK, 9)
            x[d] ^= _rotl((x[c] + x[b]) & _MASK, 13)
            x[a] ^= _rotl((x[d] + x[c]) & _MASK, 18)
    return x


def _state(key: bytes, sixteen: bytes) -> list[int]:
    k = struct.unpack("<8I", key)
    n = struct.unpack("<4I", sixteen)
    return [
        _SIGMA[0], *k[:4], _SIGMA[1], *n, _SIGMA[2], *k[4:], _SIGMA[3],
    ]  # fmt: skip


def hsalsa20(key: bytes, nonce16: bytes) -> bytes:
    x = _rounds(_state(key, nonce16))
    return struct.pack("<8I", *(x[i] for i in (0, 5, 10, 15, 6, 7, 8, 9)))


def _salsa20_stream(key: bytes, nonce8: bytes, length: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < length:
        state = _state(key, nonce8 + struct.pack("<Q", counter))
        mixed = _rounds(state)
        out += struct.pack("<16I", *((m + s) & _MASK for m, s in zip(mixed, state, strict=True)))
        counter += 1
    return bytes(out[:length])


def _xsalsa20_stream(key: bytes, nonce: bytes, length: int) -> bytes:
    return _salsa20_stream(hsalsa20(key, nonce[:16]), nonce[16:], length)


def poly1305(key: bytes, message: bytes) -> bytes:
    r = int.from_bytes(key[:16], "little") & 0x0FFFFFFC0FFFFFFC0FFFFFFC0FFFFFFF
    s = int.from_bytes(key[16:], "little")
    p = (1 << 130) - 5
    accumulator = 0
    for i in range(0, len(message), 16):
        block = message[i : i + 16] + b"\x01"
        accumulator = (accumulator + int.from_bytes(block, "little")) * r % p
    return ((accumulator + s) & ((1 << 128) - 1)).to_bytes(16, "little")


def seal(message: bytes, nonce: bytes, key: bytes) -> bytes:
    if len(key) != KEY_SIZE or len(nonce) != NONCE_SIZE:
        raise ValueError("secretbox takes a 32-byte key and a 24-byte nonce")
    stream = _xsalsa20_stream(key, nonce, 32 + len(message))
    ciphertext = bytes(m ^ k for m, k in zip(message, stream[32:], strict=False))
    return poly1305(stream[:32], ciphertext) + ciphertext


def open_box(box: bytes, nonce: bytes, key: bytes) -> bytes:
    if len(key) != KEY_SIZE or len(nonce) != NONCE_SIZE:
        raise ValueError("secretbox takes a 32-byte key and a 24-byte nonce")
    if len(box) < TAG_SIZE:
        raise Unopened("the box is shorter than its tag")
    tag, ciphertext = box[:TAG_SIZE], box[TAG_SIZE:]
    stream = _xsalsa20_stream(key, nonce, 32 + len(ciphertext))
    if not hmac.compare_digest(poly1305(stream[:32], ciphertext), tag):
        raise Unopened("the box does not open: wrong password, or altered bytes")
    return bytes(c ^ k for c, k in zip(ciphertext, stream[32:], strict=False))
