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
import itertools
import os
import time
import uuid
from asyncio.subprocess import DEVNULL
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import aiohttp
import asyncpg
import uvloop

from bench.lab import PERSIST, WORK_QUEUES, Lab, open_lab
from bench.pipeline import Pipeline, start_pipeline, stop_pipeline
from bench.processes import command
from bench.report import new_run
from bench.stages import Bench, Plan
from chargehook.plumbing.broker import DEAD_QUEUE_SUFFIX
from chargehook.plumbing.cluster import vhost_of
from lab import bodies, cluster

RESULTS = Path(__file__).parent / "results"
RETRY_SCHEDULE = "1,2,3,5,5,5,5"  # seconds: a drill waits for its retries, not for hours


@dataclass
class Timeline:
    started: float = field(default_factory=time.monotonic)
    faults: list[tuple[str, float, float]] = field(default_factory=list)  # name, from, to
    notes: list[str] = field(default_factory=list)
    ready: list[tuple[float, int]] = field(default_factory=list)  # when, work queues' ready

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
        await self.lab.reconnect()  # the bench's own

    async def node_down(self, n: int, seconds: float) -> None:
        """A node of the local cluster (lab.cluster) stopped, then started after `seconds`."""
        await cluster.stop_node(n)
        await asyncio.sleep(seconds)
        await cluster.start_node(n)

    async def leader_down(self, queue: str, seconds: float) -> None:
        """The node leading `queue` stopped, then started after `seconds`."""
        leader = (
            await cluster.queue_leader(queue, vhost_of(self.lab.amqp_url.split(",")[0]))
        ).leader
        self.timeline.notes.append(f"{queue}'s leader was {leader}")
        await self.node_down(int(leader.split("@")[0].removeprefix("c")), seconds)

    async def fail_over_postgres(self) -> None:
        """The primary stopped as a crash would; the standby promoted."""
        await cluster.stop_primary("immediate")
        await cluster.promote_standby()

    async def terminate_backends(self, seconds: float, every: float = 0.4) -> None:
        """Every connection to the drill's database but this one, killed every `every`
        seconds for `seconds`: each worker's batch meets a connection broken under it."""
        kill = (
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        # as the database's owner: the lab's probes run as a role that may not end others'
        connection = await asyncpg.connect(self.lab.database_url)
        try:
            ends = time.monotonic() + seconds
            while time.monotonic() < ends:
                self.killed_backends += int(await connection.fetchval(kill) or 0)
                await asyncio.sleep(every)
        finally:
            await connection.close()

    async def restart_postgresql(self) -> None:
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        restart = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"]
        # not `command`: the server it starts keeps any pipe it was given open for good
        process = await asyncio.create_subprocess_exec(
            *restart, stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL
        )
        if await asyncio.wait_for(process.wait(), 120) != 0:
            raise RuntimeError("pg_ctlcluster restart failed")


Fault = tuple[float, str, Callable[[Drill], Awaitable[None]]]
CLUSTER_LOAD_SECONDS = 75.0


def cluster_schedule() -> list[Fault]:
    """(seconds into the load, name, fault) on the local cluster: every process connects to
    its first URL, c1, so c1 is the node each process is connected to."""
    return [
        (5.0, "RabbitMQ c1 (every process's node) stopped 10 s, started",
         lambda d: d.node_down(1, 10.0)),
        (30.0, "the leader of chargehook.persist stopped 10 s, started",
         lambda d: d.leader_down(PERSIST, 10.0)),
        (55.0, "PostgreSQL primary stopped (immediate), standby promoted",
         lambda d: d.fail_over_postgres()),
    ]  # fmt: skip


def schedule(quick: bool) -> list[Fault]:
    """(seconds into the load, name, fault)."""
    faults: list[Fault] = [
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
    answered: list[float] = field(default_factory=list)  # when each 200 came, drill seconds


def without_a_200(answered: list[float], began: float, ended: float) -> float:
    """The longest time without a 200 at ingest that overlaps [began, ended]."""
    times = sorted(answered)
    gaps = [
        (later - earlier)
        for earlier, later in itertools.pairwise(times)
        if later >= began and earlier <= ended
    ]
    return max(gaps, default=0.0)


def drained_after(
    samples: list[tuple[float, int]], began: float, ended: float, before: float
) -> tuple[float, int] | None:
    """Seconds from a fault's start until every work queue held no ready message again after
    the most it held during the fault or within 30 s of its end (and before the next fault),
    and that most; (0, 0) when none built up; None if they were never seen empty again."""
    window = [(at, ready) for at, ready in samples if began <= at <= min(ended + 30.0, before)]
    if not window or max(ready for _, ready in window) == 0:
        return (0.0, 0) if window else None
    peak = max(range(len(window)), key=lambda i: window[i][1])
    empty = next((at for at, ready in window[peak:] if ready == 0), None)
    return None if empty is None else (empty - began, window[peak][1])


async def provider(
    url: str, token: str, tag: str, sessions: int, rate: float, clock: Timeline
) -> Sent:
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
                            sent.answered.append(clock.now())
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


async def watch_queues(drill: Drill) -> None:
    """The work queues' ready messages every 0.25 s, for how long each fault held them up."""
    while True:
        try:
            ready = sum((await drill.lab.depths()).values())
            drill.timeline.ready.append((drill.timeline.now(), ready))
        except Exception:  # noqa: BLE001 - the bench's own node is down: another one
            with suppress(Exception):
                await drill.lab.reconnect()
        await asyncio.sleep(0.25)


async def run_drill(quick: bool, sessions: int, out: Path, on_cluster: bool = False) -> bool:
    plan = Plan(
        quick=quick, http_seconds=0, warmup_seconds=0, connections=0, persist_events=0,
        billing_events=0, notify_events=0, curve_rates=[], curve_seconds=0, gap=0,
        drain_timeout=60, soak_seconds=0, soak_rate=None, embedded_events=0,
        work=out / f"drill-{time.strftime('%Y%m%d-%H%M%S')}",
    )  # fmt: skip
    overrides = {"retry_schedule": RETRY_SCHEDULE, "retry_busy_delay": "0.5"}
    root = ("amqp://guest:guest@127.0.0.1:5672/", "postgresql://postgres@127.0.0.1:5432/postgres")
    node = None
    if on_cluster:
        await cluster.up()
        await cluster.reset_postgres()  # a primary on its first port, its standby synchronous
        root, node = (",".join(cluster.amqp_urls()), cluster.database_url()), cluster.node_name(1)
    async with open_lab(*root, plan.work, overrides, node) as lab:
        bench = Bench(lab, plan, new_run({"mode": "drill"}, "drill client"))
        pipeline = await start_pipeline(bench)
        name, tag = f"drill-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex[:8]
        await bench.receiver_reset(tag + "-")
        token = await lab.add_provider(name)
        drill = Drill(bench, pipeline, Timeline())
        seconds = CLUSTER_LOAD_SECONDS if on_cluster else 10.0 if quick else 40.0
        clock = drill.timeline
        load = asyncio.create_task(
            provider(pipeline.url, token, tag, sessions, sessions / seconds, clock)
        )
        watching = asyncio.create_task(watch_queues(drill))
        for at, label, act in cluster_schedule() if on_cluster else schedule(quick):
            await asyncio.sleep(max(0.0, at - drill.timeline.now()))
            await drill.fault(label, partial(act, drill))
        sent = await load
        print(f"  {drill.timeline.now():6.1f} s  load done; waiting for every FINISHED", flush=True)
        done = await settled(drill, sessions, 120.0 if quick else 300.0)
        watching.cancel()
        book = await ledger(drill, name, sessions, sent)
        await stop_pipeline(bench, pipeline)
    if on_cluster:
        await cluster.start_old_primary_as_standby()  # what an operator does next
    ok = done and balanced(book)
    report(drill, book, sent, ok, done)
    return ok


def report(drill: Drill, book: dict[str, int], sent: Sent, ok: bool, done: bool) -> None:
    width = max(map(len, book))
    print(
        "\n| fault | from | to | seconds without a 200 at ingest"
        " | seconds until every queue drained (most ready) |"
    )
    print("| --- | --- | --- | --- | --- |")
    faults = drill.timeline.faults
    nexts = [began for _, began, _ in faults[1:]] + [float("inf")]
    for (label, began, ended), before in zip(faults, nexts, strict=True):
        gap = without_a_200(sent.answered, began, ended)
        drained = drained_after(drill.timeline.ready, began, ended, before)
        until = (
            "not seen" if drained is None
            else "none built up" if drained[1] == 0
            else f"{drained[0]:.1f} s ({drained[1]:,})"
        )  # fmt: skip
        print(f"| {label} | {began:.1f} s | {ended:.1f} s | {gap:.1f} s | {until} |")
    for note in drill.timeline.notes:
        print(f"\n{note}")
    print("\n| ledger | count |\n| --- | --- |")
    for label, value in book.items():
        print(f"| {label:<{width}} | {value:,} |")
    print(f"\n{'balanced' if ok else 'NOT balanced'}" + ("" if done else " (not settled)"))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.drills", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="workers and subscriber only")
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="on the local three-node RabbitMQ cluster and PostgreSQL standby (lab.cluster):"
        " a node stopped, a queue leader stopped, the primary failed over",
    )
    parser.add_argument("--sessions", type=int, help="sessions posted (300 quick, 3000 full)")
    parser.add_argument("--out", default=str(RESULTS), help="folder for the processes' logs")
    args = parser.parse_args()
    sessions = args.sessions or (300 if args.quick else 3000)
    drilled = run_drill(args.quick, sessions, Path(args.out), args.cluster)
    return 0 if uvloop.run(drilled) else 1


if __name__ == "__main__":
    raise SystemExit(main())
