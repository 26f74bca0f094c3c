#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests: its own data directory, a free port on 127.0.0.1,
# owned and run by a non-root user (postgres refuses to run as root), trust authentication on
# loopback only. Writes the connection string to DIR/conninfo.
#   scripts/postgres-test-cluster.sh start DIR
#   scripts/postgres-test-cluster.sh stop DIR
set -euo pipefail
action=$1
dir=$(realpath -m "$2")
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$bin" ]; then
  echo "postgres-test-cluster: PostgreSQL is not installed (scripts/setup.sh installs it)" >&2
  exit 1
fi
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}
case "$action" in
start)
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  mkdir -p "$dir/socket"
  [ "$(id -u)" -eq 0 ] && chown -R postgres: "$dir"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_owner "$bin/initdb" -D "$dir/data" -U culvert --auth=trust -E UTF8 --no-instructions >"$dir/initdb.log" 2>&1
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
    -o "-p $port -k $dir/socket -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50" start >/dev/null
  as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U culvert culvert_test
  echo "host=127.0.0.1 port=$port user=culvert dbname=culvert_test connect_timeout=5" >"$dir/conninfo"
  echo "postgres-test-cluster: running on 127.0.0.1:$port ($dir)"
  ;;
stop)
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
  fi
  rm -rf "$dir"
  ;;
*)
  echo "usage: $0 start|stop DIR" >&2
  exit 2
  ;;
esac
