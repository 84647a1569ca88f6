#!/usr/bin/env bash
# The main job, end to end, on real input: install gitrunr into .venv, clone this
# repository's own history, record a short scenario through the installed hooks
# (a run with two checkpoints, an intervention, a plain commit, a hand-typed claim),
# then print `git runr audit` of the newest commits.
# KEEP=1 keeps the clone and prints where it is.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${GITRUNR_VENV:-$root/.venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$root"
export PATH="$venv/bin:$PATH"

work=$(mktemp -d "${TMPDIR:-/tmp}/gitrunr-demo.XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then echo "demo clone kept in $work/repo"; else trap 'rm -rf "$work"' EXIT; fi
git clone -q "$root" "$work/repo"
cd "$work/repo"
git config user.name "Demo Agent"
git config user.email "agent@example.com"
say() { printf '\n$ %s\n' "$*"; "$@"; }

say git runr init
git add .runr/runr.toml
say git commit -q -m "chore: set up gitrunr"          # a plain commit: GAP

run=$(git runr run start --tier tier2)
echo "\$ git runr run start --tier tier2   # -> $run"
mkdir -p demo
echo "print('hello')" > demo/hello.py
git add demo/hello.py
say git commit -q -m "feat(task-01): add hello"      # a checkpoint: RUNR
echo "print('hello, world')" > demo/hello.py
git add demo/hello.py
say git commit -q -m "feat(task-02): greet the world" # a checkpoint: RUNR
git log -1 --format='%(trailers)'

echo "# notes" > demo/NOTES.md
git add demo/NOTES.md
say git runr intervene "$run" --note "Wrote the notes by hand: the agent looped on review" \
    --cmd "python3 demo/hello.py" --commit -m "docs: notes written by hand"   # MANUAL
say git runr run finish --outcome passed

echo "tmp" > demo/scratch.txt
git add demo/scratch.txt
say git commit -q -m "misc cleanup"                    # no provenance: GAP
git commit -q --allow-empty -m "claims a run it never was" -m "Runr-Run-Id: run-0000made0up"
echo '$ git commit --allow-empty -m "..." -m "Runr-Run-Id: run-0000made0up"   # UNVERIFIED'

count=$(git rev-list --count HEAD)
range=HEAD
[ "$count" -gt 10 ] && range="HEAD~10..HEAD"
say git runr audit "$range"
say git runr run show "$run"
