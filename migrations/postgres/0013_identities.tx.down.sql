DROP INDEX users_mobile_uq;
--bun:split
CREATE UNIQUE INDEX users_mobile_uq ON users (mobile);
--bun:split
DROP TABLE social_flows;
--bun:split
DROP TABLE identities;
