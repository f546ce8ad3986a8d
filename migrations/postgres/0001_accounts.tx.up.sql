-- Accounts, sessions with their refresh tokens, and shared rate-limit counters.
CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL,
    email_key     text NOT NULL, -- lower-cased email: uniqueness ignores letter case
    mobile        text NOT NULL,
    first_name    text NOT NULL,
    last_name     text NOT NULL,
    role          text NOT NULL CHECK (role IN ('ADMIN', 'B2B_ADMIN', 'B2B_USER', 'B2C_USER')),
    is_active     boolean NOT NULL DEFAULT true,
    is_verified   boolean NOT NULL DEFAULT false,
    is_approved   boolean NOT NULL DEFAULT false,
    password_hash text,
    created_by_id uuid REFERENCES users (id) ON DELETE SET NULL,
    date_joined   timestamptz NOT NULL,
    last_login    timestamptz,
    updated_at    timestamptz NOT NULL
);

--bun:split
CREATE UNIQUE INDEX users_email_key_uq ON users (email_key);
--bun:split
CREATE UNIQUE INDEX users_mobile_uq ON users (mobile);
--bun:split
CREATE INDEX users_date_joined_idx ON users (date_joined, id);
--bun:split
CREATE INDEX users_created_by_idx ON users (created_by_id);

--bun:split
-- A session is one sign-in: a family of refresh tokens, each rotated on use.
CREATE TABLE sessions (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    revoke_reason text,
    user_agent    text NOT NULL DEFAULT '',
    ip            text NOT NULL DEFAULT ''
);

--bun:split
CREATE INDEX sessions_user_idx ON sessions (user_id, created_at);

--bun:split
-- Only SHA-256 hashes of refresh tokens are stored. used_at is set when a token
-- is rotated; presenting it again is reuse and ends the session.
CREATE TABLE refresh_tokens (
    token_hash text PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    used_at    timestamptz
);

--bun:split
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

--bun:split
-- Fixed-window counters shared by every replica (login failures, registrations…).
CREATE TABLE rate_limits (
    key           text PRIMARY KEY,
    window_start  timestamptz NOT NULL,
    hits          integer NOT NULL,
    blocked_until timestamptz
);
