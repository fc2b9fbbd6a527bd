#!/usr/bin/env bash
# The whole test suite: set everything up, then lint, type-check, and run pytest (unit tests,
# the store contract suite against real emulators, end-to-end CLI tests in real git repositories,
# each extra installed alone in a clean venv).
#
# pytest runs in parallel (pytest-xdist): most tests wait on subprocesses, emulators and
# timeouts, so a few more workers than cores overlap that waiting. Each worker starts its own
# emulators. CAVORITE_TEST_WORKERS sets the number of workers (0: no parallelism); arguments
# are passed on to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
# the content cache's reflink tests make an XFS file system in a file and mount it (as root):
# mkfs.xfs comes from Debian's xfsprogs, installed here where it is missing and apt-get can
if [ "$(id -u)" = 0 ] && ! command -v mkfs.xfs >/dev/null && command -v apt-get >/dev/null; then
    { apt-get install -y -q xfsprogs || { apt-get update -q && apt-get install -y -q xfsprogs; }; } \
        >/dev/null 2>&1 || echo "test: xfsprogs could not be installed; the reflink tests skip" >&2
fi
export PATH="$PWD/.venv/bin:$PWD/.tools/node_modules/.bin:$PATH"

echo "== ruff"
ruff check .
echo "== ruff format"
ruff format --check .
echo "== mypy"
mypy
echo "== pytest"
workers="${CAVORITE_TEST_WORKERS:-4}"
if [ "$workers" = 0 ]; then
    pytest "$@"
else
    # tests are shared out one by one; what is slow to make and can be shared (a built wheel,
    # a pre-commit hook environment) is made once for all workers (tests/fixtures/shared.py)
    pytest -n "$workers" --dist load "$@"
fi

# a whole run (no pytest arguments) also runs the unit and end-to-end tests on the other
# supported Pythons; CAVORITE_TEST_PYTHONS=0 leaves them out
if [ $# = 0 ] && [ "${CAVORITE_TEST_PYTHONS:-1}" != 0 ]; then
    bash scripts/test-pythons.sh
fi
