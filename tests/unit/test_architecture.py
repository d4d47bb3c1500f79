"""Imports flow one way: schemas <- domain <- infra <- ingest | workers <- chargehook."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
ALLOWED = {
    "schemas": set(),
    "domain": {"schemas"},
    "infra": {"schemas", "domain"},
    "ingest": {"schemas", "domain", "infra"},
    "workers": {"schemas", "domain", "infra"},
    "chargehook": {"schemas", "domain", "infra", "ingest", "workers"},
}


def first_party_imports(package: str) -> set[str]:
    found: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return (found & set(ALLOWED)) - {package}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_flow_one_way(package: str) -> None:
    assert first_party_imports(package) <= ALLOWED[package]


def test_schemas_need_only_msgspec() -> None:
    imports: set[str] = set()
    for path in (ROOT / "schemas").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imports.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                imports |= {alias.name.split(".")[0] for alias in node.names}
    assert imports <= {"msgspec", "schemas", "datetime", "decimal", "typing"}
