"""SingleFlight: the requests in flight when a project's cached settings expire share one read."""

from __future__ import annotations

import asyncio

import pytest

from harborlite.http.single_flight import SingleFlight


class Reads:
    """A read that takes until released, counting how often it ran."""

    def __init__(self, answer: object = "policy") -> None:
        self.count = 0
        self.answer = answer
        self.release = asyncio.Event()

    async def __call__(self) -> object:
        self.count += 1
        await self.release.wait()
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


async def test_concurrent_callers_share_one_read() -> None:
    flight: SingleFlight[object] = SingleFlight()
    reads = Reads()
    callers = [asyncio.create_task(flight.run("team", reads)) for _ in range(16)]
    await asyncio.sleep(0)
    assert flight.in_flight("team")
    reads.release.set()
    assert await asyncio.gather(*callers) == ["policy"] * 16
    assert reads.count == 1
    assert not flight.in_flight("team")  # nothing kept: the next miss reads again
    assert await flight.run("team", reads) == "policy"
    assert reads.count == 2


async def test_other_keys_read_on_their_own() -> None:
    flight: SingleFlight[object] = SingleFlight()
    reads = Reads()
    reads.release.set()
    assert await asyncio.gather(flight.run("a", reads), flight.run("b", reads)) == ["policy"] * 2
    assert reads.count == 2


async def test_an_error_is_every_waiters() -> None:
    flight: SingleFlight[object] = SingleFlight()
    reads = Reads(RuntimeError("database is down"))
    callers = [asyncio.create_task(flight.run("team", reads)) for _ in range(4)]
    await asyncio.sleep(0)
    reads.release.set()
    outcomes = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    assert reads.count == 1
    assert not flight.in_flight("team")


async def test_a_cancelled_reader_lets_the_waiters_read_again() -> None:
    flight: SingleFlight[object] = SingleFlight()
    reads = Reads()
    leader = asyncio.create_task(flight.run("team", reads))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(flight.run("team", reads))
    await asyncio.sleep(0)
    leader.cancel()  # its client left
    with pytest.raises(asyncio.CancelledError):
        await leader
    await asyncio.sleep(0)
    reads.release.set()
    assert await waiter == "policy"  # not cancelled: it read again itself
    assert reads.count == 2


async def test_a_cancelled_waiter_cancels_nobody_else() -> None:
    flight: SingleFlight[object] = SingleFlight()
    reads = Reads()
    leader = asyncio.create_task(flight.run("team", reads))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(flight.run("team", reads))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    reads.release.set()
    assert await leader == "policy"
    assert reads.count == 1
