#!/usr/bin/env bash
# Start or stop a throw-away PostgreSQL server for the test suite (Debian's packages; installed
# here when missing). Usage: scripts/postgres.sh start DIR PORT | stop DIR
set -euo pipefail
cmd=${1:?start or stop}
dir=${2:?data directory}
port=${3:-55432}
cd /  # the postgres user cannot enter the caller's working directory
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ "$cmd" = start ]; then
  if [ -z "$bin" ]; then
    echo "installing PostgreSQL from Debian's packages" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  run=()
  if [ "$(id -u)" = 0 ]; then run=(runuser -u postgres --); fi
  rm -rf "$dir" && mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  "${run[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust >/dev/null
  "${run[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >/dev/null
  "${run[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres cgtvigil_test
  echo "postgresql+psycopg://postgres@127.0.0.1:$port/cgtvigil_test"
elif [ "$cmd" = stop ]; then
  run=()
  if [ "$(id -u)" = 0 ]; then run=(runuser -u postgres --); fi
  [ -d "$dir/data" ] && "${run[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null || true
  rm -rf "$dir"
fi
