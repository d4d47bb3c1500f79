"""Typed settings, read once at start from CHARGEHOOK_* variables and command-line flags."""

import os
from collections.abc import Mapping
from typing import Annotated, Literal

import msgspec

from chargehook.plumbing.errors import ConfigError

ENV_PREFIX = "CHARGEHOOK_"
Positive = Annotated[int, msgspec.Meta(ge=1)]
Seconds = Annotated[float, msgspec.Meta(gt=0)]
MIN_ADMIN_TOKEN = 32
SCHEDULE = r"^\s*\d+(\.\d+)?(\s*,\s*\d+(\.\d+)?)*\s*$"  # seconds, comma separated


class Settings(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Every knob of chargehook; no other module reads the environment."""

    # one URL, or several comma-separated: one per RabbitMQ node (docs/operations.md)
    amqp_url: str | None = None
    database_url: str | None = None
    # the RabbitMQ management API, for `chargehook topology`; default: each node's port 15672
    management_url: str | None = None
    http_host: str = "127.0.0.1"
    http_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8080
    # where CPOs reach ingest, the base of the OCPI URLs it hands out; default http://host:port
    public_url: Annotated[str, msgspec.Meta(pattern=r"^https?://[^\s/]+(/[^\s]*)?$")] | None = None
    # who chargehook is to CPOs: its OCPI role EMSP's party and business name (credentials)
    ocpi_country_code: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9]{2}$")] = "ES"
    ocpi_party_id: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9]{3}$")] = "CHG"
    ocpi_business_name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] = "chargehook"
    metrics_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] | None = None
    # long enough not to be guessed; the deploy/ placeholders are shorter, so they refuse to start
    admin_token: Annotated[str, msgspec.Meta(min_length=MIN_ADMIN_TOKEN)] | None = None
    allow_private_urls: bool = False
    # events per second per provider, per ingest process; 0: no limit
    provider_rate_limit: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    log_format: Literal["console", "json"] | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    data_dir: str = ".chargehook"
    publish_timeout: Seconds = 5.0
    persist_prefetch: Positive = 2000
    persist_batch_size: Positive = 500
    billing_prefetch: Positive = 1000
    billing_batch_size: Positive = 250
    ocpi_prefetch: Positive = 1000
    ocpi_batch_size: Positive = 200
    notify_prefetch: Positive = 1000
    notify_batch_size: Positive = 500
    delivery_concurrency: Positive = 64
    delivery_per_subscription: Positive = 4
    delivery_batch_size: Annotated[int, msgspec.Meta(ge=1, le=500)] = 100
    retry_schedule: Annotated[str, msgspec.Meta(pattern=SCHEDULE)] = (
        "5,300,1800,7200,18000,36000,36000"
    )
    retry_busy_delay: Seconds = 1.0
    disable_after: Seconds = 5 * 24 * 3600.0
    drain_timeout: Seconds = 10.0

    @property
    def base_url(self) -> str:
        """Where CPOs and operators reach ingest."""
        return (self.public_url or f"http://{self.http_host}:{self.http_port}").rstrip("/")

    @property
    def embedded(self) -> bool:
        """No broker and no database configured: run on the in-process defaults."""
        return self.amqp_url is None and self.database_url is None


def setting_names() -> tuple[str, ...]:
    return tuple(field.name for field in msgspec.structs.fields(Settings))


def env_name(setting: str) -> str:
    return ENV_PREFIX + setting.upper()


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, str] | None = None
) -> Settings:
    """Environment first, flags over it; any unknown or malformed value is a ConfigError."""
    environ = os.environ if environ is None else environ
    known = {env_name(name): name for name in setting_names()}
    raw: dict[str, str] = {}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        if key not in known:
            raise ConfigError(f"unknown setting {key}; known: {', '.join(sorted(known))}")
        raw[known[key]] = value
    raw.update(overrides or {})
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(_explain(exc)) from None


def _explain(exc: msgspec.ValidationError) -> str:
    message = str(exc)
    head, _, path = message.partition(" - at `$.")
    if not path:
        return f"bad configuration: {message}"
    return f"{env_name(path.rstrip('`'))}: {head}"
