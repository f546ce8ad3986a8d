-- Rate-limit counters are short-lived and every attempt updates one: an
-- unlogged table writes no WAL for them, so their transactions commit without
-- waiting for the disk, and the row of a busy address (all its refreshes,
-- say) is locked for the update alone instead of until a WAL flush. The
-- price, accepted: after a PostgreSQL crash, and on a promoted standby, the
-- counters and lockouts start over (SECURITY.md, "Rate limits").
ALTER TABLE rate_limits SET UNLOGGED;
