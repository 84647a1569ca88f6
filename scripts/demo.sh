#!/usr/bin/env bash
# The main job, end to end, on real input: install gitrunr into .venv, clone this
# repository's own history, record a short scenario through the installed hooks
# (a plan that is ready, a run of it with two checkpoints, an intervention, its
# verification and an artifact, the run accepted into the plan's SUMMARY.md, a plain
# commit, a hand-typed claim), then print `git runr audit` of the newest commits.
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
mkdir -p specs/demo/phase-01
cat > specs/demo/phase-01/01-PLAN.md <<'PLAN'
---
status: ready
title: Greet the world
---
# Greet the world

## Objective
A script that says hello to the world.

## Tasks
- add hello.py
- make it greet the world

## Success criteria
- python3 demo/hello.py prints hello, world
PLAN
git add .runr/runr.toml specs
say git commit -q -m "chore: set up gitrunr, plan demo/phase-01/01"  # a plain commit: GAP
say git runr status
say git runr ready

run=$(git runr run start demo/phase-01/01 --tier tier2)
echo "\$ git runr run start demo/phase-01/01 --tier tier2   # -> $run"
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
say git runr progress "$run" --task 01 --state done --persona demo-agent
say git runr progress "$run" --task 02 --state done --persona demo-agent
say git runr run transition "$run" verifying/testing --reason "python3 demo/hello.py"
python3 demo/hello.py > "$work/output.txt"
say git runr evidence "$run" --cmd "python3 demo/hello.py" --task 02
say git runr artifact add "$run" "$work/output.txt"
say git runr run transition "$run" verifying/passed --reason "prints hello, world"
say git runr run accept "$run"                        # writes specs/demo/phase-01/01-SUMMARY.md
say git runr runs 01
say git runr receipt "$run"

echo "tmp" > demo/scratch.txt
git add demo/scratch.txt
say git commit -q -m "misc cleanup"                    # no provenance: GAP
git commit -q --allow-empty -m "claims a run it never was" -m "Runr-Run-Id: run-0000made0up"
echo '$ git commit --allow-empty -m "..." -m "Runr-Run-Id: run-0000made0up"   # UNVERIFIED'

count=$(git rev-list --count HEAD)
range=HEAD
[ "$count" -gt 10 ] && range="HEAD~10..HEAD"
say git runr audit "$range"
say git runr show 01
say git runr show "$run"
