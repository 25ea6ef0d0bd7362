"""Log lines cannot be forged: what a client sends (a user name, a path) is written escaped, one
record one line, through every handler ``harborlite serve`` has; tracebacks keep their lines."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator

import httpx
import pytest

from harborlite import logsafe
from harborlite.cli import configure_logging
from harborlite.logsafe import SafeFormatter, escape
from tests.harness import Harborlite


def test_escape_writes_every_control_character_as_an_escape() -> None:
    assert escape("plain text, ünïcode ✓") == "plain text, ünïcode ✓"
    assert escape("a\nb\r\nc\td") == "a\\nb\\r\\nc\\td"
    assert escape("\x1b[31mred\x00\x7f\x85") == "\\x1b[31mred\\x00\\x7f\\x85"
    assert escape("line\u2028separator\u2029") == "line\\u2028separator\\u2029"
    assert all(ch not in escape("".join(map(chr, range(0x20)))) for ch in "\n\r\x0b\x0c")


@pytest.fixture
def stream() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    logger = logging.getLogger("harborlite.test-logsafe")
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        logsafe.install()
        yield logger, out
    finally:
        logger.removeHandler(handler)


def test_a_forged_line_stays_on_its_own(stream: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = stream
    logger.info("login failed for %s", "mallory\nINFO harborlite.audit: audit login ok by admin")
    lines = out.getvalue().splitlines()
    assert lines == [
        "INFO harborlite.test-logsafe: login failed for "
        "mallory\\nINFO harborlite.audit: audit login ok by admin"
    ]


def test_the_traceback_keeps_its_lines(stream: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = stream
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed on %s", "/v2/a\nb")
    text = out.getvalue()
    assert text.startswith("ERROR harborlite.test-logsafe: failed on /v2/a\\nb\nTraceback")
    assert "ValueError: boom" in text


def test_other_handlers_see_the_record_unchanged(
    stream: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, _ = stream
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    keep = Keep()
    logger.addHandler(keep)
    try:
        logger.info("a %s", "b\nc")
    finally:
        logger.removeHandler(keep)
    assert seen == ["a b\nc"]  # that handler has no formatter of its own to wrap


def test_install_wraps_every_handler_once() -> None:
    uvicorn_like = logging.getLogger("harborlite.test-logsafe-uvicorn")
    handler = logging.StreamHandler(io.StringIO())
    inner = logging.Formatter("%(message)s")
    handler.setFormatter(inner)
    uvicorn_like.addHandler(handler)
    try:
        logsafe.install()
        logsafe.install()
        assert isinstance(handler.formatter, SafeFormatter) and handler.formatter.inner is inner
    finally:
        uvicorn_like.removeHandler(handler)


def test_configure_logging_installs_it_on_the_root_handler() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        for handler in before:
            root.removeHandler(handler)
        configure_logging("info")
        assert root.handlers and all(isinstance(h.formatter, SafeFormatter) for h in root.handlers)
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in before:
            root.addHandler(handler)


def _log_after(server: Harborlite, mark: int, needle: str) -> str:
    deadline = time.monotonic() + 5
    while True:
        text = server.log_path.read_bytes()[mark:].decode("utf-8", "replace")
        if needle in text or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


def test_the_server_log_cannot_be_forged(harborlite: Harborlite) -> None:
    """A path holding a carriage return (a line break to a terminal and to splitlines) and a
    failed login's user name holding a newline: no line of their own."""
    mark = harborlite.log_path.stat().st_size
    forged = "FORGED harborlite.audit: audit delete project everything ok by admin"
    with httpx.Client(base_url=harborlite.url, timeout=30) as client:
        client.get(f"/v2/x%0D{forged}/manifests/latest".replace(" ", "%20"))
        transport = httpx.HTTPTransport(local_address="127.0.0.61")  # not the suite's address
        with httpx.Client(base_url=harborlite.url, transport=transport, timeout=30) as other:
            answer = other.get("/api/v2.0/users/current", auth=(f"mallory\n{forged}", "x"))
        assert answer.status_code == 401
    text = _log_after(harborlite, mark, "not a user name")
    assert "/v2/x\\rFORGED" in text, text
    assert "(not a user name, " in text
    assert not any(line.startswith("FORGED") for line in text.splitlines()), text


JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLWJ5dGVz"


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        (f"token {JWT} refused", "token *** refused"),
        ("Authorization: Bearer abcdefgh12345678", "Authorization: ***"),
        ("Authorization: Basic YWRtaW46SGFyYm9yMTIzNDU=", "Authorization: ***"),
        ("sent Basic YWRtaW46SGFyYm9yMTIzNDU= upstream", "sent Basic *** upstream"),
        ("form password=Harbor12345&username=admin", "form password=***&username=admin"),
        ('{"secret_key": "wJalrXUtnFEMI"}', '{"secret_key": "***"}'),
        ("refresh_token=abc.def.ghi", "refresh_token=***"),
        (
            "cannot connect to postgresql+asyncpg://harbor:s3cr3t@db:5432/harbor",
            "cannot connect to postgresql+asyncpg://harbor:***@db:5432/harbor",
        ),
        ("X-Amz-Signature=0123abcd&X-Amz-Date=1", "X-Amz-Signature=***&X-Amz-Date=1"),
        # what is no credential stays as it was
        ("GET /v2/library/app/manifests/v1 200 1.2ms user=admin", None),
        ("created user admin with password Xy12 (saved in /data/admin_password)", None),
        ("http://127.0.0.1:5000/v2/ answered 401", None),
    ],
)
def test_scrub_hides_what_looks_like_a_credential(line: str, shown: str | None) -> None:
    assert logsafe.scrub(line) == (line if shown is None else shown)


def test_a_credential_in_a_message_or_a_traceback_is_scrubbed(
    stream: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = stream
    try:
        raise RuntimeError(f"upstream said no to Bearer {JWT}")
    except RuntimeError:
        logger.exception("token %s failed", JWT)
    text = out.getvalue()
    assert JWT not in text and JWT.split(".")[1] not in text
    assert text.startswith("ERROR harborlite.test-logsafe: token *** failed\nTraceback")


def test_the_text_format_is_unchanged_by_default() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        for handler in before:
            root.removeHandler(handler)
        configure_logging("info")
        out = io.StringIO()
        for handler in root.handlers:
            handler.setStream(out)  # type: ignore[attr-defined]
        logging.getLogger("harborlite.test-text").warning("plain %s", "words")
        line = out.getvalue().rstrip("\n")
        assert line.endswith(" WARNING harborlite.test-text: plain words"), line
        assert not line.startswith("{")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in before:
            root.addHandler(handler)


@pytest.mark.parametrize(
    "line",
    [
        "PASSWORD=Harbor12345",
        "AuThOrIzAtIoN: BeArEr abcdefgh12345678",
        f"TOKEN {JWT.upper()[:3]}{JWT[3:]}",
        "x-AMZ-credential=AKIA/2026",
        "HTTPS://u:pw@host/",
        "pa\u017fsword=kelvin",  # a long s: the search folds it to s, lower() does not
        "\u017fecret=hidden",
        "author\u0131zation: Basic YWRtaW46SGFyYm9yMTIzNDU=",  # a dotless i
        "GET /v2/a/b/manifests/v1 200 0.3ms user=admin via=cache rid=0f",
    ],
)
def test_the_quick_look_never_skips_what_the_search_would_hide(line: str) -> None:
    """Lines without a word of a credential skip the search; skipping changes nothing."""
    assert logsafe.scrub(line) == logsafe._SECRETS.sub(logsafe._hidden, line)
