-- Passkeys (WebAuthn credentials): what checks a sign-in's signature, never
-- anything secret. credential_id is the authenticator's id (base64url);
-- public_key its COSE key; sign_count the last signature counter seen.
CREATE TABLE passkeys (
    id               TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id    TEXT NOT NULL UNIQUE,
    public_key       BLOB NOT NULL,
    attestation_type TEXT NOT NULL,
    aaguid           BLOB,
    sign_count       INTEGER NOT NULL DEFAULT 0,
    backup_eligible  BOOLEAN NOT NULL,
    backup_state     BOOLEAN NOT NULL,
    transports       TEXT NOT NULL DEFAULT '',
    name             TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    last_used_at     TEXT
);
--bun:split
CREATE INDEX passkeys_user_idx ON passkeys (user_id);
--bun:split
-- Passkey ceremonies under way (5 minutes, single use): registration for a
-- user, or a sign-in (for one email's account, or any account's passkey).
-- session is go-webauthn's session data (JSON): the challenge and what it
-- was asked for.
CREATE TABLE passkey_challenges (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    email_key  TEXT,
    challenge  TEXT NOT NULL,
    session    TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
--bun:split
CREATE INDEX passkey_challenges_user_idx ON passkey_challenges (user_id, challenge);
--bun:split
CREATE INDEX passkey_challenges_expires_idx ON passkey_challenges (expires_at);
