"""The event bus: every subscriber gets every event in a task of its own; one that fails or
hangs neither stops the others nor the emitter."""

from __future__ import annotations

import asyncio

from harborlite.events.bus import PULL_ARTIFACT, PUSH_ARTIFACT, ArtifactEvent, EventBus


def _event() -> ArtifactEvent:
    return ArtifactEvent(PUSH_ARTIFACT, "p", "p/app", "sha256:" + "a" * 64, "1.0", "alice")


def test_each_subscriber_gets_the_event_and_a_failing_one_stops_nothing() -> None:
    async def scenario() -> None:
        bus = EventBus()
        seen: list[str] = []
        gate = asyncio.Event()

        async def failing(event: ArtifactEvent) -> None:
            raise RuntimeError("target down")

        async def hanging(event: ArtifactEvent) -> None:
            await gate.wait()
            seen.append("hanging " + event.repository)

        async def quick(event: ArtifactEvent) -> None:
            seen.append("quick " + (event.tag or ""))

        bus.subscribe("failing", failing)
        bus.subscribe("hanging", hanging)
        bus.subscribe("quick", quick)
        bus.emit(_event())  # returns at once, though one subscriber waits
        assert seen == []
        await asyncio.sleep(0.01)
        assert seen == ["quick 1.0"]
        gate.set()
        await bus.drain()
        assert seen == ["quick 1.0", "hanging p/app"]

    asyncio.run(scenario())


def test_drain_is_bounded() -> None:
    async def scenario() -> None:
        bus = EventBus()

        async def never(event: ArtifactEvent) -> None:
            await asyncio.Event().wait()

        bus.subscribe("never", never)
        bus.emit(_event())
        await bus.drain(timeout=0.05)  # returns though the subscriber still waits

    asyncio.run(scenario())


def test_a_subscriber_hears_only_its_kinds_and_others_start_no_task() -> None:
    async def scenario() -> None:
        bus = EventBus()
        heard: list[str] = []

        async def pushes(event: ArtifactEvent) -> None:
            heard.append(event.kind)

        bus.subscribe("pushes", pushes, frozenset({PUSH_ARTIFACT}))
        bus.emit(ArtifactEvent(PULL_ARTIFACT, "p", "p/app", None, "1.0", "alice"))
        assert not bus._running  # no task for a kind it does not hear
        bus.emit(_event())
        await bus.drain()
        assert heard == [PUSH_ARTIFACT]

    asyncio.run(scenario())


def test_a_batch_starts_one_task_per_subscriber_that_hears_it() -> None:
    """The pulls of half a second come as one batch: each subscriber hears every event of its
    kinds in order, in one task; one event it fails on does not lose it the rest."""

    async def scenario() -> None:
        bus = EventBus()
        heard: list[str] = []

        async def pulls(event: ArtifactEvent) -> None:
            if event.tag == "3":
                raise RuntimeError("one bad event")
            heard.append(event.tag or "")

        async def pushes(event: ArtifactEvent) -> None:
            heard.append("push")

        bus.subscribe("pulls", pulls)
        bus.subscribe("pushes", pushes, frozenset({PUSH_ARTIFACT}))
        batch = [
            ArtifactEvent(PULL_ARTIFACT, "p", "p/app", None, str(i), "alice") for i in range(1000)
        ]
        bus.emit_all(batch)
        assert len(bus._running) == 1  # the push subscriber hears none of them: no task
        await bus.drain()
        assert heard == [str(i) for i in range(1000) if i != 3]

    asyncio.run(scenario())
