DROP TABLE passkey_challenges;
--bun:split
DROP TABLE passkeys;
