"""An S3-compatible server (moto in server mode, from PyPI) on a free loopback port, and a
harborlite whose embedded registry keeps its blobs in a bucket of it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from tests.harness import Harborlite, own_harborlite
from tests.support.processes import free_port

KEY, SECRET, REGION = "harborlite-test", "harborlite-test-secret", "us-east-1"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    log_path: Path

    def client(self) -> Any:
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=KEY,
            aws_secret_access_key=SECRET,
        )

    def new_bucket(self) -> str:
        name = f"hl-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        )
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def env(self, bucket: str) -> dict[str, str]:
        """harborlite's settings for this bucket."""
        return {
            "HARBORLITE_STORAGE": "s3",
            "HARBORLITE_S3_BUCKET": bucket,
            "HARBORLITE_S3_REGION": REGION,
            "HARBORLITE_S3_ENDPOINT": self.endpoint,
            "HARBORLITE_S3_ACCESS_KEY": KEY,
            "HARBORLITE_S3_SECRET_KEY": SECRET,
        }


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "MOTO_S3_DEFAULT_MAX_KEYS": "1000"},
        )
    server = S3Server(f"http://127.0.0.1:{port}", log_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"moto exited:\n{log_path.read_text()}")
            try:
                httpx.get(server.endpoint, timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto did not start:\n{log_path.read_text()}") from None
                time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def s3_bucket(s3_server: S3Server) -> str:
    return s3_server.new_bucket()


@pytest.fixture(scope="module")
def s3_harborlite(s3_server: S3Server, s3_bucket: str) -> Iterator[Harborlite]:
    """One harborlite on S3 for a module; GC collects at once (no time window)."""
    env = {**s3_server.env(s3_bucket), "HARBORLITE_GC_TIME_WINDOW_MINUTES": "0"}
    yield from own_harborlite(extra_env=env)
