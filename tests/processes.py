"""Running the real `chargehook` command as a child process, the way operators do.

All of it is asyncio: a test waiting on a child (its output, its exit) never blocks the event
loop that runs the test's receivers, clients and in-process workers.
"""

import asyncio
import contextlib
import signal
import subprocess
import sys
import tempfile
from asyncio.subprocess import PIPE, Process
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import IO

from lab.services import chargehook_env
from tests.support import eventually

__all__ = ["chargehook_env", "killed", "killed_midway", "lines", "run", "started", "terminated"]

COMMAND = (sys.executable, "-m", "chargehook")


@asynccontextmanager
async def started(
    args: list[str], env: Mapping[str, str], cwd: str | None = None, stderr: IO[str] | None = None
) -> AsyncIterator[Process]:
    """The command running with its stdout piped and its stderr (its logs) in a file, `stderr`
    if given; killed and reaped when the block ends."""
    with tempfile.TemporaryFile("w+") as scratch:
        process = await asyncio.create_subprocess_exec(
            *COMMAND, *args, env=dict(env), cwd=cwd, stdout=PIPE, stderr=stderr or scratch
        )
        try:
            yield process
        finally:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
            await asyncio.wait_for(process.wait(), 30)


async def terminated(process: Process) -> int:
    """SIGTERM, as an operator's stop: the exit code once the command has drained and exited."""
    process.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(process.wait(), 30)


async def killed(process: Process) -> None:
    """SIGKILL: no drain, no goodbye; returns once the child is reaped."""
    process.send_signal(signal.SIGKILL)
    await asyncio.wait_for(process.wait(), 10)


async def killed_midway(
    args: list[str], env: Mapping[str, str], progressed: Callable[[], Awaitable[bool]]
) -> None:
    """Start the command and SIGKILL it as soon as `progressed` holds."""
    async with started(args, env) as process:
        await eventually(progressed, within=60, interval=0.01)
        await killed(process)


async def run(args: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the command to its end and collect what it printed."""
    process = await asyncio.create_subprocess_exec(
        *COMMAND, *args, env=dict(env), stdout=PIPE, stderr=PIPE
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    assert process.returncode is not None
    return subprocess.CompletedProcess(
        [*COMMAND, *args], process.returncode, stdout.decode(), stderr.decode()
    )


async def lines(process: Process, count: int) -> str:
    """The next `count` lines the command prints on its stdout."""
    assert process.stdout is not None
    return "".join([(await process.stdout.readline()).decode() for _ in range(count)])
