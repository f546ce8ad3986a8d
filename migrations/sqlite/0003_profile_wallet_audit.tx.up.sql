-- Profiles, wallets with their ledger, and the audit log.
ALTER TABLE users ADD COLUMN avatar TEXT;
--bun:split
ALTER TABLE users ADD COLUMN address TEXT NOT NULL DEFAULT '';
--bun:split
ALTER TABLE users ADD COLUMN city TEXT NOT NULL DEFAULT '';

--bun:split
-- Money is INTEGER minor units (cents of a coin); balance is available funds,
-- blocked is held funds. Neither may go negative.
CREATE TABLE wallets (
    user_id    TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    balance    INTEGER NOT NULL CHECK (balance >= 0),
    blocked    INTEGER NOT NULL DEFAULT 0 CHECK (blocked >= 0),
    currency   TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

--bun:split
-- Every change of a wallet, with the balances around it. The opening balance
-- is the first CREDIT, so a wallet always equals the sum of its ledger.
CREATE TABLE wallet_transactions (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES wallets (user_id) ON DELETE CASCADE,
    type            TEXT NOT NULL CHECK (type IN ('CREDIT', 'DEBIT', 'BLOCK', 'UNBLOCK')),
    amount          INTEGER NOT NULL CHECK (amount > 0),
    balance_before  INTEGER NOT NULL,
    balance_after   INTEGER NOT NULL,
    blocked_before  INTEGER NOT NULL,
    blocked_after   INTEGER NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    actor_id        TEXT REFERENCES users (id) ON DELETE SET NULL,
    idempotency_key TEXT,
    created_at      TEXT NOT NULL
);

--bun:split
CREATE UNIQUE INDEX wallet_transactions_idempotency_key_uq ON wallet_transactions (user_id, idempotency_key);
--bun:split
CREATE INDEX wallet_transactions_user_idx ON wallet_transactions (user_id, created_at, id);

--bun:split
-- The security record: who did what to whom, from where. Never secrets.
CREATE TABLE audit_events (
    id         TEXT PRIMARY KEY,
    at         TEXT NOT NULL,
    action     TEXT NOT NULL,
    actor_id   TEXT REFERENCES users (id) ON DELETE SET NULL,
    target_id  TEXT REFERENCES users (id) ON DELETE SET NULL,
    ip         TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    details    TEXT NOT NULL DEFAULT '{}'
);

--bun:split
CREATE INDEX audit_events_at_idx ON audit_events (at, id);
--bun:split
CREATE INDEX audit_events_target_idx ON audit_events (target_id, at);
--bun:split
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, at);

--bun:split
-- Accounts that exist already get a wallet with the default opening balance
-- (1,000,000.00), recorded as their first ledger entry.
INSERT INTO wallets (user_id, balance, blocked, currency, updated_at)
SELECT id, 100000000, 0, 'COIN', date_joined FROM users;
--bun:split
INSERT INTO wallet_transactions (id, user_id, type, amount, balance_before, balance_after, blocked_before, blocked_after, description, created_at)
SELECT id, id, 'CREDIT', 100000000, 0, 100000000, 0, 0, 'Opening balance', date_joined FROM users;
