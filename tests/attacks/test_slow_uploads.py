"""Many slow uploads by one user: over the per-client cap they are refused 429 with
Retry-After, the ones let through are cut off by the minimum body rate, and another user's
push, tag list and pull work throughout."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.api.pushing import Pusher
from tests.attacks.uploads import open_uploads, slow_patch
from tests.harness import Harborlite, cleanup, start_harborlite

UPLOADS = 4  # per client
WINDOW = 2  # seconds
ATTACK = 12
ATTACKER_ADDRESS = "127.0.0.2"


@pytest.fixture(scope="module")
def server() -> Iterator[Harborlite]:
    started = start_harborlite(
        extra_env={
            "HARBORLITE_MAX_PROXIED_PER_CLIENT": "6",
            "HARBORLITE_MAX_UPLOADS_PER_CLIENT": str(UPLOADS),
            "HARBORLITE_MIN_BODY_RATE": "1000",
            "HARBORLITE_BODY_RATE_WINDOW_SECONDS": str(WINDOW),
        }
    )
    yield started
    cleanup(started)


def _developer(server: Harborlite, prefix: str) -> tuple[tuple[str, str], str]:
    name, project = server.unique(prefix), server.unique(f"{prefix}p")
    server.create_user(name)
    server.create_project(project)
    server.add_member(project, name, 2)
    return (name, "Passw0rd!x"), project


def _another_user(server: Harborlite, victim: tuple[str, str], project: str) -> None:
    with Pusher(server, victim) as pusher:
        pushed = pusher.image(f"{project}/app", "v1")
    token = server.token(f"repository:{project}/app:pull", victim)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, timeout=10) as client:
        tags = client.get(f"/v2/{project}/app/tags/list", headers=headers)
        assert tags.status_code == 200 and tags.json()["tags"] == ["v1"], tags.text
        pulled = client.get(
            f"/v2/{project}/app/manifests/v1",
            headers={**headers, "Accept": "application/vnd.oci.image.manifest.v1+json"},
        )
        assert pulled.status_code == 200 and pulled.content == pushed.manifest


async def _attack(server: Harborlite) -> None:
    attacker, attacker_project = _developer(server, "mallory")
    victim, victim_project = _developer(server, "alice")
    repository = f"{attacker_project}/slow"
    token = server.token(f"repository:{repository}:pull,push", attacker)
    paths = await open_uploads(server, repository, token, ATTACK + 1, ATTACKER_ADDRESS)
    began = time.monotonic()
    slow = [await slow_patch(server, path, token, ATTACKER_ADDRESS) for path in paths[:ATTACK]]
    try:
        # the same user from another address: still the same user's budget
        elsewhere = await slow_patch(server, paths[ATTACK], token, "127.0.0.3")
        slow.append(elsewhere)
        answers: dict[int, int] = {}
        pending = {
            index: asyncio.create_task(upload.answer(WINDOW + 10))
            for index, upload in enumerate(slow)
        }
        await asyncio.sleep(0.5)  # the refusals are out; the admitted ones trickle
        refused = [index for index, task in pending.items() if task.done()]
        assert len(refused) == ATTACK + 1 - UPLOADS, refused
        for index in refused:
            answer = pending[index].result()
            assert answer.status == 429, answer
            assert answer.code == "TOOMANYREQUESTS"
            assert int(answer.headers["retry-after"]) > 0
            answers[index] = answer.status

        # meanwhile another user pushes, lists tags and pulls
        await asyncio.to_thread(_another_user, server, victim, victim_project)

        for upload in slow:  # the admitted ones trickle on: a byte a second
            upload.drip()
        admitted = await asyncio.gather(*(pending[i] for i in pending if i not in answers))
        cut_after = time.monotonic() - began
        for answer in admitted:  # cut off by the body rate
            assert answer.status == 408, answer
            assert answer.code == "BLOB_UPLOAD_INVALID"
            assert answer.headers["connection"] == "close"
        assert cut_after < WINDOW + 8
    finally:
        for upload in slow:
            upload.close()
    # the budget was given back: the attacker may upload again
    await asyncio.to_thread(_push_again, server, attacker, attacker_project)


def _push_again(server: Harborlite, user: tuple[str, str], project: str) -> None:
    with Pusher(server, user) as pusher:
        pusher.image(f"{project}/after", "v1")


def test_slow_uploads_are_capped_and_cut_and_others_push_and_pull(server: Harborlite) -> None:
    asyncio.run(_attack(server))
    log = server.log_path.read_text()
    assert "429" in log and "via=refused" in log and "too many uploads of user mallory" in log
    assert "cut off: its body brought" in log
    assert "Traceback" not in log
