-- A stored bill never changes (docs/billing.md#once-per-session): a correction will be a new
-- bill. The database itself refuses to change or remove one, whoever asks: not only unused.
CREATE FUNCTION chargehook_bills_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'bills are immutable: % on bills refused; a correction is a new bill', TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER bills_never_change BEFORE UPDATE OR DELETE ON bills
    FOR EACH ROW EXECUTE FUNCTION chargehook_bills_are_immutable();
CREATE TRIGGER bills_never_truncated BEFORE TRUNCATE ON bills
    FOR EACH STATEMENT EXECUTE FUNCTION chargehook_bills_are_immutable();
