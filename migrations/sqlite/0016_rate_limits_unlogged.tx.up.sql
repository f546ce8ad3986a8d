-- PostgreSQL makes rate_limits unlogged here; SQLite has no such tables
-- (and writes no WAL across a network), so nothing changes.
SELECT 1;
