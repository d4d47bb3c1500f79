"""Stages 6 and 7: the whole pipeline under paced load (latency, queue depths, CPU, the ledger)
and the memory soak."""

import asyncio
import math
import os
import sys
import time
import uuid
from dataclasses import dataclass, field

import msgspec

from bench.lab import WORK_QUEUES, Lab
from bench.load import Result
from bench.processes import Child, cpu_seconds, rss_mb
from bench.receiver import Dump
from bench.report import Point, Row, Series, percentile, thin
from bench.stages import Bench, Targets
from lab.services import free_port

SERVICES = ("persist", "billing", "notify")
SHED_AFTER = 2.0  # seconds of load waiting for answers before the load client sheds sessions


@dataclass
class Sampler:
    """Once a second from `start` until stopped: queue depths, and each of `pids`' resident
    memory and CPU time, and the machine's busy CPU time."""

    lab: Lab
    start: float
    pids: dict[str, int]
    depths: dict[str, list[Point]] = field(default_factory=dict)
    rss: dict[str, list[Point]] = field(default_factory=dict)
    cpu: dict[str, list[Point]] = field(default_factory=dict)  # CPU seconds so far
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, bound: float) -> None:
        queues = [*WORK_QUEUES, self.lab.busy_queue]
        while not self.stop.is_set() and time.monotonic() - self.start < bound:
            at = time.monotonic() - self.start
            for queue, depth in (await self.lab.depths(queues)).items():
                self.depths.setdefault(queue.removeprefix("chargehook."), []).append((at, depth))
            for name, pid in [*self.pids.items(), ("machine", 0)]:
                if name != "machine" and (mb := rss_mb(pid)) is not None:
                    self.rss.setdefault(name, []).append((at, mb))
                if (seconds := cpu_seconds(pid)) is not None:
                    self.cpu.setdefault(name, []).append((at, seconds))
            try:
                await asyncio.wait_for(self.stop.wait(), 1.0)
            except TimeoutError:
                pass

    def cpu_share(self, until: float) -> str:
        """Each process's CPU use from the start to `until`, in % of one core."""
        shares = []
        for name, points in self.cpu.items():
            window = [(t, c) for t, c in points if t <= until]
            if len(window) >= 2 and window[-1][0] > window[0][0]:
                used = (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])
                whole = f" of {(os.cpu_count() or 1) * 100}%" if name == "machine" else ""
                shares.append(f"{name} {used * 100:.0f}%{whole}")
        return "CPU over the load, % of one core: " + ", ".join(shares)


@dataclass
class Pipeline:
    """ingest and one process of each worker kind, kept running across pipeline stages."""

    url: str
    children: dict[str, Child]

    @property
    def pids(self) -> dict[str, int]:
        return {name: child.pid for name, child in self.children.items()}


async def start_pipeline(bench: Bench) -> Pipeline:
    lab = bench.lab
    await bench.receiver()
    port = free_port()
    children = {"ingest": await lab.start("ingest", "ingest", http_port=str(port))}
    for kind in SERVICES:
        children[kind] = await lab.start(f"worker-{kind}", "worker", kind)
    pipeline = Pipeline(f"http://127.0.0.1:{port}/v1/sessions", children)
    try:
        await lab.wait_http(f"http://127.0.0.1:{port}/readyz")
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
    while time.monotonic() < deadline:
        statuses = await deliveries_by_status(bench.lab, provider)
        delivered = (await bench.receiver_stats())["items"]
        if delivered + statuses.get("superseded", 0) + statuses.get("failed", 0) >= accepted:
            return True
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


async def pipeline_stage(
    bench: Bench,
    pipeline: Pipeline,
    rate: float,
    seconds: float,
    targets: Targets,
    soak: bool = False,
) -> None:
    """Stage 6 (and 7 with `soak`): paced load through every process, delivered and timed."""
    lab = bench.lab
    provider = f"bench-pipe-{int(rate)}-{uuid.uuid4().hex[:6]}"
    token = await lab.add_provider(provider)
    tag = uuid.uuid4().hex[:8]
    await bench.receiver_reset(tag + "-")
    wall, start = time.time(), time.monotonic()
    sampler = Sampler(lab, start, pipeline.pids | {"receiver": bench.receiver_pid()})
    sampling = asyncio.create_task(sampler.run(seconds + bench.plan.drain_timeout + 300))
    try:
        result = await paced_load(bench, pipeline.url, token, rate, seconds, tag)
        load_end = time.monotonic() - start
        settled = await settle(bench, provider, result.ok)
    finally:
        sampler.stop.set()
        await sampling
    stats = await bench.receiver_stats()
    async with lab.http.get(bench.receiver_base() + "/dump") as answer:
        dump = msgspec.json.decode(await answer.read(), type=Dump)
    statuses = await deliveries_by_status(lab, provider)
    stored = await lab.count("SELECT count(*) FROM session_events WHERE provider = $1", provider)
    billed = await lab.count("SELECT count(*) FROM bills WHERE provider = $1", provider)
    superseded = statuses.get("superseded", 0)
    latencies = [(a - s) * 1000 for a, s in zip(dump.arrived, dump.sent, strict=True)]
    missing = max(0, result.ok - stats["items"] - superseded - statuses.get("failed", 0))
    counted = latencies + [math.inf] * missing  # never delivered in time: slower than any
    p50, p99 = percentile(counted, 50), percentile(counted, 99)
    ledger, balanced = pipeline_ledger(result, stored, billed, statuses, stats)
    label = f"{rate:g} ev/s for {seconds:g} s"
    name = f"7 soak, {label}" if soak else f"6 pipeline, {label}"
    series = Series(name=name, depths={q: thin(p) for q, p in sampler.depths.items()})
    series.latency_ms = thin([(s - wall, ms) for s, ms in zip(dump.sent, latencies, strict=True)])
    note = f"load: python paced client, {result.ok / seconds:,.0f} 2xx/s"
    if result.shed:
        note += f", shed {result.shed:,} events (over {SHED_AFTER:g} s of load unanswered)"
    note += f", up to {result.behind_ms:,.0f} ms late; " + sampler.cpu_share(load_end)
    worst, flat, depths = depth_summary(sampler, load_end, rate)
    depth_row = Row(stage=f"{name}: queue depths", figure=worst, unit="deepest at end",
                    target="flat (<= 1 s of load at the end)", met=flat, note=depths)  # fmt: skip
    if soak:
        series.rss_mb = sampler.rss
        bench.rows(soak_row(name, sampler, load_end, ledger, balanced), depth_row)
        bench.run.rows[-2].settled = settled
    else:
        shown = {"p50": p50, "p99": p99}
        met = all((shown[k] or math.inf) < limit for k, limit in targets)
        target = ", ".join(f"{k} < {limit:g} ms" for k, limit in targets)
        bench.rows(
            Row(stage=f"{name}: event -> delivery", figure=p99, unit="ms p99", target=target,
                met=met, p50_ms=p50, p99_ms=p99, ledger=ledger, balanced=balanced, note=note,
                settled=settled),
            depth_row,
        )  # fmt: skip
    bench.run.series.append(series)


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
