-- Per-provider rates, and every bill with the rates it used, so a later change never rewrites it.

ALTER TABLE providers
    ADD COLUMN commission_rate numeric NOT NULL DEFAULT 0.10
        CHECK (commission_rate >= 0 AND commission_rate <= 1),
    ADD COLUMN tax_rate numeric NOT NULL DEFAULT 0.21
        CHECK (tax_rate >= 0 AND tax_rate <= 1);

CREATE TABLE bills (
    id               bigserial PRIMARY KEY,
    provider         text NOT NULL,
    session_id       text NOT NULL,
    event_id         text NOT NULL,
    status           text NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('final', 'estimate', 'zero', 'incomplete')),
    reason           text,           -- why incomplete, or why flagged for review
    currency         text NOT NULL,
    price_unit       text,
    quantity         numeric,
    base             numeric,
    access_fee       numeric,
    subtotal         numeric,
    commission       numeric,
    tax              numeric,
    amount           numeric,
    commission_rate  numeric NOT NULL,
    tax_rate         numeric NOT NULL,
    -- the provider's own figures, kept beside ours
    provider_amount      numeric,
    provider_commission  numeric,
    provider_tax         numeric,
    mismatch         boolean NOT NULL DEFAULT false,
    updated_at       timestamptz NOT NULL,
    received_at      timestamptz NOT NULL,
    billed_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (provider, event_id)
);
-- A final bill is made once per session, whatever repeats, late events or parallel workers do.
CREATE UNIQUE INDEX bills_one_final_per_session ON bills (provider, session_id) WHERE kind = 'final';
CREATE INDEX bills_by_session ON bills (provider, session_id);
