-- Indexes for users(): one per order and filtered lists in their default
-- order (PostgreSQL also indexes search with trigrams; SQLite scans, which
-- is fast enough at the sizes SQLite serves). The last-login key is written
-- exactly as internal/account/list.go writes it.
CREATE INDEX users_last_login_idx ON users (COALESCE(last_login, '0001-01-01 00:00:00+00:00'), id);
--bun:split
CREATE INDEX users_email_order_idx ON users (email_key, id);
--bun:split
CREATE INDEX users_role_joined_idx ON users (role, date_joined, id);
--bun:split
DROP INDEX users_batch_idx;
--bun:split
CREATE INDEX users_batch_idx ON users (batch_id, date_joined, id);
--bun:split
DROP INDEX users_created_by_idx;
--bun:split
CREATE INDEX users_created_by_idx ON users (created_by_id, date_joined, id);
