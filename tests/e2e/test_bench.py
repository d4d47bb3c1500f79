"""The benchmark's quick mode on the real services: every stage runs, every ledger balances, and
the JSON and the plot are written. It asserts no speed: the figures are the bench's to report."""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

ROOT = Path(__file__).parents[2]
STAGES = ("bare", "ingest", "ocpi", "persist", "billing", "notify", "pipeline", "embedded")


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
    (plot,) = tmp_path.glob("bench-*.png")
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    run = msgspec.json.decode(results.read_bytes())
    assert run["failures"] == []
    assert set(run["seconds"]) == set(STAGES)
    ledgers = {row["stage"]: row for row in run["rows"] if row["balanced"] is not None}
    # bare, ingest, ocpi, persist, billing x2, notify x2, pipeline x2, embedded
    assert len(ledgers) >= 10
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
