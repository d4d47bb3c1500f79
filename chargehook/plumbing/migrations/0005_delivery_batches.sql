-- Deliveries go out in batches: one request carries up to `batch_size` session objects to a
-- subscriber. A delivery row is still one event to one subscriber; its payload is now that one
-- session object, and a request's body is the array of its batch's payloads.

ALTER TABLE subscriptions
    ADD COLUMN batch_size integer CHECK (batch_size BETWEEN 1 AND 500);  -- NULL: the setting

-- When ingest accepted the event, for the event -> delivery latency.
ALTER TABLE deliveries ADD COLUMN received_at timestamptz;

UPDATE deliveries SET payload = payload -> 0 WHERE json_typeof(payload) = 'array';

-- A batch size is matched on too; a rotated secret must reach the workers' caches.
DROP TRIGGER subscriptions_changed ON subscriptions;
CREATE TRIGGER subscriptions_changed AFTER UPDATE ON subscriptions FOR EACH ROW
    WHEN (OLD.url IS DISTINCT FROM NEW.url OR OLD.statuses IS DISTINCT FROM NEW.statuses
          OR OLD.providers IS DISTINCT FROM NEW.providers OR OLD.enabled IS DISTINCT FROM NEW.enabled
          OR OLD.batch_size IS DISTINCT FROM NEW.batch_size)
    EXECUTE FUNCTION chargehook_subscriptions_changed();
CREATE TRIGGER subscription_secrets_changed AFTER INSERT OR UPDATE OR DELETE
    ON subscription_secrets FOR EACH STATEMENT EXECUTE FUNCTION chargehook_subscriptions_changed();
