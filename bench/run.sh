#!/usr/bin/env bash
# The benchmark kit: builds usergraph, starts it on a fresh database, seeds
# it (`usergraph seed`), drives each scenario with wrk (Debian's package) and
# prints a Markdown table (requests/s, p50, p99, peak memory per scenario) with the machine
# and the command. BENCHMARKS.md holds its latest output.
#
#   bash bench/run.sh                              # PostgreSQL on 127.0.0.1:5432, 1,000,000 users
#   USERS=100000 DATABASE_URL= bash bench/run.sh   # embedded SQLite
#
# Settings: USERS (1000000; SQLite 100000), BATCHES (200), SESSIONS (10000),
# DURATION per scenario (15s), CONNECTIONS for me/refresh/login (32),
# LIST_CONNECTIONS for the admin lists (4), ONLY (a space-separated subset of
# "me refresh lists bulk login"; all by default), PROFILE (a folder: a CPU
# profile of the server under each scenario is written there, with the
# binary, for `go tool pprof`). Per-address and per-email limits are lifted:
# every request comes from one address and signs in one user. Before the
# login scenario, and again after it, the script measures the hashing limit
# (bench/hashlimit: password checks a second with every core hashing and
# nothing else) and prints the login row's share of their mean.
invocation=
for v in USERS BATCHES SESSIONS DURATION CONNECTIONS LIST_CONNECTIONS ONLY PROFILE DATABASE_URL; do
  if [ -n "${!v+set}" ]; then
    if [ "$v" = DATABASE_URL ] && [ -n "$DATABASE_URL" ]; then invocation+="DATABASE_URL=… "; else invocation+="$v=${!v} "; fi
  fi
done
port=${PORT:-18192}
source "$(dirname "$0")/common.sh"
duration=${DURATION:-15s}
conns=${CONNECTIONS:-32}
list_conns=${LIST_CONNECTIONS:-4}
if [ -n "$DATABASE_URL" ]; then users=${USERS:-1000000}; else users=${USERS:-100000}; fi
batches=${BATCHES:-200}
sessions=${SESSIONS:-10000}
password=Seeded-Password-1

profiling=()
if [ -n "${PROFILE:-}" ]; then
  mkdir -p "$PROFILE" && cp "$work/usergraph" "$PROFILE/usergraph"
  profiling=(METRICS_ADDR="127.0.0.1:$((port + 1))" METRICS_PPROF=true)
fi
start_server RATE_LIMIT_PER_IP_PER_MINUTE=100000000 REFRESH_PER_IP_PER_MINUTE=100000000 LOGIN_MAX_FAILURES=100000000 MAIL_POLL_INTERVAL=1h "${profiling[@]}"
rss_mib() { awk -v k="$1" '$1 == k":" {printf "%d", $2/1024}' "/proc/$pid/status"; }

# gql QUERY [VARIABLES-JSON] [TOKEN]: one request; prints the answer's data.
gql() {
  local body auth=()
  body=$(python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1], "variables": json.loads(sys.argv[2] or "{}")}))' "$1" "${2:-}")
  [ -n "${3:-}" ] && auth=(-H "Authorization: Bearer $3")
  curl -sf -H 'Content-Type: application/json' "${auth[@]}" "$base/graphql" -d "$body" |
    python3 -c 'import json,sys; r=json.load(sys.stdin); assert "errors" not in r, r; print(json.dumps(r["data"]))'
}
# pick JSON PATH: a value out of gql's output, e.g. pick "$d" '["login"]["accessToken"]'.
pick() { python3 -c "import json,sys; print(json.loads(sys.argv[1])$2)" "$1"; }

seed_start=$(date +%s.%N)
if [ "$users" -gt 0 ]; then # USERS=0 skips seeding (for builds from before the seed command)
  env DATABASE_URL="$DATABASE_URL" DATA_DIR="$work/data" LOG_LEVEL=error \
    "$work/usergraph" seed --users "$users" --batches "$batches" --sessions "$sessions" --password "$password" >"$work/seed.log"
fi
# Let PostgreSQL write out the load before measuring (its checkpoint would
# otherwise compete with the first scenarios for the disk and the cores).
[ -n "$DATABASE_URL" ] && psql "${DATABASE_URL%%\?*}" -q -c CHECKPOINT && sleep 5
seed_secs=$(python3 -c "import time,sys; print(round(time.time() - float(sys.argv[1])))" "$seed_start")

env DATABASE_URL="$DATABASE_URL" DATA_DIR="$work/data" LOG_LEVEL=error \
  "$work/usergraph" createsuperuser --email bench-admin@example.com --mobile +12025550100 --password-stdin <<<"$password" >/dev/null
login='mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { accessToken refreshToken errors { code } } }'
admin=$(pick "$(gql "$login" "{\"e\":\"bench-admin@example.com\",\"p\":\"$password\"}")" '["login"]["accessToken"]')
gql 'mutation($in: RegisterInput!) { register(input: $in) { errors { code } } }' \
  "{\"in\":{\"email\":\"me@example.com\",\"mobile\":\"+12025550998\",\"firstName\":\"Me\",\"lastName\":\"Bench\",\"password\":\"$password\",\"passwordConfirm\":\"$password\"}}" >/dev/null
me_login="{\"e\":\"me@example.com\",\"p\":\"$password\"}"
me=$(pick "$(gql "$login" "$me_login")" '["login"]["accessToken"]')

# Both scripts below end with the same report: one RESULT line for record().
cat >"$work/done.lua" <<'LUA'
function done(summary, latency, requests)
  local wrong = 0
  for _, t in ipairs(threads) do wrong = wrong + t:get("bad") end
  io.write(string.format("RESULT %.0f %.1f %.1f %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, wrong, summary.requests))
end
LUA

# A fixed request, checked: wrong answers (non-200, or without CHECK) count.
cat >"$work/fixed.lua" <<'LUA'
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
if os.getenv("TOKEN") ~= "" then wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN") end
local check = os.getenv("CHECK")
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init() bad = 0 end
function response(status, headers, body)
  if status ~= 200 or not body:find(check, 1, true) or body:find('"errors":[{', 1, true) then bad = bad + 1 end
end
LUA
cat "$work/done.lua" >>"$work/fixed.lua"

# Refresh: one wrk thread per connection, each chaining its own session's
# refresh tokens (a token works once; the answer carries the next).
cat >"$work/refresh.lua" <<'LUA'
local tokens = {}
for line in io.lines(os.getenv("TOKENS_FILE")) do table.insert(tokens, line) end
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("token", tokens[#threads])
end
function init() bad = 0 end
function request()
  return wrk.format("POST", "/graphql", {["Content-Type"] = "application/json"},
    '{"query":"mutation($t: String!) { refreshToken(input: {refreshToken: $t}) { refreshToken errors { code } } }","variables":{"t":"' .. token .. '"}}')
end
function response(status, headers, body)
  local next = body:match('"refreshToken":"([^"]+)"')
  if status == 200 and next then token = next else bad = bad + 1 end
end
LUA
cat "$work/done.lua" >>"$work/refresh.lua"

# Sessions for the refresh scenario, and the B2B admin of createB2BUsers.
want() { [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]]; }
if want refresh; then
  for i in $(seq "$conns"); do pick "$(gql "$login" "$me_login")" '["login"]["refreshToken"]'; done >"$work/tokens"
fi
if want bulk; then
  b2b_email=$(pick "$(gql '{ users(first: 1, filter: {role: B2B_ADMIN}) { edges { node { email } } } }' '{}' "$admin")" '["users"]["edges"][0]["node"]["email"]')
  b2b=$(pick "$(gql "$login" "{\"e\":\"$b2b_email\",\"p\":\"$password\"}")" '["login"]["accessToken"]')
fi

# Peak memory is measured per scenario: writing 5 to clear_refs resets the
# kernel's peak (VmHWM) to what the process holds now, so the peak read after
# a scenario is that scenario's. The sign-ins above belong to the login
# scenario (each argon2id check takes 19 MiB) and are left out.
peak() { rss_mib VmHWM; echo 5 >"/proc/$pid/clear_refs"; }
peak >/dev/null
# cpu_ticks: the server's CPU time so far (user + system), in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
secs=${duration%s}
# measuring NAME: starts a CPU profile of the scenario about to run (PROFILE),
# and notes the server's CPU time, which record() turns into cores used.
measuring() {
  cpu_before=$(cpu_ticks)
  prof_pid=
  if [ -n "${PROFILE:-}" ]; then
    local slug; slug=$(tr -cs 'a-zA-Z0-9' '-' <<<"$1" | sed 's/^-//; s/-$//')
    curl -sf -o "$PROFILE/$slug.pprof" "http://127.0.0.1:$((port + 1))/debug/pprof/profile?seconds=$((secs > 3 ? secs - 2 : 1))" &
    prof_pid=$!
  fi
}
rows=()
peak_max=0 peak_where=-
# scenario NAME CONNECTIONS CHECK TOKEN QUERY [VARIABLES-JSON]
scenario() {
  measuring "$1"
  python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1], "variables": json.loads(sys.argv[2] or "{}")}))' "$5" "${6:-}" >"$work/body.json"
  local r
  r=$(BODY_FILE="$work/body.json" CHECK="$3" TOKEN="$4" wrk -t2 -c"$2" -d"$duration" --timeout 10s -s "$work/fixed.lua" "$base/graphql" | grep '^RESULT')
  record "$1" "$2" "$r"
}
record() { # name connections "RESULT rps p50 p99 wrong total"
  local mib cores
  read -r _ rps p50 p99 wrong total <<<"$3"
  cores=$(python3 -c "print(f'{($(cpu_ticks) - $cpu_before) / $hz / $secs:.2f}')")
  [ -z "$prof_pid" ] || wait "$prof_pid" || echo "no profile of $1" >&2
  mib=$(peak)
  rows+=("| $1 | $2 | $rps | $p50 ms | $p99 ms | $wrong of $total | $mib MiB | $cores |")
  echo "$1: $rps req/s, p50 $p50 ms, p99 $p99 ms, wrong $wrong of $total, peak $mib MiB, server CPU $cores cores" >&2
  [ "$1" = '`login`' ] || [ "$mib" -le "$peak_max" ] || { peak_max=$mib peak_where=$1; }
}

want me && scenario '`me`' "$conns" '"email":"me@example.com"' "$me" '{ me { id email firstName lastName role } }'

if want refresh; then
  measuring '`refreshToken`'
  r=$(TOKENS_FILE="$work/tokens" wrk -t"$conns" -c"$conns" -d"$duration" --timeout 10s -s "$work/refresh.lua" "$base/graphql" | grep '^RESULT')
  record '`refreshToken`, each session chaining its tokens' "$conns" "$r"
fi

if want lists; then
list='query($f: UserFilter, $o: UserOrder, $a: String) { users(first: 20, filter: $f, orderBy: $o, after: $a) { edges { node { id email fullName } } pageInfo { hasNextPage } } }'
rare=$(pick "$(gql '{ users(first: 1, orderBy: {field: EMAIL}) { edges { node { email } } } }' '{}' "$admin")" '["users"]["edges"][0]["node"]["email"]')
batch=$(pick "$(gql '{ batches(first: 1) { edges { node { id } } } }' '{}' "$admin")" '["batches"]["edges"][0]["node"]["id"]')
last=$(pick "$(gql '{ users(first: 21, orderBy: {direction: ASC}) { edges { cursor } } }' '{}' "$admin")" '["users"]["edges"][20]["cursor"]')
scenario '`users`, newest first' "$list_conns" '"hasNextPage":true' "$admin" "$list"
scenario '`users`, search "lee" (3 letters)' "$list_conns" '"hasNextPage"' "$admin" "$list" '{"f":{"search":"lee"}}'
scenario '`users`, search a rare word (one email)' "$list_conns" "\"email\":\"$rare\"" "$admin" "$list" "{\"f\":{\"search\":\"$rare\"}}"
scenario '`users`, one batch' "$list_conns" '"hasNextPage"' "$admin" "$list" "{\"f\":{\"batchId\":\"$batch\"}}"
scenario '`users`, by last login' "$list_conns" '"hasNextPage":true' "$admin" "$list" '{"o":{"field":"LAST_LOGIN"}}'
scenario '`users`, by email' "$list_conns" '"hasNextPage":true' "$admin" "$list" '{"o":{"field":"EMAIL","direction":"ASC"}}'
scenario '`users`, last page (cursor)' "$list_conns" '"hasNextPage":false' "$admin" "$list" "{\"a\":\"$last\"}"
scenario '`users` with `totalCount`' "$list_conns" "\"totalCount\":$((users + 2))" "$admin" \
  '{ users(first: 20) { totalCount edges { node { id email } } } }'
fi

# createB2BUsers: a seeded B2B admin adds 1000 people to a new batch, 3 times.
bulk_ms=(- - -)
if want bulk; then
for run in 1 2 3; do
  id=$(pick "$(gql 'mutation($n: String!) { createBatch(input: {name: $n, maxUsers: 1000}) { batch { id } errors { code } } }' "{\"n\":\"bench $run $$\"}" "$b2b")" '["createBatch"]["batch"]["id"]')
  python3 - "$id" "$run" >"$work/bulk.json" <<'PY'
import json, sys
rows = [{"email": f"bulk{sys.argv[2]}.{i}@example.com", "mobile": f"+4917{sys.argv[2]}{i:07d}", "firstName": "Bulk", "lastName": f"Row{i}"} for i in range(1000)]
print(json.dumps({"query": "mutation($in: CreateB2BUsersInput!) { createB2BUsers(input: $in) { count errors { code } } }", "variables": {"in": {"batchId": sys.argv[1], "users": rows}}}))
PY
  out=$(curl -sf -o "$work/bulk.out" -w '%{time_total}' -H 'Content-Type: application/json' -H "Authorization: Bearer $b2b" "$base/graphql" --data-binary @"$work/bulk.json")
  grep -q '"count":1000' "$work/bulk.out" || { echo "createB2BUsers failed: $(head -c 300 "$work/bulk.out")" >&2; exit 1; }
  bulk_ms[run-1]=$(python3 -c "print(round(float('$out') * 1000))")
done
fi
bulk_mib=-
if want bulk; then
  bulk_mib=$(peak)
  [ "$bulk_mib" -le "$peak_max" ] || { peak_max=$bulk_mib peak_where='`createB2BUsers`'; }
fi

hash_limit=
# hashlimit: the hashing limit, measured with the server idle: every core
# checks passwords through usergraph's hasher and does nothing else.
hashlimit() { "$work/hashlimit" -for 10s | awk '{print $2, $3}'; }
want login && read -r limit_before ms_before <<<"$(hashlimit)"
want login && scenario '`login`' "$conns" '"accessToken":"' '' 'mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { accessToken errors { code } } }' "$me_login"
if want login; then
  # Measured again after the scenario, since a shared machine's speed
  # drifts: the limit is the mean of the two. The requests wrk left
  # unanswered end first.
  sleep 2
  read -r limit_after ms_after <<<"$(hashlimit)"
  hash_limit=$(python3 -c "print(round(($limit_before + $limit_after) / 2, 1))")
  echo "hashing limit: $limit_before checks/s before login, $limit_after after" >&2
fi

db_kind=${DATABASE_URL%%://*}; db_kind=${db_kind:-sqlite}
if [ "$db_kind" = sqlite ]; then db_version="SQLite (modernc $(go list -m -f '{{.Version}}' modernc.org/sqlite))"
else db_version=$(psql -h 127.0.0.1 -U postgres -tAc 'SHOW server_version' | cut -d' ' -f1); db_version="PostgreSQL $db_version"; fi
cat <<EOF
Measured $(date -u +%Y-%m-%d) on $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)),
$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(go env GOVERSION), $db_version on the same machine,
wrk $(wrk -v 2>&1 | awk 'NR==1 {print $2}'); server, database and wrk share the cores.
$users users ($batches batches, $sessions sessions) seeded in ${seed_secs} s.
Command: \`${invocation}bash bench/run.sh\`, $duration per scenario.

| scenario | connections | requests/s | p50 | p99 | wrong answers | peak memory | server CPU (cores) |
|---|---|---|---|---|---|---|---|
$(printf '%s\n' "${rows[@]}")

\`createB2BUsers\` with 1,000 rows: ${bulk_ms[0]} ms, ${bulk_ms[1]} ms, ${bulk_ms[2]} ms (three runs), peak memory ${bulk_mib} MiB.
Peak server memory (VmHWM, reset before each scenario): ${peak_max} MiB through every scenario but \`login\` (the highest: ${peak_where}).
EOF
if [ -n "$hash_limit" ]; then
  login_rps=$(printf '%s\n' "${rows[@]}" | awk -F' [|] ' '/`login`/ {print $3}')
  echo "Hashing limit (bench/hashlimit, $(nproc) cores checking passwords and nothing else, from the CPU time one check takes, measured in this run with the server idle, 10 s just before and 10 s just after the login scenario): $limit_before and $limit_after checks/s ($ms_before and $ms_after ms of a core per check), mean $hash_limit; login reached $(python3 -c "print(round(100 * $login_rps / $hash_limit))") % of it."
fi
[ -z "${PROFILE:-}" ] || echo "CPU profiles: $PROFILE/*.pprof (go tool pprof -top $PROFILE/usergraph $PROFILE/SCENARIO.pprof)."
