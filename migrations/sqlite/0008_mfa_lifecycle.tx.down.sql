DROP TABLE mfa_challenges;
--bun:split
DROP TABLE recovery_codes;
--bun:split
DROP TABLE totp_secrets;
--bun:split
ALTER TABLE users DROP COLUMN deleted_at;
--bun:split
ALTER TABLE users DROP COLUMN mfa_enabled;
