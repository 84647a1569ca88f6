"""Bad input, part 3: what the hooks leave in the spool.

The spool is a write-ahead log other processes write (docs/storage.md): the flush
must apply every record it can, set aside (``spool/rejected/`` with a reason) every
record that can never be applied, keep every record that could be applied later,
and say so in one line, without a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

from gitrunr import ledger
from gitrunr.ids import base36, new_id
from gitrunr.models import CheckpointRecorded, RunFinished, RunStarted, utcnow
from gitrunr.repo import open_repo
from tests.conftest import GitRepo
from tests.reliability.helpers import (
    LEDGER_REF,
    assert_one_line_error,
    read_back,
    refs_state,
    rejected,
    report,
    spool_dir,
    spooled,
)

ACTOR = "Ada Tester <ada@example.com>"


def spool(g: GitRepo, name: str, doc: object) -> Path:
    """Write a spool entry as a hook would (bytes of ``doc``, or ``doc`` itself)."""
    where = spool_dir(g)
    where.mkdir(parents=True, exist_ok=True)
    path = where / f"{name}.json"
    path.write_bytes(doc if isinstance(doc, bytes) else json.dumps(doc).encode())
    return path


def event_entry(event: CheckpointRecorded) -> dict[str, object]:
    return {"schema_version": 1, "kind": "event", "event": event.model_dump(mode="json")}


def checkpoint(run_id: str, sha: str, event_id: str | None = None) -> CheckpointRecorded:
    return CheckpointRecorded(event_id=event_id or new_id("ev"), run_id=run_id, at=utcnow(),
                              actor=ACTOR, checkpoint_id=new_id("cp"), sha=sha, subject="s")


def started(repo_path: Path) -> str:
    run_id = new_id("run")
    ledger.append(open_repo(repo_path), [RunStarted(event_id=new_id("ev"), run_id=run_id,
                                                    at=utcnow(), actor=ACTOR)])
    return run_id


def test_flush_applies_the_good_and_sets_aside_the_bad(repo_with_commit: GitRepo) -> None:
    """Good records go in; unreadable, invalid and refused ones go to rejected/ with a
    reason; the command says so in one line (exit 7); nothing is lost or doubled."""
    g = repo_with_commit
    run_id, finished = started(g.path), started(g.path)
    ledger.append(open_repo(g.path), [RunFinished(event_id=new_id("ev"), run_id=finished,
                                                  at=utcnow(), actor=ACTOR, outcome="passed")])
    head = g.head()
    good = [checkpoint(run_id, head) for _ in range(3)]
    for event in good:
        spool(g, event.event_id, event_entry(event))
    bad = {
        "not JSON": b"{not json",
        "empty file": b"",
        "a JSON list": b"[]",
        "invalid UTF-8": b'{"kind": "event", "event": "\xff"}',
        "wrong schema": {"schema_version": 1, "kind": "event", "event": {"type": "boom"}},
        "unknown kind": {"schema_version": 1, "kind": "mystery"},
        "rewrite without pairs": {"schema_version": 1, "kind": "rewrite", "at": "2026-01-06"},
        "unknown run": event_entry(checkpoint(new_id("run"), head)),
        "finished run": event_entry(checkpoint(finished, head)),
        "missing commit": event_entry(checkpoint(run_id, "f" * 40)),
    }
    names = {label: f"ev-{base36(n, 17)}" for n, label in enumerate(bad)}
    for label, doc in bad.items():
        spool(g, names[label], doc)
    before = refs_state(g)
    proc = g.runr("flush", "--json", check=False)
    line = assert_one_line_error(proc, codes=(7,))
    assert "could not be applied" in line
    printed = json.loads(proc.stdout)
    assert printed["applied"] == len(good)
    assert sorted(printed["rejected"]) == sorted(f"{n}.json" for n in names.values())
    assert refs_state(g)[LEDGER_REF] != before[LEDGER_REF]
    assert spooled(g) == []
    assert sorted(p.name for p in rejected(g)) == sorted(f"{n}.json" for n in names.values())
    for name in names.values():
        reason = json.loads((spool_dir(g) / "rejected" / f"{name}.reason.json").read_text())
        assert reason["reason"]
    records = read_back(g.path)
    recorded = sorted(cp.checkpoint_id for cp in records.runs[run_id].checkpoints)
    assert recorded == sorted(e.checkpoint_id for e in good)  # each once
    assert {e.event_id for e in records.of_type("checkpoint_recorded", run_id)} == {
        e.event_id for e in good}
    assert records.runs[finished].checkpoints == []
    again = g.runr("flush", "--json")
    assert json.loads(again.stdout) == {"applied": 0, "skipped": 0, "rejected": []}
    report("spool input (test_spool_input.py)", good=len(good), bad=len(bad),
           set_aside_with_reason=len(bad), lost=0, tracebacks=0)


def test_a_record_older_than_its_run_does_not_block_the_spool(
        repo_with_commit: GitRepo) -> None:
    """A record whose id sorts before its run's run_started (the clock stepped back
    between ``run start`` and a commit) is set aside; the other records go in."""
    g = repo_with_commit
    run_id, other = started(g.path), started(g.path)
    good = checkpoint(other, g.head())
    spool(g, good.event_id, event_entry(good))
    stale = checkpoint(run_id, g.head(), event_id=f"ev-{base36(1, 17)}")
    spool(g, stale.event_id, event_entry(stale))
    proc = g.runr("flush", "--json", check=False)
    assert_one_line_error(proc, codes=(7,))
    assert json.loads(proc.stdout)["applied"] == 1
    assert [p.name for p in rejected(g)] == [f"{stale.event_id}.json"]


def test_a_damaged_run_does_not_block_other_runs_records(repo_with_commit: GitRepo) -> None:
    """Records of healthy runs go in while one run's record waits for its repair."""
    g = repo_with_commit
    damaged, healthy = started(g.path), started(g.path)
    path = f"{ledger.run_dir(damaged)}/run.json"
    blob = g.git("hash-object", "-w", "--stdin", input="{not json").stdout.strip()
    old = g.git("rev-parse", LEDGER_REF).stdout.strip()
    env = {"GIT_INDEX_FILE": str(g.path.parent / "plant.index")}
    g.git("read-tree", old, env=env)
    g.git("update-index", "--cacheinfo", f"100644,{blob},{path}", env=env)
    tree = g.git("write-tree", env=env).stdout.strip()
    g.git("update-ref", LEDGER_REF, g.git("commit-tree", tree, "-p", old, "-m",
                                          "planted").stdout.strip(), old)
    for run_id in (damaged, healthy):
        event = checkpoint(run_id, g.head())
        spool(g, event.event_id, event_entry(event))
    g.runr("flush", check=False)
    snapshot = ledger.read(open_repo(g.path)).run(healthy)
    assert snapshot is not None and [cp.sha for cp in snapshot.checkpoints] == [g.head()]
    assert len(spooled(g)) + len(rejected(g)) == 1
