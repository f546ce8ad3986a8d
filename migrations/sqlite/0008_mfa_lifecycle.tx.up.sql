-- Two-factor sign-in (TOTP), and accounts erased on request.
ALTER TABLE users ADD COLUMN mfa_enabled BOOLEAN NOT NULL DEFAULT false;
--bun:split
-- Set when the account's personal data was erased; the row stays, anonymised,
-- for the ledger and the audit trail.
ALTER TABLE users ADD COLUMN deleted_at TEXT;
--bun:split
-- One authenticator per user. secret is sealed with KEY_ENCRYPTION_KEY when
-- set; confirmed_at is null until confirmTotp; last_step is the last 30 s
-- step a code was accepted for, so no code is accepted twice.
CREATE TABLE totp_secrets (
    user_id      TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret       TEXT NOT NULL,
    confirmed_at TEXT,
    last_step    INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL
);
--bun:split
-- Single-use recovery codes, SHA-256 hashed (80 random bits each).
CREATE TABLE recovery_codes (
    code_hash TEXT PRIMARY KEY,
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    used_at   TEXT
);
--bun:split
CREATE INDEX recovery_codes_user_idx ON recovery_codes (user_id);
--bun:split
-- The password step of a sign-in that still needs a code (mfaToken), hashed.
CREATE TABLE mfa_challenges (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at TEXT NOT NULL,
    used_at    TEXT
);
--bun:split
CREATE INDEX mfa_challenges_user_idx ON mfa_challenges (user_id);
