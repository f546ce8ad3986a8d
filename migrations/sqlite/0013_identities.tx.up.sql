-- Accounts at other identity providers linked to users: the provider's id
-- and its subject (the person's id there) name one person; email is what
-- the provider last said, for the owner to recognise the link.
CREATE TABLE identities (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider     TEXT NOT NULL,
    subject      TEXT NOT NULL,
    email        TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    UNIQUE (provider, subject),
    UNIQUE (user_id, provider)
);
--bun:split
-- Sign-ins at other providers under way (10 minutes; after the provider's
-- answer, 2 minutes for its one-time code). state_hash and code_hash are
-- hashes of what travels in URLs; binding_hash the hash of the cookie that
-- ties the flow to the browser that started it; nonce_hash the hash of the
-- ID token's nonce; verifier the PKCE verifier, sealed; claims what the
-- provider vouched for (JSON), kept until the code is redeemed; user_id the
-- signed-in user who asked to link an account.
CREATE TABLE social_flows (
    id           TEXT PRIMARY KEY,
    provider     TEXT NOT NULL,
    state_hash   TEXT UNIQUE,
    nonce_hash   TEXT,
    verifier     TEXT,
    redirect_to  TEXT NOT NULL,
    user_id      TEXT REFERENCES users (id) ON DELETE CASCADE,
    binding_hash TEXT,
    answered     BOOLEAN NOT NULL DEFAULT false,
    code_hash    TEXT UNIQUE,
    claims       TEXT,
    expires_at   TEXT NOT NULL
);
--bun:split
CREATE INDEX social_flows_user_idx ON social_flows (user_id);
--bun:split
CREATE INDEX social_flows_expires_idx ON social_flows (expires_at);
--bun:split
-- People who signed up with another provider have no mobile number yet:
-- numbers are unique among those who have one.
DROP INDEX users_mobile_uq;
--bun:split
CREATE UNIQUE INDEX users_mobile_uq ON users (mobile) WHERE mobile <> '';
