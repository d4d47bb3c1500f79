"""BILLING.md's worked examples (c = 0.10, r = 0.21, EUR), shared by the unit and pipeline tests."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

START = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def number(text: str) -> msgspec.Raw:
    """A JSON number written exactly as given, as a provider's body carries it."""
    return msgspec.Raw(text.encode())


@dataclass(frozen=True)
class Example:
    unit: str
    price: str
    expected: tuple[str, str, str, str, str]  # B, A, C, T, amount
    energy: str | None = None
    seconds: int = 0
    access: str | None = None

    def item(self, session_id: str, status: str = "FINISHED", **extra: Any) -> dict[str, Any]:
        end = (START + timedelta(seconds=self.seconds)).isoformat()
        item: dict[str, Any] = {
            "id": session_id,
            "status": status,
            "currency": "EUR",
            "price_unit": self.unit,
            "plug_price": number(self.price),
            "started": START.isoformat(),
            "finished": end,
            "updatedAt": end,
            **extra,
        }
        if self.energy is not None:
            item["charged_kwh"] = number(self.energy)
        if self.access is not None:
            item["charger"] = {"chargerDetails": [{"accessPrice": number(self.access)}]}
        return item

    def body(self, session_id: str, status: str = "FINISHED", **extra: Any) -> bytes:
        return msgspec.json.encode(self.item(session_id, status, **extra))


WORKED_EXAMPLES = [
    Example("kwh", "0.45", ("10.56", "0.00", "1.06", "2.44", "14.06"), energy="23.456"),
    Example(
        "kwh", "0.39", ("3.90", "1.00", "0.49", "1.13", "6.52"), energy="10.0004", access="1.00"
    ),
    Example("minute", "0.05", ("2.15", "0.00", "0.22", "0.50", "2.87"), seconds=2530),
    Example("hour", "3.00", ("4.55", "0.00", "0.46", "1.05", "6.06"), seconds=5420),
    Example("session", "1.25", ("1.25", "0.00", "0.13", "0.29", "1.67")),
    Example("free", "0", ("0.00", "0.00", "0.00", "0.00", "0.00")),
]
EXAMPLE_IDS = [f"example {n} ({e.unit})" for n, e in enumerate(WORKED_EXAMPLES, start=1)]
