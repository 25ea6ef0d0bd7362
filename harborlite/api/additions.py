"""``.../artifacts/{reference}/additions/{addition}``, and the manifest and config themselves.

Images have ``build_history`` (from their config); Helm charts have ``values.yaml``,
``readme.md`` and ``dependencies`` (from the chart archive). ``vulnerabilities`` is the stored
scan report keyed by its mime type (``{}`` before a successful scan; an index: its children's
vulnerabilities together). ``/manifest`` and ``/config`` are harborlite's own (not in Harbor's
swagger): the raw JSON documents, read from the registry.
"""

from __future__ import annotations

import io
import tarfile
from typing import Any

import yaml
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harborlite.api.call import api_call
from harborlite.api.render import iso
from harborlite.api.render_artifacts import is_index
from harborlite.db.models import Artifact
from harborlite.errors import NotFound
from harborlite.oci.config import build_history, parse_image_config
from harborlite.oci.fields import ManifestError
from harborlite.oci.json_reader import UnreadableJson, read_json
from harborlite.oci.manifest import ManifestInfo, parse_manifest
from harborlite.scanning.queries import (
    VULNERABILITY_REPORT,
    overview_of,
    report_of,
    vulnerabilities_of,
)
from harborlite.upstream.calls import get_blob, get_manifest
from harborlite.upstream.client import Upstream

CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
MAX_CHART_BYTES = 16 * 1024 * 1024
CHART_ADDITIONS = ("values.yaml", "readme.md", "dependencies")


async def _located(request: Request) -> tuple[Upstream, str, Artifact]:
    """The artifact of the path; the database session is closed before the registry is asked."""
    async with api_call(request) as call:
        found = await call.artifact(("artifact", "read"))
    return call.services.upstream, found.repository.name, found.artifact


async def _manifest_info(upstream: Upstream, repository: str, artifact: Artifact) -> ManifestInfo:
    body, media_type = await get_manifest(upstream, repository, artifact.digest)
    try:
        return parse_manifest(body, media_type)
    except ManifestError as error:
        raise NotFound(f"the manifest of {artifact.digest} cannot be read: {error}") from None


async def _build_history(upstream: Upstream, repository: str, artifact: Artifact) -> Response:
    if artifact.type != "IMAGE" or is_index(artifact):
        raise NotFound(f"{artifact.digest} has no build history: it is not a single image")
    info = await _manifest_info(upstream, repository, artifact)
    if info.config is None:
        return JSONResponse([])
    data = await get_blob(upstream, repository, info.config.digest)
    try:
        config = parse_image_config(data)
    except ManifestError as error:
        raise NotFound(f"the image config cannot be read: {error}") from None
    return JSONResponse(build_history(config))


def _chart_files(archive: bytes) -> dict[str, bytes]:
    """``Chart.yaml``, ``values.yaml`` and ``README.md`` of the chart's top folder."""
    wanted = {"chart.yaml": "Chart.yaml", "values.yaml": "values.yaml", "readme.md": "README.md"}
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member in tar:
            parts = member.name.split("/")
            if len(parts) != 2 or not member.isfile():
                continue
            key = wanted.get(parts[1].lower())
            if key is None or key in found:
                continue
            handle = tar.extractfile(member)
            if handle is not None:
                found[key] = handle.read(MAX_CHART_BYTES)
    return found


async def _chart_addition(
    upstream: Upstream, repository: str, artifact: Artifact, addition: str
) -> Response:
    if artifact.type != "CHART":
        raise NotFound(f"{artifact.digest} is not a Helm chart: no {addition}")
    info = await _manifest_info(upstream, repository, artifact)
    layer = next((x for x in info.layers if x.media_type == CHART_LAYER), None)
    if layer is None:
        raise NotFound(f"the chart {artifact.digest} has no chart archive layer")
    archive = await get_blob(upstream, repository, layer.digest, limit=MAX_CHART_BYTES)
    try:
        files = _chart_files(archive)
    except (tarfile.TarError, OSError, EOFError):
        raise NotFound("the chart archive cannot be read") from None
    if addition == "dependencies":
        dependencies: list[Any] = []
        try:
            chart = yaml.safe_load(files.get("Chart.yaml", b"")) or {}
        except yaml.YAMLError:
            chart = {}
        if isinstance(chart, dict) and isinstance(chart.get("dependencies"), list):
            dependencies = chart["dependencies"]
        return JSONResponse(dependencies)
    name = "values.yaml" if addition == "values.yaml" else "README.md"
    if name not in files:
        raise NotFound(f"the chart has no {name}")
    return Response(files[name], media_type="text/plain; charset=utf-8")


async def get_addition(request: Request) -> Response:
    addition = request.path_params["addition"]
    upstream, repository, artifact = await _located(request)
    if addition == "build_history":
        return await _build_history(upstream, repository, artifact)
    if addition in CHART_ADDITIONS:
        return await _chart_addition(upstream, repository, artifact, addition)
    raise NotFound(f"unknown addition {addition!r}")


async def get_vulnerabilities(request: Request) -> Response:
    async with api_call(request) as call:
        found = await call.artifact(("artifact", "read"))
        answer = await vulnerability_additions(call.session, found.artifact)
    return JSONResponse(answer)


async def vulnerability_additions(session: AsyncSession, artifact: Artifact) -> dict[str, Any]:
    """Harbor's ``{<mime type>: report}``: the report as the adapter gave it; an index gets a
    report made of its children's (their vulnerabilities together, the worst severity)."""
    report = await report_of(session, artifact.digest)
    if report is not None:
        if report.status != "Success" or not report.report:
            return {}
        return {VULNERABILITY_REPORT: report.report}
    items = await vulnerabilities_of(session, artifact.digest)
    overview = await overview_of(session, artifact.digest)
    if items is None or overview is None:
        return {}
    return {
        VULNERABILITY_REPORT: {
            "generated_at": iso(overview.end_time),
            "artifact": {
                "digest": artifact.digest,
                "mime_type": artifact.manifest_media_type,
            },
            "scanner": overview.scanner,
            "severity": overview.severity,
            "vulnerabilities": items,
        }
    }


async def get_manifest_document(request: Request) -> Response:
    upstream, repository, artifact = await _located(request)
    body, media_type = await get_manifest(upstream, repository, artifact.digest)
    return Response(body, media_type=media_type or artifact.manifest_media_type)


async def get_config_document(request: Request) -> Response:
    upstream, repository, artifact = await _located(request)
    if is_index(artifact):
        raise NotFound(f"{artifact.digest} is an index: it has no config")
    info = await _manifest_info(upstream, repository, artifact)
    if info.config is None:
        raise NotFound(f"{artifact.digest} has no config")
    data = await get_blob(upstream, repository, info.config.digest)
    try:
        read_json(data or b"{}", "config", max_bytes=None)
    except UnreadableJson:  # not JSON, or nested past the limit: served as bytes
        return Response(data, media_type="application/octet-stream")
    return Response(data, media_type="application/json")


BASE = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}"

ROUTES = [
    Route(BASE + "/additions/vulnerabilities", get_vulnerabilities, methods=["GET"]),
    Route(BASE + "/additions/{addition}", get_addition, methods=["GET"]),
    Route(BASE + "/manifest", get_manifest_document, methods=["GET"]),
    Route(BASE + "/config", get_config_document, methods=["GET"]),
]
