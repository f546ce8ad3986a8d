-- Business accounts: batches, approvals of B2B admins, one-time tokens for the
-- password flows, and the mail outbox.
CREATE TABLE batches (
    id            uuid PRIMARY KEY,
    name          text NOT NULL,
    name_key      text NOT NULL, -- lower-cased name: unique per owner, letter case ignored
    description   text NOT NULL DEFAULT '',
    max_users     integer NOT NULL CHECK (max_users >= 1),
    is_active     boolean NOT NULL DEFAULT true,
    created_by_id uuid NOT NULL REFERENCES users (id),
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

--bun:split
CREATE UNIQUE INDEX batches_name_key_uq ON batches (created_by_id, name_key);
--bun:split
CREATE INDEX batches_created_at_idx ON batches (created_at, id);

--bun:split
ALTER TABLE users ADD COLUMN batch_id uuid REFERENCES batches (id);
--bun:split
ALTER TABLE users ADD COLUMN company_name text;
--bun:split
CREATE INDEX users_batch_idx ON users (batch_id);

--bun:split
-- One per B2B admin. decided_by_id and decided_at are set by approve and reject.
CREATE TABLE approvals (
    id               uuid PRIMARY KEY,
    user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status           text NOT NULL CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED')),
    decided_by_id    uuid REFERENCES users (id),
    decided_at       timestamptz,
    rejection_reason text,
    created_at       timestamptz NOT NULL
);

--bun:split
CREATE UNIQUE INDEX approvals_user_uq ON approvals (user_id);
--bun:split
CREATE INDEX approvals_created_at_idx ON approvals (created_at, id);

--bun:split
-- Emailed single-use tokens (password setup, password reset). Only hashes are stored.
CREATE TABLE one_time_tokens (
    token_hash text PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text NOT NULL CHECK (purpose IN ('PASSWORD_SETUP', 'PASSWORD_RESET', 'EMAIL_VERIFY')),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);

--bun:split
CREATE INDEX one_time_tokens_user_idx ON one_time_tokens (user_id, purpose);

--bun:split
-- Emails are written here in the transaction that causes them and delivered
-- after commit by the outbox worker, with retries.
CREATE TABLE mail_outbox (
    id              uuid PRIMARY KEY,
    template        text NOT NULL,
    recipient       text NOT NULL,
    subject         text NOT NULL,
    text_body       text NOT NULL,
    html_body       text NOT NULL,
    status          text NOT NULL CHECK (status IN ('PENDING', 'SENT', 'FAILED')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    locked_until    timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL,
    sent_at         timestamptz
);

--bun:split
CREATE INDEX mail_outbox_due_idx ON mail_outbox (status, next_attempt_at);
