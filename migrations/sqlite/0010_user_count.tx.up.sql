-- users() answers totalCount for the whole directory (an admin's list
-- without a filter) from a counter instead of counting every row. SQLite
-- has one writer at a time, so its triggers update user_count.n directly;
-- user_count_deltas, where PostgreSQL's triggers append, stays empty here.
CREATE TABLE user_count (n INTEGER NOT NULL);
--bun:split
INSERT INTO user_count (n) SELECT count(*) FROM users;
--bun:split
CREATE TABLE user_count_deltas (n INTEGER NOT NULL);
--bun:split
CREATE TRIGGER users_inserted_count AFTER INSERT ON users BEGIN UPDATE user_count SET n = n + 1; END;
--bun:split
CREATE TRIGGER users_deleted_count AFTER DELETE ON users BEGIN UPDATE user_count SET n = n - 1; END;
