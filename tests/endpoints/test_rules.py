"""Pure rules of the endpoints and remote domains, as tables of cases: URL validation (Harbor's
ValidateHTTPURL and harborlite's refusals), the sealed-secret box, challenges, token expiry,
Retry-After, the token bucket."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from harborlite.endpoints.validation import check_ca, check_credential, check_rate, check_url
from harborlite.errors import BadRequest
from harborlite.remote.challenge import TokenCache, parse_challenge
from harborlite.remote.errors import parse_retry_after
from harborlite.remote.ratelimit import TokenBucket, bucket_for
from harborlite.sealing import KEY_FILE, SealedSecretError, SecretBox


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://registry.example.com", "https://registry.example.com"),
        ("  https://registry.example.com/ ", "https://registry.example.com"),
        ("registry.example.com:5000", "http://registry.example.com:5000"),
        ("http://127.0.0.1:5000/prefix/", "http://127.0.0.1:5000/prefix"),
        ("https://[::1]:8443", "https://[::1]:8443"),
    ],
)
def test_urls_accepted(given: str, expected: str) -> None:
    assert check_url(given) == expected


@pytest.mark.parametrize(
    ("given", "text"),
    [
        ("", "empty string"),
        ("ftp://example.com", "invalid HTTP scheme: ftp"),
        ("file:///etc/passwd", "invalid HTTP scheme: file"),
        ("http://", "malformed URL"),
        ("http://exa mple.com", "malformed URL"),
        ("http://example.com:99999", "malformed URL"),
        ("https://user:pw@example.com", "must not hold credentials"),
        ("https://example.com/#x", "query or a fragment"),
        (42, "url must be a string"),
    ],
)
def test_urls_refused(given: object, text: str) -> None:
    with pytest.raises(BadRequest) as caught:
        check_url(given)
    assert text in caught.value.message


def test_rates_and_credentials() -> None:
    assert check_rate(None) is None and check_rate(2) == 2.0
    for bad in (0, -1, True, "5", 10_001):
        with pytest.raises(BadRequest):
            check_rate(bad)
    kept = check_credential({"type": "basic", "access_key": "u", "access_secret": "*****"})
    assert kept is not None and kept.access_secret is None  # "*****" keeps the stored one
    with pytest.raises(BadRequest):
        check_credential({"type": "basic", "access_secret": "orphan"})
    with pytest.raises(BadRequest):
        check_ca("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(BadRequest):
        check_ca("-----BEGIN PRIVATE KEY-----\n...")


def test_secret_box(tmp_path: Path) -> None:
    box = SecretBox.for_data_dir(tmp_path)
    key = tmp_path / KEY_FILE
    assert (key.stat().st_mode & 0o777) == 0o600
    sealed = box.seal("hunter2")
    assert "hunter2" not in sealed and box.open(sealed) == "hunter2"
    assert SecretBox.for_data_dir(tmp_path).open(sealed) == "hunter2"  # the same key again
    assert repr(box) == "SecretBox(***)"
    other = tmp_path / "other"
    os.mkdir(other)
    with pytest.raises(SealedSecretError):
        SecretBox.for_data_dir(other).open(sealed)


@pytest.mark.parametrize(
    ("header", "scheme", "params"),
    [
        (
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
            'scope="repository:library/nginx:pull"',
            "bearer",
            {
                "realm": "https://auth.docker.io/token",
                "service": "registry.docker.io",
                "scope": "repository:library/nginx:pull",
            },
        ),
        (
            'Bearer realm="http://h/service/token",service="harbor-registry",'
            'scope="repository:b:pull,push repository:a:pull"',
            "bearer",
            {
                "realm": "http://h/service/token",
                "service": "harbor-registry",
                "scope": "repository:b:pull,push repository:a:pull",
            },
        ),
        ('Basic realm="Registry Realm"', "basic", {"realm": "Registry Realm"}),
    ],
)
def test_challenges(header: str, scheme: str, params: dict[str, str]) -> None:
    found = parse_challenge(header)
    assert found is not None and found.scheme == scheme and found.params == params


def test_unknown_challenges() -> None:
    assert parse_challenge(None) is None
    assert parse_challenge("Negotiate abc") is None


def test_token_cache_expires() -> None:
    cache = TokenCache()
    cache.put("a", "token", 3600)
    assert cache.get("a") == "token"
    cache.put("b", "short", 1)  # shorter than the margin: used for at most a second
    time.sleep(1.1)
    assert cache.get("b") is None and cache.get("a") == "token"


def test_retry_after() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    in_future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 60))
    assert 50 < (parse_retry_after(in_future) or 0) <= 60


def test_token_bucket() -> None:
    bucket = TokenBucket(2)
    waits = [bucket.reserve() for _ in range(6)]
    assert waits[:2] == [0.0, 0.0]  # the burst
    assert waits[2] > 0 and waits[5] > waits[2]
    assert waits[5] == pytest.approx(2.0, abs=0.1)  # the 6th: 4 beyond the burst at 2/s
    assert bucket_for(7, None) is None
    assert bucket_for(7, 3) is bucket_for(7, 3)  # one bucket per endpoint and rate
