-- Bills as an append-only ledger (docs/billing.md#the-ledger): a correction is a credit of the
-- old final plus a new final that references it; an OCPI CDR makes a final, a credit CDR a
-- credit. Bills still never change (migration 0010): every column here is written once.

ALTER TABLE bills DROP CONSTRAINT bills_kind_check;
ALTER TABLE bills ADD CONSTRAINT bills_kind_check
    CHECK (kind IN ('estimate', 'final', 'credit', 'zero', 'incomplete'));

ALTER TABLE bills
    -- a credit: the final it credits; a final: the final it replaces (NULL for the first)
    ADD COLUMN refers_to bigint REFERENCES bills (id),
    -- the OCPI CDR a bill came from, as '<country_code>-<party_id>-<cdr id>'
    ADD COLUMN cdr_id text COLLATE "C",
    -- P, u, E, D, A0 and the currency as billed (billing.rules.inputs_of): a later event whose
    -- inputs differ corrects the final; NULL for bills made before this migration
    ADD COLUMN inputs text,
    -- the CPO's own total_cost of a CDR, kept beside ours
    ADD COLUMN cpo_excl_vat numeric,
    ADD COLUMN cpo_incl_vat numeric,
    ADD CONSTRAINT bills_came_from CHECK (event_id IS NOT NULL OR cdr_id IS NOT NULL),
    ADD CONSTRAINT bills_references CHECK (
        (kind <> 'credit' OR refers_to IS NOT NULL)
        AND (refers_to IS NULL OR kind IN ('final', 'credit')));
ALTER TABLE bills ALTER COLUMN event_id DROP NOT NULL;

-- One bill per event, besides the credit a correcting event also makes; one per CDR.
ALTER TABLE bills DROP CONSTRAINT bills_provider_event_id_key;
CREATE UNIQUE INDEX bills_one_per_event ON bills (provider, event_id) WHERE kind <> 'credit';
CREATE UNIQUE INDEX bills_one_per_cdr ON bills (provider, cdr_id);

-- A chain per session: one first final, each final replaced at most once and credited at most
-- once; with the check below, at most one final of a session is uncredited at any time.
DROP INDEX bills_one_final_per_session;
CREATE UNIQUE INDEX bills_first_final ON bills (provider, session_id)
    WHERE kind = 'final' AND refers_to IS NULL;
CREATE UNIQUE INDEX bills_one_replacement ON bills (refers_to) WHERE kind = 'final';
CREATE UNIQUE INDEX bills_one_credit ON bills (refers_to) WHERE kind = 'credit';

-- The export and the reconciliation read by time, in id order.
CREATE INDEX bills_by_billed_at ON bills (billed_at, id);

-- A reference names a final of the same session; a final replaces only a credited final (by
-- the end of its transaction, so the credit and the new final may come in either order).
CREATE FUNCTION chargehook_bill_references_hold() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    referenced bills%ROWTYPE;
BEGIN
    SELECT * INTO referenced FROM bills WHERE id = NEW.refers_to;
    IF referenced.kind <> 'final' OR referenced.provider <> NEW.provider
            OR referenced.session_id <> NEW.session_id THEN
        RAISE EXCEPTION 'bill %: % must reference a final of session %/%', NEW.id, NEW.kind,
            NEW.provider, NEW.session_id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.kind = 'final' AND NOT EXISTS (
            SELECT 1 FROM bills WHERE kind = 'credit' AND refers_to = NEW.refers_to) THEN
        RAISE EXCEPTION 'bill %: final % replaced without its credit', NEW.id, NEW.refers_to
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER bills_references_hold AFTER INSERT ON bills
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.refers_to IS NOT NULL)
    EXECUTE FUNCTION chargehook_bill_references_hold();
