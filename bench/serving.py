"""The bench's own HTTP servers (bare handler, receiver): serve on loopback until a signal."""

import asyncio
import signal

from aiohttp import web


async def serve_until_signalled(app: web.Application, port: int) -> None:
    """Serve `app` on 127.0.0.1:`port` until SIGTERM or SIGINT, then close it."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
