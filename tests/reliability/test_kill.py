"""Faults, part 1: writers killed with SIGKILL at random points.

Each trial starts one writer, ``git runr intervene`` (pending, or ``--sha``, which
moves the ledger and the notes in one transaction), ``git runr run start`` or
``git runr flush`` of a spool holding two commits' records, and kills its whole
process group (git, the Python behind ``git runr``, and any ``git update-ref`` it
runs) after a seeded random delay spread over the command's measured duration.
After every trial the records must read back valid (:func:`read_back`), ``git runr
audit`` must exit 0 without a traceback, and every write acknowledged so far (a
command that exited 0, a commit git made) must be in the ledger exactly once.

git's files backend renames the lock files of a transaction onto the refs one after
the other, so a kill between the two renames leaves the ledger moved and the notes
not: a torn transaction. The ledger keeps the record; the notes are an index that
``git runr notes rebuild`` restores. The trials accept a missing note only after a
kill left exactly that trace, and check the rebuild restores it.

``GITRUNR_KILL_SEED`` and ``GITRUNR_KILL_TRIALS`` override the seed and the number
of trials (for a longer soak by hand).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from pathlib import Path

import pytest

from gitrunr.models import CheckpointRecorded
from tests.conftest import GitRepo
from tests.reliability.helpers import (
    Records,
    assert_clean,
    assert_notes_complete,
    assert_one_line_error,
    read_back,
    refs_state,
    rejected,
    report,
    run_and_kill,
    runr_dir,
    spool_dir,
    spooled,
)

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("GITRUNR_KILL_SEED", "20261121"))
TRIALS = int(os.environ.get("GITRUNR_KILL_TRIALS", "40"))
KINDS = ("intervene", "intervene --sha", "run start", "flush")


def stale_locks(g: GitRepo) -> list[Path]:
    """Lock files a killed ``git update-ref`` can leave behind."""
    common = g.path / ".git"
    found = [p for p in (common / "refs").rglob("*.lock")]
    found += [p for p in (common / "logs").rglob("*.lock")] if (common / "logs").is_dir() else []
    return found + [p for p in [common / "packed-refs.lock"] if p.exists()]


def assert_state_files_backed(records: Records, worktrees: list[Path]) -> None:
    """A worktree's active run and pending intervention name records the ledger has:
    the state file is written only after the ledger write, so a kill in between leaves
    at worst a record with no state file, never the reverse."""
    for path in worktrees:
        state = runr_dir(path)
        active = state / "active-run.json"
        if active.exists():
            assert json.loads(active.read_text())["run_id"] in records.runs, path
        pending = state / "pending-intervention.json"
        if pending.exists():
            doc = json.loads(pending.read_text())
            assert len(records.interventions(doc["intervention_id"])) == 1, path


def spool_holds(g: GitRepo, sha: str) -> bool:
    """True when a spool entry (not a rejected one) records ``sha``."""
    return any(sha in p.read_text() for p in spooled(g))


def checkpoint_events(records: Records, sha: str) -> list[CheckpointRecorded]:
    return [e for e in records.all_events()
            if isinstance(e, CheckpointRecorded) and e.sha == sha]


def timed(g: GitRepo, *args: str, cwd: Path | None = None) -> tuple[float, str]:
    """How long ``git runr ARGS`` took, and what it printed."""
    started = time.monotonic()
    out = g.runr(*args, cwd=cwd).stdout
    return time.monotonic() - started, out


def commit_to_spool(g: GitRepo, message: str, name: str) -> str:
    """Commit through the hooks with ``GITRUNR_FLUSH=none``: the record stays in the
    spool. Returns the new commit (acknowledged: git exited 0)."""
    g.write(name, message + "\n")
    g.git("add", name)
    g.git("commit", "-q", "-m", message, env={"GITRUNR_FLUSH": "none"})
    return g.head()


def test_writers_killed_at_random_points(repo_with_commit: GitRepo, tmp_path: Path) -> None:
    """SIGKILL at seeded random points never corrupts a record or loses an
    acknowledged write."""
    g = repo_with_commit
    g.runr("init")
    target_wt = tmp_path / "target"
    starter_wt = tmp_path / "starter"
    committer_wt = tmp_path / "committer"
    for path in (target_wt, starter_wt, committer_wt):
        g.git("worktree", "add", "-q", "-b", path.name, str(path))
    target = g.runr("run", "start", cwd=target_wt).stdout.strip()
    spool_run = g.runr("run", "start", cwd=committer_wt).stdout.strip()
    committer = GitRepo(committer_wt)

    # How long each writer takes when nothing kills it: the kills are spread over that.
    calibration_run = ""
    durations: dict[str, float] = {}
    durations["intervene"], _ = timed(g, "intervene", target, "--note", "calibration")
    durations["intervene --sha"], _ = timed(g, "intervene", target, "--note", "calibration",
                                            "--sha", "HEAD")
    durations["run start"], calibration_run = timed(g, "run", "start", cwd=starter_wt)
    g.runr("run", "finish", "--outcome", "aborted", cwd=starter_wt)
    commit_to_spool(committer, "calibration", "cal.txt")
    durations["flush"], _ = timed(g, "flush")

    rng = random.Random(SEED)
    acknowledged_ivs: dict[str, str] = {}  # intervention id -> note
    acknowledged_runs: set[str] = set()
    acknowledged_commits: list[str] = []
    tried_notes: list[str] = []
    counts = {"killed": 0, "killed_after_ledger_write": 0, "completed": 0, "stale_locks": 0,
              "torn_transactions": 0, "orphan_runs": 0, "in_spool_after_kill": 0}
    records = read_back(g.path)
    started = time.monotonic()
    for trial in range(TRIALS):
        runs_before = set(records.runs)
        kind = rng.choice(KINDS)
        delay = rng.uniform(0.5, 1.25) * durations[kind]
        note = f"trial {trial}"
        if kind == "run start":
            if (runr_dir(starter_wt) / "active-run.json").exists():
                g.runr("run", "finish", "--outcome", "aborted", cwd=starter_wt)
            argv, cwd = ["git", "runr", "run", "start", "--json"], starter_wt
        elif kind == "flush":
            fresh = [commit_to_spool(committer, f"trial {trial} commit {n}", f"t{trial}-{n}.txt")
                     for n in range(2)]
            acknowledged_commits.extend(fresh)
            argv, cwd = ["git", "runr", "flush", "--json"], g.path
        else:
            argv = ["git", "runr", "intervene", target, "--note", note, "--json"]
            argv += ["--sha", "HEAD"] if kind == "intervene --sha" else []
            cwd = g.path
            tried_notes.append(note)

        result = run_and_kill(argv, cwd, delay)
        killed = result.returncode < 0
        counts["killed" if killed else "completed"] += 1
        if not killed:
            assert_clean(result)
            if kind.startswith("intervene"):
                printed = json.loads(result.stdout)
                acknowledged_ivs[printed["intervention_id"]] = note
            elif kind == "run start":
                acknowledged_runs.add(json.loads(result.stdout)["run_id"])

        # A kill inside `git update-ref` can leave its lock files, as for any git
        # command; git says to remove them by hand, and so do we (and count them).
        # git's files backend renames the locks onto the refs one after the other, so
        # a kill between the two renames moves the ledger but not the notes, and
        # leaves only the notes' lock behind: a torn transaction.
        locks = stale_locks(g)
        notes_lock = g.path / ".git" / "refs" / "notes" / "runr.lock"
        torn_possible = notes_lock in locks and not any("ledger" in p.name for p in locks)
        for lock in locks:
            counts["stale_locks"] += 1
            lock.unlink()

        records = read_back(g.path)
        assert_state_files_backed(records, [g.path, target_wt, starter_wt, committer_wt])
        try:
            assert_notes_complete(records)
        except AssertionError:
            # Only a torn transaction may leave a recorded commit without its note,
            # and the notes are an index of the ledger: rebuilding restores them.
            assert torn_possible, "a note is missing, and no kill tore a transaction"
            counts["torn_transactions"] += 1
            g.runr("notes", "rebuild")
            records = read_back(g.path)
            assert_notes_complete(records)
        for iv_id, iv_note in acknowledged_ivs.items():
            found = records.interventions(iv_id)
            assert [(e.run_id, e.note) for e in found] == [(target, iv_note)], iv_id
        for tried in tried_notes:  # a killed write is there once or not at all
            assert len([e for e in records.of_type("intervention_recorded")
                        if getattr(e, "note", None) == tried]) <= 1
        assert acknowledged_runs <= set(records.runs)
        for sha in acknowledged_commits:  # in the ledger once, or still in the spool
            recorded = checkpoint_events(records, sha)
            assert len(recorded) == 1 or (not recorded and spool_holds(g, sha)), sha
            counts["in_spool_after_kill"] += not recorded
        if killed:  # did the kill land before or after the ledger moved?
            if kind == "run start":
                landed = bool(set(records.runs) - runs_before)
            elif kind == "flush":
                landed = any(checkpoint_events(records, sha) for sha in fresh)
            else:
                landed = any(getattr(e, "note", None) == note
                             for e in records.of_type("intervention_recorded"))
            counts["killed_after_ledger_write"] += landed

        # Every reader still works; the audit also moves what the spool holds.
        audit = g.runr("audit", "--json", check=False)
        assert_clean(audit)
        assert json.loads(audit.stdout)["skipped"] == []
        assert spooled(g) == [] and rejected(g) == []
        records = read_back(g.path)
        for sha in acknowledged_commits:
            assert [e.run_id for e in checkpoint_events(records, sha)] == [spool_run], sha

    elapsed = time.monotonic() - started
    orphans = set(records.runs) - acknowledged_runs - {target, spool_run,
                                                       calibration_run.strip()}
    counts["orphan_runs"] = len(orphans)  # started, killed before it was acknowledged
    leftovers = list(spool_dir(g).glob("*.tmp")) if spool_dir(g).is_dir() else []
    report("kill (test_kill.py)", seed=SEED, trials=TRIALS, **counts,
           acknowledged_writes=len(acknowledged_ivs) + len(acknowledged_runs)
           + len(acknowledged_commits), lost=0, duplicated=0,
           spool_tmp_files_left=len(leftovers), seconds=f"{elapsed:.0f}",
           unkilled_ms="/".join(f"{durations[k] * 1000:.0f}" for k in KINDS))


def test_a_lock_left_by_a_killed_writer(repo_with_commit: GitRepo) -> None:
    """A kill inside ``git update-ref`` can leave ``refs/runr/ledger.lock``. A lock that
    old is not a live writer's: the next writer fails at once in one line naming the
    file (instead of retrying for two minutes), moves nothing, and works again once
    the file is removed, as git itself asks. A fresh lock is waited for."""
    g = repo_with_commit
    g.runr("init")
    run_id = g.runr("run", "start").stdout.strip()
    lock = g.path / ".git" / "refs" / "runr" / "ledger.lock"
    lock.write_text(g.head() + "\n")
    old = time.time() - 60
    os.utime(lock, (old, old))
    before = refs_state(g)
    started = time.monotonic()
    proc = g.runr("intervene", run_id, "--note", "after a crash", check=False)
    assert time.monotonic() - started < 10
    assert str(lock) in assert_one_line_error(proc, codes=(7,))
    assert refs_state(g) == before and lock.exists()

    lock.write_text(g.head() + "\n")  # fresh: another writer's, released in a moment
    writer = subprocess.Popen(["git", "runr", "intervene", run_id, "--note", "waited"],
                              cwd=g.path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    time.sleep(1.0)
    assert writer.poll() is None  # still retrying
    lock.unlink()
    out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    assert [i.note for i in read_back(g.path).runs[run_id].interventions] == ["waited"]


def test_a_transaction_torn_by_a_kill_is_repaired_by_notes_rebuild(
        repo_with_commit: GitRepo) -> None:
    """The state a kill between git's two lock renames leaves (the ledger moved, the
    notes did not, ``refs/notes/runr.lock`` left behind), made by hand: readers work;
    writers name the lock; once it is removed, ``git runr notes rebuild`` restores the
    missing note from the ledger and the commit is MANUAL again."""
    g = repo_with_commit
    g.runr("init")
    run_id = g.runr("run", "start").stdout.strip()
    g.commit("a checkpoint", {"cp.txt": "c\n"})  # the notes ref exists
    plain = g.commit("work done by hand", {"hand.txt": "h\n"}, "--no-verify")
    notes_before = g.git("rev-parse", "refs/notes/runr").stdout.strip()
    g.runr("intervene", run_id, "--note", "torn", "--sha", plain)
    g.git("update-ref", "refs/notes/runr", notes_before)  # the notes' rename never happened
    lock = g.path / ".git" / "refs" / "notes" / "runr.lock"
    lock.write_text(notes_before + "\n")
    old = time.time() - 60
    os.utime(lock, (old, old))

    audit = g.runr("audit", "--json", check=False)
    assert_clean(audit)
    classes = {c["sha"]: c["class"] for c in json.loads(audit.stdout)["commits"]}
    assert classes[plain] == "GAP"  # the note was the link; the ledger still has it
    proc = g.runr("intervene", run_id, "--note", "x", "--sha", plain, check=False)
    assert str(lock) in assert_one_line_error(proc, codes=(7,))
    lock.unlink()
    g.runr("notes", "rebuild")
    assert_notes_complete(read_back(g.path))
    audit = g.runr("audit", "--json", check=False)
    classes = {c["sha"]: c["class"] for c in json.loads(audit.stdout)["commits"]}
    assert classes[plain] == "MANUAL"
