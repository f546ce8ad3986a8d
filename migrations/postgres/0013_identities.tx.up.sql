-- Accounts at other identity providers linked to users: the provider's id
-- and its subject (the person's id there) name one person; email is what
-- the provider last said, for the owner to recognise the link.
CREATE TABLE identities (
    id           uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider     text NOT NULL,
    subject      text NOT NULL,
    email        text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
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
    id           uuid PRIMARY KEY,
    provider     text NOT NULL,
    state_hash   text UNIQUE,
    nonce_hash   text,
    verifier     text,
    redirect_to  text NOT NULL,
    user_id      uuid REFERENCES users (id) ON DELETE CASCADE,
    binding_hash text,
    answered     boolean NOT NULL DEFAULT false,
    code_hash    text UNIQUE,
    claims       text,
    expires_at   timestamptz NOT NULL
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
