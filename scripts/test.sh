#!/usr/bin/env bash
# The whole test suite: set everything up, then lint, type-check, and run pytest (unit tests,
# the store contract suite against real emulators, end-to-end CLI tests in real git repositories).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PWD/.tools/node_modules/.bin:$PATH"

echo "== ruff"
ruff check .
echo "== mypy"
mypy
echo "== pytest"
pytest "$@"
