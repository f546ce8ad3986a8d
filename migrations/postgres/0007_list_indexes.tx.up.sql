-- Indexes for users(): one per order, filtered lists in their default order,
-- and trigram search, so that a page of a million users is an index range.
-- The search expression and the last-login key are written exactly as
-- internal/account/list.go writes them: PostgreSQL uses an expression index
-- only for the same expression.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
--bun:split
CREATE INDEX users_search_trgm_idx ON users
    USING gin ((email_key || ' ' || lower(first_name) || ' ' || lower(last_name) || ' ' || mobile) gin_trgm_ops);
--bun:split
-- Fine statistics on the search text let the planner tell a common
-- substring (walk the date index, filter) from a rare one (trigram index):
-- with the default target it guessed 100 rows for "lee" among a million
-- users instead of 11,000, and read them all.
ALTER INDEX users_search_trgm_idx ALTER COLUMN 1 SET STATISTICS 1000;
--bun:split
CREATE INDEX users_last_login_idx ON users ((COALESCE(last_login, '0001-01-01 00:00:00+00:00')), id);
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
