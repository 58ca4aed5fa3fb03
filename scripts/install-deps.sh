#!/usr/bin/env bash
# Installs the C libraries bffn links when they are missing: json-c and zlib development packages, and
# libsentencepiece-dev (tokenizer.model files are read through it).
# Safe to run repeatedly: it does nothing when pkg-config already finds all three.
set -euo pipefail
if pkg-config --exists json-c zlib sentencepiece 2>/dev/null; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "bffn: libjson-c-dev, zlib1g-dev or libsentencepiece-dev is missing and this user cannot install them (not root, no sudo)" >&2
    exit 1
  fi
fi
echo "bffn: installing libjson-c-dev zlib1g-dev libsentencepiece-dev pkg-config ..." >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq libjson-c-dev zlib1g-dev libsentencepiece-dev pkg-config >/dev/null
