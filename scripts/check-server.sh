#!/usr/bin/env bash
# bffn serve against the real `openai` Python client (Tests/ServerClient/test_server_client.py): chat and text
# completions, streamed and not, stop strings, seeded sampling, greedy output equal to `bffn generate`, speculative
# decoding's greedy text equal to plain. Installs the client from PyPI when it is missing.
# Usage: scripts/check-server.sh [path/to/bffn]   (default: .build/debug/bffn)
set -euo pipefail
cd "$(dirname "$0")/.."
BFFN="${1:-.build/debug/bffn}"
if ! python3 -c "import openai" 2>/dev/null; then
  echo "bffn: installing the openai Python client ..." >&2
  python3 -m pip install -q openai >&2
fi
exec python3 Tests/ServerClient/test_server_client.py "$BFFN"
