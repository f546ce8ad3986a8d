ALTER TABLE users DROP COLUMN user_metadata;
--bun:split
ALTER TABLE users DROP COLUMN app_metadata;
