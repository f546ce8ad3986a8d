#!/usr/bin/env bash
# Measures usergraph under a burst of sign-ins and under hostile requests,
# against the real binary with wrk (Debian's package). Every figure in the
# "Load and abuse" part of BENCHMARKS.md comes from this script:
#
#   bash bench/abuse.sh                 # PostgreSQL on 127.0.0.1:5432 (a fresh database)
#   DATABASE_URL= bash bench/abuse.sh   # embedded SQLite
#
# It builds the server, starts it once per run (so peak memory is per run),
# and prints login throughput, latency and peak resident memory at 32 and
# 128 connections, then the server CPU spent refusing each hostile request.
port=${PORT:-18190}
duration=${DURATION:-15s}
source "$(dirname "$0")/common.sh"
start() {
  start_server RATE_LIMIT_PER_IP_PER_MINUTE=100000000 REFRESH_PER_IP_PER_MINUTE=100000000 LOGIN_MAX_FAILURES=100000000 MAIL_POLL_INTERVAL=1h
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
peak_mib() { awk '/VmHWM/ {printf "%d", $2/1024}' "/proc/$pid/status"; }

cat >"$work/post.lua" <<'LUA'
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = os.getenv("CONTENT_TYPE") or "application/json"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init() limited = 0; refused = 0; ok = 0 end
function response(status, headers, body)
  if body:find("RATE_LIMITED", 1, true) then limited = limited + 1
  elseif body:find("BAD_REQUEST", 1, true) then refused = refused + 1
  else ok = ok + 1 end
end
function done(summary, latency, requests)
  local l, r, o = 0, 0, 0
  for _, t in ipairs(threads) do l = l + t:get("limited"); r = r + t:get("refused"); o = o + t:get("ok") end
  io.write(string.format("RESULT requests=%d rps=%.1f p50=%.1fms p99=%.1fms ok=%d rate_limited=%d bad_request=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, o, l, r))
end
LUA

run_wrk() { # connections duration body-file [content-type]
  BODY_FILE="$3" CONTENT_TYPE="${4:-application/json}" wrk -t2 -c"$1" -d"$2" --timeout 30s -s "$work/post.lua" "$base/graphql" | grep '^RESULT'
}

echo "database: ${DATABASE_URL%%://*}  cores: $(nproc)  duration: $duration"
echo
echo "== login with the right password (argon2id m=19MiB t=2 p=1, default admission)"
for c in 32 128; do
  start
  curl -sf -H 'Content-Type: application/json' "$base/graphql" -d '{"query":"mutation($in: RegisterInput!) { register(input: $in) { errors { code } } }","variables":{"in":{"email":"load@example.com","mobile":"+12025550999","firstName":"Lo","lastName":"Ad","password":"velvet-Lantern-42","passwordConfirm":"velvet-Lantern-42"}}}' >/dev/null
  printf '%s' '{"query":"mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { accessToken errors { code } } }","variables":{"e":"load@example.com","p":"velvet-Lantern-42"}}' >"$work/login.json"
  t0=$(cpu_ticks)
  res=$(run_wrk "$c" "$duration" "$work/login.json")
  echo "connections=$c $res peak_rss=$(peak_mib)MiB server_cpu=$(( ($(cpu_ticks) - t0) / $(getconf CLK_TCK) ))s"
done

echo
echo "== hostile requests, anonymous, 4 connections for 5 s each: server CPU per refused request"
start
python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
def q(name, query, variables=None):
    open(f"{w}/{name}.json", "w").write(json.dumps({"query": query, "variables": variables or {}}))
bomb = "query { me { ...F27 } }\nfragment F0 on User { id }\n" + "".join(
    f"fragment F{i} on User {{ ...F{i-1} ...F{i-1} }}\n" for i in range(1, 28))
q("fragment-bomb-28", bomb)
q("repeat-10000", "{ me { " + "id " * 10000 + "} }")
q("tokens-20000", "{ me { " + "id " * 20000 + "} }")
q("schema-aliases-1000", "{" + "".join(f" s{i}: __schema {{ types {{ name fields {{ name }} }} }}" for i in range(1000)) + " }")
q("nested-connections", "{ users(first: 100) { edges { node { batch { users(first: 100) { edges { node { id email } } } } } } } }")
q("aliased-logins", "mutation {" + "".join(f' l{i}: login(input: {{email: "a@b.co", password: "x"}}) {{ errors {{ code }} }}' for i in range(4)) + " }")
# multipart: an operations part of 10 MiB, and one with no file and no preflight header
b = "----usergraphbench"
def mp(name, ops, mapping):
    body = (f"--{b}\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{ops}\r\n"
            f"--{b}\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{mapping}\r\n--{b}--\r\n")
    open(f"{w}/{name}.json", "w").write(body)
mp("multipart-10MiB-operations", json.dumps({"query": "{ me { id } }", "variables": {"pad": "x" * (10 << 20)}}), "{}")
mp("multipart-no-file", json.dumps({"query": 'mutation { requestPasswordReset(input: {email: "a@b.co"}) { errors { code } } }'}), "{}")
open(f"{w}/oversize-json.json", "w").write(json.dumps({"query": "{ me { id } }", "variables": {"pad": "x" * (2 << 20)}}))
PY
for name in fragment-bomb-28 repeat-10000 tokens-20000 schema-aliases-1000 nested-connections aliased-logins oversize-json multipart-10MiB-operations multipart-no-file; do
  ct=application/json
  case $name in multipart-*) ct="multipart/form-data; boundary=----usergraphbench" ;; esac
  size=$(stat -c %s "$work/$name.json")
  t0=$(cpu_ticks)
  res=$(run_wrk 4 5s "$work/$name.json" "$ct")
  ticks=$(( $(cpu_ticks) - t0 ))
  n=$(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$res")
  awk -v name="$name" -v size="$size" -v n="$n" -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v res="$res" \
    'BEGIN { printf "%-28s %9d bytes  %6d requests  %.2f ms server CPU each   %s\n", name, size, n, (n ? t / hz * 1000 / n : 0), res }'
done
echo "peak_rss=$(peak_mib)MiB after all hostile runs"
