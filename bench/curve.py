"""Stage 6, the load sweep ("curve"): offered rates from low to high, each for the same time on
a fresh pipeline, until a point fails (p99 >= 1 s or a queue not flat), that point included.
Each point gives latency, CPU per delivered event by process and what an event cost in SQL,
broker messages and HTTP requests (the design counts). Then the targets: latency at low
load, CPU per event at 300 events/s, and the knee."""

import os

from bench import counts
from bench.pipeline import Drive, depth_summary, drive, load_note, start_pipeline, stop_pipeline
from bench.report import CurvePoint, Row, millis
from bench.stages import Bench

PASS_P99_MS = 1000.0
LOW_RATE, LOW_P50_MS, LOW_P99_MS = 50.0, 20.0, 50.0
CPU_RATE, CPU_MS = 300.0, 2.5
KNEE = 800.0
CHARGEHOOK = ("ingest", "persist", "billing", "notify")
SERVERS = ("RabbitMQ", "PostgreSQL")


async def curve_stage(bench: Bench) -> None:
    """Each rate of the plan in turn until one fails; then the three target rows."""
    points: list[CurvePoint] = []
    for rate in bench.plan.curve_rates:
        point = await curve_point(bench, rate, bench.plan.curve_seconds)
        points.append(point)
        if not point.passed:
            break
    bench.knee = knee_of(points)
    bench.rows(low_load_row(points), cpu_row(points), knee_row(points, bench.bare_rps))


async def curve_point(bench: Bench, rate: float, seconds: float) -> CurvePoint:
    """One rate on a fresh pipeline: its row, its design counts, its point of the plot."""
    name = f"6 curve, {rate:g} ev/s for {seconds:g} s"
    pipeline = await start_pipeline(bench)  # fresh: nothing left in hand from the last point
    try:
        if bench.plan.warmup_seconds > 0:  # connections opened and statements prepared first
            await drive(bench, pipeline, rate, bench.plan.warmup_seconds, f"{name}, warm-up")
        before = await counts.snapshot(bench.lab)
        run = await drive(bench, pipeline, rate, seconds, name)
        metrics = await counts.scrape_settled(bench.lab.http, pipeline.metrics)
    finally:
        await stop_pipeline(bench, pipeline)
    sql = counts.since(before, await counts.snapshot(bench.lab))
    _, flat, depths = depth_summary(run.sampler, run.load_end, rate)
    point = measured(run, flat)
    bench.run.curve.append(point)
    bench.run.series.append(run.series)
    bench.rows(
        Row(stage=name, figure=run.p99, unit="ms p99", target="p99 < 1 s, depths flat",
            met=point.passed, p50_ms=run.p50, p99_ms=run.p99, ledger=run.ledger,
            balanced=run.balanced, settled=run.settled,
            note="; ".join([cpu_note(point), load_note(run), depths]))
    )  # fmt: skip
    sent = run.result.sent
    bench.record_counts(
        counts.design_counts(name, run.result.ok, sql, metrics, run.receiver, sent, rate)
    )
    return point


def measured(run: Drive, flat: bool) -> CurvePoint:
    delivered = run.receiver["items"]
    passed = below(run.p99, PASS_P99_MS) and flat
    return CurvePoint(
        rate=run.rate, seconds=run.seconds, accepted=run.result.ok, delivered=delivered,
        p50_ms=run.p50, p99_ms=run.p99, flat=flat, passed=passed, settled=run.settled,
        window_s=round(run.window, 2),
        cpu_s={name: None if t is None else round(t, 3) for name, t in run.cpu.items()},
        cpu_ms_per_event=cpu_per_event(run.cpu, delivered),
    )  # fmt: skip


def cpu_per_event(cpu: dict[str, float | None], delivered: int) -> float | None:
    """ms of CPU per delivered event: chargehook's processes and the servers on this machine."""
    if not delivered:
        return None
    spent = [cpu.get(name) for name in (*CHARGEHOOK, *SERVERS)]
    return sum(seconds for seconds in spent if seconds is not None) / delivered * 1000


def ms_per_event(point: CurvePoint, name: str) -> str:
    seconds = point.cpu_s.get(name)
    if seconds is None or not point.delivered:
        return "-"
    return f"{seconds / point.delivered * 1000:.2f}"


def cpu_note(point: CurvePoint) -> str:
    """CPU per delivered event, and each process's share of one core over the window."""
    total = "-" if point.cpu_ms_per_event is None else f"{point.cpu_ms_per_event:.2f}"
    note = f"CPU {total} ms/delivered event (chargehook + RabbitMQ + PostgreSQL"
    absent = [name for name in SERVERS if point.cpu_s.get(name) is None]
    if absent:
        note += f"; {' and '.join(absent)} not on this machine, not counted"
    note += f"; apart: client {ms_per_event(point, 'client')}"
    note += f", receiver {ms_per_event(point, 'receiver')})"
    shares = [
        f"{name} {share}%"
        for name in point.cpu_s
        if name not in ("machine", "stolen") and (share := percent(point, name)) is not None
    ]
    if (machine := percent(point, "machine")) is not None:
        shares.append(f"machine {machine}% of {(os.cpu_count() or 1) * 100}%")
    if (stolen := percent(point, "stolen")) is not None:
        shares.append(f"stolen by the host {stolen}%")
    window = f"load start -> settled, {point.window_s:.0f} s"
    return note + f"; CPU % of one core ({window}): " + ", ".join(shares)


def percent(point: CurvePoint, name: str) -> str | None:
    """`name`'s CPU over the point's window, in % of one core."""
    seconds = point.cpu_s.get(name)
    if seconds is None or point.window_s <= 0:
        return None
    return f"{seconds / point.window_s * 100:.0f}"


def at_rate(points: list[CurvePoint], rate: float) -> CurvePoint | None:
    """The point at `rate`, else the one run nearest to it."""
    return min(points, key=lambda point: (abs(point.rate - rate), point.rate), default=None)


def low_load_row(points: list[CurvePoint]) -> Row:
    point = next((p for p in points if p.rate == LOW_RATE), None)
    row = Row(stage=f"6 curve: latency at low load ({LOW_RATE:g} ev/s)", figure=None,
              unit="ms p99", target=f"p50 < {LOW_P50_MS:g} ms, p99 < {LOW_P99_MS:g} ms",
              met=False)  # fmt: skip
    if point is None:
        row.note = f"the sweep ran no {LOW_RATE:g} ev/s point"
        return row
    row.figure, row.p50_ms, row.p99_ms = point.p99_ms, point.p50_ms, point.p99_ms
    row.met = below(point.p50_ms, LOW_P50_MS) and below(point.p99_ms, LOW_P99_MS)
    return row


def below(value: float | None, limit: float) -> bool:
    return value is not None and value < limit


def cpu_row(points: list[CurvePoint]) -> Row:
    point = at_rate(points, CPU_RATE)
    row = Row(stage=f"6 curve: CPU per delivered event at {CPU_RATE:g} ev/s", figure=None,
              unit="ms", target=f"<= {CPU_MS:g} ms (chargehook + RabbitMQ + PostgreSQL)",
              met=False)  # fmt: skip
    if point is None:
        row.note = "the sweep ran no point"
        return row
    row.figure = point.cpu_ms_per_event
    if point.rate != CPU_RATE:
        row.note = f"measured at {point.rate:g} ev/s: the sweep ran no {CPU_RATE:g} ev/s point"
        return row
    row.met = point.cpu_ms_per_event is not None and point.cpu_ms_per_event <= CPU_MS
    row.note = cpu_note(point)
    return row


def knee_of(points: list[CurvePoint]) -> float | None:
    """The highest offered rate with p99 < 1 s and every queue flat."""
    return max((point.rate for point in points if point.passed), default=None)


def knee_row(points: list[CurvePoint], bare_rps: float | None) -> Row:
    """The knee, and its ratio to the bare HTTP handler's events/s when that ran."""
    knee = knee_of(points)
    failed = next((p for p in points if not p.passed), None)
    if failed is None:
        stop = "no point failed within the sweep's rates"
    else:
        flat = "depths flat" if failed.flat else "a queue not flat"
        stop = f"the sweep stopped at {failed.rate:g} ev/s (p99 {millis(failed.p99_ms)}, {flat})"
    row = Row(stage="6 curve: knee", figure=knee or 0.0, unit="ev/s offered",
              target=f">= {KNEE:g} ev/s (highest offered rate with p99 < 1 s, every queue flat)",
              met=knee is not None and knee >= KNEE, note=stop)  # fmt: skip
    if knee is None:
        row.note += f"; no point passed (below {points[0].rate:g} ev/s)" if points else ""
    if knee is not None and bare_rps:
        row.vs_bare = knee / bare_rps
    return row
