#!/usr/bin/env bash
# Run the test suite: install gitrunr with its test extras into .venv, then pytest.
# Usage: scripts/test.sh [pytest arguments...]
# The tests run on every core (pytest-xdist, -n auto): each builds its own repositories
# in temporary directories, so they share nothing. `scripts/test.sh -n 0` runs serially.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${GITRUNR_VENV:-$root/.venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$root[test]"
cd "$root"
# The venv's bin first, so the tests' `git runr` finds this checkout's console script.
PATH="$venv/bin:$PATH" exec "$venv/bin/python" -m pytest -q -p no:cacheprovider -n auto \
    --durations=10 "$@"
