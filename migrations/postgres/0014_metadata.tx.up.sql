-- Data of the app's own on each user (JSON objects, as text): app_metadata
-- written by admins and the user's B2B admin, user_metadata by the user.
ALTER TABLE users ADD COLUMN app_metadata text NOT NULL DEFAULT '{}';
--bun:split
ALTER TABLE users ADD COLUMN user_metadata text NOT NULL DEFAULT '{}';
