DROP TABLE mail_outbox;
--bun:split
DROP TABLE one_time_tokens;
--bun:split
DROP TABLE approvals;
--bun:split
DROP INDEX users_batch_idx;
--bun:split
ALTER TABLE users DROP COLUMN company_name;
--bun:split
ALTER TABLE users DROP COLUMN batch_id;
--bun:split
DROP TABLE batches;
