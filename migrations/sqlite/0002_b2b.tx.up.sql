-- Business accounts: batches, approvals of B2B admins, one-time tokens for the
-- password flows, and the mail outbox.
CREATE TABLE batches (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    name_key      TEXT NOT NULL, -- lower-cased name: unique per owner, letter case ignored
    description   TEXT NOT NULL DEFAULT '',
    max_users     INTEGER NOT NULL CHECK (max_users >= 1),
    is_active     BOOLEAN NOT NULL DEFAULT true,
    created_by_id TEXT NOT NULL REFERENCES users (id),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

--bun:split
CREATE UNIQUE INDEX batches_name_key_uq ON batches (created_by_id, name_key);
--bun:split
CREATE INDEX batches_created_at_idx ON batches (created_at, id);

--bun:split
ALTER TABLE users ADD COLUMN batch_id TEXT REFERENCES batches (id);
--bun:split
ALTER TABLE users ADD COLUMN company_name TEXT;
--bun:split
CREATE INDEX users_batch_idx ON users (batch_id);

--bun:split
-- One per B2B admin. decided_by_id and decided_at are set by approve and reject.
CREATE TABLE approvals (
    id               TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status           TEXT NOT NULL CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED')),
    decided_by_id    TEXT REFERENCES users (id),
    decided_at       TEXT,
    rejection_reason TEXT,
    created_at       TEXT NOT NULL
);

--bun:split
CREATE UNIQUE INDEX approvals_user_uq ON approvals (user_id);
--bun:split
CREATE INDEX approvals_created_at_idx ON approvals (created_at, id);

--bun:split
-- Emailed single-use tokens (password setup, password reset). Only hashes are stored.
CREATE TABLE one_time_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL CHECK (purpose IN ('PASSWORD_SETUP', 'PASSWORD_RESET', 'EMAIL_VERIFY')),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT
);

--bun:split
CREATE INDEX one_time_tokens_user_idx ON one_time_tokens (user_id, purpose);

--bun:split
-- Emails are written here in the transaction that causes them and delivered
-- after commit by the outbox worker, with retries.
CREATE TABLE mail_outbox (
    id              TEXT PRIMARY KEY,
    template        TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    html_body       TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('PENDING', 'SENT', 'FAILED')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    locked_until    TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT
);

--bun:split
CREATE INDEX mail_outbox_due_idx ON mail_outbox (status, next_attempt_at);
