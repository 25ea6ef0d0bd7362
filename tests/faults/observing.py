"""What the fault tests look at: polls with a deadline, health, the index and the audit log."""

from __future__ import annotations

from typing import Any

import httpx

from tests.harness import Harborlite


def component(server: Harborlite, name: str) -> dict[str, Any] | None:
    """The health entry of component ``name`` (None when harborlite does not answer)."""
    try:
        answer = httpx.get(f"{server.url}/api/v2.0/health", timeout=5)
    except httpx.HTTPError:
        return None
    for entry in answer.json()["components"]:
        if entry["name"] == name:
            return dict(entry)
    return None


def audit(server: Harborlite, operation: str, resource: str) -> list[dict[str, Any]]:
    """The audit entries of ``operation`` whose resource starts with ``resource``."""
    rows: list[dict[str, Any]] = []
    page = 1
    while True:
        answer = server.api(
            "GET",
            "/audit-logs",
            auth=server.admin,
            params={
                "q": f"operation={operation},resource=~{resource}",
                "page": page,
                "page_size": 100,
            },
        )
        assert answer.status_code == 200, answer.text
        batch = answer.json()
        rows += [row for row in batch if row["resource"].startswith(resource)]
        if len(batch) < 100:
            return rows
        page += 1


def artifacts(server: Harborlite, project: str, repository: str) -> list[dict[str, Any]]:
    """The index's artifacts of ``project/repository`` (empty when the repository is unknown)."""
    answer = server.api(
        "GET", f"/projects/{project}/repositories/{repository}/artifacts", auth=server.admin
    )
    if answer.status_code == 404:
        return []
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def is_envelope(answer: httpx.Response, code: str | None = None) -> bool:
    """``answer`` is the ``{"errors": [{"code", "message"}]}`` envelope (with ``code``)."""
    try:
        errors = answer.json()["errors"]
    except (ValueError, KeyError, TypeError):
        return False
    return (
        bool(errors)
        and all("code" in e and "message" in e for e in errors)
        and (code is None or errors[0]["code"] == code)
    )
