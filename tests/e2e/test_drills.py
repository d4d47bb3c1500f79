"""The fault drill's short version on the real services (bench/drills.py --quick): the drill
database's connections killed every 0.4 s, each worker kind killed with SIGKILL and started
again and the subscriber hung, under a provider's load with retries; nothing dead-lettered. It
checks the drill's own ledger, never a speed. The full drill (RabbitMQ and PostgreSQL restarted
too) is `python -m bench.drills`, documented in the README."""

from pathlib import Path

import pytest

from tests.e2e.test_bench import bench_module, need_services


@pytest.mark.services
@pytest.mark.timeout(200)
def test_the_quick_drill_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    need_services()
    report = bench_module("bench.drills", tmp_path, timeout=180).stdout
    rows = dict(
        (cells[1].strip(), cells[2].strip())
        for line in report.splitlines()
        if line.startswith("| ") and len(cells := line.split("|")) == 4
    )
    assert rows["accepted"] == rows["stored"] == "600", rows
    assert rows["final bills"] == rows["delivered final states"] == "300", rows
    assert rows["double bills"] == "0", rows
    assert rows["sessions stored backwards"] == rows["sessions delivered backwards"] == "0", rows
    assert rows["duplicate webhook-ids"] == rows["dead letters"] == "0", rows
    assert int(rows["database backends killed"].replace(",", "")) > 0, rows
    assert report.rstrip().splitlines()[-1] == "balanced"
