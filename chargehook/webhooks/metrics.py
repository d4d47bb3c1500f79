"""What delivering measures: attempts and their outcomes, subscriptions disabled, and the time
from acceptance to a subscriber's 2xx."""

from chargehook.plumbing.metrics import Catalog, HistogramSpec, Spec

# An attempt ends at the 15 s request timeout.
ATTEMPT = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 20.0)
# From acceptance to a subscriber's 2xx: a second on the first attempt, hours through the
# retry schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
END_TO_END = (
    *(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
    *(300.0, 1800.0, 7200.0, 18000.0, 36000.0, 86400.0),
)

WEBHOOKS = Catalog(
    counters={
        "chargehook_deliveries_total": Spec(
            "Delivery attempts and supersessions, by outcome", ("outcome",)
        ),
        "chargehook_subscriptions_disabled_total": Spec(
            "Subscriptions disabled by a 410 or poor health"
        ),
    },
    histograms={
        "chargehook_delivery_attempt_seconds": HistogramSpec(
            "Time of one delivery attempt to a subscriber, by outcome", ("outcome",), ATTEMPT
        ),
        "chargehook_event_to_delivery_seconds": HistogramSpec(
            "Time from ingest accepting an event to a subscriber's 2xx for it", (), END_TO_END
        ),
    },
)
