"""The operators' portal under `/ui/`: one static page and its scripts, shipped in the wheel.

The files hold no data and are the same for everyone, so they are served without a token:
everything the page shows or changes is a call to the JSON API with the admin token the
operator typed, which the page keeps in the tab's sessionStorage (docs/portal.md).
"""

from importlib import resources

from aiohttp import web

from chargehook.ingest.errors import ApiError

PREFIX = "/ui"
MEDIA_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}
# The page runs only its own scripts and talks only to this origin; a receiver's answer shown
# in it can never run as code, and no other site can frame it.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def portal_files() -> dict[str, bytes]:
    """Every file of the page, by name, read once when the app is built."""
    folder = resources.files("chargehook.ingest.operators") / "ui"
    return {
        entry.name: entry.read_bytes()
        for entry in folder.iterdir()
        if entry.is_file() and any(entry.name.endswith(ext) for ext in MEDIA_TYPES)
    }


def portal_routes() -> list[web.RouteDef]:
    files = portal_files()

    async def page(request: web.Request) -> web.Response:
        name = request.match_info.get("name") or "index.html"
        body = files.get(name)
        if body is None:
            raise ApiError(404, f"No portal file {name!r}")
        media_type = MEDIA_TYPES[name[name.rindex(".") :]]
        return web.Response(body=body, content_type=media_type, charset="utf-8", headers=HEADERS)

    async def to_page(request: web.Request) -> web.Response:
        return web.Response(status=308, headers={"Location": PREFIX + "/"})

    return [
        web.get(PREFIX, to_page),
        web.get(PREFIX + "/", page),
        web.get(PREFIX + "/{name}", page),
    ]
