"""The subscriptions API and the delivery log on the wire, and the delivery task on the broker."""

from datetime import datetime
from typing import Annotated, Literal, get_args

import msgspec

from chargehook.schemas.session import Status

Url = Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
Description = Annotated[str, msgspec.Meta(max_length=500)]
# Sessions per webhook request; 1 gives a receiver one event per request.
BatchSize = Annotated[int, msgspec.Meta(ge=1, le=500)]
# Lower case and dot-free: the name is the last word of a routing key (`session.finished.repsol`).
PROVIDER_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
ProviderName = Annotated[str, msgspec.Meta(pattern=PROVIDER_NAME_PATTERN)]
DeliveryStatus = Literal["pending", "succeeded", "failed", "superseded"]
DELIVERY_STATUSES: tuple[DeliveryStatus, ...] = get_args(DeliveryStatus)


class NewSubscription(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """POST /v1/subscriptions: filters left out (or null) match everything."""

    url: Url
    statuses: list[Status] | None = None
    providers: list[ProviderName] | None = None
    description: Description | None = None
    batch_size: BatchSize | None = None  # null: CHARGEHOOK_DELIVERY_BATCH_SIZE


class SubscriptionChange(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """PATCH /v1/subscriptions/{id}: only the fields sent change."""

    url: Url | msgspec.UnsetType = msgspec.UNSET
    statuses: list[Status] | msgspec.UnsetType | None = msgspec.UNSET
    providers: list[ProviderName] | msgspec.UnsetType | None = msgspec.UNSET
    description: Description | msgspec.UnsetType | None = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    batch_size: BatchSize | msgspec.UnsetType | None = msgspec.UNSET


class Subscription(msgspec.Struct, kw_only=True):
    id: str
    url: str
    statuses: list[Status] | None
    providers: list[str] | None
    description: str | None
    batch_size: int | None
    enabled: bool
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime
    last_success_at: datetime | None


class SubscriptionCreated(Subscription, kw_only=True):
    """The only answer that shows the signing secret."""

    secret: str


class RotatedSecret(msgspec.Struct, kw_only=True):
    secret: str
    previous_expires_at: datetime


class Attempt(msgspec.Struct, kw_only=True):
    attempt: int
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    error_kind: str | None
    response_snippet: str | None


class Delivery(msgspec.Struct, kw_only=True):
    id: str
    subscription_id: str
    provider: str
    session_id: str
    event_id: str
    position: str
    status: DeliveryStatus
    attempts: list[Attempt]
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime


class Recover(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """POST /v1/subscriptions/{id}/recover: replay every failed delivery since then."""

    since: datetime


class Replayed(msgspec.Struct, kw_only=True):
    replayed: int


class SubscriptionHealth(msgspec.Struct, kw_only=True):
    """A subscription at a glance, as the portal and `chargehook status` show it."""

    id: str
    url: str
    enabled: bool
    last_success_at: datetime | None
    failures_last_hour: int  # failed attempts
    pending: int  # deliveries waiting for their next attempt
    # After this time the next failed attempt disables it (no success for too long); None when
    # it is disabled already. Reckoned from its creation until it has had a success.
    disables_at: datetime | None


class TestSent(msgspec.Struct, kw_only=True):
    """POST /v1/subscriptions/{id}/test: what the receiver answered to a signed example event."""

    __test__ = False  # not a pytest test class, whatever its name

    webhook_id: str
    succeeded: bool
    status_code: int | None
    latency_ms: int
    error_kind: str | None
    snippet: str | None


class DeliveryTask(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Deliveries to one subscription, attempted together as one request, on
    `chargehook.delivery`; `round` indexes the retry schedule."""

    delivery_ids: list[str] = msgspec.field(default_factory=list)
    round: int = 1
    # whose they are, so the deliverer need not read them first; tasks of earlier versions
    # lack it, and the deliverer then finds it on the deliveries
    subscription_id: str | None = None
    delivery_id: str | None = None  # the one-delivery form of earlier versions, still read

    @property
    def ids(self) -> list[str]:
        return self.delivery_ids or ([self.delivery_id] if self.delivery_id else [])
