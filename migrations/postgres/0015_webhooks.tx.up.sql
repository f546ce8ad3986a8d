-- Events for the app's backend (package webhook): one row per event and
-- endpoint, written with the change; id is the webhook-id every attempt
-- sends. PENDING until a 2xx answer (DELIVERED) or the last attempt (DEAD).
CREATE TABLE webhook_deliveries (
    id              uuid PRIMARY KEY,
    endpoint        text NOT NULL,
    event_type      text NOT NULL,
    payload         text NOT NULL,
    status          text NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    locked_until    timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL,
    delivered_at    timestamptz
);
--bun:split
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (status, next_attempt_at);
--bun:split
CREATE INDEX webhook_deliveries_created_idx ON webhook_deliveries (created_at);
