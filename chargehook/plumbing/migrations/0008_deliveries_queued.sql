-- A delivery is queued as a task once: `queued_at` is set when the broker confirmed its task,
-- so a fan-out message redelivered after that (a broker restart, a worker killed before its
-- ack) finds the delivery queued and does not queue a second task for it.
ALTER TABLE deliveries ADD COLUMN queued_at timestamptz;  -- NULL: its task is not confirmed yet
UPDATE deliveries SET queued_at = created_at;
