"""Stage 8: `chargehook run` on its embedded default (in-process broker, embedded PostgreSQL):
events/s from the first post to the last delivery, and the process's peak resident memory."""

import asyncio
import os
import re
import shutil
import sys
import tempfile
import time
import uuid

import msgspec

from bench.lab import ADMIN_TOKEN
from bench.load import Result
from bench.processes import Child, chargehook_args, peak_rss_mb
from bench.report import Row
from bench.stages import Bench
from lab.services import free_port

WELCOME = re.compile(r"(admin token|demo provider token)[^:]*: (\S+)")


async def embedded_stage(bench: Bench) -> None:
    """Stage 8: `chargehook run` with no URLs, N events posted, timed until all were delivered."""
    lab, plan, events = bench.lab, bench.plan, bench.plan.embedded_events
    await bench.receiver()
    data_dir = tempfile.mkdtemp(prefix="chargehook-bench-")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGEHOOK_")}
    settings = {"data_dir": data_dir, "http_port": str(port), "allow_private_urls": "true"}
    settings |= {"log_level": "warning", "log_format": "json", "drain_timeout": "3"}
    env |= {f"CHARGEHOOK_{k.upper()}": v for k, v in (lab.overrides | settings).items()}
    child = await lab.children.start("embedded", chargehook_args("run"), env, stdout_pipe=True)
    base = f"http://127.0.0.1:{port}"
    try:
        tokens = await read_welcome(child)
        known = lab.overrides.get("admin_token", ADMIN_TOKEN)  # printed only when generated
        admin = {"Authorization": f"Bearer {tokens.get('admin token', known)}"}
        body = msgspec.json.encode({"url": bench.receiver_url})
        admin["Content-Type"] = "application/json"
        async with lab.http.post(base + "/v1/subscriptions", data=body, headers=admin) as answer:
            answer.raise_for_status()
            secret = msgspec.json.decode(await answer.read())["secret"]
        await bench.use_secret(secret)
        tag = uuid.uuid4().hex[:8]
        await bench.receiver_reset(tag + "-")
        started = time.monotonic()
        args = [sys.executable, "-m", "bench.load", "flood", "--url", base + "/v1/sessions"]
        args += ["--token", tokens["demo provider token"], "--count", str(events), "--tag", tag]
        args += ["--duration", str(plan.drain_timeout)]
        load = await lab.children.start("load", args, stdout_pipe=True)
        out = await lab.children.output(load, plan.drain_timeout + 30)
        result = msgspec.json.decode(out.splitlines()[-1], type=Result)
        delivered, deadline = 0, started + plan.drain_timeout
        while delivered < result.ok and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            delivered = (await bench.receiver_stats())["items"]
        elapsed = time.monotonic() - started
        stats = await bench.receiver_stats()
        peak = peak_rss_mb(child.pid)
    finally:
        await lab.children.stop(child, grace=20)
        shutil.rmtree(data_dir, ignore_errors=True)
        await bench.use_secret(bench.receiver_secret)
    ledger = {"sent": result.sent, "2xx": result.ok, "delivered": stats["items"]}
    ledger |= {"duplicates": stats["duplicates"], "bad signatures": stats["bad_signatures"]}
    settled = stats["items"] >= result.ok
    clean = not (stats["duplicates"] or stats["bad_signatures"])
    balanced = clean and (result.sent == result.ok == stats["items"] or not settled)
    note = f"{events} events, 64 connections; p50/p99 are HTTP answers"
    if not settled:
        note += f"; {result.ok - stats['items']} not delivered within {plan.drain_timeout:.0f} s"
    memory = "chargehook run's own process (VmHWM), its embedded PostgreSQL's processes apart"
    bench.rows(
        Row(stage="8 embedded `chargehook run`, post then deliver", figure=stats["items"] / elapsed,
            unit="events/s", p50_ms=result.p50_ms, p99_ms=result.p99_ms, ledger=ledger,
            balanced=balanced, settled=settled, note=note),
        Row(stage="8 embedded `chargehook run`: peak RSS", figure=peak, unit="MB", note=memory),
    )  # fmt: skip


async def read_welcome(child: Child) -> dict[str, str]:
    """The tokens `chargehook run` prints once it listens."""
    assert child.process.stdout is not None
    tokens: dict[str, str] = {}
    deadline = time.monotonic() + 90
    while "demo provider token" not in tokens:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RuntimeError(f"`chargehook run` printed no demo token: {child.tail()}")
        line = await asyncio.wait_for(child.process.stdout.readline(), remaining)
        if not line:
            raise RuntimeError(f"`chargehook run` stopped: {child.tail()}")
        if found := WELCOME.search(line.decode()):
            tokens[found[1]] = found[2]
    return tokens
