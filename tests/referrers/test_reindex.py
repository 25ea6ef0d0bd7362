"""``harborlite reindex`` learns referrers again: the subjects manifests name, and the
manifests referrers-tag-schema indexes (``sha256-<hex>`` tags) list, as the spec asks of a
registry that enables the referrers API."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

from tests.api.pushing import OCI_INDEX, OCI_MANIFEST, Pusher, digest_of
from tests.harness import ADMIN_PASSWORD, ROOT, cleanup, start_harborlite
from tests.referrers.referring import SPDX, push_referrer, referrer_manifest
from tests.referrers.test_referrers import referrers


def test_reindex_imports_subjects_and_fallback_indexes() -> None:
    server = start_harborlite()
    try:
        server.create_project("fallback")
        repository = "fallback/app"
        with Pusher(server) as pusher:
            image = pusher.image(repository, "v1")
            named = push_referrer(
                pusher, repository, (image.digest, len(image.manifest)), SPDX, b"n"
            )
            # what an old client left: an artifact naming no subject, listed in the tag schema
            body = referrer_manifest(pusher, repository, None, SPDX, b"old client")
            old = pusher.manifest(
                repository, digest_of(body), body, OCI_MANIFEST, pusher._headers(repository)
            )
            index = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": OCI_INDEX,
                    "manifests": [
                        {
                            "mediaType": OCI_MANIFEST,
                            "digest": old,
                            "size": len(body),
                            "artifactType": SPDX,
                        }
                    ],
                }
            ).encode()
            fallback_tag = image.digest.replace(":", "-")
            pusher.manifest(repository, fallback_tag, index, OCI_INDEX, pusher._headers(repository))
        before = referrers(server, repository, image.digest).json()["manifests"]
        assert [d["digest"] for d in before] == [named.digest]
        server.stop()

        db = sqlite3.connect(server.data_dir / "harborlite.db")
        db.execute(
            "UPDATE artifacts SET subject_digest = NULL, subject_source = NULL, "
            "accessory_type = NULL"
        )
        db.commit()
        db.close()
        env = {
            **os.environ,
            "HARBORLITE_DATA_DIR": str(server.data_dir),
            "HARBORLITE_ADMIN_PASSWORD": ADMIN_PASSWORD,
        }
        subprocess.run(
            [sys.executable, "-m", "harborlite", "reindex"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        restarted = start_harborlite(data_dir=server.data_dir)
        try:
            after = referrers(restarted, repository, image.digest).json()["manifests"]
            assert {d["digest"] for d in after} == {named.digest, old}
            listed = restarted.api(
                "GET",
                "/projects/fallback/repositories/app/artifacts/v1/accessories",
                auth=restarted.admin,
            ).json()
            assert {a["digest"] for a in listed} == {named.digest, old}
        finally:
            restarted.stop()
    finally:
        cleanup(server)
