#!/usr/bin/env bash
# The main job, end to end, on the embedded local store: init, upload, delete, retrieve, verify.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -qq --disable-pip-version-check -e . -e plugins/localstore
CAVORITE="$PWD/.venv/bin/cavorite"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export XDG_DATA_HOME="$work/data"      # keep the demo's local store out of your home directory
cd "$work" && mkdir repo && cd repo
git init --quiet .

run() { echo "\$ $*"; "$@"; echo; }

run "$CAVORITE" init
head -c 50000000 /dev/urandom > installer.dmg
run sha256sum installer.dmg
run "$CAVORITE" upload installer.dmg
run cat installer.dmg.cfile
run cat .gitignore
run rm installer.dmg
run "$CAVORITE" retrieve
run sha256sum installer.dmg
run "$CAVORITE" retrieve installer.dmg
echo "demo: installer.dmg came back byte for byte, verified against its cfile"
