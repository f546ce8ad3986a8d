-- Token-signing keys, shared by every replica (unless JWT_KEYS_FILE is set).
-- The newest key without retired_at signs; retired ones stay published until
-- `usergraph keys prune` removes them. private_jwk is sealed with
-- KEY_ENCRYPTION_KEY when it is set.
CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    private_jwk TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    retired_at  TEXT
);
