#!/usr/bin/env bash
# Run the test suite: install gitrunr with its test extras into .venv, then pytest.
# Usage: scripts/test.sh [pytest arguments...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${GITRUNR_VENV:-$root/.venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$root[test]"
cd "$root"
# The venv's bin first, so the tests' `git runr` finds this checkout's console script.
PATH="$venv/bin:$PATH" exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
