"""Harbor's paging on a real server: page numbers and sizes are bounded, refused with a 400 in
the envelope (never a database overflow turned into a 500)."""

from __future__ import annotations

import pytest

from harborlite.api.paging import MAX_PAGE, MAX_PAGE_SIZE
from tests.harness import Harborlite


def test_a_huge_page_number_is_a_400_not_a_500(harborlite: Harborlite) -> None:
    answer = harborlite.api("GET", "/projects", auth=harborlite.admin, params={"page": "9" * 30})
    assert answer.status_code == 400, (answer.status_code, answer.text)
    error = answer.json()["errors"][0]
    assert error == {"code": "BAD_REQUEST", "message": f"page must be at most {MAX_PAGE}"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"page": str(MAX_PAGE + 1)}, f"page must be at most {MAX_PAGE}"),
        ({"page": "0"}, "page must be at least 1"),
        ({"page_size": str(MAX_PAGE_SIZE + 1)}, f"page_size must be at most {MAX_PAGE_SIZE}"),
        ({"page_size": "ten"}, "page_size must be a whole number, got 'ten'"),
    ],
)
def test_paging_past_its_bounds_is_refused(
    harborlite: Harborlite, params: dict[str, str], message: str
) -> None:
    answer = harborlite.api("GET", "/projects", auth=harborlite.admin, params=params)
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"errors": [{"code": "BAD_REQUEST", "message": message}]}


def test_the_last_page_in_bounds_is_answered_empty(harborlite: Harborlite) -> None:
    answer = harborlite.api(
        "GET", "/projects", auth=harborlite.admin, params={"page": str(MAX_PAGE)}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == []
    assert int(answer.headers["X-Total-Count"]) > 0  # the total, whatever page is asked
