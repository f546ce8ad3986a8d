DROP TRIGGER users_deleted_count;
--bun:split
DROP TRIGGER users_inserted_count;
--bun:split
DROP TABLE user_count_deltas;
--bun:split
DROP TABLE user_count;
