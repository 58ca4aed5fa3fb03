#!/usr/bin/env bash
# Load figures for bffn serve (not a test): starts `bffn serve fixtures/trained` on a free loopback port with
# --parallel P for each P given, runs CLIENTS concurrent streaming clients for SECONDS (scripts/load-server.py) and
# prints one JSON line per P: errors, responses that differ from their single-client run, p50/p99 time to first
# token, aggregate tokens/s, peak and final RSS of the server.
# Usage: scripts/load-server.sh [CLIENTS=16] [SECONDS=20] [PARALLEL="1 2"] [MAX_TOKENS=64] [BFFN=.build/debug/bffn]
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS="${1:-16}" SECONDS_="${2:-20}" PARALLEL="${3:-1 2}" MAX_TOKENS="${4:-64}" BFFN="${5:-.build/debug/bffn}"
status=0
for p in $PARALLEL; do
  log=$(mktemp)
  "$BFFN" serve fixtures/trained --port 0 --parallel "$p" --max-queue "$CLIENTS" --queue-timeout 120 2>"$log" >/dev/null &
  pid=$!
  port=""
  for _ in $(seq 1 300); do
    port=$(sed -n "s/.*serving '.*' on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p" "$log")
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$port" ]; then cat "$log" >&2; kill "$pid" 2>/dev/null || true; exit 1; fi
  echo -n "parallel $p: "
  timeout $((SECONDS_ + 120)) python3 scripts/load-server.py "$port" "$pid" "$CLIENTS" "$SECONDS_" "$MAX_TOKENS" || status=1
  kill -TERM "$pid"
  wait "$pid" || true
  rm -f "$log"
done
exit $status
