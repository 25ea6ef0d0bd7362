"""Vulnerabilities in the portal: an artifact's report page (its scan overview and a table of
its vulnerabilities, worst first, with a Scan button for those who may scan), the project's
vulnerability settings (``prevent_vul``, ``severity``, ``auto_scan``, and its CVE allowlist or
the system's) as a section of the Policy tab, and the system's CVE allowlist on the
administration's Security tab.

The pages call the domains: :mod:`harborlite.scanning.queries` (overviews, vulnerabilities),
:mod:`harborlite.scanning.operations` (a scan), :func:`harborlite.projects.operations.
update_metadata` (the settings, checked by ``checked_settings``) and
:mod:`harborlite.vulnerabilities.operations` (the allowlists). A refusal comes back as the
page's flash error and changes nothing: settings and allowlist are checked before either is
written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harborlite.artifacts import queries as artifacts
from harborlite.auth.permissions import Need, ProjectAccess
from harborlite.db.models import Project
from harborlite.errors import BadRequest, HarborliteError, NotFound
from harborlite.portal.account_pages import sentence
from harborlite.portal.call import PageCall, page_call
from harborlite.portal.pages import checked_form, redirect, render, text_field
from harborlite.projects import operations as projects
from harborlite.scanning import operations as scans
from harborlite.scanning.queries import ScanOverview, overview_of, severity_rank
from harborlite.scanning.queries import vulnerabilities_of as stored_vulnerabilities
from harborlite.vulnerabilities import operations as allowlists
from harborlite.vulnerabilities import queries as allowlist_rows
from harborlite.vulnerabilities.allowlists import checked_allowlist
from harborlite.vulnerabilities.models import CveAllowlist

MANAGE: Need = ("project", "update")
SCAN: Need = ("scan", "create")
SEVERITY_CHOICES = (
    ("critical", "Critical"),
    ("high", "High"),
    ("medium", "Medium"),
    ("low", "Low"),
    ("none", "None (any vulnerability)"),
)
_SEPARATORS = re.compile(r"[\s,;]+")


@dataclass(frozen=True)
class VulnerabilityRow:
    id: str
    package: str
    version: str
    fix_version: str
    severity: str
    description: str
    links: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AllowlistView:
    ids: list[str]
    expires_at: int | None

    @property
    def expiry_date(self) -> str:
        """The form's date (``YYYY-MM-DD``, UTC) of the expiry, or ``""`` for never."""
        if self.expires_at is None:
            return ""
        return datetime.fromtimestamp(self.expires_at, UTC).strftime("%Y-%m-%d")

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= datetime.now(UTC).timestamp()


@dataclass(frozen=True)
class VulnerabilitySection:
    visible: bool
    change: bool = False
    prevent: bool = False
    severity: str = "high"
    auto_scan: bool = False
    reuse_system: bool = True
    allowlist: AllowlistView = AllowlistView([], None)
    system: AllowlistView = AllowlistView([], None)
    choices: tuple[tuple[str, str], ...] = SEVERITY_CHOICES


def _view(row: CveAllowlist | None) -> AllowlistView:
    return AllowlistView(list(row.items or []), row.expires_at) if row else AllowlistView([], None)


def rows_of(items: list[dict[str, Any]]) -> list[VulnerabilityRow]:
    """The report's items, worst first, then by id and package."""
    rows = [
        VulnerabilityRow(
            id=str(item.get("id") or ""),
            package=str(item.get("package") or ""),
            version=str(item.get("version") or ""),
            fix_version=str(item.get("fix_version") or ""),
            severity=str(item.get("severity") or "Unknown").capitalize(),
            description=str(item.get("description") or ""),
            links=[
                link
                for link in item.get("links") or []
                if isinstance(link, str) and link.startswith(("https://", "http://"))
            ],
        )
        for item in items
    ]
    rows.sort(key=lambda r: (-severity_rank(r.severity), r.id, r.package))
    return rows


def _artifact_url(name: str, reference: str) -> str:
    return f"/repositories/{quote(name)}/-/artifacts/{quote(reference)}"


async def report_page(request: Request) -> Response:
    name = request.path_params["name"]
    reference = request.path_params["reference"]
    async with page_call(request) as call:
        repository, project, access = await call.repository(name)
        found = await artifacts.resolve_reference(call.session, name, reference)
        if found is None:
            raise NotFound(f"{name} has no artifact {reference}.")
        _, artifact = found
        overview: ScanOverview | None = await overview_of(call.session, artifact.digest)
        items = await stored_vulnerabilities(call.session, artifact.digest) or []
        may_scan = call.may(access, SCAN)
    return render(
        request,
        "artifact_vulnerabilities.html",
        nav="projects",
        repository=repository,
        project=project,
        artifact=artifact,
        overview=overview,
        rows=rows_of(items),
        may_scan=may_scan,
        artifact_url=_artifact_url(name, artifact.digest),
    )


async def scan_artifact(request: Request) -> Response:
    name = request.path_params["name"]
    reference = request.path_params["reference"]
    back = _artifact_url(name, reference) + "/vulnerabilities"
    async with page_call(request) as call:
        await checked_form(request)
        repository, project, access = await call.repository(name)
        call.require(access, SCAN, "scan artifacts")
        found = await artifacts.resolve_reference(call.session, name, reference)
        if found is None:
            raise NotFound(f"{name} has no artifact {reference}.")
        try:
            await scans.request_scan(call.session, project, repository.name, found[1])
        except HarborliteError as error:
            return redirect(request, back, error=sentence(error))
    return redirect(request, back, notice="The scan was requested.")


# --- the project's settings (a section of the Policy tab) --------------------------------------


async def vulnerability_section(
    call: PageCall, project: Project, access: ProjectAccess
) -> dict[str, Any]:
    """The section's context (``vulnerability``): shown to those who may update the project."""
    if not call.may(access, MANAGE):
        return {"vulnerability": VulnerabilitySection(False)}
    settings = projects.settings_of(project)
    own = await allowlist_rows.project_allowlist(call.session, project.id)
    system = await allowlist_rows.system_allowlist(call.session)
    return {
        "vulnerability": VulnerabilitySection(
            visible=True,
            change=True,
            prevent=settings.get("prevent_vul") == "true",
            severity=settings.get("severity", "high"),
            auto_scan=settings.get("auto_scan") == "true",
            reuse_system=settings.get("reuse_sys_cve_allowlist", "true") == "true",
            allowlist=_view(own),
            system=_view(system),
        )
    }


def allowlist_body(form: FormData) -> dict[str, Any]:
    """The API's allowlist body from the form: ids separated by spaces, commas or new lines,
    and an expiry date (``YYYY-MM-DD``, valid through that day, UTC; empty: never)."""
    words = [w for w in _SEPARATORS.split(text_field(form, "cve_ids")) if w]
    expires = text_field(form, "expires_on")
    expires_at: int | None = None
    if expires:
        try:
            day = datetime.strptime(expires, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            raise BadRequest(f"the expiry date {expires!r} is not a date (YYYY-MM-DD)") from None
        expires_at = int((day + timedelta(days=1)).timestamp()) - 1
    return {"items": [{"cve_id": w} for w in words], "expires_at": expires_at}


def _on(form: FormData, name: str) -> str:
    return "true" if form.get(name) in ("on", "true", "1") else "false"


async def save_vulnerability_settings(request: Request) -> Response:
    name = request.path_params["project"]
    back = f"/projects/{name}/policy#vulnerability"
    async with page_call(request) as call:
        form = await checked_form(request)
        project, access = await call.project(name)
        call.require(access, MANAGE, "change its vulnerability settings")
        try:
            settings = projects.checked_settings(
                {
                    "prevent_vul": _on(form, "prevent_vul"),
                    "severity": text_field(form, "severity", default="high"),
                    "auto_scan": _on(form, "auto_scan"),
                    "reuse_sys_cve_allowlist": _on(form, "reuse_sys_cve_allowlist"),
                }
            )
            body = allowlist_body(form)
            checked_allowlist(body)  # refused before anything is written
        except HarborliteError as error:
            return redirect(request, back, error=sentence(error))
        await projects.update_metadata(call.session, project, settings, by=call.actor)
        await allowlists.set_project_allowlist(call.session, project, body, by=call.actor)
    return redirect(request, back, notice="The vulnerability settings were saved.")


# --- the system's allowlist (administration, Security tab) -------------------------------------


async def security_page(request: Request) -> Response:
    async with page_call(request) as call:
        call.require_system("configuration", "read")
        system = _view(await allowlist_rows.system_allowlist(call.session))
    return render(request, "admin_security.html", nav="admin", admin_tab="security", system=system)


async def save_system_allowlist(request: Request) -> Response:
    async with page_call(request) as call:
        form = await checked_form(request)
        call.require_system("configuration", "update")
        try:
            await allowlists.set_system_allowlist(call.session, allowlist_body(form), by=call.actor)
        except HarborliteError as error:
            return redirect(request, "/admin/security", error=sentence(error))
    return redirect(request, "/admin/security", notice="The system CVE allowlist was saved.")


ROUTES = [
    Route(
        "/repositories/{name:path}/-/artifacts/{reference}/vulnerabilities",
        report_page,
        methods=["GET"],
    ),
    Route(
        "/repositories/{name:path}/-/artifacts/{reference}/scan", scan_artifact, methods=["POST"]
    ),
    Route(
        "/projects/{project}/policy/vulnerability", save_vulnerability_settings, methods=["POST"]
    ),
    Route("/admin/security", security_page, methods=["GET"]),
    Route("/admin/security", save_system_allowlist, methods=["POST"]),
]
