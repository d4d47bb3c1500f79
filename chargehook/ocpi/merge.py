"""A stored OCPI Session as the merge of the pushes a CPO sent for it (mod_sessions PUT, PATCH).

The rule is a pure function of the set of pushes, so any arrival order merges to the same bytes:

1. Order the pushes by `order`: last_updated, a PUT before a PATCH at an equal time, push_id.
2. The base is the greatest PUT in that order; while no PUT is among them there is no Session.
3. Every PATCH after the base is applied to it, in that order. Each top-level field the PATCH
   carries replaces the base's, a nested object (cdr_token, total_cost) whole, except
   charging_periods: its items are appended, and an empty, null or omitted list changes nothing.
4. A PATCH before the base is ignored: a PUT is the whole object at its time, so it holds it.
5. The merged last_updated is the last applied push's.

Each value keeps its JSON text verbatim (numbers too: 12.50 stays 12.50, 1e-3 stays 1e-3); the
result is compact. Its keys are the base's, in the base's order, then those the applied PATCHes
add, in the order they are applied (the arrival order would not be a function of the set).
The same push given twice counts once.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import msgspec

PERIODS = "charging_periods"
METHOD_RANK = {"PUT": 0, "PATCH": 1}  # at an equal time the PUT came first: the PATCH is on it

Fields = dict[str, msgspec.Raw]
fields_decoder = msgspec.json.Decoder(Fields)
periods_decoder = msgspec.json.Decoder(list[msgspec.Raw] | None)
encoder = msgspec.json.Encoder()


@dataclass(frozen=True)
class Push:
    method: Literal["PUT", "PATCH"]
    last_updated: datetime  # aware UTC
    push_id: str  # unique per distinct push; ties broken by it
    body: bytes  # the CPO's JSON object verbatim


def order(push: Push) -> tuple[datetime, int, str]:
    return push.last_updated, METHOD_RANK[push.method], push.push_id


def merge(pushes: Iterable[Push]) -> bytes | None:
    """The merged Session as compact JSON, or None while no PUT is among the pushes."""
    ordered = sorted(set(pushes), key=order)
    puts = [index for index, push in enumerate(ordered) if push.method == "PUT"]
    if not puts:
        return None
    base, *patches = ordered[puts[-1] :]
    merged = fields_decoder.decode(base.body)
    for patch in patches:
        apply(merged, fields_decoder.decode(patch.body))
    last = patches[-1] if patches else base
    merged["last_updated"] = msgspec.Raw(encoder.encode(last.last_updated))
    return msgspec.json.format(encoder.encode(merged), indent=-1)


def apply(merged: Fields, patch: Fields) -> None:
    for key, value in patch.items():
        if key != PERIODS:
            merged[key] = value
        elif added := periods_decoder.decode(value):
            held = periods_decoder.decode(merged[key]) if key in merged else None
            merged[key] = msgspec.Raw(encoder.encode([*(held or []), *added]))
