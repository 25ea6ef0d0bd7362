"""The ``/api/v2.0`` application: every resource module's routes, one error renderer."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from harborlite.api import (
    additions,
    artifact_copy,
    artifact_labels,
    artifacts,
    audit,
    cosign_keys,
    cve_allowlists,
    gc,
    immutable_rules,
    labels,
    members,
    metadatas,
    openapi,
    permissions,
    projects,
    quotas,
    registries,
    replication,
    repositories,
    retentions,
    robots,
    scanners,
    scans,
    search,
    system,
    tags,
    users,
    webhooks,
)
from harborlite.api.errors import harborlite_error, http_error, internal_error
from harborlite.errors import HarborliteError


def api_app() -> Starlette:
    routes = [
        *system.ROUTES,
        *permissions.ROUTES,
        *users.ROUTES,
        *projects.ROUTES,
        *members.ROUTES,
        *metadatas.ROUTES,
        *cosign_keys.ROUTES,
        *cve_allowlists.ROUTES,
        *audit.ROUTES,
        *repositories.ROUTES,
        *artifacts.ROUTES,
        *artifact_copy.ROUTES,
        *tags.ROUTES,
        *additions.ROUTES,
        *labels.ROUTES,
        *immutable_rules.ROUTES,
        *artifact_labels.ROUTES,
        *robots.ROUTES,
        *quotas.ROUTES,
        *retentions.ROUTES,
        *gc.ROUTES,
        *scanners.ROUTES,
        *scans.ROUTES,
        *replication.ROUTES,
        *registries.ROUTES,
        *webhooks.ROUTES,
        *search.ROUTES,
        *openapi.ROUTES,
    ]
    return Starlette(
        routes=routes,
        exception_handlers={
            HarborliteError: harborlite_error,
            HTTPException: http_error,
            Exception: internal_error,  # database errors are translated there
        },
    )
