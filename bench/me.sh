#!/usr/bin/env bash
# Load on an authenticated query: `{ me { id email fullName wallet { balance } } }`
# with a bearer token, with wrk (Debian's package) against the built binary.
# The "Load: wrk" figures of BENCHMARKS.md come from this script:
#
#   bash bench/me.sh                 # PostgreSQL on 127.0.0.1:5432 (a fresh database)
#   DATABASE_URL= bash bench/me.sh   # embedded SQLite
#
# CONNECTIONS (16) and DURATION (10s) can be set.
port=${PORT:-18191}
source "$(dirname "$0")/common.sh"
start_server

token=$(curl -sf -H 'Content-Type: application/json' "$base/graphql" -d '{"query":"mutation($in: RegisterInput!) { register(input: $in) { accessToken } }","variables":{"in":{"email":"me@example.com","mobile":"+12025550998","firstName":"Me","lastName":"Bench","password":"velvet-Lantern-42","passwordConfirm":"velvet-Lantern-42"}}}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["register"]["accessToken"])')
cat >"$work/me.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"query":"{ me { id email fullName wallet { balance } } }"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init() bad = 0 end
function response(status, headers, body)
  if status ~= 200 or not body:find('"balance":"1000000.00"', 1, true) then bad = bad + 1 end
end
function done(summary, latency, requests)
  local wrong = 0
  for _, t in ipairs(threads) do wrong = wrong + t:get("bad") end
  io.write(string.format("RESULT requests/s=%.0f mean=%.2fms p99=%.2fms max=%.1fms wrong-answers=%d\n",
    summary.requests / (summary.duration / 1e6), latency.mean / 1000, latency:percentile(99) / 1000, latency.max / 1000, wrong))
end
LUA
echo "database: ${DATABASE_URL%%://*}  connections: ${CONNECTIONS:-16}  duration: ${DURATION:-10s}"
wrk -t2 -c"${CONNECTIONS:-16}" -d"${DURATION:-10s}" -s "$work/me.lua" "$base/graphql" | grep '^RESULT'
