DROP INDEX users_date_joined_idx;
--bun:split
CREATE INDEX users_date_joined_idx ON users (date_joined, id);
