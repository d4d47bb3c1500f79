"""The layout is the architecture, and these tests keep it true.

Imports flow one way: schemas <- plumbing <- features <- ingest | workers <- the command line.
Pure rule modules do no I/O; ingest and workers never import each other; no feature imports an
edge.

Modules are split by concept, never by line count. A module of the package or of the tests may
run over LONG (400) lines only if it is one job and says so: its module docstring has a line
that starts with "One job:" followed by the why (what the job is, and why its parts stay
together). A long module without that line fails; split it by what it does, or, if it is one
job, write the line.
"""

import ast
import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PACKAGE = ROOT / "chargehook"
FEATURES = ("sessions", "billing", "webhooks", "providers", "dead_letters", "ocpi")
LAYERS = {"schemas": 0, "plumbing": 1, **dict.fromkeys(FEATURES, 2), "ingest": 3, "workers": 3}
COMMAND_LINE = 4  # chargehook.cli, chargehook.root: the one place that knows every package
PURE = (
    "chargehook.sessions.order",
    "chargehook.billing.rules",
    "chargehook.billing.export_format",
    "chargehook.billing.books",
    "chargehook.providers.rules",
    "chargehook.webhooks.delivery_states",
    "chargehook.webhooks.retries",
    "chargehook.webhooks.signing",
    "chargehook.ocpi.merge",
    "chargehook.ocpi.mapping",
)
# What a pure rule may import besides the schemas and other pure rules: computation, no I/O.
PURE_STDLIB = {
    "base64", "collections", "dataclasses", "datetime", "decimal", "email", "hashlib", "hmac",
    "random", "re", "secrets", "typing",
}  # fmt: skip
LONG = 400  # lines; past this a module says why it is one job (the module docstring above)
ONE_JOB = "One job:"


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


def says_why_it_is_one_job(source: str) -> bool:
    """Whether the module docstring has a line `One job: <why>`, the why not left empty."""
    docstring = ast.get_docstring(ast.parse(source)) or ""
    return any(
        line.startswith(ONE_JOB) and line.removeprefix(ONE_JOB).strip()
        for line in docstring.splitlines()
    )


def long_without_a_reason(paths: dict[str, Path]) -> dict[str, int]:
    """The modules over LONG lines whose docstring does not say why they are one job."""
    found: dict[str, int] = {}
    for name, path in paths.items():
        source = path.read_text()
        if (lines := len(source.splitlines())) > LONG and not says_why_it_is_one_job(source):
            found[name] = lines
    return found


def test_one_job_is_a_line_of_the_module_docstring() -> None:
    assert says_why_it_is_one_job('"""Delivery.\n\nOne job: the request and its outcome."""')
    assert says_why_it_is_one_job('"""One job: the route table, entry by entry."""')
    assert not says_why_it_is_one_job('"""Delivery.\n\nOne job:"""')  # no why
    assert not says_why_it_is_one_job('"""Delivery, which is one job: sending."""')
    assert not says_why_it_is_one_job("# One job: a comment is no docstring\nX = 1\n")


def test_only_a_long_module_without_the_line_is_flagged(tmp_path: Path) -> None:
    body = "X = 1\n" * LONG
    short, long, reasoned = tmp_path / "short.py", tmp_path / "long.py", tmp_path / "one.py"
    short.write_text('"""Short."""\n' + "X = 1\n" * (LONG - 1))
    long.write_text('"""Long."""\n' + body)
    reasoned.write_text('"""Long.\n\nOne job: the parts only make sense together."""\n' + body)
    paths = {"short": short, "long": long, "one": reasoned}
    assert long_without_a_reason(paths) == {"long": LONG + 1}


def test_a_long_package_module_says_why_it_is_one_job() -> None:
    assert not long_without_a_reason(MODULES), f"split by what it does, or add {ONE_JOB!r}"


def test_a_long_test_module_says_why_it_is_one_job() -> None:
    tests = {str(path.relative_to(ROOT)): path for path in (ROOT / "tests").rglob("*.py")}
    assert not long_without_a_reason(tests), f"split by what it does, or add {ONE_JOB!r}"


# The edges only translate: parse, call one use case of a room, answer (docs/architecture.md).
EDGE_ROOMS = ("ingest", "workers")
EDGE_MODULES = ("chargehook.cli", "chargehook.commands")
DATABASE_CALLS = {
    "fetch", "fetchval", "fetchrow", "execute", "executemany", "transaction", "acquire",
    "copy_records_to_table", "copy_to_table", "copy_from_query", "copy_from_table",
}  # fmt: skip
SQL = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|CREATE|ALTER|DROP|LOCK)\s", re.I)
# What a use case takes; an edge function taking one is a use case written at the edge.
DEPENDENCIES = {"Pool", "Connection", "Broker", "AmqpBroker", "MemoryBroker", "Ingest", "Accepting"}
# The app factory hands them to the application's state and does nothing else with them.
WIRING = {"create_app"}


def is_edge(module: str) -> bool:
    return room(module) in EDGE_ROOMS or module in EDGE_MODULES


def database_work(source: str) -> list[str]:
    """What in `source` calls the database or builds SQL."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in DATABASE_CALLS:
                found.append(f"line {node.lineno}: .{node.func.attr}()")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if SQL.match(node.value):
                found.append(f"line {node.lineno}: SQL {node.value.split()[0]}")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            if any(name.split(".")[0] == "asyncpg" for name in names):
                found.append(f"line {node.lineno}: imports asyncpg")
    return sorted(found, key=lambda line: (int(line.split()[1].rstrip(":")), line))


def use_cases(source: str) -> list[str]:
    """The functions in `source` that take a use case's dependencies."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or node.name in WIRING:
            continue
        arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
        for argument in arguments:
            names = {n.id for n in ast.walk(argument.annotation or ast.Pass())
                     if isinstance(n, ast.Name)}  # fmt: skip
            names |= {n.attr for n in ast.walk(argument.annotation or ast.Pass())
                      if isinstance(n, ast.Attribute)}  # fmt: skip
            if names & DEPENDENCIES:
                found.append(f"{node.name}({argument.arg}: {', '.join(names & DEPENDENCIES)})")
    return found


@pytest.mark.parametrize("module", sorted(m for m in MODULES if is_edge(m)))
def test_edges_neither_call_the_database_nor_build_sql(module: str) -> None:
    assert not database_work(MODULES[module].read_text()), f"{module} does a room's work"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if is_edge(m)))
def test_no_use_case_is_defined_at_an_edge(module: str) -> None:
    assert not use_cases(MODULES[module].read_text()), f"{module} defines a use case"


A_USE_CASE_AT_AN_EDGE = '''
import asyncpg
from chargehook.plumbing.database import Pool

async def create(request: web.Request) -> web.Response:
    pool = request.app[INGEST].pool
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO subscriptions (id) VALUES ($1)", "sub_1")

async def recover(pool: Pool, subscription_id: str) -> int:
    return await pool.fetchval("""
        SELECT count(*) FROM deliveries""")
'''


def test_the_edge_checks_see_a_use_case_written_at_an_edge() -> None:
    assert database_work(A_USE_CASE_AT_AN_EDGE) == [
        "line 2: imports asyncpg",
        "line 7: .acquire()",
        "line 8: .execute()",
        "line 8: SQL INSERT",
        "line 11: .fetchval()",
        "line 11: SQL SELECT",
    ]
    assert use_cases(A_USE_CASE_AT_AN_EDGE) == ["recover(pool: Pool)"]
