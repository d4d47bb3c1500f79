"""The bench's figures from what it read, with no service: the design counts per event (SQL
deltas, the probes' commits taken off, /metrics parsed and summed) and the curve's targets."""

import math
import os

from bench.counts import Snapshot, broker_counts, design_counts, since
from bench.curve import cpu_note, cpu_per_event, cpu_row, knee_row, low_load_row
from bench.lab import as_user
from bench.report import Counts, CurvePoint, Row, Run, counts_table, shown_counts
from bench.stages import drain_target

WORKER = """# HELP chargehook_worker_messages_total Messages finished by a worker, by outcome
# TYPE chargehook_worker_messages_total counter
chargehook_worker_messages_total{outcome="done",worker="fanout"} 90.0
chargehook_worker_messages_total{outcome="dead",worker="fanout"} 2.0
chargehook_worker_messages_total{outcome="done",worker="deliver"} 30.0
chargehook_broker_published_total{exchange="chargehook.delivery"} 30.0
chargehook_broker_published_total{exchange="chargehook.dead"} 2.0
"""
INGEST = 'chargehook_broker_published_total{exchange="chargehook.events"} 100.0\n'


def test_broker_counts_sum_every_process_by_exchange_and_every_outcome() -> None:
    published, consumed = broker_counts([WORKER, INGEST])
    assert published == {
        "chargehook.delivery": 30.0,
        "chargehook.dead": 2.0,
        "chargehook.events": 100.0,
    }
    assert consumed == 122.0  # done, dead-lettered, both consumers


def test_sql_counts_are_deltas_with_the_probes_commits_taken_off() -> None:
    before = Snapshot(written=10, commits=50, calls={1: 5}, texts={1: "BEGIN"}, probe_calls=7)
    after = Snapshot(written=310, commits=170, probe_calls=27)
    after.calls, after.texts = {1: 105, 2: 100}, {1: "BEGIN", 2: "INSERT INTO t\n  VALUES ($1)"}
    sql = since(before, after)
    assert (sql.statements, sql.written, sql.commits) == (200, 300, 100)  # 120 less 20 probes
    assert sql.top == [(100, "INSERT INTO t\n  VALUES ($1)"), (100, "BEGIN")]
    counts = design_counts("3 persist drain, 1 process", 100, sql, [WORKER, INGEST])
    assert (counts.sql_statements, counts.rows_written, counts.commits) == (2.0, 3.0, 1.0)
    assert counts.top_statements == [(1.0, "INSERT INTO t VALUES ($1)"), (1.0, "BEGIN")]
    assert (counts.published, counts.consumed) == (1.32, 1.22)


def test_without_pg_stat_statements_sql_and_commits_say_why() -> None:
    unavailable = "unavailable: pg_stat_statements not preloaded"
    before = Snapshot(written=0, commits=0, note=unavailable)
    sql = since(before, Snapshot(written=40, commits=9, note=unavailable))
    counts = design_counts("4 billing drain, 1 process", 20, sql, [])
    assert (counts.sql_statements, counts.commits, counts.rows_written) == (None, None, 2.0)
    assert counts.sql_note == unavailable
    assert unavailable in counts_table(Run(started_at="", machine={}, options={}, counts=[counts]))


def test_delivery_requests_are_per_delivered_item() -> None:
    sql = since(Snapshot(0, 0, probe_calls=0), Snapshot(0, 0, probe_calls=0))
    receiver = {"items": 60, "requests": 15}
    counts = design_counts("6 curve", 80, sql, [], receiver, ingest_requests=80, rate=300.0)
    assert (counts.delivery_requests, counts.ingest_requests, counts.delivered) == (0.25, 1.0, 60)


def test_the_table_shows_every_drain_and_the_curve_point_nearest_300() -> None:
    drains = [Counts(stage=f"{n} drain", events=1) for n in (3, 4)]
    points = [Counts(stage=f"curve {rate:g}", events=1, rate=rate) for rate in (50, 200, 400)]
    shown = shown_counts(Run(started_at="", machine={}, options={}, counts=drains + points))
    assert [counts.stage for counts in shown] == ["3 drain", "4 drain", "curve 200"]


def point(rate: float, p50: float, p99: float, flat: bool = True, cpu: float = 1.0) -> CurvePoint:
    return CurvePoint(
        rate=rate, seconds=20, accepted=100, delivered=100, p50_ms=p50, p99_ms=p99, flat=flat,
        passed=p99 < 1000 and flat, settled=True, window_s=10, cpu_s={"ingest": 0.1},
        cpu_ms_per_event=cpu,
    )  # fmt: skip


def test_the_knee_is_the_highest_rate_that_passed_and_the_targets_read_their_points() -> None:
    points = [point(50, 15, 40), point(100, 30, 90), point(200, 200, 900, cpu=2.4)]
    points.append(point(300, 900, math.inf, cpu=3.0))
    knee = knee_row(points, bare_rps=2000.0)
    assert (knee.figure, knee.met, knee.vs_bare) == (200.0, False, 0.1)
    assert "stopped at 300 ev/s (p99 not delivered in time" in knee.note
    assert low_load_row(points).met is True
    cpu = cpu_row(points)
    assert (cpu.figure, cpu.met) == (3.0, False)
    assert cpu_row(points[:3]).note.startswith("measured at 200 ev/s")
    assert cpu_row(points[:3]).met is False  # not the rate the target names


def test_a_queue_not_flat_fails_a_point_and_no_point_passing_is_no_knee() -> None:
    row = knee_row([point(50, 10, 30, flat=False)], bare_rps=None)
    assert (row.figure, row.met, row.vs_bare) == (0.0, False, None)
    assert "a queue not flat" in row.note and "no point passed" in row.note


def test_cpu_per_event_counts_chargehook_and_the_servers_but_not_the_bench() -> None:
    cpu: dict[str, float | None] = {"ingest": 1.0, "persist": 0.5, "billing": 0.5, "notify": 1.0}
    cpu["RabbitMQ"] = 1.0
    cpu |= {"PostgreSQL": None, "client": 9.0, "receiver": 9.0, "machine": 99.0}
    assert cpu_per_event(cpu, 2000) == 2.0  # PostgreSQL elsewhere: not counted
    assert cpu_per_event(cpu, 0) is None


def test_the_probe_role_keeps_the_url_hosts_query_and_password() -> None:
    assert (
        as_user("postgresql://postgres:s3cret@h1:5432,h2:5433/db?target_session_attrs=any", "p")
        == "postgresql://p:s3cret@h1:5432,h2:5433/db?target_session_attrs=any"
    )
    assert as_user("postgresql://127.0.0.1/db", "p") == "postgresql://p@127.0.0.1/db"


def test_persist_and_billing_are_held_to_their_floor_in_the_same_run() -> None:
    persist = Row(stage="3 persist drain, 1 process", figure=9000.0, unit="rows/s")
    drain_target(persist, "persist", 10_000.0, timed_out=False)
    assert (persist.target, persist.met, persist.vs_bare) == (">= 0.85 x bare consumer", True, 0.9)
    billing = Row(stage="4 billing drain, 1 process", figure=3000.0, unit="events/s", note="x")
    drain_target(billing, "billing", None, timed_out=False)
    assert (billing.met, billing.vs_bare, billing.note) == (
        False,
        None,
        "x; no bare relay in this run",
    )
    notify = Row(stage="5 notify drain, 1 process", figure=1600.0, unit="events/s")
    drain_target(notify, "notify", None, timed_out=True)
    assert (notify.target, notify.met) == (">= 1,500 events/s", False)


def test_the_cpu_note_ends_with_the_machine_and_what_the_host_stole() -> None:
    measured = point(300, 50, 150)
    measured.cpu_s = {"ingest": 2.0, "machine": 10.0, "stolen": 1.0, "RabbitMQ": 3.0}
    note = cpu_note(measured)  # a window of 10 s
    cores = (os.cpu_count() or 1) * 100
    assert note.endswith(
        f"ingest 20%, RabbitMQ 30%, machine 100% of {cores}%, stolen by the host 10%"
    )
