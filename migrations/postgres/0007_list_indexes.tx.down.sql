DROP INDEX users_created_by_idx;
--bun:split
CREATE INDEX users_created_by_idx ON users (created_by_id);
--bun:split
DROP INDEX users_batch_idx;
--bun:split
CREATE INDEX users_batch_idx ON users (batch_id);
--bun:split
DROP INDEX users_role_joined_idx;
--bun:split
DROP INDEX users_email_order_idx;
--bun:split
DROP INDEX users_last_login_idx;
--bun:split
DROP INDEX users_search_trgm_idx;
