#!/usr/bin/env bash
# The unit and end-to-end tests on the other supported Pythons (the whole suite runs on the
# development venv's Python, 3.11, in scripts/test.sh). Each interpreter gets its own venv,
# .venv-3.X, with cavorite-py, every store SDK, the local store plugin and the test tools.
#
# CAVORITE_PYTHONS lists the versions (default "3.12 3.13"); each is looked for as python3.X on
# PATH, then under pyenv's versions. A version that cannot be found is reported as skipped (a
# failure with CAVORITE_REQUIRE_PYTHONS=1). Arguments are passed on to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
    # the first that runs: a pyenv shim is on PATH even where its version is not selected
    local version="$1" candidate
    for candidate in "$(command -v "python$version" || true)" \
        "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/"python$version"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" -c pass 2>/dev/null; then
            echo "$candidate"
            return
        fi
    done
    return 1
}

export PATH="$PWD/.tools/node_modules/.bin:$PATH"
for version in ${CAVORITE_PYTHONS:-3.12 3.13}; do
    python="$(find_python "$version")" || {
        # nothing on a machine can install an interpreter here (no registry ships CPython):
        # say so loudly; CAVORITE_REQUIRE_PYTHONS=1 makes it a failure
        echo "test-pythons: SKIPPED Python $version: not found (python$version on PATH or" \
            "under pyenv)" >&2
        [ "${CAVORITE_REQUIRE_PYTHONS:-0}" = 1 ] && exit 1
        continue
    }
    venv=".venv-$version"
    echo "== Python $version ($python)"
    if [ ! -x "$venv/bin/python" ]; then
        "$python" -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install -qq --disable-pip-version-check \
        -e ".[all,test]" -e plugins/localstore
    PATH="$PWD/$venv/bin:$PATH" "$venv/bin/pytest" -n "${CAVORITE_TEST_WORKERS:-4}" \
        --dist load tests/test_*.py tests/e2e "$@"
done
