#!/usr/bin/env bash
# Starts a private PgBouncer in transaction mode in front of the local
# PostgreSQL, listening on 127.0.0.1:${1:-16432}, for the tests that run
# usergraph behind a pooler (.ci/run). Any database name passes through.
# Prints the directory holding its config, log and pid file.
set -euo pipefail
port="${1:-16432}"
dir=$(mktemp -d /tmp/pgbouncer.XXXXXX)
cat >"$dir/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=5432

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/users.txt
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 20
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
echo '"postgres" ""' >"$dir/users.txt"
chmod 755 "$dir"; chmod 644 "$dir"/*
if [ "$(id -u)" = 0 ]; then
  chown -R postgres "$dir"
  runuser -u postgres -- pgbouncer -d "$dir/pgbouncer.ini"
else
  pgbouncer -d "$dir/pgbouncer.ini"
fi
for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p "$port" && break; sleep 0.1; done
pg_isready -q -h 127.0.0.1 -p "$port"
echo "$dir"
