DROP INDEX wallet_transactions_seq_uq;
--bun:split
ALTER TABLE wallet_transactions DROP COLUMN seq;
--bun:split
ALTER TABLE wallets DROP COLUMN entries;
