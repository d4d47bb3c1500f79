"""chargehook: session callbacks in, stored states, bills and signed webhooks out.

The rooms are `schemas`, `plumbing`, the features (`sessions`, `billing`, `webhooks`,
`providers`, `dead_letters`), `ingest` and `workers` (docs/architecture.md). The command is
`cli.py`, with the operator's one-shot commands in `commands.py`; `root.py` is the composition
root, the one place that wires the rooms.
"""
