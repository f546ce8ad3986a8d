DROP TABLE rate_limits;
--bun:split
DROP TABLE refresh_tokens;
--bun:split
DROP TABLE sessions;
--bun:split
DROP TABLE users;
