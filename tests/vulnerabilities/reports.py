"""Scan reports written into a test server's database as the scanning jobs store them
(:class:`harborlite.scanning.models.ScanReport`), so the policy and the pages can be judged
without a scan."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from harborlite.db.engine import make_engine
from harborlite.db.models import utcnow
from harborlite.scanning.models import ScanReport
from harborlite.scanning.queries import VULNERABILITY_REPORT
from tests.api.pushing import Pushed
from tests.harness import Harborlite


def database_url(server: Harborlite) -> str:
    if server.database_url.startswith("postgresql"):
        return server.database_url
    return f"sqlite+aiosqlite:///{server.data_dir / 'harborlite.db'}"


def store_report(
    server: Harborlite, pushed: Pushed, status: str, items: list[dict[str, Any]]
) -> None:
    async def write() -> None:
        engine = make_engine(database_url(server))
        try:
            async with engine.begin() as connection:
                await connection.execute(
                    ScanReport.__table__.insert().values(
                        uuid=str(uuid.uuid4()),
                        digest=pushed.digest,
                        mime_type=VULNERABILITY_REPORT,
                        repository=pushed.repository,
                        scanner_uuid="",
                        scanner={"name": "Fixture", "vendor": "tests", "version": "1"},
                        status=status,
                        request_id="",
                        report={"vulnerabilities": items} if status == "Success" else None,
                        log="",
                        start_time=utcnow(),
                        end_time=utcnow() if status == "Success" else None,
                    )
                )
        finally:
            await engine.dispose()

    # in a thread of its own: Playwright's sync API keeps an event loop running in this one
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, write()).result()
