"""Stages 1 to 5: the bare baseline, ingest under the same load and ingest's OCPI face under a
load of Session PUTs (2b), then each worker kind draining a preloaded queue on its own (persist,
billing, notify; one process, then two)."""

import asyncio
import re
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from bench import counts, wrk
from bench.lab import BILLING, NOTIFY, OCPI, PERSIST, Lab
from bench.processes import Child, cpu_seconds
from bench.report import Counts, Row, Run, number
from bench.servers import Server
from chargehook.plumbing.broker import OutboundMessage
from lab import bodies
from lab.services import free_port

PUBLISH_WINDOW = 500  # confirms in flight while preloading


@dataclass
class Plan:
    """How much of everything; --quick makes each figure small."""

    quick: bool
    http_seconds: float
    warmup_seconds: float
    connections: int
    persist_events: int
    billing_events: int
    notify_events: int
    curve_rates: list[float]  # offered events/s, in order, until a point fails
    curve_seconds: float  # of load at each
    gap: float  # seconds between a session's IN_PROGRESS and its FINISHED
    drain_timeout: float
    soak_seconds: float
    soak_rate: float | None  # None: 60 % of the knee the sweep found in the same run
    embedded_events: int
    work: Path
    use_wrk: bool = True  # False: the Python client even where wrk is installed


@dataclass
class Bench:
    lab: Lab
    plan: Plan
    run: Run
    bare_rps: float | None = None
    floors: dict[str, float] = field(default_factory=dict)  # bare drain rates, by kind
    servers: list[Server] = field(default_factory=list)  # RabbitMQ, PostgreSQL: those here
    knee: float | None = None  # the sweep's highest rate that passed, once it ran
    receiver_url: str = ""
    receiver_secret: str = ""
    _receiver: Child | None = field(default=None, repr=False)

    async def receiver(self) -> str:
        """The subscriber's URL; the receiver and its subscription are made on first use."""
        if self._receiver is None:
            port = free_port()
            args = [sys.executable, "-m", "bench.receiver", "--port", str(port)]
            self._receiver = await self.lab.children.start("receiver", args)
            base = f"http://127.0.0.1:{port}"
            await self.lab.wait_http(base + "/stats")
            self.receiver_url = base + "/hook"
            self.receiver_secret = await self.lab.add_subscription(self.receiver_url)
            await self.use_secret(self.receiver_secret)
        return self.receiver_url

    def receiver_pid(self) -> int:
        assert self._receiver is not None
        return self._receiver.pid

    def receiver_base(self) -> str:
        return self.receiver_url.removesuffix("/hook")

    async def use_secret(self, secret: str) -> None:
        async with self.lab.http.post(self.receiver_base() + "/secret", data=secret) as answer:
            answer.raise_for_status()

    async def receiver_reset(self, prefix: str) -> None:
        """Count from zero, only the items whose session id starts with `prefix`."""
        async with self.lab.http.post(self.receiver_base() + "/reset", data=prefix) as answer:
            answer.raise_for_status()

    async def receiver_stats(self) -> dict[str, int]:
        async with self.lab.http.get(self.receiver_base() + "/stats") as answer:
            stats: dict[str, int] = msgspec.json.decode(await answer.read())
            return stats

    def rows(self, *rows: Row) -> None:
        self.run.rows.extend(rows)
        for row in rows:
            print(f"  {row.stage}: {number(row.figure, row.unit)}", flush=True)

    def record_counts(self, counts: Counts) -> None:
        self.run.counts.append(counts)
        sql = counts.sql_note or f"{number(counts.sql_statements)} SQL statements"
        print(f"  {counts.stage}: per event {sql}, {number(counts.commits)} commits", flush=True)


async def read_counter(bench: Bench, url: str, provider: str) -> int:
    """Ingest's chargehook_events_accepted_total for the provider, from its /metrics."""
    async with bench.lab.http.get(url) as answer:
        text = await answer.text()
    pattern = rf'^chargehook_events_accepted_total\{{provider="{re.escape(provider)}"\}} (\d+)'
    found = re.search(pattern, text, re.M)
    return int(found[1]) if found else 0


async def read_bare(bench: Bench, url: str) -> int:
    async with bench.lab.http.get(url) as answer:
        return int(msgspec.json.decode(await answer.read())["accepted"])


async def http_stage(bench: Bench, kind: str) -> None:
    """Stage 1 (bare), 2 (ingest) or 2b (ocpi): req/s and latency with `connections` in flight.

    bare and ingest take page-shaped POSTs, each a new session, and count what reached
    `chargehook.persist` and `chargehook.billing`; ocpi takes OCPI Session PUTs from a CPO with
    one party, each a new session id in the URL and the body, and counts what reached
    `chargehook.ocpi` (no worker reads it during the stage)."""
    lab, plan = bench.lab, bench.plan
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    url, party = base + "/v1/sessions", None
    queues: tuple[str, ...] = (PERSIST, BILLING)
    if kind == "bare":
        args = [sys.executable, "-m", "bench.bare", "--port", str(port), "--amqp-url", lab.amqp_url]
        child = await lab.children.start("bare", args)
        token = "bare"  # noqa: S105 - the bare handler checks no token
        await lab.wait_http(base + "/stats")

        async def accepted() -> int:
            return await read_bare(bench, base + "/stats")

    else:
        suffix = uuid.uuid4().hex[:6]
        if kind == "ocpi":
            provider = f"bench-ocpi-{suffix}"
            country_code, party_id = "BE", suffix[:3].upper()  # a party is one CPO's
            token = await lab.add_cpo(provider, country_code, party_id)
            party = f"{country_code}/{party_id}"
            url = f"{base}{bodies.OCPI_SESSIONS}/{party}/"  # + each request's session id
            queues = (OCPI,)
        else:
            provider = f"bench-ingest-{suffix}"
            token = await lab.add_provider(provider)
        child = await lab.start("ingest", "ingest", http_port=str(port))
        await lab.wait_http(base + "/readyz")

        async def accepted() -> int:
            return await read_counter(bench, base + "/metrics", provider)

    load = (lab.children, url, token, plan.connections)
    try:
        if plan.warmup_seconds > 0:
            await wrk.flood(*load, plan.warmup_seconds, plan.work, plan.use_wrk, party)
            await asyncio.sleep(0.5)
        await lab.purge(queues)
        before, cpu_before = await accepted(), cpu_seconds(child.pid)
        result = await wrk.flood(*load, plan.http_seconds, plan.work, plan.use_wrk, party)
        await asyncio.sleep(0.5)  # requests in flight when the load stopped finish
        taken, cpu_after = await accepted() - before, cpu_seconds(child.pid)
        depths = [(await lab.queue_state(q))[0] for q in queues]
    finally:
        await lab.children.stop(child)
        await lab.purge(queues)  # later stages start from empty queues
    rps = result.ok / result.elapsed if result.elapsed else 0.0
    slack = plan.connections + result.errors
    balanced = all(taken == depth for depth in depths)
    balanced = balanced and result.ok <= taken <= result.ok + slack
    ledger = {"sent": result.sent, "2xx": result.ok, "accepted": taken}
    ledger |= {
        f"queued {q.removeprefix('chargehook.')}": d for q, d in zip(queues, depths, strict=True)
    }
    note = f"load: {result.client}, {plan.connections} connections, {result.elapsed:.0f} s"
    if result.non2xx or result.errors:
        note += f"; {result.non2xx} non-2xx, {result.errors} socket errors"
    if taken and cpu_before is not None and cpu_after is not None:
        # what the server spent per request, steadier than req/s on a machine shared with others
        note += f"; server CPU {(cpu_after - cpu_before) / taken * 1e6:,.0f} µs/request"
    row = Row(stage="", figure=rps, unit="req/s", p50_ms=result.p50_ms, p99_ms=result.p99_ms)
    row.ledger, row.balanced, row.note = ledger, balanced, note
    if kind == "bare":
        bench.bare_rps = rps
        row.stage, row.vs_bare = "1 bare baseline (aiohttp + msgspec + confirm)", 1.0
        bench.rows(row)
        return
    if kind == "ocpi":
        row.stage, least = "2b ocpi ingest (Session PUT, token C)", 0.7
        row.note = "OCPI Session PUTs, each a new session id; " + row.note
    else:
        row.stage, least = "2 ingest", 0.85
    row.target = f">= {least} x bare"
    if bench.bare_rps:
        row.vs_bare = rps / bench.bare_rps
        row.met = row.vs_bare >= least
    else:
        row.met, row.note = False, row.note + "; no bare baseline in this run"
    bench.rows(row)


async def preload(lab: Lab, queue: str, messages: list[OutboundMessage]) -> None:
    """Straight into `queue` through the default exchange, confirmed, as chargehook publishes."""
    import aio_pika

    channel = await lab.channel()
    for start in range(0, len(messages), PUBLISH_WINDOW):
        await asyncio.gather(
            *(
                channel.default_exchange.publish(
                    aio_pika.Message(
                        m.body,
                        message_id=m.message_id,
                        content_type="application/json",
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        headers=dict(m.headers),
                    ),
                    queue,
                )
                for m in messages[start : start + PUBLISH_WINDOW]
            )
        )


DRAINS = {
    # worker kind: (queue, unit, done count)
    "persist": (PERSIST, "rows/s", "SELECT count(*) FROM session_events WHERE provider = $1"),
    "billing": (BILLING, "events/s", "SELECT count(*) FROM bills WHERE provider = $1"),
    "notify": (NOTIFY, "events/s", ""),
}
# persist and billing to their floor in the same run (bench/floors.py), notify in events/s
FLOOR_TARGETS = {"persist": (0.85, "bare consumer"), "billing": (0.65, "bare relay")}
NOTIFY_TARGET = 1_500


async def drain_stage(bench: Bench, kind: str, processes: int, events: int) -> None:
    """Stages 3 to 5: `events` preloaded, then `processes` workers empty the queue."""
    lab, plan = bench.lab, bench.plan
    queue, unit, sql = DRAINS[kind]
    provider = f"bench-{kind}-{processes}-{uuid.uuid4().hex[:6]}"
    tag = uuid.uuid4().hex[:8]
    items = [bodies.encode(bodies.item(f"{tag}-{n}")) for n in range(events)]
    if kind == "notify":
        await bench.receiver()
        await bench.receiver_reset(tag + "-")
        messages = [bodies.billed(provider, body) for body in items]
    else:
        messages = [bodies.event_message(provider, body) for body in items]

    async def done() -> int:
        if kind == "notify":
            return (await bench.receiver_stats())["items"]
        return await lab.count(sql, provider)

    await preload(lab, queue, messages)
    preloaded = (await lab.queue_state(queue))[0]
    before = await counts.snapshot(lab)  # each worker's start (migrations check) counts too
    started = [await lab.start_worker(kind) for _ in range(processes)]
    workers = [worker for worker, _ in started]
    timed_out = False
    try:
        begun = await lab.wait_consumers(queue, processes)
        done_at_start = await done()
        deadline = begun + plan.drain_timeout
        finished = await done()
        while finished < events or (await lab.queue_state(queue))[0] > 0:
            if time.monotonic() > deadline:
                timed_out = True
                break
            await asyncio.sleep(0.05)
            finished = await done()
        elapsed = time.monotonic() - begun
        metrics = await counts.scrape_settled(lab.http, [url for _, url in started])
    finally:
        await asyncio.gather(*(lab.children.stop(w) for w in workers))
    sql_done = counts.since(before, await counts.snapshot(lab))
    rate = (finished - done_at_start) / elapsed if elapsed > 0 else 0.0
    left = (await lab.queue_state(queue))[0]
    dead = (await lab.queue_state(queue + ".dead"))[0]
    ledger = {"preloaded": preloaded, "done": finished, "left": left, "dead": dead}
    stats = await bench.receiver_stats() if kind == "notify" else {}
    if kind == "notify":
        ledger |= {k: stats[k] for k in ("duplicates", "regressions")}
        ledger["bad signatures"] = stats["bad_signatures"]
    balanced = preloaded == events == finished and left == dead == 0
    balanced = balanced and not any(stats.get(k) for k in ("duplicates", "regressions"))
    balanced = balanced and not stats.get("bad_signatures")
    noun = "process" if processes == 1 else "processes"
    number = {"persist": 3, "billing": 4, "notify": 5}[kind]
    notes = [f"timed out after {plan.drain_timeout:.0f} s"] if timed_out else []
    if done_at_start:
        notes.append(f"{done_at_start} done before all consumers were up")
    if kind == "notify":
        notes.append(f"{stats['verified']} signatures verified")
    row = Row(stage=f"{number} {kind} drain, {processes} {noun}", figure=rate, unit=unit,
              ledger=ledger, balanced=balanced, note="; ".join(notes))  # fmt: skip
    drain_target(row, kind, bench.floors.get(kind), timed_out)
    bench.rows(row)
    receiver = stats if kind == "notify" else None
    bench.record_counts(counts.design_counts(row.stage, events, sql_done, metrics, receiver))
    await lab.purge()


def drain_target(row: Row, kind: str, floor: float | None, timed_out: bool) -> None:
    """persist and billing against their floor measured in the same run; notify in events/s."""
    rate = row.figure or 0.0
    if kind not in FLOOR_TARGETS:
        row.target = f">= {NOTIFY_TARGET:,} {row.unit}"
        row.met = rate >= NOTIFY_TARGET and not timed_out
        return
    least, name = FLOOR_TARGETS[kind]
    row.target = f">= {least} x {name}"
    row.vs_bare = rate / floor if floor else None
    row.met = row.vs_bare is not None and row.vs_bare >= least and not timed_out
    if not floor:
        row.note = "; ".join(filter(None, [row.note, f"no {name} in this run"]))
