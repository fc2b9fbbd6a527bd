#!/usr/bin/env bash
# Prepare a development environment in .venv: cavorite-py with every store SDK, the local store
# plugin, the test tools, and the Azurite emulator from npm (in .tools). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -qq --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -qq --disable-pip-version-check \
    -e ".[all,test]" -e plugins/localstore

if [ ! -x .tools/node_modules/.bin/azurite-blob ]; then
    command -v npm >/dev/null || { echo "setup: npm is needed to install Azurite" >&2; exit 1; }
    mkdir -p .tools
    npm install --prefix .tools --no-audit --no-fund --loglevel=error azurite@3 >/dev/null
fi
