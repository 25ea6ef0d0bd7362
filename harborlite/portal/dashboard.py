"""The page after login: what the viewer can reach, recent pushes, activity per day."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harborlite.artifacts.repositories import visible_project_ids
from harborlite.audit.events import PULL, PUSH
from harborlite.auth.permissions import system_can
from harborlite.portal import queries
from harborlite.portal.call import page_call
from harborlite.portal.charts import activity_chart, days_ending
from harborlite.portal.pages import portal_of, render

CHART_DAYS = 30


async def dashboard(request: Request) -> Response:
    today = datetime.now(UTC).date()
    days = days_ending(today, CHART_DAYS)
    since = datetime.combine(days[0], time(0), tzinfo=UTC)
    async with page_call(request) as call:
        viewer, session = call.viewer, call.session
        project_ids = (
            None
            if system_can(viewer.principal, "project", "read")
            else await visible_project_ids(session, viewer.user_id)
        )
        totals = await queries.totals(session, project_ids)
        pushes = await queries.recent_pushes(session, project_ids, limit=8)
        counts = await portal_of(request).activity.counts(session, days, (PUSH, PULL), project_ids)
    chart = activity_chart(days, counts)
    return render(
        request,
        "dashboard.html",
        nav="dashboard",
        totals=totals,
        pushes=pushes,
        chart=chart,
        since=since,
        until=since + timedelta(days=CHART_DAYS),
    )


ROUTES = [Route("/", dashboard, methods=["GET"])]
