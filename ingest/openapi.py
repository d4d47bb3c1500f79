"""The OpenAPI 3.1 document of the HTTP API, built from the route table (`route_table.ROUTES`):
the schemas are those of the Structs' `components()`, `ocpi_components()` and the books'
(`billing.books`) the paths use."""

from collections.abc import Iterable

import msgspec

from chargehook.billing.books import LEDGER_TYPES
from chargehook.ingest.route import BEARER, OCPI_TOKEN, Route, paths, referenced
from chargehook.ingest.route_table import ROUTES
from chargehook.plumbing.settings import Settings
from chargehook.schemas import SCHEMA_VERSION
from chargehook.schemas.contract import Document, components, ocpi_components
from chargehook.schemas.contract import _decimals_as_numbers as decimals_as_numbers

__all__ = ["openapi"]


def openapi(routes: Iterable[Route] = ROUTES) -> Document:
    """OpenAPI 3.1 for the HTTP API of docs/api.md, generated from the route table."""
    documented = paths(routes)
    template = "#/components/schemas/{name}"
    schemas = {**components(template), **ocpi_components(template), **ledger(template)}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "chargehook",
            "version": SCHEMA_VERSION,
            "description": DESCRIPTION,
            "license": {"name": "Apache License 2.0", "identifier": "Apache-2.0"},
        },
        "servers": [default_server()],
        "security": [{"bearer": []}],  # most calls need a token; every operation says its own
        "paths": documented,
        "components": {
            "schemas": referenced(schemas, documented),
            "securitySchemes": {"bearer": BEARER, "ocpiToken": OCPI_TOKEN},
        },
    }


def ledger(ref_template: str) -> Document:
    """The books' answers (billing.books: a bill chain, a day's reconciliation), whose money
    may be below zero (a credit), unlike the page's."""
    _, found = msgspec.json.schema_components(LEDGER_TYPES, ref_template=ref_template)
    return {name: decimals_as_numbers(schema, {}) for name, schema in found.items()}


def default_server() -> Document:
    """Where `chargehook run` and `chargehook ingest` listen unless told otherwise."""
    settings = Settings()
    return {
        "url": f"http://{settings.http_host}:{settings.http_port}",
        "description": "chargehook run's and chargehook ingest's default "
        "(CHARGEHOOK_HTTP_HOST, CHARGEHOOK_HTTP_PORT)",
    }


DESCRIPTION = (
    "Providers post EV-charging session events to POST /v1/sessions with their own token; "
    "operators read sessions back and manage webhook subscriptions and dead letters with the "
    "admin token. The probes /healthz, /readyz and /metrics need no token. Every error the app "
    "answers has the ErrorBody shape; a request aiohttp cannot parse is refused before the app, "
    "in plain text. Charge-point operators push OCPI 2.2.1 Sessions and CDRs under /ocpi/ with "
    "their credentials token (ocpiToken); every answer there, errors included, is the OCPI "
    "envelope OcpiResponse. Each operation's operationId is fixed: it does not change when a "
    "path does. docs/api.md gives the rules behind every answer."
)
