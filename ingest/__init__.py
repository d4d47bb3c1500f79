"""The HTTP edge: one aiohttp application in one process, a folder per face.

- `providers/`: the session callbacks providers post with their own token;
- `operators/`: the admin API (sessions read back, subscriptions and deliveries, dead letters)
  and the portal's static files under /ui/;
- `probes.py`: health, readiness and metrics, no token.

Every route is in the route table (`route_table.py`), which `app.py` serves and `openapi.py`
documents. Handlers parse, call one use case of a room, and answer (docs/architecture.md).
"""
