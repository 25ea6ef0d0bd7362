"""harborlite's S3 storage against moto directly: batched deletes past 1,000 keys, paginated
listings, abandoned uploads (a ``startedat`` object and an unfinished multipart upload) purged
by age, and botocore's errors told in harborlite's words."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from harborlite.gc import storage as gc_storage
from harborlite.settings import load_settings
from harborlite.storage.s3 import S3Storage
from harborlite.storage.store import StorageError
from harborlite.uploads.purge import purge, uploads
from tests.s3.conftest import S3Server

V2 = "docker/registry/v2"


def storage_for(server: S3Server, bucket: str) -> S3Storage:
    return S3Storage.from_settings(load_settings({**server.env(bucket)}))


def test_blobs_are_listed_across_pages_and_deleted_in_batches(s3_server: S3Server) -> None:
    bucket = s3_server.new_bucket()
    client = s3_server.client()
    digests = []
    for n in range(1_050):  # more than one page and more than one DeleteObjects call
        hexdigest = hashlib.sha256(str(n).encode()).hexdigest()
        key = f"{V2}/blobs/sha256/{hexdigest[:2]}/{hexdigest}/data"
        client.put_object(Bucket=bucket, Key=key, Body=b"x" * (n % 7 + 1))
        digests.append(f"sha256:{hexdigest}")
    storage = storage_for(s3_server, bucket)
    blobs = gc_storage.stored_blobs(storage)
    assert sorted(b.digest for b in blobs) == sorted(digests)
    assert sum(b.size for b in blobs) == sum(n % 7 + 1 for n in range(1_050))
    freed = gc_storage.remove_blobs(storage, blobs[:1_020])
    assert freed == sum(b.size for b in blobs[:1_020])
    assert sorted(b.digest for b in storage.stored_blobs()) == sorted(
        b.digest for b in blobs[1_020:]
    )


def test_old_uploads_are_purged_with_their_multipart_upload_and_fresh_ones_kept(
    s3_server: S3Server,
) -> None:
    bucket = s3_server.new_bucket()
    client = s3_server.client()
    now = datetime.now(UTC)
    for repository, uuid, started in [
        ("p/app", "old", now - timedelta(days=3)),
        ("p/team/deep/app", "old2", now - timedelta(days=2)),
        ("p/app", "fresh", now - timedelta(minutes=1)),
    ]:
        base = f"{V2}/repositories/{repository}/_uploads/{uuid}"
        written = started.strftime("%Y-%m-%dT%H:%M:%S.123456789Z")
        client.put_object(Bucket=bucket, Key=f"{base}/startedat", Body=written.encode())
        client.put_object(Bucket=bucket, Key=f"{base}/hashstates/sha256/0", Body=b"h")
        client.create_multipart_upload(Bucket=bucket, Key=f"{base}/data")
    client.put_object(
        Bucket=bucket, Key=f"{V2}/repositories/p/app/_layers/sha256/ab/link", Body=b""
    )
    storage = storage_for(s3_server, bucket)
    assert {(u.repository, u.uuid) for u in uploads(storage)} == {
        ("p/app", "old"),
        ("p/team/deep/app", "old2"),
        ("p/app", "fresh"),
    }
    removed = purge(storage, 24 * 3600)
    assert sorted((u.repository, u.uuid) for u in removed) == [
        ("p/app", "old"),
        ("p/team/deep/app", "old2"),
    ]
    left = s3_server.keys(bucket, f"{V2}/repositories/")
    assert not [k for k in left if "/_uploads/old" in k]
    assert [k for k in left if "/_uploads/fresh/" in k]
    multipart = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [u["Key"] for u in multipart] == [f"{V2}/repositories/p/app/_uploads/fresh/data"]


def test_a_missing_bucket_is_named_in_the_error(s3_server: S3Server) -> None:
    storage = storage_for(s3_server, "absent-bucket")
    with pytest.raises(StorageError, match=r"bucket absent-bucket at http\S+ does not exist"):
        storage.check()
    with pytest.raises(StorageError, match="HARBORLITE_S3_BUCKET"):
        storage.stored_blobs()
    present = storage_for(s3_server, s3_server.new_bucket())
    present.check()
    assert present.read_blob("sha256:" + "0" * 64) is None  # a missing key is no error
    assert present.blob_size("sha256:" + "0" * 64) is None
