#!/usr/bin/env bash
# bffn serve against the real `openai` Python client (Tests/ServerClient/test_server_client.py): chat and text
# completions, streamed and not, stop strings, seeded sampling, greedy output equal to `bffn generate`, speculative
# decoding's greedy text equal to plain. Then docs/openapi.json is checked against scripts/make-openapi.py, and
# scripts/fuzz-server-api.py fuzzes the server from that description for 30 s (hypothesis; fails on a 5xx, an
# answer that does not match the description, a dropped connection, a leaked connection or RSS growth).
# Installs the openai client and hypothesis from PyPI when they are missing.
# Usage: scripts/check-server.sh [path/to/bffn]   (default: .build/debug/bffn)
set -euo pipefail
cd "$(dirname "$0")/.."
BFFN="${1:-.build/debug/bffn}"
for module in openai hypothesis; do
  if ! python3 -c "import $module" 2>/dev/null; then
    echo "bffn: installing the $module Python package ..." >&2
    python3 -m pip install -q "$module" >&2
  fi
done
python3 Tests/ServerClient/test_server_client.py "$BFFN"
python3 scripts/make-openapi.py --check
python3 scripts/fuzz-server-api.py --seconds "${BFFN_FUZZ_SECONDS:-30}" --bffn "$BFFN"
