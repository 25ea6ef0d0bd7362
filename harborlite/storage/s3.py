"""The registry's storage in an S3 bucket (``HARBORLITE_STORAGE=s3``), read and changed through
boto3 with the keys distribution's ``s3`` driver writes (its ``rootdirectory`` left empty: the
keys start at ``docker/``).

Listings are paginated (1,000 keys a page), deletes batched (``DeleteObjects``, at most 1,000
keys a call); an upload in progress is also an unfinished multipart upload, aborted with it.
Every method blocks: callers run them in a thread. botocore's errors become
:class:`~harborlite.storage.store.StorageError` here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from harborlite.settings import Settings
from harborlite.storage import layout
from harborlite.storage.filesystem import started_at
from harborlite.storage.store import StorageError, StoredBlob, Upload

BATCH = 1000  # DeleteObjects takes at most this many keys
_BLOB = re.compile(r"^docker/registry/v2/blobs/sha256/[0-9a-f]{2}/([0-9a-f]{64})/data$")
_REVISION = re.compile(
    r"^docker/registry/v2/repositories/(.+)/_manifests/revisions/sha256/([0-9a-f]{64})/link$"
)
_UPLOAD = re.compile(r"^docker/registry/v2/repositories/(.+?)/_uploads/([^/]+)/(.+)$")
_MISSING = ("404", "NoSuchKey", "NotFound", "NoSuchBucket")
T = TypeVar("T")


def _is_repository(name: str) -> bool:
    return not any(part.startswith("_") for part in name.split("/"))


class S3Storage:
    kind = "s3"
    batch = BATCH

    def __init__(self, client: Any, bucket: str, *, endpoint: str | None = None) -> None:
        self.client = client
        self.bucket = bucket
        self.endpoint = endpoint

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Storage:
        """A client for the configured bucket: the given keys, else the AWS credential chain
        (environment, shared files, instance roles); path-style addressing with an endpoint."""
        options: dict[str, Any] = {
            "region_name": settings.s3_region or "us-east-1",
            "config": Config(
                s3={"addressing_style": "path" if settings.s3_endpoint else "auto"},
                connect_timeout=5,
                read_timeout=60,
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        }
        if settings.s3_endpoint:
            options["endpoint_url"] = settings.s3_endpoint
        if settings.s3_access_key and settings.s3_secret_key:
            options["aws_access_key_id"] = settings.s3_access_key
            options["aws_secret_access_key"] = settings.s3_secret_key.reveal()
        client = boto3.session.Session().client("s3", **options)
        return cls(client, settings.s3_bucket, endpoint=settings.s3_endpoint)

    def __repr__(self) -> str:
        return f"S3Storage(bucket={self.bucket!r}, endpoint={self.endpoint!r})"

    def describe(self) -> str:
        where = f" at {self.endpoint}" if self.endpoint else ""
        return f"the S3 bucket {self.bucket}{where}"

    def _call(self, what: str, action: Callable[[], T]) -> T:
        try:
            return action()
        except NoCredentialsError:
            raise StorageError(
                f"no S3 credentials to {what} in {self.describe()}: set HARBORLITE_S3_ACCESS_KEY "
                "and HARBORLITE_S3_SECRET_KEY, or the usual AWS credential chain"
            ) from None
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchBucket"):
                raise StorageError(
                    f"could not {what}: {self.describe()} does not exist (HARBORLITE_S3_BUCKET)"
                ) from None
            if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                raise StorageError(
                    f"could not {what}: {self.describe()} refused access ({code}): check "
                    "HARBORLITE_S3_ACCESS_KEY/HARBORLITE_S3_SECRET_KEY and the bucket's policy"
                ) from None
            raise StorageError(f"could not {what} in {self.describe()}: {code}") from None
        except BotoCoreError as error:
            raise StorageError(
                f"could not {what}: {self.describe()} is unreachable ({error}); check "
                "HARBORLITE_S3_ENDPOINT and HARBORLITE_S3_REGION"
            ) from None

    def _missing(self, action: Callable[[], T]) -> T | None:
        """The action's result, None when the key is not there (other errors raise)."""
        try:
            return action()
        except ClientError as error:
            if str(error.response.get("Error", {}).get("Code", "")) in _MISSING[:3]:
                return None
            raise

    # reading

    def check(self) -> None:
        self._call("open the bucket", lambda: self.client.head_bucket(Bucket=self.bucket))

    def writable(self) -> bool:
        return True  # the credentials' rights show at the first write; check() saw the bucket

    def has_repositories(self) -> bool:
        answer = self._call(
            "list",
            lambda: self.client.list_objects_v2(
                Bucket=self.bucket, Prefix=f"{layout.REPOSITORIES}/", MaxKeys=1
            ),
        )
        return int(answer.get("KeyCount", 0)) > 0

    def _objects(self, prefix: str) -> Iterator[dict[str, Any]]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": BATCH}
        )
        for page in pages:
            yield from page.get("Contents", [])

    def _listed(self, prefix: str) -> list[dict[str, Any]]:
        return self._call("list", lambda: list(self._objects(prefix)))

    def stored_blobs(self) -> list[StoredBlob]:
        found = []
        for item in self._listed(f"{layout.BLOBS}/sha256/"):
            match = _BLOB.match(item["Key"])
            if match is not None:
                modified = item["LastModified"].timestamp()
                found.append(StoredBlob(f"sha256:{match.group(1)}", int(item["Size"]), modified))
        return found

    def revisions(self, repository: str | None = None) -> set[str]:
        prefix = f"{layout.REPOSITORIES}/"
        if repository is not None:
            prefix = f"{layout.repository(repository)}/_manifests/revisions/sha256/"
        found: set[str] = set()
        for item in self._listed(prefix):
            match = _REVISION.match(item["Key"])
            if match is None or not _is_repository(match.group(1)):
                continue
            if repository is None or match.group(1) == repository:
                found.add(f"sha256:{match.group(2)}")
        return found

    def _get(self, key: str) -> bytes | None:
        def read() -> bytes | None:
            answer = self._missing(lambda: self.client.get_object(Bucket=self.bucket, Key=key))
            return None if answer is None else bytes(answer["Body"].read())

        return self._call("read", read)

    def read_blob(self, digest: str) -> bytes | None:
        key = layout.blob_data(digest)
        return None if key is None else self._get(key)

    def blob_size(self, digest: str) -> int | None:
        key = layout.blob_data(digest)
        if key is None:
            return None
        answer = self._call(
            "read",
            lambda: self._missing(lambda: self.client.head_object(Bucket=self.bucket, Key=key)),
        )
        return None if answer is None else int(answer["ContentLength"])

    def blob_linked(self, repository: str, digest: str) -> bool:
        key = layout.layer_link(repository, digest)
        if key is None:
            return False
        link = self._get(key)
        return link is not None and link.strip() == digest.encode()

    # changing

    def _delete_keys(self, keys: Sequence[str]) -> set[str]:
        """Delete in batches of 1,000; the keys that could not be deleted."""
        failed: set[str] = set()
        for start in range(0, len(keys), BATCH):
            batch = [{"Key": key} for key in keys[start : start + BATCH]]
            answer = self._call(
                "delete",
                lambda batch=batch: self.client.delete_objects(  # type: ignore[misc]
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                ),
            )
            failed |= {error["Key"] for error in answer.get("Errors", [])}
        return failed

    def _delete_prefix(self, prefix: str) -> int:
        keys = [item["Key"] for item in self._listed(prefix)]
        failed = self._delete_keys(keys)
        self._abort_uploads(prefix)
        if failed:
            raise StorageError(f"could not delete {len(failed)} objects under {prefix}")
        return len(keys)

    def _multipart(self, prefix: str) -> list[dict[str, Any]]:
        def listed() -> list[dict[str, Any]]:
            pages = self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            return [upload for page in pages for upload in page.get("Uploads", [])]

        return self._call("list uploads", listed)

    def _abort_uploads(self, prefix: str) -> None:
        for upload in self._multipart(prefix):
            self._call(
                "abort an upload",
                lambda upload=upload: self._missing(  # type: ignore[misc]
                    lambda: self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                ),
            )

    def remove_blobs(self, blobs: Sequence[StoredBlob]) -> int:
        keys = {layout.sha256_data(blob.digest): blob for blob in blobs}
        wanted = [key for key in keys if key is not None]
        failed = self._delete_keys(wanted)
        return sum(keys[key].size for key in wanted if key not in failed)

    def remove_repository(self, repository: str) -> None:
        self._delete_prefix(f"{layout.repository(repository)}/")

    def remove_tag(self, repository: str, tag: str) -> bool:
        if self._delete_prefix(f"{layout.tag_folder(repository, tag)}/"):
            return True
        answer = self._call(
            "list",
            lambda: self.client.list_objects_v2(
                Bucket=self.bucket, Prefix=f"{layout.repository(repository)}/_manifests/", MaxKeys=1
            ),
        )
        return int(answer.get("KeyCount", 0)) > 0  # the repository is here: the tag was gone

    def uploads(self) -> list[Upload]:
        seen: dict[tuple[str, str], float] = {}
        started: dict[tuple[str, str], str] = {}
        for item in self._listed(f"{layout.REPOSITORIES}/"):
            match = _UPLOAD.match(item["Key"])
            if match is None or not _is_repository(match.group(1)):
                continue
            key = (match.group(1), match.group(2))
            modified = item["LastModified"].timestamp()
            seen[key] = min(seen.get(key, modified), modified)
            if match.group(3) == "startedat":
                started[key] = item["Key"]
        for upload in self._multipart(f"{layout.REPOSITORIES}/"):
            match = _UPLOAD.match(upload["Key"])
            if match is not None and _is_repository(match.group(1)):
                key = (match.group(1), match.group(2))
                initiated = upload["Initiated"].timestamp()
                seen[key] = min(seen.get(key, initiated), initiated)
        found = []
        for (repository, uuid), modified in sorted(seen.items()):
            when = modified
            written = (
                self._get(started[(repository, uuid)]) if (repository, uuid) in started else None
            )
            if written is not None:
                try:
                    when = started_at(written.decode(errors="replace"))
                except ValueError:
                    pass
            found.append(Upload(repository, uuid, when))
        return found

    def remove_upload(self, upload: Upload) -> bool:
        self._delete_prefix(f"{layout.repository(upload.repository)}/_uploads/{upload.uuid}/")
        return True
