#!/usr/bin/env bash
# Every check of `make test`: lint, layer contract, types, then pytest with a real PostgreSQL
# server started here (and stopped on exit) beside the SQLite and DuckDB files the tests make.
set -euo pipefail
bin=.venv/bin
"$bin/ruff" check src tests benchmarks
"$bin/lint-imports"
"$bin/mypy"
base=$(mktemp -d)
chmod 755 "$base"  # the postgres user must reach its data directory
pgdir=$base/pg
if ! command -v java >/dev/null; then  # the Spark engine's contract test runs Spark in local mode
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null
fi
if ! "$bin/python" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("pyspark") is None)'; then
  "$bin/python" -m pip install --quiet -c constraints.txt -e '.[spark]'
fi
if ! command -v chromium >/dev/null; then  # the browser tests drive Debian's Chromium
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
port=$("$bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=$(scripts/postgres.sh start "$pgdir" "$port")
trap 'scripts/postgres.sh stop "$pgdir"; rm -rf "$base"' EXIT
CGTVIGIL_TEST_POSTGRES_URL="$url" CGTVIGIL_TEST_SPARK=1 "$bin/python" -m pytest -q "$@"
