"""Running the real `chargehook` command as a child process, the way operators do."""

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager


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


def run(args: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chargehook", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
