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
from chargehook.ingest.route import Answer, Route, paths
from chargehook.ingest.route_table import ROUTES
from chargehook.schemas.contract import ref

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
OCPI_TOKEN: list[dict[str, list[str]]] = [{"ocpiToken": []}]


def security_of(path: str) -> list[dict[str, list[str]]]:
    if path.startswith("/ocpi/"):
        return OCPI_TOKEN
    return [] if path in PUBLIC_PROBES else BEARER


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=IDS)
def test_every_operation_needs_a_bearer_token_but_the_public_probes_and_ocpi_a_token(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    assert operation.get("security") == security_of(path)


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


def check_references(document: dict[str, Any]) -> None:
    """Every reference resolves and every schema is reached from the paths."""
    schemas = document["components"]["schemas"]
    targets = {f"#/components/schemas/{name}" for name in schemas}
    assert references(document) <= targets
    reached, pending = set(), references(document["paths"])
    while pending:
        reached |= pending
        pending = references([schemas[target.split("/")[-1]] for target in pending]) - reached
    assert reached == targets


def test_every_reference_resolves_and_every_schema_is_reached_from_the_paths() -> None:
    check_references(DOCUMENT)


# An OCPI route as the OCPI face writes them: the envelope, the credentials token.
OCPI_PATH = "/ocpi/2.2.1/examples/{country_code}/{party_id}/{session_id}"
OCPI_ROUTE = Route(
    "PUT",
    OCPI_PATH,
    "putExampleOcpiSession",
    ROUTES[0].handler,
    "An OCPI push",
    Answer("Accepted", None),
    (401, 403, 429, 500, 503),
    body=ref("OcpiSession"),
    ocpi=True,
    also=(Answer("Created", ref("OcpiSession"), 201, headers=(("Location", "Where it is"),)),),
    path_schemas=(("country_code", {"type": "string", "minLength": 2, "maxLength": 2}),),
)
WITH_OCPI = openapi([*ROUTES, OCPI_ROUTE])


def test_a_document_with_an_ocpi_route_is_valid_and_its_references_resolve() -> None:
    validate_openapi(WITH_OCPI)
    check_references(WITH_OCPI)
    schemas = WITH_OCPI["components"]["schemas"]
    assert {"OcpiSession", "OcpiResponse", "OcpiCdrToken", "Session"} <= schemas.keys()
    assert schemas["OcpiSession"]["title"] == "OcpiSession"
    assert "kwh" in schemas["OcpiSession"]["properties"]  # the page's Session is its own
    assert "charged_kwh" in schemas["Session"]["properties"]
    assert "minimum" not in schemas["OcpiPrice"]["properties"]["excl_vat"]  # credits are < 0


def test_an_ocpi_route_answers_everything_in_the_envelope_with_the_credentials_token() -> None:
    operation = WITH_OCPI["paths"][OCPI_PATH]["put"]
    assert operation["security"] == OCPI_TOKEN
    assert WITH_OCPI["components"]["securitySchemes"]["ocpiToken"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "Token <base64 of the credentials token>; the raw token is accepted too",
    }
    responses = operation["responses"]
    assert list(responses) == ["200", "201", "400", "401", "403", "413", "415", "429", "500", "503"]
    schemas = {code: answer["content"]["application/json"]["schema"]
               for code, answer in responses.items()}  # fmt: skip
    envelope = ref("OcpiResponse")
    assert schemas["200"] == {"allOf": [envelope, {"properties": {"data": {"type": "null"}}}]}
    assert schemas["201"] == {"allOf": [envelope, {"properties": {"data": ref("OcpiSession")}}]}
    assert all(schemas[code] == envelope for code in responses if code >= "400")
    assert "status_code 2001" in responses["400"]["description"]
    assert responses["201"]["headers"]["Location"]["description"] == "Where it is"
    [country_code, party_id, _] = operation["parameters"]
    assert country_code["schema"] == {"type": "string", "minLength": 2, "maxLength": 2}
    assert party_id["schema"] == {"type": "string"}


def test_an_ocpi_route_with_a_bearer_token_or_a_success_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="no bearer token"):
        replace(OCPI_ROUTE, bearer=True)
    with pytest.raises(ValueError, match="twice"):
        replace(OCPI_ROUTE, also=(Answer("Again", None),)).operation()
    with pytest.raises(ValueError, match="twice"):
        replace(OCPI_ROUTE, also=(Answer("Refused", None, 403),)).operation()


def test_docs_api_md_names_every_operation_id() -> None:
    text = API_DOCS.read_text()
    missing = [op["operationId"] for _, _, op in OPERATIONS if f"`{op['operationId']}`" not in text]
    assert not missing, f"docs/api.md does not name {missing}"
