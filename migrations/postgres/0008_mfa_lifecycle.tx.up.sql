-- Two-factor sign-in (TOTP), and accounts erased on request.
ALTER TABLE users ADD COLUMN mfa_enabled boolean NOT NULL DEFAULT false;
--bun:split
-- Set when the account's personal data was erased; the row stays, anonymised,
-- for the ledger and the audit trail.
ALTER TABLE users ADD COLUMN deleted_at timestamptz;
--bun:split
-- One authenticator per user. secret is sealed with KEY_ENCRYPTION_KEY when
-- set; confirmed_at is null until confirmTotp; last_step is the last 30 s
-- step a code was accepted for, so no code is accepted twice.
CREATE TABLE totp_secrets (
    user_id      uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret       text NOT NULL,
    confirmed_at timestamptz,
    last_step    bigint NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL
);
--bun:split
-- Single-use recovery codes, SHA-256 hashed (80 random bits each).
CREATE TABLE recovery_codes (
    code_hash text PRIMARY KEY,
    user_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    used_at   timestamptz
);
--bun:split
CREATE INDEX recovery_codes_user_idx ON recovery_codes (user_id);
--bun:split
-- The password step of a sign-in that still needs a code (mfaToken), hashed.
CREATE TABLE mfa_challenges (
    token_hash text PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
--bun:split
CREATE INDEX mfa_challenges_user_idx ON mfa_challenges (user_id);
