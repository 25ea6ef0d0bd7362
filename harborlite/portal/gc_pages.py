"""Administration > Garbage Collection, for system administrators: the schedule (with its
parameters), run now or dry run, the history of runs with what each freed, a run's log, and
stopping a run.

What a run is and does is the domain's (:mod:`harborlite.jobs.operations` keeps schedules and
executions, :mod:`harborlite.gc.job` runs them); the forms, the sentences and the table are the
portal's. A run's page reloads itself (a ``Refresh`` header, no JavaScript) until it ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harborlite.db.models import JobExecution
from harborlite.errors import BadRequest, HarborliteError, NotFound, PreconditionFailed
from harborlite.gc.job import GC
from harborlite.gc.storage import writable
from harborlite.jobs import operations as jobs
from harborlite.jobs.schedules import PRESETS
from harborlite.portal.account_pages import sentence
from harborlite.portal.call import PageCall, page_call
from harborlite.portal.pages import checked_form, page_number, redirect, render, text_field
from harborlite.portal.paging import Pager
from harborlite.services import Services

PAGE_SIZE = 20
BACK = "/admin/gc"
REFRESH_SECONDS = 3
SCHEDULE_TYPES = ("None", "Hourly", "Daily", "Weekly", "Custom")
WORKERS = range(1, 11)
NO_STORAGE = (
    "Garbage collection needs write access to the registry's storage: with an external "
    "registry, set HARBORLITE_REGISTRY_STORAGE to its storage on a writable mount."
)


@dataclass(frozen=True)
class Run:
    """One execution as the history and the log page show it."""

    id: int
    trigger: str  # Manual or Schedule
    status: str
    running: bool
    dry_run: bool
    delete_untagged: bool
    workers: int
    progress: int
    start_time: datetime | None
    end_time: datetime | None
    creation_time: datetime
    blobs: int | None  # swept, or for a dry run those it would sweep
    bytes: int | None
    untagged: int | None
    log: str

    @property
    def duration(self) -> str:
        if self.start_time is None or self.end_time is None:
            return ""
        seconds = int((self.end_time - self.start_time).total_seconds())
        return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def run_of(execution: JobExecution) -> Run:
    parameters, result = execution.parameters or {}, execution.result or {}
    return Run(
        id=execution.id,
        trigger="Schedule" if execution.trigger == "SCHEDULE" else "Manual",
        status=execution.status,
        running=execution.status not in jobs.DONE,
        dry_run=bool(parameters.get("dry_run", False)),
        delete_untagged=bool(parameters.get("delete_untagged", True)),
        workers=_count(parameters.get("workers")) or 1,
        progress=execution.progress,
        start_time=execution.start_time,
        end_time=execution.end_time,
        creation_time=execution.creation_time,
        blobs=_count(result.get("blobs")),
        bytes=_count(result.get("bytes")),
        untagged=_count(result.get("untagged_artifacts")),
        log=execution.log,
    )


def _storage_ready(services: Services) -> bool:
    return writable(services.storage)


def _checked(form: FormData, name: str) -> bool:
    return form.get(name) in ("on", "true", "1")


def _parameters(form: FormData, *, dry_run: bool) -> dict[str, Any]:
    """The job's parameters from a form: ``delete_untagged``, ``workers`` (1 to 10), ``dry_run``."""
    raw = text_field(form, "workers", default="1")
    if not raw.isdigit() or int(raw) not in WORKERS:
        raise BadRequest("Workers must be a number from 1 to 10.")
    return {
        "delete_untagged": _checked(form, "delete_untagged"),
        "dry_run": dry_run,
        "workers": int(raw),
    }


def _wake(services: Services) -> None:
    if services.jobs is not None:
        services.jobs.wakeup.set()


async def gc_page(request: Request) -> Response:
    page = page_number(request)
    async with page_call(request) as call:
        call.require_system("garbage-collection", "read")
        schedule = await jobs.get_schedule(call.session, GC)
        rows, total = await jobs.list_executions(
            call.session, GC, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
        runs = [run_of(row) for row in rows]
        settings = call.services.settings
        shown_schedule = {
            "type": schedule.schedule_type if schedule is not None else "None",
            "cron": schedule.cron if schedule is not None else "",
            "next_run": schedule.next_run if schedule is not None else None,
            "delete_untagged": True,
            "dry_run": False,
            "workers": 1,
        }
        if schedule is not None:
            for key in ("delete_untagged", "dry_run", "workers"):
                if key in schedule.parameters:
                    shown_schedule[key] = schedule.parameters[key]
        ready = _storage_ready(call.services)
    return render(
        request,
        "admin_gc.html",
        nav="admin",
        admin_tab="gc",
        view="history",
        runs=runs,
        running=any(run.running for run in runs),
        schedule=shown_schedule,
        schedule_types=SCHEDULE_TYPES,
        presets=PRESETS,
        workers=WORKERS,
        window_minutes=settings.gc_time_window_minutes,
        storage_ready=ready,
        no_storage=NO_STORAGE,
        pager=Pager(request, page, PAGE_SIZE, total),
    )


async def save_schedule(request: Request) -> Response:
    async with page_call(request) as call:
        call.require_system("garbage-collection", "create")
        form = await checked_form(request)
        schedule_type = text_field(form, "type", default="None")
        cron = text_field(form, "cron") if schedule_type == "Custom" else None
        if schedule_type not in SCHEDULE_TYPES:
            return redirect(request, BACK, error=f"“{schedule_type}” is not a schedule.")
        if schedule_type != "None" and not _storage_ready(call.services):
            return redirect(request, BACK, error=NO_STORAGE)
        try:
            parameters = _parameters(form, dry_run=_checked(form, "dry_run"))
            schedule = await jobs.set_schedule(call.session, GC, schedule_type, cron, parameters)
        except HarborliteError as error:
            return redirect(request, BACK, error=sentence(error))
        if schedule_type == "None":
            notice = "Garbage collection is no longer scheduled."
        else:
            when = schedule.next_run.strftime("%Y-%m-%d %H:%M UTC") if schedule.next_run else ""
            what = f"custom ({schedule.cron})" if schedule_type == "Custom" else schedule_type
            notice = f"Garbage collection is scheduled {what.lower()}: next run {when}."
    _wake(call.services)
    return redirect(request, BACK, notice=notice)


async def run_now(request: Request) -> Response:
    """``Run now`` and ``Dry run``: one form, the button says which (``dry_run``)."""
    async with page_call(request) as call:
        call.require_system("garbage-collection", "create")
        form = await checked_form(request)
        if not _storage_ready(call.services):
            return redirect(request, BACK, error=NO_STORAGE)
        dry_run = text_field(form, "dry_run") == "true"
        try:
            parameters = _parameters(form, dry_run=dry_run)
            execution = await jobs.start(call.session, GC, parameters)
        except PreconditionFailed:
            return redirect(
                request,
                BACK,
                error="A garbage collection is already running: wait for it to end, or stop it.",
            )
        except HarborliteError as error:
            return redirect(request, BACK, error=sentence(error))
        execution_id = execution.id
    _wake(call.services)
    what = "Dry run" if dry_run else "Garbage collection"
    return redirect(request, f"{BACK}/{execution_id}", notice=f"{what} #{execution_id} started.")


async def _execution(call: PageCall, request: Request) -> JobExecution:
    try:
        return await jobs.get_execution(call.session, int(request.path_params["gc_id"]), GC)
    except NotFound:
        raise NotFound("There is no such garbage collection run.") from None


async def run_page(request: Request) -> Response:
    async with page_call(request) as call:
        call.require_system("garbage-collection", "read")
        run = run_of(await _execution(call, request))
    response = render(
        request,
        "admin_gc.html",
        nav="admin",
        admin_tab="gc",
        view="run",
        run=run,
        refresh=REFRESH_SECONDS if run.running else 0,
        window_minutes=call.services.settings.gc_time_window_minutes,
    )
    if run.running:  # the browser reloads it until the run ends (and stops when it has)
        response.headers["Refresh"] = str(REFRESH_SECONDS)
    return response


async def stop_run(request: Request) -> Response:
    async with page_call(request) as call:
        call.require_system("garbage-collection", "stop")
        await checked_form(request)
        execution = await _execution(call, request)
        execution_id = execution.id
        back = f"{BACK}/{execution_id}"
        try:
            await jobs.stop(call.session, execution)
        except PreconditionFailed:
            return redirect(
                request, back, error=f"Run #{execution_id} has already ended: nothing to stop."
            )
    return redirect(request, back, notice=f"Run #{execution_id} is stopping.")


ROUTES = [
    Route("/admin/gc", gc_page, methods=["GET"]),
    Route("/admin/gc/schedule", save_schedule, methods=["POST"]),
    Route("/admin/gc/run", run_now, methods=["POST"]),
    Route("/admin/gc/{gc_id:int}", run_page, methods=["GET"]),
    Route("/admin/gc/{gc_id:int}/stop", stop_run, methods=["POST"]),
]
