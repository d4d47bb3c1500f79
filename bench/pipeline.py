"""The whole pipeline under paced load, on fresh processes: what the load sweep (stage 6,
bench/curve.py) and the memory soak (stage 7) drive, each run's latency, queue depths, CPU and
ledger."""

import asyncio
import math
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import msgspec

from bench.lab import WORK_QUEUES, Lab
from bench.load import Result
from bench.processes import Child, cpu_seconds, rss_mb, stolen_seconds
from bench.receiver import Dump
from bench.report import Point, Row, Series, percentile, thin
from bench.stages import Bench
from lab.services import free_port

SERVICES = ("persist", "billing", "notify")
SHED_AFTER = 2.0  # seconds of load waiting for answers before the load client sheds sessions


@dataclass
class Sampler:
    """Once a second from `start` until stopped: queue depths and each of `pids`' resident
    memory."""

    lab: Lab
    start: float
    pids: dict[str, int]
    depths: dict[str, list[Point]] = field(default_factory=dict)
    rss: dict[str, list[Point]] = field(default_factory=dict)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, bound: float) -> None:
        queues = [*WORK_QUEUES, self.lab.busy_queue]
        while not self.stop.is_set() and time.monotonic() - self.start < bound:
            at = time.monotonic() - self.start
            for queue, depth in (await self.lab.depths(queues)).items():
                self.depths.setdefault(queue.removeprefix("chargehook."), []).append((at, depth))
            for name, pid in self.pids.items():
                if (mb := rss_mb(pid)) is not None:
                    self.rss.setdefault(name, []).append((at, mb))
            try:
                await asyncio.wait_for(self.stop.wait(), 1.0)
            except TimeoutError:
                pass


@dataclass
class Pipeline:
    """ingest and one process of each worker kind, fresh for each stage that runs them."""

    url: str
    children: dict[str, Child]
    metrics: list[str]  # each process's /metrics

    @property
    def pids(self) -> dict[str, int]:
        return {name: child.pid for name, child in self.children.items()}


async def start_pipeline(bench: Bench) -> Pipeline:
    lab = bench.lab
    await bench.receiver()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    pipeline = Pipeline(base + "/v1/sessions", {}, [base + "/metrics"])
    try:
        pipeline.children["ingest"] = await lab.start("ingest", "ingest", http_port=str(port))
        for kind in SERVICES:
            pipeline.children[kind], metrics = await lab.start_worker(kind)
            pipeline.metrics.append(metrics)
        await lab.wait_http(base + "/readyz")
        for queue in WORK_QUEUES:
            await lab.wait_consumers(queue, 1)
    except BaseException:
        await stop_pipeline(bench, pipeline)
        raise
    return pipeline


async def stop_pipeline(bench: Bench, pipeline: Pipeline) -> None:
    await asyncio.gather(*(bench.lab.children.stop(c) for c in pipeline.children.values()))
    await bench.lab.purge()


async def paced_load(
    bench: Bench, url: str, token: str, rate: float, seconds: float, tag: str
) -> Result:
    gap = bench.plan.gap
    args = [sys.executable, "-m", "bench.load", "paced", "--url", url, "--token", token]
    args += ["--tag", tag]
    args += ["--rate", str(rate), "--duration", str(seconds), "--gap", str(gap)]
    args += ["--connections", "256", "--backlog", str(SHED_AFTER)]
    child = await bench.lab.children.start("load", args, stdout_pipe=True)
    out = await bench.lab.children.output(child, seconds + gap + 180)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"paced load gave no result: {child.tail()}")
    return msgspec.json.decode(lines[-1], type=Result)


async def deliveries_by_status(lab: Lab, provider: str) -> dict[str, int]:
    rows = await lab.pool.fetch(
        "SELECT status, count(*) AS n FROM deliveries WHERE provider = $1 GROUP BY status", provider
    )
    return {row["status"]: int(row["n"]) for row in rows}


async def settle(bench: Bench, provider: str, accepted: int) -> bool:
    """Wait until every accepted event was delivered or superseded; False on the time bound."""
    deadline = time.monotonic() + bench.plan.drain_timeout
    polls = 0
    while time.monotonic() < deadline:
        delivered = (await bench.receiver_stats())["items"]
        if delivered >= accepted:
            return True
        # the database only once a second: its count is PostgreSQL CPU inside the measured window
        if polls % 4 == 3:
            statuses = await deliveries_by_status(bench.lab, provider)
            if delivered + statuses.get("superseded", 0) + statuses.get("failed", 0) >= accepted:
                return True
        polls += 1
        await asyncio.sleep(0.25)
    return False


def depth_summary(sampler: Sampler, load_end: float, rate: float) -> tuple[int, bool, str]:
    """(deepest depth at the end of the load, flat?, first/last/max per queue)."""
    worst, parts = 0, []
    for queue, points in sampler.depths.items():
        during = [round(d) for t, d in points if t <= load_end] or [0]
        worst = max(worst, during[-1])
        parts.append(f"{queue} {during[0]}/{during[-1]}/{max(during)}")
    return worst, worst <= max(rate, 10), "depth first/last/max: " + ", ".join(parts)


def cpu_meters(bench: Bench, pipeline: Pipeline) -> dict[str, Callable[[], float | None]]:
    """What each process used so far, chargehook's, the servers' (those on this machine), the
    receiver's, the whole machine's busy time and what the host stole from it."""
    meters: dict[str, Callable[[], float | None]] = {
        name: partial(cpu_seconds, pid) for name, pid in pipeline.pids.items()
    }
    meters |= {server.name: server.cpu_seconds for server in bench.servers}
    meters["receiver"] = partial(cpu_seconds, bench.receiver_pid())
    meters["machine"] = partial(cpu_seconds, 0)
    meters["stolen"] = stolen_seconds  # by the host: a busy host makes every figure worse
    return meters


def used(
    before: dict[str, float | None], after: dict[str, float | None]
) -> dict[str, float | None]:
    return {
        name: None if (b := before[name]) is None or (a := after.get(name)) is None else a - b
        for name in before
    }


@dataclass
class Drive:
    """What one paced load through fresh processes gave, read once it settled."""

    name: str
    rate: float
    seconds: float
    result: Result
    sampler: Sampler
    load_end: float  # seconds from the load's start
    window: float  # seconds from the load's start until settled (or the drain bound)
    settled: bool
    cpu: dict[str, float | None]  # CPU seconds over the window, by process
    receiver: dict[str, int]
    p50: float | None  # event -> delivery, ms
    p99: float | None
    ledger: dict[str, int]
    balanced: bool
    series: Series


async def drive(bench: Bench, pipeline: Pipeline, rate: float, seconds: float, name: str) -> Drive:
    """`rate` events/s for `seconds` through every process, until all is delivered."""
    lab = bench.lab
    provider = f"bench-pipe-{int(rate)}-{uuid.uuid4().hex[:6]}"
    token = await lab.add_provider(provider)
    tag = uuid.uuid4().hex[:8]
    await bench.receiver_reset(tag + "-")
    meters = cpu_meters(bench, pipeline)
    wall, start = time.time(), time.monotonic()
    cpu_before = {process: meter() for process, meter in meters.items()}
    sampler = Sampler(lab, start, pipeline.pids | {"receiver": bench.receiver_pid()})
    sampling = asyncio.create_task(sampler.run(seconds + bench.plan.drain_timeout + 300))
    try:
        result = await paced_load(bench, pipeline.url, token, rate, seconds, tag)
        load_end = time.monotonic() - start
        settled = await settle(bench, provider, result.ok)
        window = time.monotonic() - start
        cpu = used(cpu_before, {process: meter() for process, meter in meters.items()})
    finally:
        sampler.stop.set()
        await sampling
    cpu["client"] = result.cpu_seconds or None
    stats = await bench.receiver_stats()
    async with lab.http.get(bench.receiver_base() + "/dump") as answer:
        dump = msgspec.json.decode(await answer.read(), type=Dump)
    statuses = await deliveries_by_status(lab, provider)
    stored = await lab.count("SELECT count(*) FROM session_events WHERE provider = $1", provider)
    billed = await lab.count("SELECT count(*) FROM bills WHERE provider = $1", provider)
    latencies = [(a - s) * 1000 for a, s in zip(dump.arrived, dump.sent, strict=True)]
    accounted = stats["items"] + statuses.get("superseded", 0) + statuses.get("failed", 0)
    counted = latencies + [math.inf] * max(0, result.ok - accounted)  # slower than any delivered
    ledger, balanced = pipeline_ledger(result, stored, billed, statuses, stats)
    series = Series(name=name, depths={q: thin(p) for q, p in sampler.depths.items()})
    series.latency_ms = thin([(s - wall, ms) for s, ms in zip(dump.sent, latencies, strict=True)])
    return Drive(name=name, rate=rate, seconds=seconds, result=result, sampler=sampler,
                 load_end=load_end, window=window, settled=settled, cpu=cpu, receiver=stats,
                 p50=percentile(counted, 50), p99=percentile(counted, 99), ledger=ledger,
                 balanced=balanced, series=series)  # fmt: skip


def load_note(run: Drive) -> str:
    result = run.result
    note = f"load: python paced client, {result.ok / run.seconds:,.0f} 2xx/s"
    if result.shed:
        note += f", shed {result.shed:,} events (over {SHED_AFTER:g} s of load unanswered)"
    return note + f", up to {result.behind_ms:,.0f} ms late"


async def soak_stage(bench: Bench, rate: float, seconds: float) -> None:
    """Stage 7: the memory of fresh processes under `rate` events/s for `seconds`."""
    pipeline = await start_pipeline(bench)
    try:
        run = await drive(
            bench, pipeline, rate, seconds, f"7 soak, {rate:g} ev/s for {seconds:g} s"
        )
    finally:
        await stop_pipeline(bench, pipeline)
    worst, flat, depths = depth_summary(run.sampler, run.load_end, rate)
    memory = soak_row(run.name, run.sampler, run.load_end, run.ledger, run.balanced)
    memory.settled = run.settled
    memory.note += "; " + load_note(run)
    depth_row = Row(stage=f"{run.name}: queue depths", figure=worst, unit="deepest at end",
                    target="flat (<= 1 s of load at the end)", met=flat, note=depths)  # fmt: skip
    bench.rows(memory, depth_row)
    run.series.rss_mb = {name: thin(points) for name, points in run.sampler.rss.items()}
    bench.run.series.append(run.series)


def pipeline_ledger(
    result: Result, stored: int, billed: int, statuses: dict[str, int], stats: dict[str, int]
) -> tuple[dict[str, int], bool]:
    """sent = 2xx = stored = billed = delivered + superseded (+ failed), nothing twice, no
    position backwards. Until it settles, only what can already be told wrong counts."""
    accounted = stats["items"] + statuses.get("superseded", 0) + statuses.get("failed", 0)
    ledger = {"offered": result.sent + result.shed} if result.shed else {}
    ledger |= {"sent": result.sent, "2xx": result.ok}
    if result.errors or result.non2xx or result.abandoned:
        ledger |= {"errors": result.errors + result.non2xx, "abandoned": result.abandoned}
    ledger |= {"stored": stored, "billed": billed, "delivered": stats["items"]}
    ledger |= {"superseded": statuses.get("superseded", 0)}
    if statuses.get("failed"):
        ledger["failed"] = statuses["failed"]
    if accounted < result.ok:
        ledger["in flight"] = result.ok - accounted
    ledger |= {"duplicates": stats["duplicates"], "regressions": stats["regressions"]}
    ledger |= {"bad signatures": stats["bad_signatures"]}
    clean = not (stats["duplicates"] or stats["regressions"] or stats["bad_signatures"])
    if accounted < result.ok:  # unsettled: late is not lost, but more than was sent is wrong
        return ledger, clean and stored <= result.sent and billed <= result.sent
    return ledger, clean and result.sent == result.ok == stored == billed == accounted


def growth_mb_per_min(points: list[Point], after: float, until: float) -> float | None:
    """Least-squares slope of RSS over time, from `after` seconds to `until`, in MB/min."""
    window = [(t, mb) for t, mb in points if after <= t <= until]
    if len(window) < 10:
        return None
    n = len(window)
    mean_t, mean_mb = sum(t for t, _ in window) / n, sum(mb for _, mb in window) / n
    var = sum((t - mean_t) ** 2 for t, _ in window)
    cov = sum((t - mean_t) * (mb - mean_mb) for t, mb in window)
    return cov / var * 60 if var else None


def soak_row(
    name: str, sampler: Sampler, load_end: float, ledger: dict[str, int], balanced: bool
) -> Row:
    growth = {p: growth_mb_per_min(pts, 120.0, load_end) for p, pts in sampler.rss.items()}
    # the bench's receiver keeps every item it saw (duplicates, order): its growth is the
    # bench's own bookkeeping, shown but not chargehook's figure
    chargehook = {p: g for p, g in growth.items() if g is not None and p != "receiver"}
    worst = max(chargehook.values(), default=None)
    met = bool(chargehook) and all(g < 0.5 for g in chargehook.values())
    note = "RSS growth after 2 min, MB/min: " + ", ".join(
        f"{p} {'-' if g is None else f'{g:.2f}'}" for p, g in growth.items()
    )
    if worst is None:
        note += " (soak too short: needs more than 2 min)"
    return Row(stage=f"{name}: memory", figure=worst, unit="MB/min (worst chargehook process)",
               target="< 0.5 MB/min, every process", met=met, ledger=ledger, balanced=balanced,
               note=note)  # fmt: skip
