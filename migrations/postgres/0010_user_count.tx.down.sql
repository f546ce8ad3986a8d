DROP TRIGGER users_truncated_count ON users;
--bun:split
DROP TRIGGER users_deleted_count ON users;
--bun:split
DROP TRIGGER users_inserted_count ON users;
--bun:split
DROP FUNCTION user_count_delta();
--bun:split
DROP TABLE user_count_deltas;
--bun:split
DROP TABLE user_count;
