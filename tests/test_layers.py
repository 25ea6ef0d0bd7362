"""The layout holds: no module of harborlite passes 600 lines, no surface imports another,
domains import no surface (nor ``harborlite.services``), and ``oci/`` imports nothing of
harborlite but itself.

Imports are read with ``ast`` from every module, wherever they are written: at the top, inside
functions, under ``if TYPE_CHECKING:``, relative ones, and ``importlib.import_module("...")``
with a literal name.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "harborlite"

MAX_LINES = 600
SURFACES = ("token", "v2", "api", "portal", "cli")
DOMAINS = (
    "accounts",
    "projects",
    "artifacts",
    "audit",
    "labels",
    "sessions",
    "auth",
    "robots",
    "immutability",
    "quotas",
    "retention",
    "jobs",
    "events",
    "gc",
    "uploads",
    "storage",
    "tls",
    "signatures",
    "vulnerabilities",
    "scanning",
    "endpoints",
    "remote",
    "webhooks",
    "proxycache",
    "replication",
)


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name, e.g. harborlite.api.tags
    imported: str  # dotted name as imported, e.g. harborlite.upstream.client
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}: {self.importer} imports {self.imported}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_in(source: str, module: str, path: Path, *, is_package: bool = False) -> list[Import]:
    """Every import of ``source`` (the module ``module``), resolved to absolute names."""
    tree = ast.parse(source, filename=str(path))
    package = module if is_package else module.rpartition(".")[0]
    found: list[Import] = []

    def add(name: str, node: ast.AST) -> None:
        found.append(Import(module, name, path, getattr(node, "lineno", 0)))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                if node.level > 1:
                    base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts)
                origin = f"{base}.{node.module}" if node.module else base
            else:
                origin = node.module or ""
            add(origin, node)
            for alias in node.names:  # ``from harborlite import api`` imports harborlite.api
                if alias.name != "*":
                    add(f"{origin}.{alias.name}", node)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            add(node.args[0].value, node)
    return found


def listed(found: list[Import]) -> str:
    """One line per import statement (``from a import b`` is also seen as ``a.b``)."""
    lines: dict[tuple[Path, int], str] = {}
    for item in found:
        lines.setdefault((item.path, item.line), str(item))
    return "\n".join(lines.values())


def modules() -> Iterator[Path]:
    yield from sorted(PACKAGE.rglob("*.py"))


def all_imports() -> list[Import]:
    found: list[Import] = []
    for path in modules():
        found += imports_in(
            path.read_text(), module_name(path), path, is_package=path.name == "__init__.py"
        )
    return found


def part_of(name: str) -> str | None:
    """The top-level part of harborlite that ``name`` belongs to (``api``, ``cli``, ...)."""
    parts = name.split(".")
    if parts[0] != "harborlite" or len(parts) < 2:
        return None
    return parts[1]


def test_no_module_passes_the_line_limit() -> None:
    long = [
        f"{path.relative_to(ROOT)}: {count} lines"
        for path in modules()
        if (count := len(path.read_text().splitlines())) > MAX_LINES
    ]
    assert not long, f"modules over {MAX_LINES} lines (split them by concept):\n" + "\n".join(long)


def test_no_surface_imports_another_surface() -> None:
    crossing = [
        found
        for found in all_imports()
        if part_of(found.importer) in SURFACES
        and part_of(found.imported) in SURFACES
        and part_of(found.imported) != part_of(found.importer)
    ]
    problems = listed(crossing)
    assert not problems, "a surface imports another surface:\n" + problems


def test_domains_import_no_surface_and_not_services() -> None:
    forbidden = (*SURFACES, "services")
    wrong = [
        found
        for found in all_imports()
        if part_of(found.importer) in DOMAINS and part_of(found.imported) in forbidden
    ]
    problems = listed(wrong)
    assert not problems, (
        "a domain imports a surface or harborlite.services (take explicit arguments):\n" + problems
    )


def test_oci_imports_nothing_of_harborlite_but_oci() -> None:
    wrong = [
        found
        for found in all_imports()
        if part_of(found.importer) == "oci"
        and found.imported.split(".")[0] == "harborlite"
        and part_of(found.imported) != "oci"
    ]
    problems = listed(wrong)
    assert not problems, "oci/ is a leaf: it imports nothing else of harborlite:\n" + problems


def test_the_rules_see_the_real_graph() -> None:
    """Not vacuous: the modules are found and known imports are seen."""
    names = {module_name(path) for path in modules()}
    assert {f"harborlite.{surface}" for surface in SURFACES} <= names
    edges = {(found.importer, found.imported) for found in all_imports()}
    assert ("harborlite.app", "harborlite.api.routes") in edges
    assert any(importer.startswith("harborlite.oci.") for importer, _ in edges)


HERE = Path(__file__)


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        ("import harborlite.api.tags", "harborlite.v2.gateway", "harborlite.api.tags"),
        ("from harborlite import portal", "harborlite.token.endpoint", "harborlite.portal"),
        ("def f():\n    from harborlite.v2 import routes\n", "harborlite.api.x", "harborlite.v2"),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from harborlite.services"
            " import Services\n",
            "harborlite.accounts.operations",
            "harborlite.services.Services",
        ),
        ("from ..api import call", "harborlite.portal.pages", "harborlite.api.call"),
        ("from . import fields", "harborlite.oci.manifest", "harborlite.oci.fields"),
        (
            "import importlib\nimportlib.import_module('harborlite.cli')",
            "harborlite.api.x",
            "harborlite.cli",
        ),
    ],
)
def test_imports_are_found_wherever_they_are_written(
    source: str, module: str, expected: str
) -> None:
    found = {item.imported for item in imports_in(source, module, HERE)}
    assert expected in found, found


def test_an_import_across_surfaces_is_a_crossing() -> None:
    found = imports_in("def f():\n    from harborlite.api import call\n", "harborlite.v2.x", HERE)
    assert any(part_of(item.imported) == "api" for item in found)
    assert part_of("harborlite.cli") == "cli" and part_of("harborlite") is None
