#!/usr/bin/env bash
# Runs the whole test suite: unit tests and the integration binary, on SQLite and on
# PostgreSQL. Outside CI, when no PostgreSQL answers, it says so and skips that half;
# with CI=true a missing PostgreSQL is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

pg_url=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
hostport=${pg_url#*://}; hostport=${hostport#*@}; hostport=${hostport%%/*}
pg_host=${hostport%%:*}; pg_port=${hostport##*:}; [ "$pg_port" = "$hostport" ] && pg_port=5432

skipped=""
if ! (exec 3<>"/dev/tcp/$pg_host/$pg_port") 2>/dev/null; then
  if [ "${CI:-}" = "true" ]; then
    echo "error: PostgreSQL is not reachable at $pg_host:$pg_port, and CI=true requires the PostgreSQL half of the suite" >&2
    exit 1
  fi
  skipped="yes"
  export DINGTALK_LOGIN_TEST_PG=skip
  echo "warning: PostgreSQL is not reachable at $pg_host:$pg_port: SKIPPING the PostgreSQL half of the suite (SQLite only)" >&2
fi

# The benchmark's smoke test runs the benchmark with `cargo run`: built here first, so that
# no test compiles a crate while the others run.
cargo build --locked --quiet -p dingtalk-bench
cargo test --locked "$@"

if [ -n "$skipped" ]; then
  echo "note: the PostgreSQL half was SKIPPED (start PostgreSQL, or set TEST_POSTGRES_URL, to run it)" >&2
fi
