-- Providers and their tokens (stored only as SHA-256 digests), the event history and each
-- session's current state.

CREATE TABLE providers (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE provider_tokens (
    token_hash  bytea PRIMARY KEY,
    provider    text NOT NULL REFERENCES providers (name) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Every accepted event once, whatever the broker or the provider repeats. `body` is the
-- provider's item verbatim (json, not jsonb: key order, number text and unknown fields stay).
CREATE TABLE session_events (
    provider     text NOT NULL,
    event_id     text NOT NULL,
    session_id   text NOT NULL,
    status       text NOT NULL,
    received_at  timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,  -- the event's updatedAt, else its arrival time
    body         json NOT NULL,
    stored_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, event_id)
);
CREATE INDEX session_events_by_session ON session_events (provider, session_id);

-- The greatest event of each session by (terminal, updated_at, lifecycle_rank, event_id).
CREATE TABLE sessions (
    provider        text NOT NULL,
    session_id      text NOT NULL,
    event_id        text COLLATE "C" NOT NULL,  -- compared as code points, like Python
    status          text NOT NULL,
    terminal        boolean NOT NULL,
    updated_at      timestamptz NOT NULL,
    lifecycle_rank  smallint NOT NULL,
    received_at     timestamptz NOT NULL,
    body            json NOT NULL,
    PRIMARY KEY (provider, session_id)
);
