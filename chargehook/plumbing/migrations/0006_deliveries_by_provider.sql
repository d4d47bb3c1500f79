-- Event identity is (provider, event_id) everywhere: two providers may use the same
-- Idempotency-Key, and each one's event is delivered to a subscriber once.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_subscription_id_event_id_key;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_one_per_event
    UNIQUE (subscription_id, provider, event_id);
