"""The documented receiver check (:func:`harborlite.webhooks.signing.verify`): a fresh, intact
body signed with the policy's secret passes; a changed body, another secret, a missing header
or a replay outside the tolerance fail."""

from __future__ import annotations

import hashlib
import hmac

from harborlite.webhooks.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature,
    signed_headers,
    verify,
)

SECRET = "s3cret-of-the-policy"
BODY = b'{"type":"PUSH_ARTIFACT","occur_at":1700000000}'
NOW = 1_700_000_000.0


def test_the_signature_is_an_hmac_of_timestamp_dot_body() -> None:
    headers = signed_headers(SECRET, BODY, 7, now=NOW)
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == "sha256=" + expected
    assert headers[TIMESTAMP_HEADER] == "1700000000"
    assert headers["X-Harborlite-Delivery"] == "7"


def test_a_receiver_accepts_only_fresh_intact_bodies_signed_with_the_secret() -> None:
    headers = signed_headers(SECRET, BODY, 1, now=NOW)
    sig, stamp = headers[SIGNATURE_HEADER], headers[TIMESTAMP_HEADER]
    assert verify(SECRET, BODY, sig, stamp, now=NOW + 10)
    assert not verify(SECRET, BODY + b" ", sig, stamp, now=NOW)  # body changed
    assert not verify("another", BODY, sig, stamp, now=NOW)  # not the policy's secret
    assert not verify(SECRET, BODY, None, stamp, now=NOW)
    assert not verify(SECRET, BODY, sig, None, now=NOW)
    assert not verify(SECRET, BODY, sig, "soon", now=NOW)
    assert not verify(SECRET, BODY, sig, stamp, now=NOW + 301)  # a replay, later
    assert not verify(SECRET, BODY, sig, str(int(NOW) + 60), now=NOW)  # timestamp changed
    moved = signature(SECRET, int(NOW) - 1000, BODY)
    assert not verify(SECRET, BODY, moved, str(int(NOW) - 1000), now=NOW)  # an old capture
