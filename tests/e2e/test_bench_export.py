"""The export benchmark's quick mode on the real PostgreSQL (README: "Exporting bills"): 20 000
bills made, then exported by the real `chargehook bills export`, and every export balanced:
as many lines as bills in its period, each id once, the amounts' sum the database's to the
cent. It asserts no speed; the peak RSS it reports is printed, not held to its target."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

ROOT = Path(__file__).parents[2]
BILLS = 20_000


def need_postgresql() -> None:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
    except OSError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"the export bench needs PostgreSQL: {exc!r} (CI is set)")
        pytest.skip(f"the export bench needs PostgreSQL: {exc!r}")


@pytest.mark.services
@pytest.mark.timeout(300)
def test_the_quick_export_bench_balances_every_export(tmp_path: Path) -> None:
    need_postgresql()
    done = subprocess.run(
        [sys.executable, "-m", "bench.export", "--quick", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=280, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (results,) = tmp_path.glob("bench-export-*.json")
    run = msgspec.json.decode(results.read_bytes())
    assert run["failures"] == []
    exports = [row for row in run["rows"] if row["stage"].startswith("export ") and row["ledger"]]
    assert sorted(row["ledger"]["bills"] for row in exports) == [2_000, 2_000, BILLS, BILLS]
    for row in exports:
        ledger = row["ledger"]
        assert ledger["exported"] == ledger["bills"], row
        assert ledger["ids repeated or out of order"] == 0, row
        assert ledger["amount cents exported"] == ledger["amount cents in bills"] > 0, row
        assert row["balanced"] is True and row["figure"] > 0
    memory = [row for row in run["rows"] if "peak RSS" in row["stage"]]
    assert len(memory) == 2 and all(row["figure"] is not None for row in memory)
    print("\n".join(f"{row['stage']}: {row['note']}" for row in [*exports, *memory]))
    assert done.stdout.count("| stage | figure |") == 1
