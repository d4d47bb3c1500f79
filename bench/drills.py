"""python -m bench.drills [--quick]: faults under load on the real services, then the ledger.

ingest and one process of each worker kind run as `python -m bench` runs them (a vhost and a
database of their own, one subscriber). A provider-like client posts sessions, IN_PROGRESS then
FINISHED, and retries every answer but a 200 with the same body, as a provider would. Meanwhile,
at fixed times: each worker kind is killed with SIGKILL and started again, the subscriber hangs
(answers 503 after holding each request), every connection to the drill's database is killed
every 0.4 s for a while (`pg_terminate_backend`), and, in the full drill, RabbitMQ and
PostgreSQL are restarted. Then it waits for every session's FINISHED to reach the subscriber
and prints the ledger: accepted = stored = final bills = delivered final states, no double
bill, no session backwards, no duplicate `webhook-id`, no dead letter (a fault of the
database or the broker is retried, never dead-lettered); it exits 1 when the ledger does not
balance.

The quick drill (the test suite runs it) leaves RabbitMQ and PostgreSQL running: other tests
share them.
"""

import argparse
import asyncio
import os
import time
import uuid
from asyncio.subprocess import DEVNULL
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import aio_pika
import aiohttp
import uvloop

from bench.lab import WORK_QUEUES, Lab, open_lab
from bench.pipeline import Pipeline, start_pipeline, stop_pipeline
from bench.processes import command
from bench.report import new_run
from bench.stages import Bench, Plan
from chargehook.plumbing.broker import DEAD_QUEUE_SUFFIX
from lab import bodies

RESULTS = Path(__file__).parent / "results"
RETRY_SCHEDULE = "1,2,3,5,5,5,5"  # seconds: a drill waits for its retries, not for hours


@dataclass
class Timeline:
    started: float = field(default_factory=time.monotonic)
    faults: list[tuple[str, float, float]] = field(default_factory=list)  # name, from, to

    def now(self) -> float:
        return time.monotonic() - self.started


@dataclass
class Drill:
    bench: Bench
    pipeline: Pipeline
    timeline: Timeline
    killed_backends: int = 0

    @property
    def lab(self) -> Lab:
        return self.bench.lab

    async def fault(self, name: str, act: Callable[[], Awaitable[None]]) -> None:
        began = self.timeline.now()
        await act()
        self.timeline.faults.append((name, began, self.timeline.now()))
        print(f"  {began:6.1f} s  {name}", flush=True)

    async def kill_and_restart(self, kind: str) -> None:
        child = self.pipeline.children[kind]
        child.process.kill()
        await self.lab.children.stop(child)
        await asyncio.sleep(1)
        self.pipeline.children[kind] = await self.lab.start(f"worker-{kind}", "worker", kind)

    async def hang_subscriber(self, seconds: float) -> None:
        async with self.lab.http.post(
            self.bench.receiver_base() + "/hang", data=str(seconds)
        ) as answer:
            answer.raise_for_status()
        await asyncio.sleep(seconds)

    async def restart_rabbitmq(self) -> None:
        await command(["rabbitmqctl", "-q", "stop_app"])
        await asyncio.sleep(5)
        await command(["rabbitmqctl", "-q", "start_app"])
        await command(["rabbitmqctl", "-q", "await_startup"])
        self.lab.connection = await aio_pika.connect(self.lab.amqp_url)  # the bench's own
        self.lab._channel = None

    async def terminate_backends(self, seconds: float, every: float = 0.4) -> None:
        """Every connection to the drill's database but this one, killed every `every`
        seconds for `seconds`: each worker's batch meets a connection broken under it."""
        kill = (
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        ends = time.monotonic() + seconds
        while time.monotonic() < ends:
            self.killed_backends += await self.lab.count(kill)
            await asyncio.sleep(every)

    async def restart_postgresql(self) -> None:
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        restart = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"]
        # not `command`: the server it starts keeps any pipe it was given open for good
        process = await asyncio.create_subprocess_exec(
            *restart, stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL
        )
        if await asyncio.wait_for(process.wait(), 120) != 0:
            raise RuntimeError("pg_ctlcluster restart failed")


def schedule(quick: bool) -> list[tuple[float, str, Callable[[Drill], Awaitable[None]]]]:
    """(seconds into the load, name, fault)."""
    faults: list[tuple[float, str, Callable[[Drill], Awaitable[None]]]] = [
        (
            0.5,
            "database backends killed every 0.4 s for 2.5 s",
            lambda d: d.terminate_backends(2.5),
        ),
        (3.0, "kill -9 worker persist, restart it", lambda d: d.kill_and_restart("persist")),
        (4.5, "kill -9 worker billing, restart it", lambda d: d.kill_and_restart("billing")),
        (6.0, "kill -9 worker notify, restart it", lambda d: d.kill_and_restart("notify")),
        (7.5, "subscriber hangs 3 s", lambda d: d.hang_subscriber(3.0)),
    ]
    if not quick:
        faults += [
            (12.0, "RabbitMQ stopped 5 s and started", lambda d: d.restart_rabbitmq()),
            (
                19.0,
                "database backends killed every 0.4 s for 5 s",
                lambda d: d.terminate_backends(5.0),
            ),
            (25.0, "PostgreSQL restarted", lambda d: d.restart_postgresql()),
            (32.0, "subscriber hangs 20 s", lambda d: d.hang_subscriber(20.0)),
        ]
    return faults


@dataclass
class Sent:
    accepted: int = 0  # events answered 200
    retries: int = 0  # answers other than 200, or no answer, each retried


async def provider(url: str, token: str, tag: str, sessions: int, rate: float) -> Sent:
    """Each session IN_PROGRESS then FINISHED, a session started every 1/rate s, every post
    retried with the same body until it is answered 200."""
    sent = Sent()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout, headers=headers) as http:

        async def post(body: bytes) -> None:
            pause = 0.2
            while True:
                try:
                    async with http.post(url, data=body) as answer:
                        if answer.status == 200:
                            sent.accepted += 1
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                sent.retries += 1
                await asyncio.sleep(pause)
                pause = min(pause * 2, 2.0)

        async def session(n: int) -> None:
            await asyncio.sleep(n / rate)
            for minute, status in ((0, "IN_PROGRESS"), (5, "FINISHED")):
                await post(bodies.encode(bodies.item(f"{tag}-{n}", status, minute)))

        await asyncio.gather(*(session(n) for n in range(sessions)))
    return sent


async def ledger(drill: Drill, name: str, sessions: int, sent: Sent) -> dict[str, int]:
    sql = {
        "stored": "SELECT count(*) FROM session_events WHERE provider = $1",
        "final bills": "SELECT count(*) FROM bills WHERE provider = $1 AND kind = 'final'",
        "double bills": "SELECT count(*) FROM (SELECT 1 FROM bills WHERE provider = $1"
        " AND kind = 'final' GROUP BY session_id HAVING count(*) > 1) AS doubled",
        "sessions not FINISHED": "SELECT count(*) FROM sessions WHERE provider = $1"
        " AND status <> 'FINISHED'",
    }
    counts = {label: await drill.lab.count(query, name) for label, query in sql.items()}
    dead = await drill.lab.depths([queue + DEAD_QUEUE_SUFFIX for queue in WORK_QUEUES])
    stats = await drill.bench.receiver_stats()
    return {
        "sessions": sessions,
        "accepted": sent.accepted,
        "client retries": sent.retries,
        "stored": counts["stored"],
        "final bills": counts["final bills"],
        "delivered final states": stats["finals"],
        "double bills": counts["double bills"],
        "sessions stored backwards": counts["sessions not FINISHED"],
        "sessions delivered backwards": stats["regressions"],
        "duplicate webhook-ids": stats["duplicates"],
        "dead letters": sum(dead.values()),
        "database backends killed": drill.killed_backends,
    }


def balanced(book: dict[str, int]) -> bool:
    sessions = book["sessions"]
    return (
        book["accepted"] == book["stored"] == 2 * sessions
        and book["final bills"] == book["delivered final states"] == sessions
        and book["double bills"] == 0
        and book["sessions stored backwards"] == book["sessions delivered backwards"] == 0
        and book["duplicate webhook-ids"] == book["dead letters"] == 0
    )


async def settled(drill: Drill, sessions: int, bound: float) -> bool:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if (await drill.bench.receiver_stats())["finals"] >= sessions:
            return True
        await asyncio.sleep(0.5)
    return False


async def run_drill(quick: bool, sessions: int, out: Path) -> bool:
    plan = Plan(
        quick=quick, http_seconds=0, warmup_seconds=0, connections=0, persist_events=0,
        billing_events=0, notify_events=0, pipelines=[], gap=0, drain_timeout=60,
        soak_seconds=0, embedded_events=0, work=out / f"drill-{time.strftime('%Y%m%d-%H%M%S')}",
    )  # fmt: skip
    overrides = {"retry_schedule": RETRY_SCHEDULE, "retry_busy_delay": "0.5"}
    root = ("amqp://guest:guest@127.0.0.1:5672/", "postgresql://postgres@127.0.0.1:5432/postgres")
    async with open_lab(*root, plan.work, overrides) as lab:
        bench = Bench(lab, plan, new_run({"mode": "drill"}, "drill client"))
        pipeline = await start_pipeline(bench)
        name, tag = f"drill-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex[:8]
        await bench.receiver_reset(tag + "-")
        token = await lab.add_provider(name)
        drill = Drill(bench, pipeline, Timeline())
        rate = sessions / (10.0 if quick else 40.0)
        load = asyncio.create_task(provider(pipeline.url, token, tag, sessions, rate))
        for at, label, act in schedule(quick):
            await asyncio.sleep(max(0.0, at - drill.timeline.now()))
            await drill.fault(label, partial(act, drill))
        sent = await load
        print(f"  {drill.timeline.now():6.1f} s  load done; waiting for every FINISHED", flush=True)
        done = await settled(drill, sessions, 120.0 if quick else 300.0)
        book = await ledger(drill, name, sessions, sent)
        await stop_pipeline(bench, pipeline)
    ok = done and balanced(book)
    width = max(map(len, book))
    print("\n| fault | from | to |\n| --- | --- | --- |")
    for label, began, ended in drill.timeline.faults:
        print(f"| {label} | {began:.1f} s | {ended:.1f} s |")
    print("\n| ledger | count |\n| --- | --- |")
    for label, value in book.items():
        print(f"| {label:<{width}} | {value:,} |")
    print(f"\n{'balanced' if ok else 'NOT balanced'}" + ("" if done else " (not settled)"))
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.drills", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="workers and subscriber only")
    parser.add_argument("--sessions", type=int, help="sessions posted (300 quick, 3000 full)")
    parser.add_argument("--out", default=str(RESULTS), help="folder for the processes' logs")
    args = parser.parse_args()
    sessions = args.sessions or (300 if args.quick else 3000)
    return 0 if uvloop.run(run_drill(args.quick, sessions, Path(args.out))) else 1


if __name__ == "__main__":
    raise SystemExit(main())
