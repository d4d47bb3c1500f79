-- The updatedAt of the latest complete FINISHED (or billable PAYMENT_ERROR) event billing has
-- seen of each session (docs/billing.md#corrections): a later event with the same inputs as the
-- final moves it on, so an older event that comes after it corrects nothing. Bills never
-- change; this mark is billing's own bookkeeping beside them.
CREATE TABLE billing_latest_finished (
    provider     text NOT NULL,
    session_id   text NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (provider, session_id)
);
