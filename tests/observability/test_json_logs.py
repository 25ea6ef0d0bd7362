"""``HARBORLITE_LOG_FORMAT=json``: every log line one JSON object with time, level, logger and
message; access lines with the request id, user, client IP, route, status and duration; a
client's characters never split a line; credentials never written.

The server is the package's (``conftest.py``, JSON logs): each test reads the log from its
own mark on.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from harborlite import logsafe
from harborlite.cli import configure_logging
from harborlite.observability.json_logs import JsonFormatter
from tests.api.pushing import Pusher
from tests.harness import ADMIN_PASSWORD, Harborlite


def lines_after(server: Harborlite, mark: int, needle: str) -> list[str]:
    """The log's lines after byte ``mark`` once ``needle`` is among them (or 5 s passed)."""
    deadline = time.monotonic() + 5
    while True:
        text = server.log_path.read_bytes()[mark:].decode("utf-8")
        if needle in text or time.monotonic() > deadline:
            return [line for line in text.splitlines() if line.strip()]
        time.sleep(0.05)


def parsed(lines: list[str]) -> list[dict[str, Any]]:
    records = []
    for line in lines:
        record = json.loads(line)  # every line: one JSON object
        assert isinstance(record, dict), line
        assert {"time", "level", "logger", "message"} <= record.keys(), record
        records.append(record)
    return records


def test_an_access_line_carries_the_request_fields(observed: Harborlite) -> None:
    project = observed.unique("jsonlog")
    observed.create_project(project)
    mark = observed.log_path.stat().st_size
    with Pusher(observed) as pusher:
        pusher.image(f"{project}/app", "v1")
        headers = {
            **pusher._headers(f"{project}/app"),
            "X-Request-Id": "json-line-check-1",
            "Accept": "application/vnd.oci.image.manifest.v1+json",
        }
        pulled = pusher.client.get(f"/v2/{project}/app/manifests/v1", headers=headers)
        assert pulled.status_code == 200
    records = parsed(lines_after(observed, mark, "json-line-check-1"))
    access = [r for r in records if r.get("request_id") == "json-line-check-1"]
    assert access, records
    line = access[-1]
    assert line["logger"] == "harborlite.access" and line["level"] == "INFO"
    assert line["user"] == "admin"
    assert line["client_ip"] == "127.0.0.1"
    assert line["method"] == "GET" and line["path"] == f"/v2/{project}/app/manifests/v1"
    assert line["route"] == f"GET /v2/{project}/app/manifests/v1"
    assert line["status"] == 200 and isinstance(line["duration_ms"], float)
    assert line["via"] in ("proxy", "cache")
    assert line["time"].endswith("Z") and "T" in line["time"]
    audit = [r for r in records if r["logger"] == "harborlite.audit"]
    assert audit and all(r["request_id"] for r in audit), audit  # lines inside a request


def test_a_client_cannot_split_a_json_line(observed: Harborlite) -> None:
    mark = observed.log_path.stat().st_size
    forged = '{"time":"x","level":"INFO","logger":"harborlite.audit","message":"forged"}'
    with httpx.Client(base_url=observed.url, timeout=10) as client:
        client.get(f"/v2/a%0A{forged}%E2%80%A8x/manifests/latest")
    lines = lines_after(observed, mark, "manifests/latest")
    records = parsed(lines)
    assert not any(r["message"] == "forged" for r in records), lines
    assert any("\u2028" in str(r.get("path")) for r in records), records


def test_no_credential_reaches_the_log(observed: Harborlite) -> None:
    mark = observed.log_path.stat().st_size
    token = observed.token("repository:nothing/here:pull", observed.admin)
    with httpx.Client(base_url=observed.url, timeout=10) as client:
        client.get("/api/v2.0/users/current", auth=observed.admin)
        client.get(
            "/service/token",
            params={"scope": "repository:x/y:pull"},
            auth=("admin", "a-wrong-password-123"),
        )
        # a client that puts its token where harborlite logs: the path
        client.get(f"/v2/{token}/manifests/latest", headers={"Authorization": f"Bearer {token}"})
    text = "\n".join(lines_after(observed, mark, "manifests/latest"))
    assert "manifests/latest" in text
    assert token not in text and token.split(".")[1] not in text
    assert ADMIN_PASSWORD not in text and "a-wrong-password-123" not in text


# ---------------------------------------------------------------- the formatter itself


@pytest.fixture
def json_root() -> Iterator[io.StringIO]:
    """The root logger set up as ``harborlite serve`` does with HARBORLITE_LOG_FORMAT=json."""
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    # logsafe.install() turns every handler of the process to JSON, pytest's own (they live for
    # the session) included: their formatters are put back afterwards
    formatters = {handler: handler.formatter for handler in _every_handler()}
    out = io.StringIO()
    for handler in before:
        root.removeHandler(handler)
    try:
        configure_logging("info", "json")
        for handler in root.handlers:
            handler.setStream(out)  # type: ignore[attr-defined]
        yield out
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in before:
            root.addHandler(handler)
        root.setLevel(level)
        for handler, formatter in formatters.items():
            handler.setFormatter(formatter)


def _every_handler() -> list[logging.Handler]:
    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    return [handler for logger in loggers for handler in logger.handlers]


def test_uvicorns_handlers_write_json_too(json_root: io.StringIO) -> None:
    import uvicorn

    uvicorn.Config("harborlite.app:create_app", log_level="info")  # its dictConfig runs here
    logsafe.install()  # as cmd_serve does after it
    error_logger = logging.getLogger("uvicorn.error")
    out = io.StringIO()
    handlers = logging.getLogger("uvicorn").handlers
    assert handlers and all(isinstance(h.formatter, logsafe.SafeFormatter) for h in handlers)
    assert all(isinstance(h.formatter.inner, JsonFormatter) for h in handlers)  # type: ignore[union-attr]
    for handler in handlers:
        handler.setStream(out)  # type: ignore[attr-defined]
    error_logger.info("Started server process [%d]", 42)
    record = json.loads(out.getvalue())
    assert (
        record["logger"] == "uvicorn.error" and record["message"] == "Started server process [42]"
    )
    logging.getLogger("harborlite").warning("hello %s", "there")
    assert json.loads(json_root.getvalue())["message"] == "hello there"


def test_a_json_line_stays_one_line_whatever_a_field_holds() -> None:
    record = logging.LogRecord("harborlite.access", logging.INFO, __file__, 1, "x", None, None)
    record.path = "/v2/a\u2028b\u0085c\nd"
    formatted = logsafe.SafeFormatter(JsonFormatter()).format(record)
    assert len(formatted.splitlines()) == 1, formatted
    assert json.loads(formatted)["path"] == "/v2/a\u2028b\u0085c\nd"


def test_a_traceback_is_a_field() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "harborlite", logging.ERROR, __file__, 1, "failed", None, sys.exc_info()
        )
    line = logsafe.SafeFormatter(JsonFormatter()).format(record)
    assert len(line.splitlines()) == 1
    assert "ValueError: boom" in json.loads(line)["exception"]
