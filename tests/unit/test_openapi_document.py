"""The OpenAPI document serves those who generate clients from it: the checks of Redocly's
recommended ruleset that matter to them, on `openapi()` itself."""

import re
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from openapi_spec_validator import validate as validate_openapi

from chargehook.ingest.openapi import openapi
from chargehook.ingest.route import paths
from chargehook.ingest.route_table import ROUTES

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
CAMEL_CASE = re.compile(r"[a-z]+(?:[A-Z][a-z0-9]*)*")
DOCUMENT = openapi()
ROOT = Path(__file__).parents[2]
PYPROJECT = ROOT / "pyproject.toml"
API_DOCS = ROOT / "docs" / "api.md"


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    """Every operation of the document as (method, path, operation)."""
    return [
        (method.upper(), path, operation)
        for path, item in DOCUMENT["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


OPERATIONS = operations()
IDS = [f"{method} {path}" for method, path, _ in OPERATIONS]


def test_the_document_is_valid_openapi_3_1() -> None:
    validate_openapi(DOCUMENT)


def test_every_route_is_an_operation() -> None:
    assert len(OPERATIONS) == len(ROUTES)


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=IDS)
def test_every_operation_has_a_camel_case_operation_id_and_a_summary(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    assert CAMEL_CASE.fullmatch(operation.get("operationId", "")), f"{method} {path}"
    assert operation.get("summary"), f"{method} {path} has no summary"


def test_operation_ids_are_unique() -> None:
    operation_ids = [operation["operationId"] for _, _, operation in OPERATIONS]
    assert len(set(operation_ids)) == len(operation_ids)


def test_a_route_table_with_an_operation_id_twice_is_refused() -> None:
    first, second, *_ = ROUTES
    twin = replace(second, operation_id=first.operation_id)
    with pytest.raises(ValueError, match=f"operationId {first.operation_id} .* twice"):
        paths([first, twin])


PUBLIC_PROBES = {"/healthz", "/readyz", "/metrics"}
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=IDS)
def test_every_operation_needs_a_bearer_token_but_the_public_probes(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    assert operation.get("security") == ([] if path in PUBLIC_PROBES else BEARER)


def test_every_security_scheme_used_is_defined_and_a_token_is_the_default() -> None:
    schemes = DOCUMENT["components"]["securitySchemes"]
    assert schemes["bearer"]["type"] == "http" and schemes["bearer"]["scheme"] == "bearer"
    assert DOCUMENT["security"] == BEARER
    used = {
        name for _, _, op in OPERATIONS for requirement in op["security"] for name in requirement
    }
    assert used <= set(schemes)


def test_the_servers_are_real_addresses() -> None:
    [server] = DOCUMENT["servers"]
    url = urlsplit(server["url"])
    assert url.scheme == "http" and url.hostname and url.port and not url.path
    assert "example.com" not in url.hostname and server["description"]
    assert server["url"] == "http://127.0.0.1:8080"  # chargehook's default, as README says


def test_info_has_the_projects_license_and_a_description() -> None:
    info = DOCUMENT["info"]
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    assert info["license"]["identifier"] == project["license"]["text"]
    assert info["license"]["name"] and info["description"].strip()


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=IDS)
def test_every_operation_documents_a_success_and_a_client_error(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    statuses = [int(status) for status in operation["responses"]]
    assert any(200 <= status < 300 for status in statuses), f"{method} {path}: no 2xx"
    assert any(400 <= status < 500 for status in statuses), f"{method} {path}: no 4xx"


def test_an_error_documented_twice_is_refused() -> None:
    probe = next(route for route in ROUTES if route.plain_errors)
    with pytest.raises(ValueError, match="twice"):
        replace(probe, errors=(400,)).operation()


def references(value: Any) -> set[str]:
    """Every `$ref` in `value`, at any depth."""
    if isinstance(value, dict):
        own = {value["$ref"]} if isinstance(value.get("$ref"), str) else set()
        return own.union(*(references(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(references(item) for item in value))
    return set()


def test_every_reference_resolves_and_every_schema_is_reached_from_the_paths() -> None:
    schemas = DOCUMENT["components"]["schemas"]
    targets = {f"#/components/schemas/{name}" for name in schemas}
    assert references(DOCUMENT) <= targets
    reached, pending = set(), references(DOCUMENT["paths"])
    while pending:
        reached |= pending
        pending = references([schemas[target.split("/")[-1]] for target in pending]) - reached
    assert reached == targets


def test_docs_api_md_names_every_operation_id() -> None:
    text = API_DOCS.read_text()
    missing = [op["operationId"] for _, _, op in OPERATIONS if f"`{op['operationId']}`" not in text]
    assert not missing, f"docs/api.md does not name {missing}"
