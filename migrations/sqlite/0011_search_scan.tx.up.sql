-- SQLite has no trigram index, so a search reads the users in the default
-- order (newest first) until it has a page. The date index now carries the
-- columns search matches (internal/account/list.go, searchText), so SQLite
-- tests each row in the index and reads a user's row only when it matches,
-- instead of reading every row it passes: a word that matches few users
-- reads the index alone. PostgreSQL's date index stays narrow (its trigram
-- index finds such words); the schema parity test knows this difference.
DROP INDEX users_date_joined_idx;
--bun:split
CREATE INDEX users_date_joined_idx ON users (date_joined, id, email_key, first_name, last_name, mobile);
