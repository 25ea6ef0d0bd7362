"""The reference grammar: tags, digests (the one ``is_digest``) and repository names."""

from __future__ import annotations

import pytest

from harborlite.oci.reference import (
    digest_of,
    is_digest,
    valid_reference,
    valid_repository_name,
    valid_tag,
)

D1 = digest_of(b"one")
SHA512 = "sha512:" + "ab" * 64


@pytest.mark.parametrize(
    ("ref", "tag", "digest"),
    [
        ("latest", True, False),
        ("v1.2.3", True, False),
        ("_private", True, False),
        ("1.0-rc_1", True, False),
        ("A" * 128, True, False),
        ("A" * 129, False, False),
        ("", False, False),
        (".hidden", False, False),
        ("-dash", False, False),
        ("has space", False, False),
        ("latest\n", False, False),
        ("tag/slash", False, False),
        ("tag:colon", False, False),
        ("ümlaut", False, False),
        (D1, False, True),
        (SHA512, False, True),
        ("sha384:" + "0" * 96, False, True),
        ("sha256:" + "0" * 65, False, False),
        ("sha256:" + "F" * 64, False, False),
        ("sha256:" + "g" * 64, False, False),
        ("sha256:", False, False),
        ("sha1:" + "0" * 40, False, False),
        (D1 + "\n", False, False),
    ],
)
def test_tags_and_digests(ref: str, tag: bool, digest: bool) -> None:
    assert valid_tag(ref) is tag
    assert is_digest(ref) is digest
    assert valid_reference(ref) is (tag or digest)


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("library/nginx", True),
        ("nginx", True),
        ("a/b/c/d", True),
        ("my-project/my_app", True),
        ("a__b", True),
        ("a--b", True),
        ("a.b/c.d", True),
        ("0", True),
        ("a" * 255, True),
        ("a/" * 127 + "a", True),
        ("a" * 256, False),
        ("", False),
        ("Library/nginx", False),
        ("a___b", False),
        ("a..b", False),
        ("a._b", False),
        ("-a", False),
        ("a-", False),
        ("_a", False),
        ("a/", False),
        ("/a", False),
        ("a//b", False),
        ("a b", False),
        ("a:b", False),
        ("nginx\n", False),
    ],
)
def test_repository_names(name: str, valid: bool) -> None:
    assert valid_repository_name(name) is valid
