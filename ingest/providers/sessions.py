"""The providers' callbacks: `POST /v1/sessions` (docs/api.md#posting-session-events). The body is
split, validated and named here, then accepted by `sessions.accepting`."""

from datetime import UTC, datetime

from aiohttp import web

from chargehook.ingest.auth import require_provider
from chargehook.ingest.context import INGEST, RETRY_AFTER_SECONDS, json_response, plain_json
from chargehook.ingest.errors import ApiError
from chargehook.schemas import Accepted
from chargehook.sessions.accepting import KeyReused, NotConfirmed, OverRate, accept
from chargehook.sessions.intake import (
    BadInput,
    check_idempotency_key,
    envelope,
    split_body,
    validate,
)


async def post_sessions(request: web.Request) -> web.Response:
    ingest = request.app[INGEST]
    provider = await require_provider(request, ingest.tokens, ingest.admin_token)
    body = await plain_json(request)
    try:
        raws, is_array = split_body(body)
        key = check_idempotency_key(request.headers.get("Idempotency-Key"), len(raws))
        items = validate(raws, is_array)
        received_at = datetime.now(UTC)
        envelopes = [envelope(provider, item, received_at, key) for item in items]
        await accept(ingest.accepting, provider, envelopes, items, key)
    except BadInput as exc:
        raise ApiError(400, str(exc)) from None
    except OverRate as exc:
        raise ApiError(
            429, f"{exc}; retry after {exc.wait} s", {"Retry-After": str(exc.wait)}
        ) from None
    except KeyReused as exc:
        raise ApiError(409, str(exc)) from None
    except NotConfirmed:
        raise ApiError(
            503,
            "The broker did not confirm every event, so none is reported accepted; "
            f"retry the same request after {RETRY_AFTER_SECONDS} s (retries are deduplicated)",
            {"Retry-After": RETRY_AFTER_SECONDS},
        ) from None
    return json_response(Accepted(len(envelopes), [e.event_id for e in envelopes]))
