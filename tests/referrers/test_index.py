"""The index learns subjects: Harbor's classification (a table of cases), and
:func:`signatures_of` and the links it reads, on a real SQLite database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.artifacts import accessories
from harborlite.artifacts import queries as artifacts
from harborlite.artifacts.queries import PushedManifest
from harborlite.db.engine import make_engine, make_sessionmaker, migrate
from harborlite.projects import queries as projects

SUBJECT = "sha256:" + "a" * 64
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.mark.parametrize(
    ("subject", "artifact_type", "tag", "cosign_layers", "expected"),
    [
        (SUBJECT, "application/vnd.cncf.notary.signature", None, False, "signature.notation"),
        (
            SUBJECT,
            "application/vnd.dev.cosign.artifact.sig.v1+json",
            None,
            False,
            "signature.cosign",
        ),
        (SUBJECT, "application/vnd.dev.sigstore.bundle.v0.3+json", None, False, "signature.cosign"),
        (SUBJECT, "application/vnd.goharbor.harbor.sbom.v1", None, False, "sbom.harbor"),
        (SUBJECT, "application/spdx+json", None, False, "subject.accessory"),
        (SUBJECT, "application/vnd.oci.image.config.v1+json", "v1", False, "subject.accessory"),
        (
            None,
            "application/vnd.oci.image.config.v1+json",
            f"sha256-{'a' * 64}.sig",
            True,
            "signature.cosign",
        ),
        # a .sig tag without a simple-signing layer, or a malformed one, is no signature
        (None, "application/vnd.oci.image.config.v1+json", f"sha256-{'a' * 64}.sig", False, None),
        (None, "application/vnd.oci.image.config.v1+json", f"sha256-{'a' * 63}.sig", True, None),
        (None, "application/vnd.oci.image.config.v1+json", f"sha256-{'a' * 64}", True, None),
        (None, "application/vnd.oci.image.config.v1+json", "v1", True, None),
    ],
)
def test_classification(
    subject: str | None,
    artifact_type: str,
    tag: str | None,
    cosign_layers: bool,
    expected: str | None,
) -> None:
    link = accessories.link_of(subject, artifact_type, tag, cosign_layers)
    assert (link.accessory_type if link else None) == expected
    if link is not None:
        assert link.subject_digest == SUBJECT


def test_fallback_tags() -> None:
    assert accessories.fallback_subject(f"sha256-{'b' * 64}") == f"sha256:{'b' * 64}"
    for tag in (f"sha256-{'b' * 64}.sig", f"sha256-{'B' * 64}", "v1", None):
        assert accessories.fallback_subject(tag) is None


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[AsyncSession]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'index.db'}")
    await migrate(engine)
    try:
        async with make_sessionmaker(engine)() as session:
            yield session
    finally:
        await engine.dispose()


def manifest(
    digest: str, artifact_type: str, subject: str | None, cosign: bool = False
) -> PushedManifest:
    return PushedManifest(
        digest=digest,
        manifest_media_type=OCI_MANIFEST,
        media_type=artifact_type,
        type="UNKNOWN",
        size=10,
        manifest_size=5,
        artifact_type=artifact_type,
        subject_digest=subject,
        cosign_layers=cosign,
    )


async def test_signatures_of_a_digest(session: AsyncSession) -> None:
    project = await projects.create_project(session, name="sig", public=False, owner=None)
    name = "sig/app"

    async def push(digest: str, pushed: PushedManifest, tag: str | None = None) -> None:
        await artifacts.record_push(
            session,
            project_id=project.id,
            repository_name=name,
            manifest=pushed,
            tag=tag,
            pusher="a",
        )

    legacy, bundle, notation, sbom, foreign = ("sha256:" + c * 64 for c in "12345")
    config = "application/vnd.oci.image.config.v1+json"
    await push(SUBJECT, manifest(SUBJECT, config, None))
    await push(legacy, manifest(legacy, config, None, cosign=True), f"sha256-{'a' * 64}.sig")
    await push(bundle, manifest(bundle, "application/vnd.dev.sigstore.bundle.v0.3+json", SUBJECT))
    await push(notation, manifest(notation, "application/vnd.cncf.notary.signature", SUBJECT))
    await push(sbom, manifest(sbom, "application/spdx+json", SUBJECT))
    await push(foreign, manifest(foreign, "application/vnd.cncf.notary.signature", legacy))
    # the legacy signature pushed again by digest keeps the link its tag made
    await push(legacy, manifest(legacy, config, None, cosign=True))
    await session.commit()

    repository = await artifacts.get_repository(session, name)
    assert repository is not None
    for ident in (name, repository.id):
        found = await accessories.signatures_of(session, ident, SUBJECT)
        assert [(s.digest, s.type, s.source) for s in found] == [
            (legacy, "signature.cosign", "tag"),
            (bundle, "signature.cosign", "subject"),
            (notation, "signature.notation", "subject"),
        ]
        assert found[0].tags == (f"sha256-{'a' * 64}.sig",)
        assert found[0].repository == name and found[0].subject_digest == SUBJECT
        assert found[1].artifact_type == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert await accessories.signatures_of(session, "sig/other", SUBJECT) == []
    assert await accessories.signatures_of(session, name, sbom) == []
    referrers = await accessories.referrers_of(session, name, SUBJECT)
    assert [r.digest for r in referrers] == [bundle, notation, sbom]  # not the legacy tag
    listed, total = await artifacts.list_artifacts(session, repository.id)
    assert [a.digest for a in listed] == [SUBJECT] and total == 1
