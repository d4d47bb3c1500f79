"""What billing measures: bills a human should look at."""

from chargehook.plumbing.metrics import Catalog, Spec

BILLING = Catalog(
    counters={
        "chargehook_billing_mismatches_total": Spec(
            "Bills whose provider figures differ by more than 0.01", ("provider",)
        ),
        "chargehook_billing_incomplete_total": Spec(
            "Bills that could not be computed, the reason logged", ("provider",)
        ),
    },
)
