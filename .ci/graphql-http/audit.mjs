// node audit.mjs http://127.0.0.1:8080/graphql
// Every audit of graphql-http's server suite must pass: errors, warnings
// and notices all fail the run.
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs URL');
  process.exit(2);
}
const results = await auditServer({ url });
const failed = results.filter((r) => r.status !== 'ok');
for (const r of failed) {
  console.log(`${r.status.toUpperCase()} ${r.id} ${r.name}: ${r.reason}`);
}
console.log(`graphql-http: ${results.length} audits, ${failed.length} not ok`);
process.exit(failed.length ? 1 : 0);
