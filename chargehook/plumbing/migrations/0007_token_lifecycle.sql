-- Provider tokens can be revoked (deleted) and rotated: a rotated-out token keeps working until
-- `expires_at`. Every change is announced, so running ingest processes reload within a moment.
ALTER TABLE provider_tokens ADD COLUMN expires_at timestamptz;  -- NULL: until revoked

CREATE FUNCTION chargehook_tokens_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('chargehook_tokens', '');
    RETURN NULL;
END $$;
CREATE TRIGGER provider_tokens_changed AFTER INSERT OR UPDATE OR DELETE ON provider_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION chargehook_tokens_changed();
