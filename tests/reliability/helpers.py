"""Helpers of the reliability suite: start many processes, read every record back.

:func:`read_back` is the suite's one definition of "the ledger and the notes read
back valid": it reads every document under ``refs/runr/ledger`` and
``refs/notes/runr`` with pygit2, validates each with the models, and checks what
docs/storage.md promises about them (layout, shards, file names, ``run.json`` equal
to the replay of the run's events, a documented state, every note backed by the
ledger). It never goes through the code under test's own readers, so a reader bug
cannot hide a storage bug.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pygit2
from pydantic import BaseModel

from gitrunr import ledger, notes
from gitrunr.events import replay
from gitrunr.models import (
    EVENT_ADAPTER,
    CommitNote,
    Event,
    InterventionRecorded,
    LedgerFormat,
    RunSnapshot,
)
from tests.conftest import GitRepo, run_all  # noqa: F401 (run_all: re-exported to the suite)

LEDGER_REF = ledger.LEDGER_REF
NOTES_REF = notes.NOTES_REF
#: The states docs/storage.md gives a run: ``active``, then ``finalized/<outcome>``.
DOCUMENTED_STATES = frozenset({"active", "finalized/passed", "finalized/failed",
                               "finalized/aborted"})
#: Exit codes docs/cli.md documents.
DOCUMENTED_CODES = frozenset({0, 1, 2, 3, 4, 5, 6, 7, 130})
TIMEOUT = 150

#: name -> one line of figures, printed at the end of the run (see conftest.py).
FIGURES: dict[str, str] = {}


def report(name: str, **figures: object) -> None:
    """Record the figures of one test, e.g. ``report("load", processes=32, lost=0)``."""
    FIGURES[name] = ", ".join(f"{key}={value}" for key, value in figures.items())


# --------------------------------------------------------------------------- processes


def run_and_kill(argv: Sequence[str], cwd: Path, delay: float,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in a process group of its own and SIGKILL the whole group after
    ``delay`` seconds (git, the Python behind ``git runr`` and any git it started),
    unless it finished first. The result's ``returncode`` is ``-SIGKILL`` when killed.
    """
    proc = subprocess.Popen(list(argv), cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, **(env or {})})
    try:
        out, err = proc.communicate(timeout=delay)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):  # it ended in between
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=TIMEOUT)
        _wait_group_gone(proc.pid)  # no child may go on writing after the kill
        return subprocess.CompletedProcess(list(argv), -signal.SIGKILL, out, err)
    return subprocess.CompletedProcess(list(argv), proc.returncode, out, err)


def _wait_group_gone(pgid: int, limit: float = 10.0) -> None:
    """Wait until every process of group ``pgid`` is dead (a zombie waiting for init
    to reap it counts as dead: it can no longer write anything)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if not _group_alive(pgid):
            return
        time.sleep(0.005)
    raise AssertionError(f"process group {pgid} survived SIGKILL")


def _group_alive(pgid: int) -> bool:
    """True while a process of group ``pgid`` still runs (Linux ``/proc``)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # it ended while we looked
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def assert_clean(proc: subprocess.CompletedProcess[str], codes: Sequence[int] = (0,)) -> None:
    """The command exited with one of ``codes`` and printed no traceback; a hook it ran
    did not fail; a successful command printed no ``error:`` line."""
    where = f"{proc.args}: exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    assert proc.returncode in codes, where
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, where
    assert "hook failed" not in proc.stderr, where
    if proc.returncode == 0:
        assert not any(line.startswith("error:") for line in proc.stderr.splitlines()), where


def assert_one_line_error(proc: subprocess.CompletedProcess[str],
                          codes: Sequence[int] | None = None) -> str:
    """The command failed with a documented non-zero code and said why in exactly one
    ``error: …`` line, with no traceback; returns that line."""
    where = f"{proc.args}: exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    assert proc.returncode != 0, where
    assert proc.returncode in (codes or DOCUMENTED_CODES - {0}), where
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, where
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, where
    assert all(line.startswith(("error: ", "warning: ")) for line in lines), where
    return errors[0]


# --------------------------------------------------------------------------- refs


def ref_value(g: GitRepo, ref: str) -> str | None:
    """What ``ref`` points at, unpeeled (it may be a blob or a tree), or None."""
    proc = g.git("rev-parse", "-q", "--verify", ref, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def refs_state(g: GitRepo) -> dict[str, str | None]:
    """The ledger, notes and archive refs, to compare before and after a command."""
    return {ref: ref_value(g, ref) for ref in (LEDGER_REF, NOTES_REF, ledger.ARCHIVE_REF)}


def runr_dir(cwd: Path) -> Path:
    """``$(git rev-parse --git-path runr)`` of the worktree at ``cwd``, absolute."""
    out = subprocess.run(["git", "rev-parse", "--path-format=absolute", "--git-path", "runr"],
                         cwd=cwd, capture_output=True, text=True, check=True).stdout
    return Path(out.strip())


def spool_dir(g: GitRepo) -> Path:
    """The shared spool: ``$(git rev-parse --git-common-dir)/runr/spool``."""
    out = g.git("rev-parse", "--path-format=absolute", "--git-common-dir").stdout.strip()
    return Path(out) / "runr" / "spool"


def spooled(g: GitRepo) -> list[Path]:
    """The spool entries waiting for a flush (not the rejected ones)."""
    spool = spool_dir(g)
    return sorted(spool.glob("*.json")) if spool.is_dir() else []


def rejected(g: GitRepo) -> list[Path]:
    """Spool entries set aside as impossible to apply."""
    where = spool_dir(g) / "rejected"
    return sorted(p for p in where.glob("*.json") if not p.name.endswith(".reason.json")) \
        if where.is_dir() else []


# --------------------------------------------------------------------------- read back


@dataclass
class Records:
    """Everything the ledger and the notes hold, validated (see :func:`read_back`)."""

    ledger_tip: str | None
    notes_tip: str | None
    runs: dict[str, RunSnapshot] = field(default_factory=dict)
    events: dict[str, list[Event]] = field(default_factory=dict)
    notes: dict[str, CommitNote] = field(default_factory=dict)
    ledger_commits: int = 0

    def all_events(self) -> list[Event]:
        return [e for evs in self.events.values() for e in evs]

    def interventions(self, intervention_id: str) -> list[InterventionRecorded]:
        """Every ``intervention_recorded`` event with this id, in any run."""
        return [e for e in self.all_events() if isinstance(e, InterventionRecorded)
                and e.intervention_id == intervention_id]

    def of_type(self, kind: str, run_id: str | None = None) -> list[Event]:
        return [e for e in self.all_events()
                if e.type == kind and (run_id is None or e.run_id == run_id)]

    @property
    def event_count(self) -> int:
        return sum(len(evs) for evs in self.events.values())


def _blob(git: pygit2.Repository, oid: pygit2.Oid, where: str) -> bytes:
    obj = git.get(oid)
    assert isinstance(obj, pygit2.Blob), f"{where} is not a file (or its object is missing)"
    return bytes(obj.data)


def _tree(git: pygit2.Repository, oid: pygit2.Oid, where: str) -> pygit2.Tree:
    obj = git.get(oid)
    assert isinstance(obj, pygit2.Tree), f"{where} is not a directory (or its object is missing)"
    return obj


def _valid(model: type[BaseModel], data: bytes, where: str) -> BaseModel:
    try:
        return model.model_validate_json(data)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise AssertionError(f"{where} does not validate: {exc}") from None


def read_back(path: Path, *, full_history: bool = True, notes_backed: bool = True) -> Records:
    """Read and validate every record of the repository at ``path``.

    Raises AssertionError naming the first document or ref that breaks a promise of
    docs/storage.md. ``full_history`` also walks the ledger's first parents down to
    the fixed root commit (only the tip's tree is read). ``notes_backed`` checks that
    every note's link names a ledger record holding that commit.
    """
    git = pygit2.Repository(str(path))
    records = Records(ledger_tip=None, notes_tip=None)
    ref = git.references.get(LEDGER_REF)
    if ref is not None:
        tip = git.get(ref.target)
        assert isinstance(tip, pygit2.Commit), f"{LEDGER_REF} points at a {type(tip)}"
        records.ledger_tip = str(tip.id)
        _read_ledger(git, tip, records)
        if full_history:
            root = ledger.root_commit(git)
            commit, count = tip, 1
            while commit.parents:
                commit, count = commit.parents[0], count + 1
            assert commit.id == root, f"{LEDGER_REF} does not start at the fixed root commit"
            records.ledger_commits = count
    ref = git.references.get(NOTES_REF)
    if ref is not None:
        tip = git.get(ref.target)
        assert isinstance(tip, pygit2.Commit), f"{NOTES_REF} points at a {type(tip)}"
        records.notes_tip = str(tip.id)
        for sha, blob_id in notes.index(git, tip.tree).items():
            where = f"{NOTES_REF}:{sha}"
            lines = [line for line in _blob(git, blob_id, where).splitlines() if line.strip()]
            assert lines, f"{where} is empty"
            links = []
            for line in lines:
                links.extend(_valid(CommitNote, line, where).links)  # type: ignore[attr-defined]
            records.notes[sha] = CommitNote(links=links)
            for link in links if notes_backed else []:
                _assert_note_backed(records, sha, link.run_id, link.kind,
                                    link.checkpoint_id or link.intervention_id)
    return records


def _read_ledger(git: pygit2.Repository, tip: pygit2.Commit, records: Records) -> None:
    top = {entry.name: entry for entry in tip.tree}
    assert set(top) <= {"ledger.json", "runs"}, f"unexpected entries at the root: {set(top)}"
    assert "ledger.json" in top, "ledger.json is missing"
    fmt = _valid(LedgerFormat, _blob(git, top["ledger.json"].id, "ledger.json"), "ledger.json")
    assert fmt == LedgerFormat()
    if "runs" not in top:
        return
    for shard_entry in _tree(git, top["runs"].id, "runs"):
        shard_path = f"runs/{shard_entry.name}"
        for run_entry in _tree(git, shard_entry.id, shard_path):
            run_id = run_entry.name
            assert run_id is not None
            base = f"{shard_path}/{run_id}"
            assert shard_entry.name == ledger.shard(run_id), f"{base} is in the wrong shard"
            files = {e.name: e for e in _tree(git, run_entry.id, base)}
            # run.json, events/, and what is derived from them (docs/storage.md).
            assert {"run.json", "events"} <= set(files) <= {
                "run.json", "events", "artifacts", "evidence", "receipt.patch"}, \
                f"{base} holds {set(files)}"
            snapshot = _valid(RunSnapshot, _blob(git, files["run.json"].id, f"{base}/run.json"),
                              f"{base}/run.json")
            assert isinstance(snapshot, RunSnapshot)
            evs: list[Event] = []
            for ev_entry in _tree(git, files["events"].id, f"{base}/events"):
                where = f"{base}/events/{ev_entry.name}"
                try:
                    event = EVENT_ADAPTER.validate_json(_blob(git, ev_entry.id, where))
                except ValueError as exc:
                    raise AssertionError(f"{where} does not validate: {exc}") from None
                assert ev_entry.name == f"{event.event_id}.json", f"{where} holds {event.event_id}"
                assert event.run_id == run_id, f"{where} belongs to {event.run_id}"
                evs.append(event)
            evs.sort(key=lambda e: e.event_id)
            assert snapshot.run_id == run_id
            assert snapshot.state in DOCUMENTED_STATES, f"{base}: state {snapshot.state!r}"
            assert (snapshot.outcome is None) == (snapshot.state == "active"), base
            if snapshot.outcome is not None:
                assert snapshot.state == f"finalized/{snapshot.outcome}", base
            assert snapshot.event_count == len(evs), f"{base}: event_count"
            assert replay(evs).model_dump() == snapshot.model_dump(), \
                f"{base}/run.json is not the replay of its events"
            records.runs[run_id] = snapshot
            records.events[run_id] = evs


def _assert_note_backed(records: Records, sha: str, run_id: str, kind: str,
                        record_id: str | None) -> None:
    """A note's link names a record of its run that holds this commit (now or before
    a rewrite): docs/storage.md, "every link is derived from a ledger event"."""
    snapshot = records.runs.get(run_id)
    assert snapshot is not None, f"note on {sha} names run {run_id}, not in the ledger"
    if kind == "checkpoint":
        found = [c for c in snapshot.checkpoints if c.checkpoint_id == record_id]
        shas = {s for c in found for s in (c.sha, *c.previous_shas)}
    else:
        found_iv = [i for i in snapshot.interventions if i.intervention_id == record_id]
        shas = {s for i in found_iv for s in (i.commit_sha, *i.previous_shas) if s}
    assert sha in shas, f"note on {sha} names {kind} {record_id} of {run_id}, which is elsewhere"


def assert_notes_complete(records: Records) -> None:
    """Every recorded commit has its note: the ledger and the notes move in one
    transaction, so a kill never leaves one without the other."""
    for run_id, snapshot in records.runs.items():
        for cp in snapshot.checkpoints:
            links = records.notes.get(cp.sha)
            assert links is not None, (run_id, cp)
            assert any(link.checkpoint_id == cp.checkpoint_id for link in links.links)
        for iv in snapshot.interventions:
            if iv.commit_sha is not None:
                links = records.notes.get(iv.commit_sha)
                assert links is not None, (run_id, iv)
                assert any(link.intervention_id == iv.intervention_id for link in links.links)


# --------------------------------------------------------------------------- misc


def audit_json(g: GitRepo, *args: str, cwd: Path | None = None) -> dict[str, object]:
    """``git runr audit --json ARGS``, checked clean (exit 0, no traceback)."""
    proc = g.runr("audit", "--json", *args, check=False, cwd=cwd)
    assert_clean(proc, codes=(0,))
    doc = json.loads(proc.stdout)
    assert isinstance(doc, dict)
    return doc
