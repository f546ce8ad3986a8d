-- Passkeys (WebAuthn credentials): what checks a sign-in's signature, never
-- anything secret. credential_id is the authenticator's id (base64url);
-- public_key its COSE key; sign_count the last signature counter seen.
CREATE TABLE passkeys (
    id               uuid PRIMARY KEY,
    user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id    text NOT NULL UNIQUE,
    public_key       bytea NOT NULL,
    attestation_type text NOT NULL,
    aaguid           bytea,
    sign_count       bigint NOT NULL DEFAULT 0,
    backup_eligible  boolean NOT NULL,
    backup_state     boolean NOT NULL,
    transports       text NOT NULL DEFAULT '',
    name             text NOT NULL,
    created_at       timestamptz NOT NULL,
    last_used_at     timestamptz
);
--bun:split
CREATE INDEX passkeys_user_idx ON passkeys (user_id);
--bun:split
-- Passkey ceremonies under way (5 minutes, single use): registration for a
-- user, or a sign-in (for one email's account, or any account's passkey).
-- session is go-webauthn's session data (JSON): the challenge and what it
-- was asked for.
CREATE TABLE passkey_challenges (
    id         uuid PRIMARY KEY,
    kind       text NOT NULL,
    user_id    uuid REFERENCES users (id) ON DELETE CASCADE,
    email_key  text,
    challenge  text NOT NULL,
    session    text NOT NULL,
    expires_at timestamptz NOT NULL
);
--bun:split
CREATE INDEX passkey_challenges_user_idx ON passkey_challenges (user_id, challenge);
--bun:split
CREATE INDEX passkey_challenges_expires_idx ON passkey_challenges (expires_at);
