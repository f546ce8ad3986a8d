-- Accounts, sessions with their refresh tokens, and shared rate-limit counters.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    email_key     TEXT NOT NULL, -- lower-cased email: uniqueness ignores letter case
    mobile        TEXT NOT NULL,
    first_name    TEXT NOT NULL,
    last_name     TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('ADMIN', 'B2B_ADMIN', 'B2B_USER', 'B2C_USER')),
    is_active     BOOLEAN NOT NULL DEFAULT true,
    is_verified   BOOLEAN NOT NULL DEFAULT false,
    is_approved   BOOLEAN NOT NULL DEFAULT false,
    password_hash TEXT,
    created_by_id TEXT REFERENCES users (id) ON DELETE SET NULL,
    date_joined   TEXT NOT NULL,
    last_login    TEXT,
    updated_at    TEXT NOT NULL
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
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    TEXT NOT NULL,
    last_used_at  TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    revoked_at    TEXT,
    revoke_reason TEXT,
    user_agent    TEXT NOT NULL DEFAULT '',
    ip            TEXT NOT NULL DEFAULT ''
);

--bun:split
CREATE INDEX sessions_user_idx ON sessions (user_id, created_at);

--bun:split
-- Only SHA-256 hashes of refresh tokens are stored. used_at is set when a token
-- is rotated; presenting it again is reuse and ends the session.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    used_at    TEXT
);

--bun:split
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

--bun:split
-- Fixed-window counters shared by every replica (login failures, registrations…).
CREATE TABLE rate_limits (
    key           TEXT PRIMARY KEY,
    window_start  TEXT NOT NULL,
    hits          INTEGER NOT NULL,
    blocked_until TEXT
);
