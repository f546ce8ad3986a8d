-- Ledger entries are numbered per wallet in the update that applies them, so
-- the ledger's order is the order in which changes were applied.
ALTER TABLE wallets ADD COLUMN entries integer NOT NULL DEFAULT 0;
--bun:split
ALTER TABLE wallet_transactions ADD COLUMN seq integer NOT NULL DEFAULT 0;
--bun:split
UPDATE wallet_transactions AS t SET seq = r.n
FROM (SELECT id, row_number() OVER (PARTITION BY user_id ORDER BY created_at, id) AS n FROM wallet_transactions) AS r
WHERE t.id = r.id;
--bun:split
UPDATE wallets AS w SET entries = (SELECT count(*) FROM wallet_transactions t WHERE t.user_id = w.user_id);
--bun:split
CREATE UNIQUE INDEX wallet_transactions_seq_uq ON wallet_transactions (user_id, seq);
