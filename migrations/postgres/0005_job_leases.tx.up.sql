-- Leases of scheduled jobs, so that of several replicas one runs each turn.
CREATE TABLE job_leases (
    name      text PRIMARY KEY,
    run_after timestamptz NOT NULL
);
