"""The ledger: layout, append, idempotence, compare-and-swap, replay, the spool."""

from __future__ import annotations

import json
import subprocess

import pygit2
import pytest

from gitrunr import events, ledger, notes
from gitrunr.errors import InvalidStateError, NotFoundError
from gitrunr.ids import new_id
from gitrunr.models import (
    CheckpointRecorded,
    CommitRewritten,
    RunFinished,
    RunStarted,
    utcnow,
)
from gitrunr.repo import open_repo
from tests.conftest import GitRepo


def started(run_id: str | None = None, **kw: object) -> RunStarted:
    return RunStarted(event_id=new_id("ev"), run_id=run_id or new_id("run"), at=utcnow(),
                      actor="A <a@x>", **kw)  # type: ignore[arg-type]


def checkpoint(run_id: str, sha: str, cp: str | None = None) -> CheckpointRecorded:
    return CheckpointRecorded(event_id=new_id("ev"), run_id=run_id, at=utcnow(),
                              actor="A <a@x>", checkpoint_id=cp or new_id("cp"), sha=sha,
                              subject="s")


def test_layout_and_fixed_root(repo_with_commit: GitRepo) -> None:
    r = open_repo(repo_with_commit.path)
    ev = started()
    ledger.append(r, [ev])
    tree = repo_with_commit.git("ls-tree", "-r", "--name-only", ledger.LEDGER_REF).stdout
    base = f"runs/{ledger.shard(ev.run_id)}/{ev.run_id}"
    assert sorted(tree.split()) == sorted([
        "ledger.json", f"{base}/run.json", f"{base}/events/{ev.event_id}.json"])
    # The chain starts at the same root commit in every repository.
    root = repo_with_commit.git("rev-list", "--max-parents=0", ledger.LEDGER_REF).stdout.strip()
    other = GitRepo(repo_with_commit.path.parent / "other")
    subprocess.run(["git", "init", "-q", str(other.path)], check=True)
    assert str(ledger.root_commit(open_repo(other.path).git)) == root
    # Stored documents carry schema_version.
    doc = json.loads(repo_with_commit.git("show", f"{ledger.LEDGER_REF}:{base}/run.json").stdout)
    assert doc["schema_version"] == 1 and doc["state"] == "active"


def test_ledger_never_touches_work_tree_or_branches(repo_with_commit: GitRepo) -> None:
    before = repo_with_commit.git("for-each-ref", "refs/heads").stdout
    ledger.append(open_repo(repo_with_commit.path), [started()])
    assert repo_with_commit.git("status", "--porcelain").stdout == ""
    assert repo_with_commit.git("for-each-ref", "refs/heads").stdout == before


def test_append_is_idempotent_per_event(repo_with_commit: GitRepo) -> None:
    r = open_repo(repo_with_commit.path)
    ev = started()
    first = ledger.append(r, [ev])
    again = ledger.append(r, [ev])
    assert len(first.applied) == 1 and again.applied == [] and again.skipped == [ev]
    assert again.commit is None  # nothing new: no ledger commit made
    assert ledger.read(r).run(ev.run_id).event_count == 1  # type: ignore[union-attr]


def test_checks_refuse_and_write_nothing(repo_with_commit: GitRepo) -> None:
    r = open_repo(repo_with_commit.path)
    head = repo_with_commit.head()
    with pytest.raises(NotFoundError):
        ledger.append(r, [checkpoint("run-unknown1", head)])
    assert r.git.references.get(ledger.LEDGER_REF) is None
    ev = started()
    ledger.append(r, [ev])
    ledger.append(r, [RunFinished(event_id=new_id("ev"), run_id=ev.run_id, at=utcnow(),
                                  actor="A", outcome="passed")])
    tip = ledger.read(r).tip
    with pytest.raises(InvalidStateError, match="finalized/passed"):
        ledger.append(r, [checkpoint(ev.run_id, head)])
    assert ledger.read(r).tip == tip


def test_partial_append_returns_rejections(repo_with_commit: GitRepo) -> None:
    r = open_repo(repo_with_commit.path)
    ev = started()
    bad = checkpoint("run-unknown1", repo_with_commit.head())
    result = ledger.append(r, [ev, bad], partial=True)
    assert result.applied == [ev]
    assert [e for e, _ in result.rejected] == [bad]


def test_amend_moves_checkpoint_and_keeps_history(repo_with_commit: GitRepo) -> None:
    r = open_repo(repo_with_commit.path)
    ev = started()
    old = repo_with_commit.head()
    new = repo_with_commit.commit("second")
    ledger.append(r, [ev, checkpoint(ev.run_id, old, "cp-0000000000000000a")])
    ledger.append(r, [checkpoint(ev.run_id, new, "cp-0000000000000000a")])
    snap = ledger.read(r).run(ev.run_id)
    assert snap is not None and len(snap.checkpoints) == 1
    assert snap.checkpoints[0].sha == new and snap.checkpoints[0].previous_shas == [old]


def test_snapshot_equals_replay_even_for_late_events(repo_with_commit: GitRepo) -> None:
    """An event with an older id arriving later (another clone) still replays in id order."""
    r = open_repo(repo_with_commit.path)
    run_id = new_id("run")
    first = repo_with_commit.head()
    second = repo_with_commit.commit("second")
    ev = RunStarted(event_id="ev-00000000100000000", run_id=run_id, at=utcnow(), actor="A")
    late = CheckpointRecorded(event_id="ev-00000000200000000", run_id=run_id, at=utcnow(),
                              actor="A", checkpoint_id="cp-00000000000000001", sha=first)
    newer = CheckpointRecorded(event_id="ev-00000000300000000", run_id=run_id, at=utcnow(),
                               actor="A", checkpoint_id="cp-00000000000000002", sha=second)
    ledger.append(r, [ev])
    ledger.append(r, [newer])
    ledger.append(r, [late])
    view = ledger.read(r)
    snap = view.run(run_id)
    assert snap is not None
    # Replay order, not arrival order.
    assert [c.checkpoint_id for c in snap.checkpoints] == [
        "cp-00000000000000001", "cp-00000000000000002"]
    assert snap.last_event_id == newer.event_id and snap.event_count == 3
    assert snap.model_dump() == events.replay(view.events(run_id)).model_dump()


def test_notes_written_with_the_ledger(repo_with_commit: GitRepo) -> None:
    r = open_repo(repo_with_commit.path)
    ev = started()
    head = repo_with_commit.head()
    ledger.append(r, [ev, checkpoint(ev.run_id, head)])
    shown = repo_with_commit.git("notes", "--ref=runr", "show", head).stdout
    note = json.loads(shown)
    assert note["schema_version"] == 1
    assert note["links"][0]["run_id"] == ev.run_id and note["links"][0]["kind"] == "checkpoint"
    # Written where git reads it, at one level of fanout.
    assert repo_with_commit.git("ls-tree", "-r", "--name-only", notes.NOTES_REF
                                ).stdout.strip() == f"{head[:2]}/{head[2:]}"


def test_note_parse_accepts_git_concatenated_notes() -> None:
    a = b'{"schema_version":1,"links":[{"run_id":"run-aaaa","kind":"checkpoint"}]}\n'
    b = b'{"schema_version":1,"links":[{"run_id":"run-bbbb","kind":"checkpoint"}]}\n'
    merged = notes.parse(a + b"\n" + b, "0" * 40)
    assert [link.run_id for link in merged.links] == ["run-aaaa", "run-bbbb"]


def test_compare_and_swap_refuses_a_moved_ref(repo_with_commit: GitRepo) -> None:
    from gitrunr.errors import RefRaceError
    from gitrunr.objects import cas_update_refs

    r = open_repo(repo_with_commit.path)
    head = pygit2.Oid(hex=repo_with_commit.head())
    cas_update_refs(r.git, str(repo_with_commit.path), [("refs/runr/test", head, None)], "t")
    with pytest.raises(RefRaceError):  # must not exist, but does
        cas_update_refs(r.git, str(repo_with_commit.path), [("refs/runr/test", head, None)],
                        "t")


def test_flush_applies_spool_and_sets_aside_bad_entries(repo_with_commit: GitRepo) -> None:
    r = open_repo(repo_with_commit.path)
    ev = started()
    ledger.append(r, [ev])
    r.spool_dir.mkdir(parents=True)
    cp = checkpoint(ev.run_id, repo_with_commit.head())
    (r.spool_dir / f"{cp.event_id}.json").write_text(json.dumps(
        {"schema_version": 1, "kind": "event", "event": cp.model_dump(mode="json")}))
    (r.spool_dir / "ev-zzzzzzzzzzzzzzzzz.json").write_text("{not json")
    result = ledger.flush(r)
    assert result.applied == 1 and result.rejected == ["ev-zzzzzzzzzzzzzzzzz.json"]
    assert sorted(p.name for p in r.spool_dir.iterdir()) == ["rejected"]
    assert (r.spool_dir / "rejected" / "ev-zzzzzzzzzzzzzzzzz.reason.json").exists()
    snap = ledger.read(r).run(ev.run_id)
    assert snap is not None and snap.checkpoints[0].patch_id is not None  # filled at flush
    assert ledger.flush(r).applied == 0  # nothing left


def test_rewrite_entry_flushes_once(repo_with_commit: GitRepo) -> None:
    r = open_repo(repo_with_commit.path)
    ev = started()
    old = repo_with_commit.head()
    ledger.append(r, [ev, checkpoint(ev.run_id, old)])
    repo_with_commit.git("commit", "-q", "--amend", "-m", "amended")
    new = repo_with_commit.head()
    entry = new_id("ev")
    doc = {"schema_version": 1, "kind": "rewrite", "rewrite": "amend",
           "at": utcnow().isoformat(), "actor": None, "pairs": [[old, new]]}
    r.spool_dir.mkdir(parents=True)
    (r.spool_dir / f"{entry}.json").write_text(json.dumps(doc))
    assert ledger.flush(r).applied == 1
    (r.spool_dir / f"{entry}.json").write_text(json.dumps(doc))  # replayed after a crash
    assert ledger.flush(r).applied == 0
    snap = ledger.read(r).run(ev.run_id)
    assert snap is not None and snap.checkpoints[0].sha == new
    assert snap.checkpoints[0].previous_shas == [old]
    rewritten = [e for e in ledger.read(r).events(ev.run_id) if isinstance(e, CommitRewritten)]
    assert len(rewritten) == 1


def test_patch_id_matches_git(repo_with_commit: GitRepo) -> None:
    sha = repo_with_commit.commit("change", {"a.txt": "one\ntwo\n"})
    r = open_repo(repo_with_commit.path)
    commit = r.git[sha]
    assert isinstance(commit, pygit2.Commit)
    diff = repo_with_commit.git("show", sha).stdout
    expected = repo_with_commit.git("patch-id", "--stable", input=diff).stdout.split()[0]
    assert ledger.patch_id(commit) == expected
