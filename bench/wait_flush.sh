#!/bin/sh
# hyperfine --prepare step of the commit benchmarks: wait until gitrunr's detached
# flusher in each repository given has finished, so the next measured `git commit`
# does not share the two cores with it (docs/hooks.md: the hook spools a record and
# starts one detached flusher, which holds `runr/flush.lock` while it writes).
#
#   sh bench/wait_flush.sh REPO...      (each REPO a non-bare repository's top level)
#
# The spool file is deleted only once the ledger holds it, with the lock held; so an
# empty spool followed by a free lock means the flusher's work is done. The last
# sleep covers its interpreter shutdown. Gives up after 30 s (exit 1).
for repo in "$@"; do
    runr="$repo/.git/runr"
    tries=0
    while ls "$runr"/spool/*.json >/dev/null 2>&1; do
        tries=$((tries + 1))
        if [ "$tries" -gt 3000 ]; then
            echo "wait_flush: $runr/spool is still not empty after 30 s" >&2
            exit 1
        fi
        sleep 0.01
    done
    if [ -e "$runr/flush.lock" ]; then
        flock "$runr/flush.lock" true
    fi
done
sleep 0.05
