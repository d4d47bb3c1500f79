"""The exported contract matches the running code: routes, answers and broker messages."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import aio_pika
import jsonschema
import msgspec
import pytest
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate as validate_openapi

from chargehook.schemas.contract import asyncapi, event_json_schema, openapi
from tests import processes
from tests.support import Provider, event, eventually

EXAMPLE = Path(__file__).parent.parent / "examples" / "page-example.json"
Client = TestClient[Any, Any]


def conforms(document: dict[str, Any], schema: dict[str, Any], value: Any) -> None:
    """Validate `value` against `schema`, resolving refs inside `document`."""
    jsonschema.Draft202012Validator({**schema, "components": document["components"]}).validate(
        value
    )


def test_the_page_example_validates_against_the_exported_json_schema() -> None:
    schema = event_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    [example] = msgspec.json.decode(EXAMPLE.read_bytes())
    jsonschema.Draft202012Validator(schema).validate(example)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate({**example, "status": "DONE"})


def test_the_openapi_document_is_valid_openapi_3_1() -> None:
    validate_openapi(openapi())


def is_json_schema(document: dict[str, Any]) -> bool:
    return (
        document.get("$schema") == "https://json-schema.org/draft/2020-12/schema"
        and document.get("$ref") == "#/$defs/Session"
        and "Session" in document.get("$defs", {})
    )


def is_openapi(document: dict[str, Any]) -> bool:
    return document.get("openapi") == "3.1.0" and "/v1/sessions" in document.get("paths", {})


def is_asyncapi(document: dict[str, Any]) -> bool:
    channels = set(document.get("channels", {}))
    return document.get("asyncapi") == "3.0.0" and channels >= {"events", "billed"}


@pytest.mark.parametrize(
    ("name", "exported", "is_that_document"),
    [
        ("json-schema", event_json_schema, is_json_schema),
        ("openapi", openapi, is_openapi),
        ("asyncapi", asyncapi, is_asyncapi),
    ],
    ids=["json-schema", "openapi", "asyncapi"],
)
async def test_the_contract_command_prints_each_document(
    name: str,
    exported: Callable[[], dict[str, Any]],
    is_that_document: Callable[[dict[str, Any]], bool],
) -> None:
    result = await processes.run(["contract", name], processes.chargehook_env())
    assert result.returncode == 0, result.stderr
    printed = msgspec.json.decode(result.stdout)
    assert is_that_document(printed), f"`chargehook contract {name}` printed another document"
    assert printed == exported()


@pytest.mark.services
async def test_every_route_of_the_running_app_is_documented_and_nothing_else(
    client: Client,
) -> None:
    documented = {
        (method.upper(), path) for path, item in openapi()["paths"].items() for method in item
    }
    served = {
        (route.method, route.resource.canonical)
        for route in client.app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    assert served == documented


@pytest.mark.services
async def test_the_running_app_answers_as_documented(
    client: Client, provider: Provider, admin: dict[str, str], persist_worker: Any
) -> None:
    doc, paths = openapi(), openapi()["paths"]
    headers = {**provider.auth, "Content-Type": "application/json"}
    posted = await client.post("/v1/sessions", data=EXAMPLE.read_bytes(), headers=headers)
    conforms(doc, _schema(paths["/v1/sessions"]["post"], "200"), await posted.json())
    refused = await client.post("/v1/sessions", data=b"[]", headers=headers)
    conforms(doc, _schema(paths["/v1/sessions"]["post"], "400"), await refused.json())

    state_url = f"/v1/sessions/{provider.name}/string"

    async def state() -> Any:
        response = await client.get(state_url, headers=admin)
        return await response.json() if response.status == 200 else None

    conforms(
        doc, _schema(paths["/v1/sessions/{provider}/{id}"]["get"], "200"), await eventually(state)
    )
    events = await (await client.get(state_url + "/events", headers=admin)).json()
    conforms(doc, _schema(paths["/v1/sessions/{provider}/{id}/events"]["get"], "200"), events)


@pytest.mark.services
async def test_a_downstream_queue_receives_events_as_the_asyncapi_document_says(
    client: Client, provider: Provider, amqp_url: str
) -> None:
    doc = asyncapi()
    message_doc = doc["components"]["messages"]["SessionEvent"]
    connection = await aio_pika.connect(amqp_url)
    async with connection, connection.channel() as channel:
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind("chargehook.events", f"session.*.{provider.name}")
        headers = {**provider.auth, "Content-Type": "application/json"}
        item = event("s-downstream", "IN_PROGRESS", 3, charged_kwh=1.25)
        await client.post("/v1/sessions", data=msgspec.json.encode(item), headers=headers)

        async def received() -> aio_pika.abc.AbstractIncomingMessage | None:
            return await queue.get(fail=False)

        message = await eventually(received)
        assert message is not None
        await message.ack()
    payload = msgspec.json.decode(message.body)
    conforms(doc, message_doc["payload"], payload)
    conforms(doc, message_doc["headers"], {k: str(v) for k, v in (message.headers or {}).items()})
    assert message.routing_key == f"session.in_progress.{provider.name}"
    assert message.message_id == payload["event_id"] and payload["session"] == item


def _schema(operation: dict[str, Any], status: str) -> dict[str, Any]:
    schema: dict[str, Any] = operation["responses"][status]["content"]["application/json"]["schema"]
    return schema
