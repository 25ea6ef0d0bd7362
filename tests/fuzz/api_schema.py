"""schemathesis against harborlite's own OpenAPI document, as admin, on a real server.

Every operation of ``/api/v2.0/openapi.json`` gets generated requests in two runs: one with the
path parameters pinned to resources that exist (a project with a pushed image, a user, a
member, a label, a robot, an immutable rule), so the requests reach the handlers' logic, and one
with every parameter generated (malformed ids, names no resource has). The checks: no 5xx,
every status documented, every body of the documented shape and media type, documented headers.

The server is one of the run's own: the runs delete projects, users and labels. The number of
examples per operation comes from ``HARBORLITE_FUZZ_EXAMPLES`` (``make fuzz`` raises it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.api.pushing import Pusher
from tests.harness import ROOT, Harborlite

CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
        "content_type_of_content",  # tests/fuzz/schemathesis_hooks.py
    )
)
PROJECT = "fuzz"
REPOSITORY = "app"
TAG = "v1"


def examples_per_operation(default: int = 5) -> int:
    return int(os.environ.get("HARBORLITE_FUZZ_EXAMPLES") or default)


@dataclass(frozen=True)
class Seeded:
    """Identifiers of resources that exist, for the pinned run's path parameters."""

    parameters: dict[str, str]


def _created_id(response_location: str) -> str:
    return response_location.rsplit("/", 1)[1]


def seed(server: Harborlite) -> Seeded:
    server.create_project(PROJECT, public=True)
    with Pusher(server) as pusher:
        pusher.image(f"{PROJECT}/{REPOSITORY}", TAG)
    user_id = server.create_user("fuzzer")
    server.add_member(PROJECT, "fuzzer", 2)
    members = server.api("GET", f"/projects/{PROJECT}/members", auth=server.admin).json()
    member_id = next(m["id"] for m in members if m["entity_name"] == "fuzzer")
    label = server.api("POST", "/labels", auth=server.admin, json={"name": "fuzzed", "scope": "g"})
    assert label.status_code == 201, label.text
    robot = server.api(
        "POST",
        "/robots",
        auth=server.admin,
        json={
            "name": "fuzzbot",
            "duration": -1,
            "level": "system",
            "permissions": [
                {
                    "kind": "project",
                    "namespace": PROJECT,
                    "access": [{"resource": "repository", "action": "pull"}],
                }
            ],
        },
    )
    assert robot.status_code == 201, robot.text
    rule_path = f"/projects/{PROJECT}/immutabletagrules"
    rule = server.api(
        "POST",
        rule_path,
        auth=server.admin,
        json={
            "action": "immutable",
            "template": "immutable_template",
            "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v*"}],
            "scope_selectors": {
                "repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]
            },
        },
    )
    assert rule.status_code == 201, rule.text
    return Seeded(
        {
            "project_name": PROJECT,
            "project_name_or_id": PROJECT,
            "repository_name": REPOSITORY,
            "reference": TAG,
            "tag_name": TAG,
            "user_id": str(user_id),
            "mid": str(member_id),
            "meta_name": "public",
            "label_id": _created_id(label.headers["Location"]),
            "robot_id": str(robot.json()["id"]),
            "immutable_rule_id": _created_id(rule.headers["Location"]),
        }
    )


def _config(folder: Path, pinned: dict[str, str]) -> Path:
    lines = ["[parameters]", *(f'"path.{name}" = "{value}"' for name, value in pinned.items())]
    path = folder / "schemathesis.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run(server: Harborlite, folder: Path, pinned: dict[str, str], examples: int) -> str:
    """One schemathesis run; returns its output, raises with it when anything failed."""
    folder.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(_config(folder, pinned)),
        "--no-color",
        "run",
        f"{server.url}/api/v2.0/openapi.json",
        "--auth",
        ":".join(server.admin),
        "--checks",
        CHECKS,
        "--mode",
        "positive",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(examples),
        "--generation-deterministic",  # hypothesis's derandomize: the same cases every run
        # Harbor's reference pattern lets few generated strings through; that is no finding
        "--suppress-health-check",
        "filter_too_much",
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--report",
        "junit",
        "--report-dir",
        str(folder / "report"),
        "--warnings",
        "off",
    ]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.fuzz.schemathesis_hooks",
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        command, capture_output=True, text=True, cwd=folder, env=env, timeout=1500, check=False
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise AssertionError(f"schemathesis found failures (exit {result.returncode}):\n{output}")
    return output
