"""Load: 32 processes write at once, and every acknowledged write is there exactly once.

One burst mixes every kind of writer gitrunr has, all started before any is waited
for: ``git runr run start`` in fresh linked worktrees, checkpoint commits (through
the installed hooks) in linked worktrees that each have their own active run,
followed by ``git runr run finish`` of that run, ``git runr intervene`` against a
few shared runs (pending, and ``--sha`` links), and ``git runr run finish`` of runs
that the interventions are racing against. A write is *acknowledged* when its
command exited 0; a refusal must be a clean one-line error that wrote nothing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from gitrunr.audit import audit
from gitrunr.models import CheckpointRecorded, RunFinished, RunStarted
from gitrunr.repo import open_repo
from gitrunr.trailers import CHECKPOINT, RUN_ID, parse_trailers, trailer_values
from tests.conftest import GitRepo
from tests.reliability.helpers import (
    assert_clean,
    assert_one_line_error,
    read_back,
    rejected,
    report,
    run_all,
    runr_dir,
    spooled,
)

pytestmark = pytest.mark.slow

STARTERS = 6      # `git runr run start` in a fresh worktree
COMMITTERS = 8    # two checkpoint commits, then `run finish`, in a worktree with its own run
INTERVENERS = 14  # `git runr intervene` against the three shared runs
FINISHERS = 4     # `git runr run finish` of three idle runs and of one shared run
PROCESSES = STARTERS + COMMITTERS + INTERVENERS + FINISHERS

COMMITTER_SCRIPT = """set -e
for n in 1 2; do
  echo "{name} step $n" > "{name}-$n.txt"
  git add "{name}-$n.txt"
  git commit -q -m "{name}: step $n"
  git rev-parse HEAD
done
git runr run finish --outcome passed >/dev/null
echo finished
"""


def add_worktree(g: GitRepo, root: Path, name: str) -> Path:
    path = root / name
    g.git("worktree", "add", "-q", "-b", name, str(path))
    return path


def test_32_mixed_writers_lose_nothing(repo_with_commit: GitRepo, tmp_path: Path) -> None:
    """Every acknowledged write of a 32-process burst is in the ledger exactly once,
    refusals are clean and left nothing behind, and every run.json is the replay of
    its events (read_back)."""
    g = repo_with_commit
    g.runr("init")
    plain = [g.commit(f"plain {i}", {f"plain{i}.txt": f"{i}\n"}) for i in range(INTERVENERS // 2)]
    trees = tmp_path / "wt"
    starters = [add_worktree(g, trees, f"start{i}") for i in range(STARTERS)]
    committers = [add_worktree(g, trees, f"commit{i}") for i in range(COMMITTERS)]
    shared = [add_worktree(g, trees, f"shared{i}") for i in range(3)]
    idle = [add_worktree(g, trees, f"idle{i}") for i in range(FINISHERS - 1)]

    # The runs the burst writes against, started (at once) beforehand.
    setup = run_all([(["git", "runr", "run", "start"], path)
                     for path in [*committers, *shared, *idle]])
    for proc in setup:
        assert_clean(proc)
    run_of = {path: proc.stdout.strip()
              for path, proc in zip([*committers, *shared, *idle], setup, strict=True)}
    shared_runs = [run_of[p] for p in shared]
    racing_run = shared_runs[2]  # finished during the burst, while interventions target it
    before = read_back(g.path)

    commands: list[tuple[list[str], Path]] = []
    commands += [(["git", "runr", "run", "start", "--json"], p) for p in starters]
    commands += [(["sh", "-c", COMMITTER_SCRIPT.format(name=p.name)], p) for p in committers]
    iv_plan: list[tuple[str, str, str | None]] = []  # (run, note, linked sha)
    for i in range(INTERVENERS):
        sha = plain[i // 2] if i % 2 == 0 else None
        note = f"load intervention {i}"
        iv_plan.append((shared_runs[i % 3], note, sha))
        argv = ["git", "runr", "intervene", shared_runs[i % 3], "--note", note, "--json"]
        commands.append((argv + (["--sha", sha] if sha else []), g.path))
    finished_idle = [run_of[p] for p in idle]
    commands += [(["git", "runr", "run", "finish", run, "--outcome", "failed"], g.path)
                  for run in [*finished_idle, racing_run]]
    assert len(commands) == PROCESSES == 32

    started = time.monotonic()
    results = run_all(commands)
    wall = time.monotonic() - started
    res_start = results[:STARTERS]
    res_commit = results[STARTERS:STARTERS + COMMITTERS]
    res_iv = results[STARTERS + COMMITTERS:STARTERS + COMMITTERS + INTERVENERS]
    res_finish = results[STARTERS + COMMITTERS + INTERVENERS:]

    # Anything a hook left in the spool goes in now; nothing may be refused.
    drained = g.runr("flush", "--json", check=False)
    assert_clean(drained)
    assert json.loads(drained.stdout)["rejected"] == []
    assert spooled(g) == [] and rejected(g) == []

    records = read_back(g.path)  # every document validates; run.json == replay(events)
    acknowledged = 0
    refused = 0

    # run start: each new run exists once, with one event, active in its own worktree.
    for path, proc in zip(starters, res_start, strict=True):
        assert_clean(proc)
        run_id = json.loads(proc.stdout)["run_id"]
        assert records.runs[run_id].state == "active"
        assert [e.type for e in records.events[run_id]] == ["run_started"]
        active = json.loads((runr_dir(path) / "active-run.json").read_text())
        assert active["run_id"] == run_id
        acknowledged += 1
    new_runs = {json.loads(p.stdout)["run_id"] for p in res_start}
    assert len(new_runs) == STARTERS
    assert set(records.runs) == set(before.runs) | new_runs  # no run made up, none lost

    # Checkpoint commits: each acknowledged sha recorded once, as its trailers claim.
    for path, proc in zip(committers, res_commit, strict=True):
        assert_clean(proc)
        *shas, last = proc.stdout.split()
        assert last == "finished" and len(shas) == 2
        run_id = run_of[path]
        for sha in shas:
            message = g.git("log", "-1", "--format=%B", sha).stdout
            found = parse_trailers(message, divider=False)
            assert trailer_values(found, RUN_ID) == [run_id]
            recorded = [e for e in records.all_events()
                        if isinstance(e, CheckpointRecorded) and e.sha == sha]
            assert len(recorded) == 1, (sha, recorded)
            assert recorded[0].run_id == run_id
            assert [recorded[0].checkpoint_id] == trailer_values(found, CHECKPOINT)
            assert [link.run_id for link in records.notes[sha].links] == [run_id]
            acknowledged += 1
        assert len(records.of_type("run_finished", run_id)) == 1
        snapshot = records.runs[run_id]
        assert snapshot.state == "finalized/passed"
        assert [c.sha for c in snapshot.checkpoints] == shas
        acknowledged += 1  # the finish
        report_ = audit(open_repo(path), f"main..{path.name}")
        assert [c.class_ for c in report_.commits] == ["RUNR", "RUNR"]

    # Interventions: acknowledged ones once each; refused ones only where the run was
    # finished meanwhile, with one clean line, and no trace of their note anywhere.
    notes_written = {e.note for e in records.of_type("intervention_recorded")
                     if hasattr(e, "note")}
    for (run_id, note, sha), proc in zip(iv_plan, res_iv, strict=True):
        if proc.returncode == 0:
            assert_clean(proc)
            printed = json.loads(proc.stdout)
            found = records.interventions(printed["intervention_id"])
            assert len(found) == 1, (note, found)
            assert (found[0].run_id, found[0].note, found[0].commit_sha) == (run_id, note, sha)
            if sha is not None:
                links = records.notes[sha].links
                assert [(link.run_id, link.intervention_id) for link in links] == [
                    (run_id, printed["intervention_id"])]
            acknowledged += 1
        else:
            assert run_id == racing_run, (run_id, proc.stderr)
            assert_one_line_error(proc, codes=(5,))
            assert note not in notes_written
            refused += 1

    # Finishes: each run finished exactly once, with the outcome asked for.
    for run_id, proc in zip([*finished_idle, racing_run], res_finish, strict=True):
        assert_clean(proc)
        finished = [e for e in records.of_type("run_finished", run_id)
                    if isinstance(e, RunFinished)]
        assert [e.outcome for e in finished] == ["failed"]
        assert records.runs[run_id].state == "finalized/failed"
        acknowledged += 1

    # Every finish came with its receipt, written in the same ledger commit.
    for run_id in [*finished_idle, racing_run, *(run_of[p] for p in committers)]:
        assert len(records.of_type("receipt_recorded", run_id)) == 1, run_id

    # Nothing else was written: every event is one of the writes above or was there
    # (a committer: two checkpoints, a finish and its receipt; a finisher: the finish
    # and its receipt).
    expected_events = (before.event_count + STARTERS + COMMITTERS * 4 + FINISHERS * 2
                       + INTERVENERS - refused)
    assert records.event_count == expected_events
    assert len([e for e in records.all_events() if isinstance(e, RunStarted)]) == len(
        records.runs)
    report("load (test_load.py)", processes=PROCESSES, acknowledged_writes=acknowledged,
           refused_cleanly=refused, events=records.event_count, lost=0, duplicated=0,
           wall_seconds=f"{wall:.1f}")
