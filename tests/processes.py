"""Running the real `chargehook` command as a child process, the way operators do."""

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager

from tests.support import eventually


def chargehook_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGEHOOK_")}
    env.update({f"CHARGEHOOK_{name.upper()}": value for name, value in settings.items()})
    env.setdefault("CHARGEHOOK_LOG_FORMAT", "json")
    return env


@contextmanager
def started(
    args: list[str], env: Mapping[str, str], cwd: str | None = None
) -> Iterator[subprocess.Popen[str]]:
    """The command running with its stdout piped; killed and reaped when the block ends."""
    with (
        tempfile.TemporaryFile("w+") as stderr,
        subprocess.Popen(
            [sys.executable, "-m", "chargehook", *args],
            env=dict(env),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        ) as process,
    ):
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()


async def killed_midway(
    args: list[str], env: Mapping[str, str], progressed: Callable[[], Awaitable[bool]]
) -> None:
    """Start the command and SIGKILL it as soon as `progressed` holds: no drain, no goodbye."""
    with started(args, env) as process:
        await eventually(progressed, within=60, interval=0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(10)


def run(args: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chargehook", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
