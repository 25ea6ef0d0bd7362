"""The reference grammar: digests, tags and repository names (distribution's ``reference``)."""

from __future__ import annotations

import hashlib
import re

_DIGEST_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


_DIGEST_RE = re.compile(r"(sha256|sha384|sha512):([a-f0-9]+)")


_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


_NAME_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"


_REPOSITORY_RE = re.compile(rf"{_NAME_COMPONENT}(?:/{_NAME_COMPONENT})*")


MAX_REPOSITORY_NAME = 255


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def is_digest(ref: str) -> bool:
    """``algorithm:hex`` with a registered algorithm (sha256/384/512) and its exact hex length."""
    match = _DIGEST_RE.fullmatch(ref)
    return match is not None and len(match.group(2)) == _DIGEST_HEX_LENGTHS[match.group(1)]


def valid_tag(ref: str) -> bool:
    return _TAG_RE.fullmatch(ref) is not None


def valid_reference(ref: str) -> bool:
    """A manifest reference: a tag or a digest."""
    return valid_tag(ref) or is_digest(ref)


def valid_repository_name(name: str) -> bool:
    """The distribution ``<name>`` grammar, at most 255 characters."""
    return len(name) <= MAX_REPOSITORY_NAME and _REPOSITORY_RE.fullmatch(name) is not None


_HASHES = {"sha256": hashlib.sha256, "sha512": hashlib.sha512, "sha384": hashlib.sha384}


def digest_matches(digest: str, body: bytes) -> bool:
    """Whether ``body`` hashes to ``digest`` (with the digest's own algorithm)."""
    algorithm, _, expected = digest.partition(":")
    hasher = _HASHES.get(algorithm)
    return hasher is not None and hasher(body).hexdigest() == expected
