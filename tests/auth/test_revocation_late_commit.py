"""A revocation whose transaction commits after a later one: ids are handed out at insert,
so the late row lands below an id a replica has already read. It is still applied (the
poll reads the recent rows again), on real PostgreSQL with two transactions at once."""

from __future__ import annotations

from harborlite.auth.revocation import Revocations, now_ms
from harborlite.auth.tokens import Claims
from harborlite.db.engine import make_engine, make_sessionmaker, migrate
from harborlite.db.models import Revocation
from tests.support.processes import PostgresServer


async def test_a_revocation_committed_late_is_still_read(postgres: PostgresServer) -> None:
    engine = make_engine(postgres.create_database())
    try:
        await migrate(engine)
        sessions = make_sessionmaker(engine)
        revocations = Revocations()
        async with sessions() as slow, sessions() as quick:
            slow.add(Revocation(kind="user", name="late", at_ms=now_ms()))
            await slow.flush()  # takes the lower id, not committed yet
            quick.add(Revocation(kind="user", name="early", at_ms=now_ms()))
            await quick.commit()
            await revocations.load(sessions)  # reads past the late row's id
            await slow.commit()
        await revocations.load(sessions)
        old = Claims("late", (), expires_at=0, token_id="t", issued_ms=0, replica="x")
        assert revocations.refused(old, "p") is not None
    finally:
        await engine.dispose()
