"""Properties: merging two ledgers (:func:`gitrunr.sync.merge_ledgers`) is the union of
their event files, hence commutative, associative and idempotent.

Hypothesis generates a universe of runs, each a sequence of events, and three
ledgers holding arbitrary parts of it (a run's ``run_started`` wherever the run is,
as in every real ledger). Each ledger is built here by hand with pygit2, as
docs/storage.md lays it out, not by gitrunr's writer. Some run ids share a shard on
purpose, so merges meet runs on both sides, runs on one side, and shards on one side.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pygit2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitrunr.events import replay
from gitrunr.ids import base36
from gitrunr.ledger import run_dir
from gitrunr.models import (
    CheckpointRecorded,
    CommitRewritten,
    Event,
    InterventionLinked,
    InterventionRecorded,
    LedgerFormat,
    RunFinished,
    RunStarted,
)
from gitrunr.objects import json_blob
from gitrunr.sync import merge_ledgers
from tests.conftest import GitRepo
from tests.reliability.helpers import report

EXAMPLES = 200
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
T0 = datetime(2026, 1, 6, 12, 0, tzinfo=UTC)
ACTOR = "Ada Tester <ada@example.com>"


def _shard(run_id: str) -> str:
    return hashlib.sha1(run_id.encode()).hexdigest()[:2]


def _run_pool() -> list[str]:
    """Eight run ids: four in one shard, two in another, two alone."""
    by_shard: dict[str, list[str]] = {}
    n = 0
    while True:
        run_id = f"run-{base36(n, 9)}{'p' * 8}"
        by_shard.setdefault(_shard(run_id), []).append(run_id)
        big = sorted(by_shard.values(), key=len, reverse=True)
        if len(big[0]) >= 4 and len(big[1]) >= 2 and len(big) >= 4:
            return big[0][:4] + big[1][:2] + [big[2][0], big[3][0]]
        n += 1


RUN_POOL = _run_pool()
SHAS = [hashlib.sha1(f"commit {n}".encode()).hexdigest() for n in range(6)]


def event_id(ms: int, salt: int) -> str:
    """A valid event id at ``ms`` milliseconds after T0 (so ids sort by ``ms``)."""
    return f"ev-{base36(1_767_700_800_000 + ms, 9)}{base36(salt, 8)}"


@st.composite
def run_logs(draw: st.DrawFn) -> dict[str, list[Event]]:
    """1 to 5 runs from the pool, each a run_started then 0 to 7 events of any kind."""
    run_ids = draw(st.lists(st.sampled_from(RUN_POOL), min_size=1, max_size=5, unique=True))
    logs: dict[str, list[Event]] = {}
    ms = 0
    for r, run_id in enumerate(run_ids):
        ms += 1
        common: dict[str, Any] = {"run_id": run_id, "actor": ACTOR}
        log: list[Event] = [RunStarted(event_id=event_id(ms, r), at=T0 + timedelta(milliseconds=ms),
                                       tier=draw(st.sampled_from([None, "tier1"])), **common)]
        interventions: list[str] = []
        for n in range(draw(st.integers(0, 7))):
            ms += draw(st.integers(1, 3))
            head = {"event_id": event_id(ms, 1000 * r + n), "at": T0 + timedelta(milliseconds=ms),
                    **common}
            kind = draw(st.sampled_from(["checkpoint", "intervention", "link", "rewrite",
                                         "finish"]))
            if kind == "checkpoint":
                log.append(CheckpointRecorded(
                    checkpoint_id=f"cp-{draw(st.sampled_from(['aaaa', 'bbbb', 'cccc']))}",
                    sha=draw(st.sampled_from(SHAS)), subject=f"s{n}", **head))
            elif kind == "intervention":
                iv = f"iv-{base36(ms, 9)}{base36(r, 8)}"
                interventions.append(iv)
                log.append(InterventionRecorded(
                    intervention_id=iv, note=draw(st.sampled_from(["n", "ünï", "a\nb"])),
                    commit_sha=draw(st.sampled_from([None, *SHAS])), **head))
            elif kind == "link" and interventions:
                log.append(InterventionLinked(intervention_id=draw(st.sampled_from(
                    interventions)), sha=draw(st.sampled_from(SHAS)), **head))
            elif kind == "rewrite":
                log.append(CommitRewritten(old_sha=draw(st.sampled_from(SHAS)),
                                           new_sha=draw(st.sampled_from(SHAS)),
                                           rewrite="rebase", **head))
            elif kind == "finish":
                log.append(RunFinished(outcome=draw(st.sampled_from(
                    ["passed", "failed", "aborted"])), **head))
        logs[run_id] = log
    return logs


@st.composite
def ledger_part(draw: st.DrawFn, logs: dict[str, list[Event]]) -> frozenset[str]:
    """The event ids one ledger holds: some runs, each with its run_started and any
    subset of its other events."""
    chosen: set[str] = set()
    for log in logs.values():
        if draw(st.booleans()):
            chosen.add(log[0].event_id)
            chosen.update(e.event_id for e in log[1:] if draw(st.booleans()))
    return frozenset(chosen)


class Builder:
    """Ledger commits built by hand, as docs/storage.md lays the tree out."""

    def __init__(self, git: pygit2.Repository, logs: dict[str, list[Event]]) -> None:
        self.git = git
        self.events = {e.event_id: e for log in logs.values() for e in log}
        self.sig = pygit2.Signature("t", "t@example.com", 0, 0)

    def _write(self, tree: dict[str, Any]) -> pygit2.Oid:
        builder = self.git.TreeBuilder()
        for name, value in sorted(tree.items()):
            if isinstance(value, dict):
                builder.insert(name, self._write(value), pygit2.enums.FileMode.TREE)
            else:
                builder.insert(name, value, pygit2.enums.FileMode.BLOB)
        oid: pygit2.Oid = builder.write()
        return oid

    def tree(self, ids: Iterable[str]) -> pygit2.Oid:
        by_run: dict[str, list[Event]] = {}
        for eid in ids:
            by_run.setdefault(self.events[eid].run_id, []).append(self.events[eid])
        root: dict[str, Any] = {"ledger.json": json_blob(self.git, LedgerFormat())}
        for run_id, evs in by_run.items():
            node = root
            for part in run_dir(run_id).split("/"):
                node = node.setdefault(part, {})
            node["run.json"] = json_blob(self.git, replay(evs))
            node["events"] = {f"{e.event_id}.json": json_blob(self.git, e) for e in evs}
        return self._write(root)

    def commit(self, ids: Iterable[str]) -> pygit2.Oid:
        return self.commit_tree(self.tree(ids))

    def commit_tree(self, tree: pygit2.Oid) -> pygit2.Oid:
        oid: pygit2.Oid = self.git.create_commit(None, self.sig, self.sig, "ledger\n", tree, [])
        return oid


TRIED = {"examples": 0, "events": 0, "merges": 0}


@pytest.mark.slow
@PROPERTY
@given(data=st.data())
def test_merge_is_the_union_commutative_associative_idempotent(repo: GitRepo,
                                                               data: st.DataObject) -> None:
    """For generated ledgers A, B, C: merge(A, B) is the ledger of A ∪ B (hence equal
    to merge(B, A)); (A+B)+C == A+(B+C); A+A == A; A+None == A; the counts say what
    each side lacked; no conflicts."""
    git = pygit2.Repository(str(repo.path))
    logs = data.draw(run_logs(), label="logs")
    a, b, c = (data.draw(ledger_part(logs), label=name) for name in "ABC")
    build = Builder(git, logs)
    ca, cb, cc = build.commit(a), build.commit(b), build.commit(c)

    def merge(x: pygit2.Oid | None, y: pygit2.Oid | None) -> pygit2.Oid | None:
        TRIED["merges"] += 1
        out = merge_ledgers(git, x, y)
        assert out.conflicts == []
        return out.tree

    ab = merge_ledgers(git, ca, cb)
    TRIED["merges"] += 1
    assert ab.tree == build.tree(a | b)                      # the union, byte for byte
    assert merge(cb, ca) == ab.tree                            # commutative
    assert (ab.fetched, ab.pushed) == (len(b - a), len(a - b))
    runs_of = {eid: build.events[eid].run_id for eid in a | b}
    both = {runs_of[e] for e in a - b} & {runs_of[e] for e in b - a}
    assert ab.merged_runs == len(both)

    assert ab.tree is not None
    ab_c = merge(build.commit_tree(ab.tree), cc)
    bc = merge(cb, cc)
    assert bc is not None
    a_bc = merge(ca, build.commit_tree(bc))
    assert ab_c == a_bc == build.tree(a | b | c)              # associative

    assert merge(ca, ca) == build.tree(a)                     # idempotent
    assert merge(build.commit_tree(ab.tree), cb) == ab.tree   # absorbing what is in
    assert merge(ca, None) == merge(None, ca) == build.tree(a)
    assert merge(None, None) is None
    TRIED["examples"] += 1
    TRIED["events"] += len(a) + len(b) + len(c)
    report("merge properties (test_merge_properties.py)", examples=TRIED["examples"],
           ledgers=3 * TRIED["examples"], events=TRIED["events"], merges=TRIED["merges"],
           counterexamples=0)
