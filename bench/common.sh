# Sourced by the bench scripts: wrk present, a work folder, the database
# (a fresh PostgreSQL database unless DATABASE_URL is set; empty: SQLite),
# the built binary, and start_server, which (re)starts it on $port.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 1; }
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
work=$(mktemp -d)
base="http://127.0.0.1:$port"
if [ -z "${DATABASE_URL+set}" ]; then
  db="usergraph_bench_$$"
  psql -h 127.0.0.1 -U postgres -q -d postgres -c "CREATE DATABASE $db"
  DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
  trap 'kill $(jobs -p) 2>/dev/null; sleep 0.5; psql -h 127.0.0.1 -U postgres -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null; rm -rf "$work"' EXIT
else
  trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
fi
go build -o "$work/usergraph" .
go build -o "$work/hashlimit" ./bench/hashlimit

# start_server [VAR=value…]: (re)starts the server with a fresh data folder
# (and, for SQLite, a fresh database); pid is its process.
pid=
start_server() {
  [ -n "$pid" ] && { kill "$pid"; wait "$pid" 2>/dev/null || true; }
  rm -rf "$work/data"
  env DATABASE_URL="$DATABASE_URL" DATA_DIR="$work/data" PORT="$port" LOG_LEVEL=error "$@" \
    "$work/usergraph" >/dev/null 2>"$work/server.log" &
  pid=$!
  until curl -sf "$base/healthz" >/dev/null; do sleep 0.1; done
}
