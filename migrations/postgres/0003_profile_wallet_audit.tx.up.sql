-- Profiles, wallets with their ledger, and the audit log.
ALTER TABLE users ADD COLUMN avatar text;
--bun:split
ALTER TABLE users ADD COLUMN address text NOT NULL DEFAULT '';
--bun:split
ALTER TABLE users ADD COLUMN city text NOT NULL DEFAULT '';

--bun:split
-- Money is integer minor units (cents of a coin); balance is available funds,
-- blocked is held funds. Neither may go negative.
CREATE TABLE wallets (
    user_id    uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    balance    bigint NOT NULL CHECK (balance >= 0),
    blocked    bigint NOT NULL DEFAULT 0 CHECK (blocked >= 0),
    currency   text NOT NULL,
    updated_at timestamptz NOT NULL
);

--bun:split
-- Every change of a wallet, with the balances around it. The opening balance
-- is the first CREDIT, so a wallet always equals the sum of its ledger.
CREATE TABLE wallet_transactions (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES wallets (user_id) ON DELETE CASCADE,
    type            text NOT NULL CHECK (type IN ('CREDIT', 'DEBIT', 'BLOCK', 'UNBLOCK')),
    amount          bigint NOT NULL CHECK (amount > 0),
    balance_before  bigint NOT NULL,
    balance_after   bigint NOT NULL,
    blocked_before  bigint NOT NULL,
    blocked_after   bigint NOT NULL,
    description     text NOT NULL DEFAULT '',
    actor_id        uuid REFERENCES users (id) ON DELETE SET NULL,
    idempotency_key text,
    created_at      timestamptz NOT NULL
);

--bun:split
CREATE UNIQUE INDEX wallet_transactions_idempotency_key_uq ON wallet_transactions (user_id, idempotency_key);
--bun:split
CREATE INDEX wallet_transactions_user_idx ON wallet_transactions (user_id, created_at, id);

--bun:split
-- The security record: who did what to whom, from where. Never secrets.
CREATE TABLE audit_events (
    id         uuid PRIMARY KEY,
    at         timestamptz NOT NULL,
    action     text NOT NULL,
    actor_id   uuid REFERENCES users (id) ON DELETE SET NULL,
    target_id  uuid REFERENCES users (id) ON DELETE SET NULL,
    ip         text NOT NULL DEFAULT '',
    user_agent text NOT NULL DEFAULT '',
    details    text NOT NULL DEFAULT '{}'
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
