DROP TABLE audit_events;
--bun:split
DROP TABLE wallet_transactions;
--bun:split
DROP TABLE wallets;
--bun:split
ALTER TABLE users DROP COLUMN city;
--bun:split
ALTER TABLE users DROP COLUMN address;
--bun:split
ALTER TABLE users DROP COLUMN avatar;
