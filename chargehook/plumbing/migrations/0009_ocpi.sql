-- OCPI 2.2.1 receiver (docs/ocpi.md): charge-point operators (CPOs) and their parties, the
-- pushes of their Sessions kept as they came, each Session as the merge of its pushes, and CDRs.

-- What a token may do: post page-shaped callbacks, register over OCPI (token A), or push over
-- OCPI once registered (token C). Every kind is stored as a digest, revoked and rotated alike.
ALTER TABLE provider_tokens ADD COLUMN use text NOT NULL DEFAULT 'callbacks'
    CHECK (use IN ('callbacks', 'ocpi_registration', 'ocpi'));

-- A CPO is a provider (its name is `registered_provider` to subscribers, its rates bill it).
CREATE TABLE ocpi_cpos (
    name              text PRIMARY KEY REFERENCES providers (name) ON DELETE CASCADE,
    state             text NOT NULL DEFAULT 'token_a_issued'
                      CHECK (state IN ('token_a_issued', 'registered', 'unregistered')),
    versions_url      text,   -- the CPO's, from its credentials
    version           text,   -- the version both speak, once registered
    token_b           text,   -- the CPO's token, only to call the CPO; never shown
    endpoints         jsonb NOT NULL DEFAULT '[]',  -- the CPO's, from its version details
    roles             jsonb NOT NULL DEFAULT '[]',  -- the CPO's credentials roles
    registered_at     timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    last_push_at      timestamptz,
    last_error        text,
    last_error_at     timestamptz
);

-- The parties a CPO may push for; a party belongs to one CPO. Codes are stored upper case
-- (CiString is case-insensitive).
CREATE TABLE ocpi_parties (
    country_code  text NOT NULL CHECK (country_code ~ '^[A-Z0-9]{2}$'),
    party_id      text NOT NULL CHECK (party_id ~ '^[A-Z0-9]{3}$'),
    cpo           text NOT NULL REFERENCES ocpi_cpos (name) ON DELETE CASCADE,
    PRIMARY KEY (country_code, party_id)
);
CREATE INDEX ocpi_parties_by_cpo ON ocpi_parties (cpo);

-- Every Session push (PUT or PATCH) once, as it came: the merge is computed from these.
CREATE TABLE ocpi_session_pushes (
    country_code  text NOT NULL,
    party_id      text NOT NULL,
    session_id    text COLLATE "C" NOT NULL,
    push_id       text COLLATE "C" NOT NULL,
    cpo           text NOT NULL,
    method        text NOT NULL CHECK (method IN ('PUT', 'PATCH')),
    last_updated  timestamptz NOT NULL,
    received_at   timestamptz NOT NULL,
    body          json NOT NULL,
    stored_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (country_code, party_id, session_id, push_id)
);

-- Each Session as the merge of its pushes in last_updated order (docs/ocpi.md#merge); `session`
-- is NULL while only PATCHes have come.
CREATE TABLE ocpi_sessions (
    country_code  text NOT NULL,
    party_id      text NOT NULL,
    session_id    text COLLATE "C" NOT NULL,
    cpo           text NOT NULL,
    pushes        integer NOT NULL,  -- the pushes and CDRs merged: a merge of more is newer
    last_updated  timestamptz NOT NULL,
    session       json,
    stored_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (country_code, party_id, session_id)
);

-- CDRs, immutable: the first body stored under an id is the CDR.
CREATE TABLE ocpi_cdrs (
    country_code  text NOT NULL,
    party_id      text NOT NULL,
    cdr_id        text COLLATE "C" NOT NULL,
    cpo           text NOT NULL,
    session_id    text COLLATE "C",
    push_id       text NOT NULL,
    last_updated  timestamptz NOT NULL,
    received_at   timestamptz NOT NULL,
    body          json NOT NULL,
    stored_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (country_code, party_id, cdr_id)
);
CREATE INDEX ocpi_cdrs_by_session ON ocpi_cdrs (country_code, party_id, session_id);

CREATE TRIGGER ocpi_parties_changed AFTER INSERT OR UPDATE OR DELETE ON ocpi_parties
    FOR EACH STATEMENT EXECUTE FUNCTION chargehook_tokens_changed();
