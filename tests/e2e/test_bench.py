"""The benchmark's quick mode on the real services: every stage runs, every ledger balances, the
curve's points and targets and the design counts are there, and the JSON and the plots are
written. It asserts no speed: the figures are the bench's to report."""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

ROOT = Path(__file__).parents[2]
STAGES = ("bare", "ingest", "ocpi", "persist", "billing", "notify", "curve", "embedded")
CURVE_TARGETS = ("latency at low load", "CPU per delivered event", "knee")
COUNTED = ("3 persist drain", "4 billing drain", "5 notify drain", "6 curve")


def reachable(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return False
    return True


def need_services() -> None:
    services = (("RabbitMQ", 5672), ("PostgreSQL", 5432))
    missing = [name for name, port in services if not reachable(port)]
    if shutil.which("rabbitmqctl") is None:
        missing.append("rabbitmqctl")
    if missing:
        message = f"the bench needs {', '.join(missing)}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set: service tests must run)")
        pytest.skip(message)


def bench_module(module: str, out: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """`python -m <module> --quick --out <out>` from the repository; it must exit 0."""
    done = subprocess.run(
        [sys.executable, "-m", module, "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.mark.services
@pytest.mark.timeout(170)
def test_the_quick_bench_balances_every_ledger_and_writes_its_results(tmp_path: Path) -> None:
    need_services()
    done = bench_module("bench", tmp_path, timeout=160)
    (results,) = tmp_path.glob("bench-*.json")
    plots = sorted(tmp_path.glob("bench-*.png"))
    assert sorted(plot.name.endswith("-curve.png") for plot in plots) == [False, True]
    assert all(plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for plot in plots)
    run = msgspec.json.decode(results.read_bytes())
    assert run["failures"] == []
    assert set(run["seconds"]) == set(STAGES)
    ledgers = {row["stage"]: row for row in run["rows"] if row["balanced"] is not None}
    # bare, ingest, ocpi, the two floors, persist, billing x2, notify x2, curve, embedded
    assert len(ledgers) >= 11
    unbalanced = {
        stage: row["ledger"]
        for stage, row in ledgers.items()
        if not (row["balanced"] and row["settled"])
    }
    assert not unbalanced
    for row in run["rows"]:
        assert row["figure"] is not None, row["stage"]
    # the table is printed once, with every stage in it
    assert done.stdout.count("| stage | figure |") == 1
    assert all(row["stage"] in done.stdout for row in run["rows"])
    check_the_curve(run)
    check_the_design_counts(run, done.stdout)


def check_the_curve(run: dict[str, Any]) -> None:
    """A row per point run (50 ev/s, then 100 unless 50 failed), each ledger balanced, each
    with its CPU by process; then the three target rows."""
    points = run["curve"]
    assert [point["rate"] for point in points] in ([50.0], [50.0, 100.0])
    if not points[0]["passed"]:
        assert len(points) == 1  # the sweep stops at the first point that fails
    rows = {row["stage"]: row for row in run["rows"]}
    for point in points:
        row = rows[f"6 curve, {point['rate']:g} ev/s for 2 s"]
        assert row["balanced"] and "ms/delivered event" in row["note"]
        assert point["delivered"] and point["cpu_ms_per_event"] is not None
        assert {"ingest", "persist", "billing", "notify", "receiver", "client"} <= set(
            name for name, seconds in point["cpu_s"].items() if seconds is not None
        )
    for target in CURVE_TARGETS:
        assert any(stage.startswith(f"6 curve: {target}") for stage in rows), target


def check_the_design_counts(run: dict[str, Any], stdout: str) -> None:
    """A stage of each kind counted, per event: its broker messages always, its SQL where the
    server has pg_stat_statements (else the table says why), the curve's HTTP requests."""
    header = "| stage | events | SQL statements/event |"
    assert stdout.count(header) == 1
    table = stdout.split(header, 1)[1]
    counted = {counts["stage"]: counts for counts in run["counts"]}
    for kind in COUNTED:  # the last of each kind is in the table (the curve's nearest 300/s)
        stage, counts = [(s, c) for s, c in counted.items() if s.startswith(kind)][-1]
        assert counts["events"] > 0 and counts["consumed"] > 0, stage
        assert counts["rows_written"] is not None, stage
        if counts["sql_note"]:
            assert counts["sql_note"].startswith("unavailable: "), stage
        else:
            assert counts["sql_statements"] > 0 and counts["top_statements"], stage
        assert f"| {stage} |" in table
    curve = [c for s, c in counted.items() if s.startswith("6 curve")][-1]
    assert curve["ingest_requests"] == 1.0  # one POST an event, by construction
    assert curve["published"] > 0 and curve["delivery_requests"] > 0
