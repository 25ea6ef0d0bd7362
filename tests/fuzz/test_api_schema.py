"""schemathesis over every operation of the REST API: no 5xx, every answer as documented."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuzz.api_schema import Seeded, examples_per_operation, run, seed
from tests.harness import Harborlite, cleanup, start_harborlite
from tests.support.processes import PostgresServer


@pytest.fixture(scope="module")
def fuzzed(postgres: PostgresServer) -> Iterator[tuple[Harborlite, Seeded]]:
    """A server of this module's own: the runs delete what they find."""
    server = start_harborlite(postgres.create_database())
    try:
        yield server, seed(server)
    finally:
        cleanup(server)


def test_operations_on_existing_resources_answer_as_documented(
    fuzzed: tuple[Harborlite, Seeded], tmp_path: Path
) -> None:
    server, seeded = fuzzed
    run(server, tmp_path, seeded.parameters, examples_per_operation())


def test_operations_on_generated_identifiers_answer_as_documented(
    fuzzed: tuple[Harborlite, Seeded], tmp_path: Path
) -> None:
    server, _ = fuzzed
    run(server, tmp_path, {}, examples_per_operation())
