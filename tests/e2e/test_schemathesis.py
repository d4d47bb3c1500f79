"""schemathesis against the project's own OpenAPI document and a real `chargehook ingest` on the
real broker and database: no 5xx, and every answer's status, content type and body as the
document says, for the ingest route (a provider's token), every admin route (the admin's) and
every OCPI route (a CPO's token C, Base64 in `Authorization: Token`)."""

import asyncio
import sys
from functools import partial
from pathlib import Path

import aiohttp
import msgspec
import pytest

from chargehook.ingest.openapi import openapi
from chargehook.plumbing.database import Pool
from chargehook.providers.store import add_provider
from lab.services import free_port
from tests import processes
from tests.ocpi_support import headers, make_cpo, ocpi_pushes
from tests.support import ADMIN_TOKEN, answers_ok, eventually

# three schemathesis runs of 30 examples per operation: about two minutes here, each bounded at
# 240 s
pytestmark = [pytest.mark.services, pytest.mark.timeout(600)]
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,"
CHECKS += "response_schema_conformance"
SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))


async def schemathesis(document: Path, base: str, authorization: str, *selection: str) -> str:
    process = await asyncio.create_subprocess_exec(
        SCHEMATHESIS, "run", str(document), "--url", base, "--checks", CHECKS,
        "--header", f"Authorization: {authorization}", "--max-examples", "30",
        "--generation-deterministic", "--no-color", *selection,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), 240)
    report = out.decode(errors="replace")
    assert process.returncode == 0, report[-4000:]
    return report


async def test_every_route_answers_as_its_document_says(
    amqp_url: str, database_url: str, pool: Pool, tmp_path: Path
) -> None:
    document = tmp_path / "openapi.json"
    document.write_bytes(msgspec.json.encode(openapi()))
    token = await add_provider(pool, "schemathesis")
    cpo = await make_cpo(pool)
    port = free_port()
    env = processes.chargehook_env(
        amqp_url=amqp_url, database_url=database_url, admin_token=ADMIN_TOKEN,
        http_port=str(port), log_level="warning",
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    async with processes.started(["ingest"], env), aiohttp.ClientSession() as http:
        await eventually(partial(answers_ok, http, f"{base}/healthz"), within=30)
        ingest = await schemathesis(
            document, base, f"Bearer {token}", "--include-path", "/v1/sessions",
            "--include-method", "POST",
        )  # fmt: skip
        admin = await schemathesis(
            document, base, f"Bearer {ADMIN_TOKEN}", "--exclude-path", "/v1/sessions",
            "--exclude-path-regex", "^/ocpi/",
        )  # fmt: skip
        async with ocpi_pushes(amqp_url):  # a push is routed, as the ocpi worker's queue does
            ocpi = await schemathesis(
                document, base, headers(cpo.token)["Authorization"], "--include-path-regex",
                "^/ocpi/", "--exclude-operation-id", "deleteOcpiCredentials",
            )  # fmt: skip
    assert "passed" in ingest and "passed" in admin and "passed" in ocpi
