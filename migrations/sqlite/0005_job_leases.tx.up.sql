-- Leases of scheduled jobs, so that of several replicas one runs each turn.
CREATE TABLE job_leases (
    name      TEXT PRIMARY KEY,
    run_after TEXT NOT NULL
);
