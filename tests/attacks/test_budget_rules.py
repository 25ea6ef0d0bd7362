"""The pure rules under the connection budget: the per-client counts and the body meter."""

from __future__ import annotations

import base64
import json

import pytest

from harborlite.http.body_rate import BodyMeter
from harborlite.v2.budget import OverBudget, ProxyBudget, is_upload, subject_of


def test_a_key_over_its_cap_is_refused_and_given_back_after() -> None:
    budget = ProxyBudget(max_proxied=2, max_uploads=1)
    keys = ("user a", "address 1")
    with budget.held(keys, upload=True):
        with pytest.raises(OverBudget, match="too many uploads of user a"):
            with budget.held(keys, upload=True):
                pass
        with budget.held(keys, upload=False):  # not an upload: the other cap
            with pytest.raises(OverBudget, match="too many requests of user a"):
                with budget.held(keys, upload=False):
                    pass
        with budget.held(("user b", "address 2"), upload=True):  # others are not touched
            pass
        assert budget.in_flight("address 1") == (1, 1)
    assert budget.in_flight("user a") == (0, 0) and not budget._proxied


def test_the_user_and_the_address_count_each() -> None:
    budget = ProxyBudget(max_proxied=1, max_uploads=1)
    with budget.held(("user a", "address 1"), upload=False):
        with pytest.raises(OverBudget, match="address 1"):  # another user, same address
            with budget.held(("user b", "address 1"), upload=False):
                pass
    assert budget.in_flight("user b") == (0, 0)  # a refusal takes nothing


def _scope(method: str, path: str, authorization: str = "") -> dict[str, object]:
    headers = [(b"authorization", authorization.encode())] if authorization else []
    return {"method": method, "path": path, "headers": headers, "query_string": b""}


def test_the_subject_and_what_is_an_upload() -> None:
    payload = base64.urlsafe_b64encode(json.dumps({"sub": "alice"}).encode()).rstrip(b"=")
    token = f"e30.{payload.decode()}.sig"
    assert subject_of(_scope("GET", "/v2/", f"Bearer {token}")) == "alice"
    assert subject_of(_scope("GET", "/v2/", "Bearer not-a-jwt")) == ""
    assert subject_of(_scope("GET", "/v2/", "Basic YTpi")) == ""
    assert is_upload(_scope("PATCH", "/v2/p/r/blobs/uploads/abc"))
    assert is_upload(_scope("POST", "/v2/p/r/blobs/uploads/"))
    assert not is_upload(_scope("GET", "/v2/p/r/blobs/uploads/abc"))
    assert not is_upload(_scope("PUT", "/v2/p/r/manifests/v1"))


@pytest.mark.parametrize(
    ("deliveries", "kept"),
    [
        ([(1.0, 5000), (1.0, 5000), (1.0, 5000)], True),  # fast
        ([(1.9, 2000), (0.2, 0)], True),  # 2000 bytes in the 2 s window: exactly enough
        ([(1.0, 10), (1.0, 10)], False),  # a trickle
        ([(0.1, 4000), (1.9, 0), (1.0, 500), (1.0, 500)], False),  # a good window, then a bad
        ([(2.0, 0)], False),  # nothing at all
    ],
)
def test_the_body_meter(deliveries: list[tuple[float, int]], kept: bool) -> None:
    meter = BodyMeter(min_rate=1000, window=2.0)
    assert all(meter.record(waited, size) for waited, size in deliveries) is kept
