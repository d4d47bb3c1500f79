"""chargehook: session callbacks in, stored states, bills and signed webhooks out.

The rooms are `schemas`, `plumbing`, the features (`sessions`, `billing`, `webhooks`,
`providers`), `ingest` and `workers`. The command is `cli.py`, with the operator's one-shot
commands in `admin.py`; `root.py` is the composition root, the one place that wires the rooms.
"""
