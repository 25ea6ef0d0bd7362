"""The replication tests' servers: two harborlite instances (each with its own registry) and a
bare ``docker-registry``, started once per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import Harborlite, own_harborlite
from tests.support.processes import RegistryServer


@pytest.fixture(scope="module")
def source() -> Iterator[Harborlite]:
    yield from own_harborlite()


@pytest.fixture(scope="module")
def target() -> Iterator[Harborlite]:
    yield from own_harborlite()


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with RegistryServer(tmp_path_factory.mktemp("bare")) as registry:
        yield registry
