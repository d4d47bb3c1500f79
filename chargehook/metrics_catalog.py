"""Every room's metrics, gathered: what each chargehook process declares (docs/api.md lists
them), so every `/metrics` carries every `# HELP` and `# TYPE`, whichever room does the work."""

from chargehook.billing.metrics import BILLING
from chargehook.ingest.metrics import INGEST
from chargehook.plumbing.metrics import PLUMBING, Catalog, Metrics
from chargehook.sessions.metrics import SESSIONS
from chargehook.webhooks.metrics import WEBHOOKS

EVERY: tuple[Catalog, ...] = (PLUMBING, INGEST, SESSIONS, BILLING, WEBHOOKS)


def every_metric() -> Metrics:
    return Metrics(*EVERY)
