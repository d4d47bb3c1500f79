"""Throughput load with wrk when it is installed: a Lua script makes every request a new session
(page-shaped POSTs, or OCPI Session PUTs whose URL ends in the session id) and reports its
figures as one JSON line; without wrk, the Python client (bench.load) does it."""

import math
import shutil
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

from bench.load import Result, shape
from bench.processes import Children

MARK = "BENCH_RESULT "

LUA = """
wrk.method = "{method}"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "{authorization}"
local prefix = [==[{prefix}]==]
local suffix = [==[{suffix}]==]
local path_prefix = {path_prefix}
local threads = {{}}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

local counter = 0
function request()
  counter = counter + 1
  local id = "{tag}-" .. tid .. "-" .. counter
  local path = nil
  if path_prefix then path = path_prefix .. id end
  return wrk.format(nil, path, nil, prefix .. id .. suffix)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{mark}{{"client":"wrk","sent":%d,"ok":%d,"non2xx":%d,"errors":%d,"elapsed":%f,' ..
    '"p50_ms":%f,"p99_ms":%f,"statuses":{{}}}}\\n',
    summary.requests, summary.requests - e.status, e.status,
    e.connect + e.read + e.write + e.timeout, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def wrk_path() -> str | None:
    return shutil.which("wrk")


def lua_script(url: str, token: str, ocpi_party: str | None = None) -> str:
    """Each request a new session; OCPI's id goes in the path too (wrk's own path + the id)."""
    how = shape(token, ocpi_party)
    path = urlsplit(url).path
    return LUA.format(
        method=how.method,
        authorization=how.authorization,
        prefix=how.prefix.decode(),
        suffix=how.suffix.decode(),
        path_prefix=f"[==[{path}]==]" if how.id_in_path else "nil",
        tag=uuid.uuid4().hex[:8],
        mark=MARK,
    )


async def flood(
    children: Children,
    url: str,
    token: str,
    connections: int,
    duration: float,
    work: Path,
    use_wrk: bool = True,
    ocpi_party: str | None = None,
) -> Result:
    """`connections` requests in flight for `duration` seconds, each a new session; with
    `ocpi_party` ("CC/PID") each an OCPI Session PUT to `url` + its id."""
    wrk = wrk_path() if use_wrk else None
    if wrk is not None:
        script = work / ("ocpi-sessions.lua" if ocpi_party else "unique-sessions.lua")
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(lua_script(url, token, ocpi_party))
        threads = str(min(2, connections))
        args = [wrk, "-t", threads, "-c", str(connections), "-d", f"{math.ceil(duration)}s"]
        args += ["--timeout", "10s", "-s", str(script), url]
    else:
        args = [sys.executable, "-m", "bench.load", "flood", "--url", url, "--token", token]
        args += ["--connections", str(connections), "--duration", str(duration)]
        if ocpi_party:
            args += ["--ocpi", ocpi_party]
    child = await children.start("load", args, stdout_pipe=True)
    output = await children.output(child, duration + 60)
    for line in output.splitlines():
        if wrk is not None and line.startswith(MARK):
            return msgspec.json.decode(line.removeprefix(MARK), type=Result)
        if wrk is None and line.startswith("{"):
            return msgspec.json.decode(line, type=Result)
    raise RuntimeError(f"no result from the load generator: {output[-500:]} {child.tail()}")
