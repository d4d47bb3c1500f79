"""What the HTTP edge measures: every answer, by route and status, counted and timed."""

from chargehook.plumbing.metrics import FAST, Catalog, HistogramSpec, Spec

INGEST = Catalog(
    counters={
        "chargehook_http_requests_total": Spec(
            "HTTP answers by route and status code", ("route", "status")
        ),
    },
    histograms={
        "chargehook_http_request_seconds": HistogramSpec(
            "Ingest request latency, by route and status code", ("route", "status"), FAST
        ),
    },
)
