"""The ``WEBHOOK`` job: POST each task's body to its target, signed, with a time limit, tried
again with backoff (1 s, 2 s, 4 s ... at most 30 s apart) up to ``retries`` more times; every
attempt's response code and duration is recorded on the task and in its log.

Any status outside 2xx, a timeout or a connection error is a failure. A task already delivered
is not sent again when the execution runs again (a harborlite restart hands a running job back).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from sqlalchemy import select

from harborlite.db.models import utcnow
from harborlite.jobs.runner import JobContext
from harborlite.webhooks.models import WebhookPolicy, WebhookTask
from harborlite.webhooks.signing import signed_headers

SUCCESS, ERROR, RUNNING = "Success", "Error", "Running"
MAX_BACKOFF = 30.0
MAX_LOGGED_ANSWER = 512


@dataclass(frozen=True)
class Attempt:
    status_code: int  # 0: no answer
    duration_ms: int
    problem: str  # "" when delivered

    @property
    def delivered(self) -> bool:
        return not self.problem


Sleep = Callable[[float], Awaitable[None]]


async def post_once(
    address: str, body: bytes, headers: dict[str, str], *, timeout: float, verify: bool
) -> Attempt:
    """One POST; foreign errors become the attempt's ``problem``."""
    started = time.perf_counter()
    connector = aiohttp.TCPConnector(ssl=True if verify else False, force_close=True)
    try:
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as client:
            async with client.post(
                address, data=body, headers=headers, allow_redirects=False
            ) as answer:
                text = (await answer.content.read(MAX_LOGGED_ANSWER)).decode("utf-8", "replace")
                code = answer.status
        spent = int((time.perf_counter() - started) * 1000)
        if 200 <= code < 300:
            return Attempt(code, spent, "")
        return Attempt(code, spent, f"the target answered {code}: {text.strip()[:200]}")
    except TimeoutError:
        spent = int((time.perf_counter() - started) * 1000)
        return Attempt(0, spent, f"no answer within {timeout:g} s")
    except (aiohttp.ClientError, ssl.SSLError, OSError, ValueError) as error:
        spent = int((time.perf_counter() - started) * 1000)
        return Attempt(0, spent, f"{type(error).__name__}: {error}")


def backoff(attempt: int, base: float = 1.0) -> float:
    """Seconds to wait before try ``attempt + 1`` (attempt counts from 1)."""
    return float(min(base * 2 ** (attempt - 1), MAX_BACKOFF))


async def run_delivery(
    context: JobContext,
    *,
    timeout: float,
    retries: int,
    backoff_base: float = 1.0,
    sleep: Sleep = asyncio.sleep,
) -> None:
    """Deliver the execution's pending tasks; raises when one could not be delivered (the
    execution then ends in Error, its tasks say why)."""
    policy_id = int(context.parameters.get("policy_id", 0))
    async with context.sessions() as session:
        policy = await session.get(WebhookPolicy, policy_id)
        ids = (
            (
                await session.execute(
                    select(WebhookTask.id)
                    .where(
                        WebhookTask.execution_id == context.execution_id,
                        WebhookTask.status != SUCCESS,
                    )
                    .order_by(WebhookTask.id)
                )
            )
            .scalars()
            .all()
        )
        secret = policy.secret if policy is not None else ""
        targets = {t.get("address"): t for t in (policy.targets if policy else [])}
    if policy is None:
        context.log(f"webhook policy {policy_id} is gone: nothing to deliver")
        return
    failed = 0
    for task_id in ids:
        context.check()
        if not await _deliver(
            context, task_id, secret, targets, timeout, retries, backoff_base, sleep
        ):
            failed += 1
    context.result = {"tasks": len(ids), "failed": failed}
    if failed:
        raise RuntimeError(f"{failed} of {len(ids)} deliveries failed")


async def _deliver(
    context: JobContext,
    task_id: int,
    secret: str,
    targets: dict[object, dict[str, object]],
    timeout: float,
    retries: int,
    backoff_base: float,
    sleep: Sleep,
) -> bool:
    async with context.sessions() as session:
        task = await session.get(WebhookTask, task_id)
        if task is None:
            return True
        address, body, content_type = task.address, task.payload.encode(), task.content_type
        target = targets.get(address, {})
        task.status, task.start_time, task.update_time = RUNNING, utcnow(), utcnow()
        task.log += f"{_stamp()} POST {address}\n{task.payload}\n"
        await session.commit()
    headers = {"Content-Type": content_type, "User-Agent": "harborlite-webhook"}
    auth = target.get("auth_header")
    if isinstance(auth, str) and auth:
        headers["Authorization"] = auth
    verify = not bool(target.get("skip_cert_verify", False))
    for attempt in range(1, retries + 2):
        signed = {**headers, **signed_headers(secret, body, task_id)}
        outcome = await post_once(address, body, signed, timeout=timeout, verify=verify)
        last = attempt == retries + 1
        await _record(context, task_id, attempt, outcome, final=outcome.delivered or last)
        if outcome.delivered:
            context.log(f"task {task_id}: delivered to {address} ({outcome.status_code})")
            return True
        context.log(f"task {task_id}: attempt {attempt} failed: {outcome.problem}")
        if last:
            return False
        context.check()
        await sleep(backoff(attempt, backoff_base))
    return False


async def _record(
    context: JobContext, task_id: int, attempt: int, outcome: Attempt, *, final: bool
) -> None:
    async with context.sessions() as session:
        task = await session.get(WebhookTask, task_id)
        if task is None:
            return
        now = utcnow()
        task.run_count += 1
        task.status_code, task.duration_ms = outcome.status_code, outcome.duration_ms
        answer = f"answered {outcome.status_code}" if outcome.status_code else "no answer"
        verdict = "delivered" if outcome.delivered else outcome.problem
        task.log += (
            f"{_stamp()} attempt {attempt}: {answer} in {outcome.duration_ms} ms: {verdict}\n"
        )
        task.status_message = outcome.problem
        task.update_time = now
        if final:
            task.status = SUCCESS if outcome.delivered else ERROR
            task.end_time = now
        await session.commit()


def _stamp() -> str:
    return utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
