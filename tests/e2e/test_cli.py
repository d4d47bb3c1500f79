"""The `chargehook` command as operators and newcomers meet it."""

import asyncio
import hashlib
import re
import uuid
from asyncio.subprocess import Process
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from standardwebhooks.webhooks import Webhook

from chargehook.plumbing.database import Pool
from lab.services import free_port
from tests import processes
from tests.bill_support import add_bill, correct, fresh_ledger
from tests.receiver import Receiver, exact, receiving
from tests.support import eventually

EXAMPLE = Path(__file__).parents[2] / "examples" / "page-example.json"


@pytest.mark.parametrize(
    ("env", "args", "message"),
    [
        (
            {"http_port": "eighty"},
            ["ingest"],
            "chargehook: CHARGEHOOK_HTTP_PORT: Expected `int`, got `str`",
        ),
        (
            {"http_port": "70000"},
            ["run"],
            "chargehook: CHARGEHOOK_HTTP_PORT: Expected `int` <= 65535",
        ),
        ({"nope": "1"}, ["run"], "chargehook: unknown setting CHARGEHOOK_NOPE; known:"),
        (
            {},
            ["worker", "persist"],
            "chargehook: `chargehook worker persist` needs CHARGEHOOK_AMQP_URL",
        ),
        ({}, ["provider", "add", "Bad.Name"], "chargehook: provider name 'Bad.Name': use a-z"),
        (
            {},
            ["ingest", "--log-level", "loud"],
            "chargehook: CHARGEHOOK_LOG_LEVEL: Invalid enum value 'loud'",
        ),
        (
            {},
            ["bills", "export", "--since", "2026-03-01T00:00", "--until", "2026-03-02"],
            "chargehook: --since: Expected a date (its UTC midnight) or a date-time with an offset",
        ),
        (
            {},
            ["bills", "export", "--since", "2026-03-02", "--until", "2026-03-01"],
            "chargehook: --until: Expected a time after since, 2026-03-02T00:00:00Z",
        ),
    ],
    ids=[
        "not a number",
        "out of range",
        "unknown setting",
        "worker needs services",
        "bad name",
        "bad flag",
        "a time without an offset",
        "an empty period",
    ],
)
async def test_bad_settings_stop_with_one_clear_line(
    env: dict[str, str], args: list[str], message: str
) -> None:
    result = await processes.run(args, processes.chargehook_env(**env))
    assert result.returncode == 2
    assert result.stderr.startswith(message), result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1


@pytest.mark.services
async def test_provider_add_prints_a_token_once_and_stores_only_its_hash(
    database_url: str, pool: Pool
) -> None:
    name = f"acme{uuid.uuid4().hex[:6]}"
    result = await processes.run(
        ["provider", "add", name], processes.chargehook_env(database_url=database_url)
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.split()[-1]
    assert token.startswith("chp_") and len(token) > 40
    assert result.stdout.count(token) == 1
    stored = await pool.fetch("SELECT token_hash FROM provider_tokens WHERE provider = $1", name)
    assert [row["token_hash"] for row in stored] == [hashlib.sha256(token.encode()).digest()]
    anywhere = await pool.fetchval(
        "SELECT count(*) FROM provider_tokens t JOIN providers p ON p.name = t.provider"
        " WHERE p.name = $1 AND position($2 in t::text || p::text) > 0",
        name,
        token,
    )
    assert anywhere == 0, "the token itself is stored"


@pytest.mark.embedded
async def test_run_with_no_urls_is_the_whole_pipeline_on_the_embedded_default(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = processes.chargehook_env(
        http_port=str(port), data_dir=str(tmp_path / "data"), allow_private_urls="true"
    )
    with (tmp_path / "stderr").open("w+") as logs:
        async with receiving() as hook:
            async with processes.started(["run"], env, str(tmp_path), logs) as chargehook:
                banner = await asyncio.wait_for(processes.lines(chargehook, 14), 90)
                await _demo_cpo_walk(banner, port)
                await _whole_pipeline(chargehook, banner, hook, port)
        logs.seek(0)
        printed = logs.read()
    assert "migration applied" in printed  # its logs are here
    # a clean start prints no warning: neither Python's nor a log line at warning or above
    assert "Warning" not in printed and '"level": "warning"' not in printed, printed
    assert '"level": "error"' not in printed, printed


async def _whole_pipeline(chargehook: Process, banner: str, hook: Receiver, port: int) -> None:
    """Post the page example, read it back billed, receive it signed at a subscriber."""
    assert f"http://127.0.0.1:{port}" in banner
    assert f"operators' portal: http://127.0.0.1:{port}/ui/" in banner
    assert f"http://127.0.0.1:{port}/v1/sessions/demo/string" in banner  # the read-back
    admin = re.search(r"admin token \(generated for this run\): (\S+)", banner)
    demo = re.search(r"demo provider token: (\S+)", banner)
    assert admin and demo, banner
    base = f"http://127.0.0.1:{port}/v1/sessions"

    async with aiohttp.ClientSession(raise_for_status=True) as http:
        admin_json = {"Authorization": f"Bearer {admin[1]}"}
        subscribe = {"url": hook.url, "statuses": ["FINISHED"]}
        subscriptions_url = f"http://127.0.0.1:{port}/v1/subscriptions"
        async with http.post(subscriptions_url, json=subscribe, headers=admin_json) as created:
            secret = (await created.json())["secret"]
        demo_auth = {"Authorization": f"Bearer {demo[1]}", "Content-Type": "application/json"}

        async def post_until_delivered() -> bool:
            # A provider's retry is harmless (same event id): it is repeated until the worker
            # has learnt of the new subscription, which reaches it by a NOTIFY.
            async with http.post(base, data=EXAMPLE.read_bytes(), headers=demo_auth) as posted:
                assert (await posted.json())["accepted"] == 1
            return bool(hook.received)

        await eventually(post_until_delivered, within=30, interval=0.5)

        async def stored() -> object:
            admin_auth = {"Authorization": f"Bearer {admin[1]}"}
            async with http.get(
                f"{base}/demo/string", headers=admin_auth, raise_for_status=False
            ) as got:
                return await got.json() if got.status == 200 else None

        state = await eventually(stored, within=30)
    assert isinstance(state, dict) and state["status"] == "FINISHED"
    [delivered] = hook.received
    Webhook(secret).verify(delivered.body, delivered.headers)
    # the example's accessPrice 0.15 (its plug's charger details) is all there is to bill
    assert delivered.items[0]["amount"] == Decimal("0.21")
    assert await processes.terminated(chargehook) == 0


async def _demo_cpo_walk(banner: str, port: int) -> None:
    """docs/ocpi.md#a-demo-cpo step by step, with the files of examples/ocpi/: the demo CPO
    registers with the token A the banner printed, pushes its Session and its CDR, and the
    Session is read back merged and billed."""
    token_a = re.search(r"demo OCPI CPO demo-cpo \(party ES-DEM\), token A: (\S+)", banner)
    admin = re.search(r"admin token \(generated for this run\): (\S+)", banner)
    assert token_a and admin, banner
    base = f"http://127.0.0.1:{port}"
    assert f"curl -s -H 'Authorization: Token {token_a[1]}' {base}/ocpi/versions" in banner
    async with demo_cpo_files() as cpo_base, aiohttp.ClientSession() as http:

        async def call(method: str, path: str, token: str, name: str | None = None) -> Any:
            answer, headers = await ocpi(method, path, token, name)
            assert answer["status_code"] == 1000, answer
            return answer["data"], headers

        async def ocpi(method: str, path: str, token: str, name: str | None = None) -> Any:
            body = None if name is None else demo_file(name, cpo_base)
            headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
            async with http.request(method, base + path, data=body, headers=headers) as got:
                return exact.decode(await got.read()), got.headers

        versions, _ = await call("GET", "/ocpi/versions", token_a[1])
        assert versions == [{"version": "2.2.1", "url": f"{base}/ocpi/2.2.1"}]
        credentials, _ = await call("POST", CREDENTIALS, token_a[1], "credentials.json")
        token_c = credentials["token"]
        await call("PUT", DEMO_SESSION, token_c, "session-put.json")
        await call("PATCH", DEMO_SESSION, token_c, "session-patch.json")
        _, headers = await call("POST", "/ocpi/2.2.1/cdrs", token_c, "cdr.json")
        assert headers["Location"] == f"{base}/ocpi/2.2.1/cdrs/ES/DEM/cdr-demo-1"

        async def merged() -> Any:
            session = (await ocpi("GET", DEMO_SESSION, token_c))[0]["data"]
            return session if session and len(session["charging_periods"]) == 2 else None

        assert (await eventually(merged, within=30))["status"] == "COMPLETED"

        async def billed() -> Any:
            headers = {"Authorization": f"Bearer {admin[1]}"}
            async with http.get(
                f"{base}/v1/sessions/demo-cpo/ES-DEM-s-demo-1", headers=headers
            ) as got:
                state = exact.decode(await got.read()) if got.status == 200 else {}
                return state if state.get("status") == "FINISHED" else None

        bill = (await eventually(billed, within=30))["billing"]
    assert (bill["base"], bill["commission"], bill["tax"], bill["amount"]) == (
        Decimal("4.00"), Decimal("0.40"), Decimal("0.92"), Decimal("5.32")
    )  # fmt: skip


OCPI_EXAMPLES = EXAMPLE.parent / "ocpi"
CREDENTIALS = "/ocpi/2.2.1/credentials"
DEMO_SESSION = "/ocpi/2.2.1/sessions/ES/DEM/s-demo-1"
DEMO_CPO_ADDRESS = "http://127.0.0.1:8001"  # where docs/ocpi.md serves examples/ocpi/cpo/


def demo_file(name: str, cpo_base: str) -> bytes:
    """An example file as the walk-through sends it, the demo CPO at this test's address."""
    text = (OCPI_EXAMPLES / name).read_text()
    return text.replace(DEMO_CPO_ADDRESS, cpo_base).encode()


@asynccontextmanager
async def demo_cpo_files() -> AsyncIterator[str]:
    """examples/ocpi/cpo/ served as `python3 -m http.server` does, on a port of the test's."""

    async def served(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        return web.Response(body=demo_file(f"cpo/{name}", base), content_type="application/json")

    app = web.Application()
    app.router.add_get("/{name}", served)
    async with TestServer(app, host="127.0.0.1") as server:
        base = str(server.make_url("")).rstrip("/")
        yield base


@pytest.mark.services
async def test_provider_rates_are_set_at_registration_and_changeable_later(
    database_url: str, pool: Pool
) -> None:
    env = processes.chargehook_env(database_url=database_url)
    added = await processes.run(
        ["provider", "add", "ratesco", "--commission-rate", "0.05", "--tax-rate", "0.1"], env
    )
    assert added.returncode == 0, added.stderr
    changed = await processes.run(["provider", "rates", "ratesco", "--tax-rate", "0.21"], env)
    assert changed.returncode == 0 and "rates changed" in changed.stdout
    row = await pool.fetchrow(
        "SELECT commission_rate, tax_rate FROM providers WHERE name = 'ratesco'"
    )
    assert row is not None and (row["commission_rate"], row["tax_rate"]) == (
        Decimal("0.05"),
        Decimal("0.21"),
    )
    unknown = await processes.run(["provider", "rates", "nobody", "--tax-rate", "0.21"], env)
    assert unknown.returncode == 2 and "no provider 'nobody'" in unknown.stderr
    refused = await processes.run(["provider", "add", "ratesco", "--tax-rate", "1.5"], env)
    assert refused.returncode == 2 and "1.5 is not between 0 and 1" in refused.stderr


@pytest.mark.services
async def test_subscription_add_prints_the_secret_once_and_refuses_private_urls(
    database_url: str, pool: Pool
) -> None:
    env = processes.chargehook_env(database_url=database_url)
    refused = await processes.run(["subscription", "add", "http://10.0.0.1/hook"], env)
    assert refused.returncode == 2 and "private address" in refused.stderr
    allowed = processes.chargehook_env(database_url=database_url, allow_private_urls="true")
    args = ["subscription", "add", "http://127.0.0.1:9/hook", "--status", "FINISHED"]
    added = await processes.run([*args, "--provider", "repsol"], allowed)
    assert added.returncode == 0, added.stderr
    secret = added.stdout.split()[-1]
    assert secret.startswith("whsec_")
    row = await pool.fetchrow(
        "SELECT s.statuses, s.providers FROM subscriptions s JOIN subscription_secrets k"
        " ON k.subscription_id = s.id WHERE k.secret = $1",
        secret,
    )
    assert row is not None and (row["statuses"], row["providers"]) == (["FINISHED"], ["repsol"])


@pytest.mark.services
async def test_subscription_add_sets_the_batch_size(database_url: str, pool: Pool) -> None:
    env = processes.chargehook_env(database_url=database_url, allow_private_urls="true")
    args = ["subscription", "add", "http://127.0.0.1:9/batched"]
    added = await processes.run([*args, "--batch-size", "7"], env)
    assert added.returncode == 0, added.stderr
    secret = added.stdout.split()[-1]
    batch_size = await pool.fetchval(
        "SELECT s.batch_size FROM subscriptions s JOIN subscription_secrets k"
        " ON k.subscription_id = s.id WHERE k.secret = $1",
        secret,
    )
    assert batch_size == 7
    refused = await processes.run([*args, "--batch-size", "501"], env)
    assert refused.returncode == 2 and "'501' is not a whole number from 1 to 500" in refused.stderr


@pytest.mark.services
async def test_a_worker_serves_its_own_metrics_when_asked(amqp_url: str, database_url: str) -> None:
    port = free_port()
    env = processes.chargehook_env(
        amqp_url=amqp_url, database_url=database_url, metrics_port=str(port)
    )
    async with processes.started(["worker", "persist"], env):
        async with aiohttp.ClientSession() as http:

            async def scraped() -> str | None:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/metrics") as answer:
                        return await answer.text()
                except aiohttp.ClientConnectionError:
                    return None

            text = await eventually(scraped, within=30)
    assert text is not None and "# TYPE chargehook_worker_messages_total counter" in text


@pytest.mark.services
async def test_bills_export_writes_a_period_to_stdout_and_logs_to_stderr() -> None:
    async with fresh_ledger() as (url, pool):
        final = await add_bill(pool, 10)
        credit, replacement = await correct(pool, final, 20)
        await add_bill(pool, 24 * 60, session="the next day")
        env = processes.chargehook_env(database_url=url)
        period = ["--since", "2026-03-01", "--until", "2026-03-01T23:59:59.999999Z"]
        csv_export = await processes.run(["bills", "export", *period], env)
        jsonl = await processes.run(["bills", "export", *period, "--format", "jsonl"], env)
        credits = await processes.run(["bills", "export", *period, "--kind", "credit"], env)
    assert csv_export.returncode == jsonl.returncode == credits.returncode == 0, csv_export.stderr
    header, *lines = csv_export.stdout.splitlines()
    assert header.startswith("id,provider,session_id,event_id,cdr_id,status,kind,refers_to,")
    assert [line.split(",")[0] for line in lines] == [str(final), str(credit), str(replacement)]
    assert ",credit," in lines[1] and ",-14.06," in lines[1]
    decoded = [msgspec.json.decode(line) for line in jsonl.stdout.splitlines()]
    assert [bill["refers_to"] for bill in decoded] == [None, final, final]
    assert '"amount":-14.06,' in jsonl.stdout
    assert credits.stdout.splitlines()[1:] == [lines[1]]
    [logged] = [msgspec.json.decode(line) for line in csv_export.stderr.splitlines()
                if "bills exported" in line]  # fmt: skip
    assert logged["rows"] == 3 and logged["since"] == "2026-03-01T00:00:00Z"
