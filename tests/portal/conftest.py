"""Fixtures for portal tests: Debian's Chromium through Playwright, a screenshot folder the CI
log names, and helpers to sign in with a browser or with plain HTTP."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.harness import Harborlite, screenshot_dir

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
PASSWORD = "Passw0rd!x"


class Screenshots:
    """Writes full-page screenshots, numbered in the order the tests take them. Under
    pytest-xdist each worker prefixes its own (``gw0-01-login.png``)."""

    def __init__(self, folder: Path, prefix: str = "") -> None:
        self.folder = folder
        self.prefix = prefix
        self.taken: list[Path] = []

    def take(self, page: Page, name: str) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{self.prefix}{len(self.taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "")


@pytest.fixture(scope="session")
def screenshots() -> Screenshots:
    """This run's screenshots (the root conftest empties the folder as the run starts)."""
    return Screenshots(screenshot_dir(), f"{_worker()}-" if _worker() else "")


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    # Playwright's sync API runs an event loop in this thread while it lives: end it with the
    # portal tests so later asyncio tests (pytest-asyncio) can run their own loop.
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing (make test installs the chromium package)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


def new_page(browser: Browser, server: Harborlite) -> Page:
    """A fresh browser context (its own cookies) and page, with clipboard access."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1360, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("dialog", lambda dialog: dialog.accept())
    return page


def browser_login(page: Page, username: str, password: str) -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/$"))


_CSRF = re.compile(r'name="csrf-token" content="([^"]*)"')


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no csrf-token meta tag"
    return match.group(1)


def http_login(server: Harborlite, username: str, password: str) -> tuple[httpx.Client, str]:
    """A plain HTTP client signed in through the login form; returns it and its CSRF token."""
    client = httpx.Client(base_url=server.url, timeout=30, follow_redirects=False)
    login_page = client.get("/login")
    token = csrf_of(login_page.text)
    response = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )
    assert response.status_code == 303, response.text
    home = client.get("/")
    assert home.status_code == 200, home.text
    return client, csrf_of(home.text)
