#!/usr/bin/env bash
# The test command: installs missing system libraries, then builds and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
swift test --skip-build --disable-xctest
