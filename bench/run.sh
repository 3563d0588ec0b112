#!/usr/bin/env bash
# The benchmark in one command: builds the release binaries and measures the service.
#   bench/run.sh                 # SQLite, 32 connections, 10 s per scenario
#   bench/run.sh --postgres      # on the local PostgreSQL
#   bench/run.sh --connections 64 --duration 20
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p dingtalk-login -p dingtalk-bench
exec target/release/dingtalk-bench --binary target/release/dingtalk-login "$@"
