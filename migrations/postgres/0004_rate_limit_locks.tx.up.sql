-- How many times a key has been locked: each lock lasts twice the one before.
ALTER TABLE rate_limits ADD COLUMN locks integer NOT NULL DEFAULT 0;
