"""What accepting callbacks measures: events confirmed, publishes not."""

from chargehook.plumbing.metrics import Catalog, Spec

SESSIONS = Catalog(
    counters={
        "chargehook_events_accepted_total": Spec(
            "Session events confirmed by the broker, by provider", ("provider",)
        ),
        "chargehook_publish_failures_total": Spec("Publishes the broker did not confirm in time"),
    },
)
