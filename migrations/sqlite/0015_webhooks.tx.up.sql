-- Events for the app's backend (package webhook): one row per event and
-- endpoint, written with the change; id is the webhook-id every attempt
-- sends. PENDING until a 2xx answer (DELIVERED) or the last attempt (DEAD).
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    endpoint        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    locked_until    TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    delivered_at    TEXT
);
--bun:split
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (status, next_attempt_at);
--bun:split
CREATE INDEX webhook_deliveries_created_idx ON webhook_deliveries (created_at);
