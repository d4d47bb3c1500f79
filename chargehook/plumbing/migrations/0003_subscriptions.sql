-- Subscribers, their signing secrets, every delivery and attempt, and each session's place in
-- each subscriber's stream (so nobody ever receives an older state after a newer one).

CREATE TABLE subscriptions (
    id               text PRIMARY KEY,
    url              text NOT NULL,
    statuses         text[],          -- NULL: every status
    providers        text[],          -- NULL: every provider
    description      text,
    enabled          boolean NOT NULL DEFAULT true,
    disabled_reason  text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    last_success_at  timestamptz
);

-- Several secrets sign at once during a rotation; `expires_at` NULL means current.
CREATE TABLE subscription_secrets (
    subscription_id  text NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    secret           text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz,
    PRIMARY KEY (subscription_id, secret)
);

CREATE TABLE deliveries (
    id               text PRIMARY KEY,  -- the webhook-id, the same on every attempt
    subscription_id  text NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    provider         text NOT NULL,
    session_id       text NOT NULL,
    event_id         text NOT NULL,
    position         text COLLATE "C" NOT NULL,
    payload          json NOT NULL,     -- the body, as sent on every attempt
    status           text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'superseded')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX deliveries_by_subscription ON deliveries (subscription_id, created_at);

CREATE TABLE delivery_attempts (
    id               bigserial PRIMARY KEY,
    delivery_id      text NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    attempt          integer NOT NULL,
    attempted_at     timestamptz NOT NULL,
    status_code      integer,
    latency_ms       integer NOT NULL,
    error_kind       text,              -- NULL on success
    response_snippet text
);
CREATE INDEX delivery_attempts_by_delivery ON delivery_attempts (delivery_id, attempt);

-- The newest position sent per subscriber and session (an older state is never sent after it),
-- and a short lease so that one attempt at a time goes out per subscriber and session.
CREATE TABLE delivery_cursors (
    subscription_id     text NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    provider            text NOT NULL,
    session_id          text NOT NULL,
    sent_position       text COLLATE "C",
    lease_delivery      text,
    lease_until         timestamptz,
    PRIMARY KEY (subscription_id, provider, session_id)
);

-- Notify workers keep subscriptions in memory and reload them when this fires.
CREATE FUNCTION chargehook_subscriptions_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('chargehook_subscriptions', '');
    RETURN NULL;
END $$;
CREATE TRIGGER subscriptions_added_or_removed AFTER INSERT OR DELETE ON subscriptions
    FOR EACH STATEMENT EXECUTE FUNCTION chargehook_subscriptions_changed();
-- Only what matching depends on: a delivery's success must not reload every worker.
CREATE TRIGGER subscriptions_changed AFTER UPDATE ON subscriptions FOR EACH ROW
    WHEN (OLD.url IS DISTINCT FROM NEW.url OR OLD.statuses IS DISTINCT FROM NEW.statuses
          OR OLD.providers IS DISTINCT FROM NEW.providers OR OLD.enabled IS DISTINCT FROM NEW.enabled)
    EXECUTE FUNCTION chargehook_subscriptions_changed();
