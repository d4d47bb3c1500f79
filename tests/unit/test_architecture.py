"""The layout is the architecture, and these tests keep it true.

Imports flow one way: schemas <- plumbing <- features <- ingest | workers <- the command line.
Pure rule modules do no I/O; ingest and workers never import each other; no feature imports an
edge; no module grows past 300 lines.
"""

import ast
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PACKAGE = ROOT / "chargehook"
FEATURES = ("sessions", "billing", "webhooks", "providers")
LAYERS = {"schemas": 0, "plumbing": 1, **dict.fromkeys(FEATURES, 2), "ingest": 3, "workers": 3}
COMMAND_LINE = 4  # chargehook.cli, chargehook.root: the one place that knows every package
PURE = (
    "chargehook.sessions.order",
    "chargehook.billing.rules",
    "chargehook.providers.rules",
    "chargehook.webhooks.lifecycle",
    "chargehook.webhooks.retries",
    "chargehook.webhooks.signing",
)
# What a pure rule may import besides the schemas and other pure rules: computation, no I/O.
PURE_STDLIB = {
    "base64", "collections", "dataclasses", "datetime", "decimal", "email", "hashlib", "hmac",
    "random", "re", "secrets", "typing",
}  # fmt: skip
MAX_LINES = 300


def modules() -> dict[str, Path]:
    """Every module of the package by its import name, through the linked folders too."""
    found: dict[str, Path] = {}
    for folder, _, files in os.walk(PACKAGE, followlinks=True):
        for file in files:
            if file.endswith(".py"):
                path = Path(folder) / file
                parts = path.relative_to(ROOT).with_suffix("").parts
                name = ".".join(parts).removesuffix(".__init__")
                found[name] = path
    return found


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {f"{node.module}.{alias.name}" for alias in node.names} | {node.module}
    return found


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.get(parts[1], COMMAND_LINE) if len(parts) > 1 else COMMAND_LINE


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


MODULES = modules()


def test_the_package_has_the_rooms_it_claims() -> None:
    rooms = {room(name) for name in MODULES}
    assert {*LAYERS, "cli", "root"} <= rooms
    assert set(PURE) <= set(MODULES)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_flow_one_way(module: str) -> None:
    own = layer(module)
    for imported in imports_of(MODULES[module]):
        if not imported.startswith("chargehook.") or room(imported) == room(module):
            continue
        # features use each other (billing reads rates); the command line is one layer too
        same_layer_ok = layer(imported) == own and own in (LAYERS["sessions"], COMMAND_LINE)
        assert layer(imported) < own or same_layer_ok, (
            f"{module} imports {imported}: imports flow schemas <- plumbing <- features <- "
            "ingest | workers <- the command line"
        )


@pytest.mark.parametrize("module", sorted(m for m in MODULES if room(m) == "schemas"))
def test_schemas_need_only_msgspec(module: str) -> None:
    outside = {
        name.split(".")[0]
        for name in imports_of(MODULES[module])
        if not name.startswith("chargehook.schemas")
    }
    assert outside <= {"msgspec", "datetime", "decimal", "typing"}


@pytest.mark.parametrize("module", PURE)
def test_pure_rules_do_no_io(module: str) -> None:
    for imported in imports_of(MODULES[module]):
        top = imported.split(".")[0]
        if imported.startswith("chargehook."):
            allowed = room(imported) == "schemas" or any(imported.startswith(p) for p in PURE)
        else:
            allowed = top in PURE_STDLIB or top == "msgspec"
        assert allowed, f"{module} is a pure rule module but imports {imported}"
        assert top in sys.stdlib_module_names or top in ("msgspec", "chargehook")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_short(module: str) -> None:
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines; split it by what it does"


def test_test_modules_stay_short() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for path in (ROOT / "tests").rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long
