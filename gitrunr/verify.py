"""``git runr verify``: is the ledger what gitrunr wrote, and does it agree with itself?

Issue "Lifecycle authority" and seed ``003_f84484d295a09bfe.txt`` ("signed and
protected with a simple hash chain"). Six checks, each naming the event, commit or
file at fault:

``ref``
    ``refs/runr/ledger`` only ever moved forward: every reflog entry's new commit
    descends from its old one. A forced update (``git update-ref``, ``push -f`` into
    the ref) that dropped or replaced history is caught here.
``history``
    Walking every ledger commit: event files are only ever added, never changed or
    removed (they are immutable; docs/storage.md), and every commit descends from
    the fixed root. Each commit's ``gpgsig`` is checked: valid, invalid (a failure)
    or absent (reported as unsigned, not a failure).
``snapshots``
    Every ``run.json`` and ``plan.json`` equals the replay of its events; every
    artifact matches the manifest's SHA-256.
``chains``
    Each run's progress updates form an unbroken chain (``prev_hash``), and their
    signatures are valid or absent.
``frozen``
    Nothing changed a run's exec status, steps or artifacts after it was finalized.
``plans``
    An approved plan's file still has the approved content hash, read from the line
    its lifecycle belongs to (the ``target_branch`` or default branch recorded by its
    lane moves) when that branch exists here, else from the work tree.

Limits: a reflog that was itself deleted or expired cannot show a forced update
(a fresh clone has none); a ledger rewritten consistently *and* re-signed with the
user's own key passes the signature check. docs/lifecycle.md lists them.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pygit2
from pydantic import BaseModel, ConfigDict

from gitrunr import events as run_events
from gitrunr import ledger, signing
from gitrunr.errors import RunrError
from gitrunr.git import run_git
from gitrunr.models import (
    ArtifactIndex,
    Document,
    Event,
    PlanEvent,
    PlanRecord,
    ProgressUpdated,
    RunFinished,
    RunSnapshot,
)
from gitrunr.objects import ref_target, tree_entry
from gitrunr.plans import parse as parse_plan
from gitrunr.repo import RunrRepo

CHECKS = ("ref", "history", "snapshots", "chains", "frozen", "plans")


class Check(BaseModel):
    """One check: passed or not, and each problem in one line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    ok: bool
    problems: list[str]


class Counts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    commits: int = 0
    signed_commits: int = 0
    unsigned_commits: int = 0
    runs: int = 0
    plans: int = 0
    events: int = 0
    updates: int = 0
    signed_updates: int = 0
    unsigned_updates: int = 0


class VerifyReport(Document):
    """``git runr verify --json``: ``ok`` is false when any check found a problem."""

    ok: bool
    #: ``ledger``, or the run id verified.
    scope: str
    #: The ledger commit verified (None: no ledger yet).
    ledger: str | None
    checks: list[Check]
    counts: Counts


@dataclass
class _Found:
    problems: dict[str, list[str]] = field(default_factory=lambda: {c: [] for c in CHECKS})
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, check: str, problem: str) -> None:
        self.problems[check].append(problem)

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n


def verify(repo: RunrRepo, run_id: str | None = None) -> VerifyReport:
    """Run every check on the whole ledger, or on one run (its events, snapshot,
    chain and frozen state; the ref and history checks are limited to its files).

    Never raises for what it finds; raises :class:`RunrError` only when the
    repository cannot be read at all.
    """
    git = repo.git
    tip = ref_target(git, ledger.LEDGER_REF)
    found = _Found()
    workdir = repo.workdir or repo.cwd
    prefix = ledger.run_dir(run_id) + "/" if run_id is not None else ""
    _check_ref(git, found)
    if tip is not None:
        _check_history(git, tip, prefix, workdir, found)
        view = ledger.LedgerView(git, tip)
        run_ids = [run_id] if run_id is not None else view.run_ids()
        for rid in run_ids:
            _check_run(git, view, rid, workdir, found)
        if run_id is None:
            for ref in view.plan_refs():
                _check_plan(repo, view, ref, found)
    checks = [Check(name=c, ok=not found.problems[c], problems=found.problems[c])
              for c in CHECKS]
    return VerifyReport(ok=all(c.ok for c in checks), scope=run_id or "ledger",
                        ledger=str(tip) if tip is not None else None, checks=checks,
                        counts=Counts(**found.counts))


# --------------------------------------------------------------------------- ref, history


def _check_ref(git: pygit2.Repository, found: _Found) -> None:
    ref = git.references.get(ledger.LEDGER_REF)
    if ref is None:
        return
    zero = pygit2.Oid(hex="0" * 40)
    for entry in ref.log():
        old, new = entry.oid_old, entry.oid_new
        if old in (zero, new):
            continue
        if not git.get(old) or not git.get(new) or not git.descendant_of(new, old):
            found.add("ref", f"{ledger.LEDGER_REF} moved from {str(old)[:12]} to "
                             f"{str(new)[:12]}, which does not descend from it (a forced "
                             f"update: \"{entry.message.strip()}\"); recover with `git reflog "
                             f"{ledger.LEDGER_REF}` and `git runr sync`")


def _check_history(git: pygit2.Repository, tip: pygit2.Oid, prefix: str, workdir: Path,
                   found: _Found) -> None:
    root = ledger.root_commit(git)
    walker = git.walk(tip, pygit2.enums.SortMode.TOPOLOGICAL)
    reached_root = False
    for commit in walker:
        if commit.id == root:
            reached_root = True
            continue
        found.count("commits")
        _check_signature(commit, workdir, found)
        if not commit.parents:
            found.add("history", f"ledger commit {str(commit.id)[:12]} has no parent but is not "
                                 "the ledger's root: the history was replaced")
            continue
        for parent in commit.parents:
            for delta in parent.tree.diff_to_tree(commit.tree).deltas:
                path = delta.old_file.path
                if "/events/" not in path or not path.startswith(prefix or ""):
                    continue
                if delta.status_char() in ("D", "M", "R", "T"):
                    what = {"D": "removed", "M": "changed", "R": "renamed",
                            "T": "changed"}[delta.status_char()]
                    found.add("history", f"ledger commit {str(commit.id)[:12]} {what} the event "
                                         f"{path}: events are never changed or removed")
    if not reached_root:
        found.add("history", "the ledger's history does not start at its fixed root commit: "
                             "it was replaced")


def _check_signature(commit: pygit2.Commit, workdir: Path, found: _Found) -> None:
    signature, payload = commit.gpg_signature
    if signature is None:
        found.count("unsigned_commits")
        return
    verdict = signing.verify(workdir, payload, signature.decode("utf-8", "replace"))
    if verdict.status == "valid":
        found.count("signed_commits")
    elif verdict.status == "invalid":
        found.add("history", f"ledger commit {str(commit.id)[:12]} has a bad signature: "
                             f"{verdict.detail}")
    else:
        found.count("signed_commits")
        found.add("history", f"ledger commit {str(commit.id)[:12]}: signature cannot be "
                             f"verified: {verdict.detail}")


# --------------------------------------------------------------------------- runs


def _check_run(git: pygit2.Repository, view: ledger.LedgerView, run_id: str, workdir: Path,
               found: _Found) -> None:
    found.count("runs")
    if view.tree is not None and tree_entry(git, view.tree, ledger.run_dir(run_id)) is None:
        found.add("snapshots", f"unknown run {run_id}: `git runr runs` lists the runs")
        return
    checked = _check_log(found, f"{ledger.LEDGER_REF}:{ledger.run_dir(run_id)}", "run.json",
                         lambda: view.run(run_id), lambda: view.events(run_id),
                         run_events.replay)
    if checked is not None:
        events = checked
        _check_artifacts(git, view, run_id, found)
        _check_chain(run_id, events, workdir, found)
        _check_frozen(run_id, events, found)


_L = TypeVar("_L", RunSnapshot, PlanRecord)
_E = TypeVar("_E", Event, PlanEvent)


def _check_log(found: _Found, where: str, name: str, load: Callable[[], _L | None],
               load_events: Callable[[], list[_E]],
               replay: Callable[[list[_E]], _L]) -> list[_E] | None:
    """Read a log and its record (``name``), and report when the record is missing or
    differs from the replay of the events. Returns the events, or None when they
    could not be read."""
    try:
        stored = load()
        events = load_events()
    except RunrError as exc:
        found.add("snapshots", exc.message)
        return None
    found.count("events", len(events))
    if stored is None:
        found.add("snapshots", f"{where} has events but no {name}")
        return events
    try:
        replayed = replay(events)
    except RunrError as exc:
        found.add("snapshots", f"{where}: its events do not replay: {exc.message}")
        return events
    if replayed != stored:
        fields = _differing(stored.model_dump(), replayed.model_dump())
        found.add("snapshots", f"{where}/{name} differs from the replay of its "
                               f"{len(events)} events ({', '.join(fields)})")
    return events


def _differing(a: dict[str, object], b: dict[str, object]) -> list[str]:
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k)) or ["order"]


def _check_artifacts(git: pygit2.Repository, view: ledger.LedgerView, run_id: str,
                     found: _Found) -> None:
    snapshot = view.run(run_id)
    if snapshot is None or not snapshot.artifacts:
        return
    base = f"{ledger.run_dir(run_id)}/artifacts"
    index = tree_entry(git, view.tree, f"{base}/index.json")
    expected = ArtifactIndex(run_id=run_id, artifacts=snapshot.artifacts)
    if not isinstance(index, pygit2.Blob) or \
            ArtifactIndex.model_validate_json(index.data) != expected:
        found.add("snapshots", f"{ledger.LEDGER_REF}:{base}/index.json differs from the run's "
                               "artifact events")
    for entry in snapshot.artifacts:
        blob = tree_entry(git, view.tree, f"{base}/{entry.name}")
        if not isinstance(blob, pygit2.Blob) or \
                hashlib.sha256(blob.data).hexdigest() != entry.sha256:
            found.add("snapshots", f"{ledger.LEDGER_REF}:{base}/{entry.name} does not hold the "
                                   "bytes its manifest entry names (sha256)")


def _check_chain(run_id: str, events: Iterable[Event], workdir: Path, found: _Found) -> None:
    head = run_events.genesis(run_id)
    for event in events:
        if not isinstance(event, ProgressUpdated):
            continue
        found.count("updates")
        if event.prev_hash != head:
            found.add("chains", f"progress update {event.event_id} of {run_id} follows "
                                f"{event.prev_hash[:12]}, but the update before it hashes to "
                                f"{head[:12]}: an update was removed, changed or inserted")
        head = run_events.update_hash(event)
        if event.signature is None:
            found.count("unsigned_updates")
            continue
        verdict = signing.verify(workdir, run_events.signed_bytes(event), event.signature)
        found.count("signed_updates")
        if verdict.status != "valid":
            found.add("chains", f"progress update {event.event_id} of {run_id}: signature "
                                f"{verdict.status}: {verdict.detail}")


def _check_frozen(run_id: str, events: Iterable[Event], found: _Found) -> None:
    finished: RunFinished | None = None
    for event in events:
        if isinstance(event, RunFinished) and finished is None:
            finished = event
        elif finished is not None and event.type in (
                "progress_updated", "step_reached", "artifact_added", "checkpoint_recorded",
                "intervention_recorded", "run_transitioned"):
            found.add("frozen", f"{event.type} {event.event_id} changed run {run_id} after it "
                                f"was finalized ({finished.event_id})")


# --------------------------------------------------------------------------- plans


def _check_plan(repo: RunrRepo, view: ledger.LedgerView, plan_ref: str, found: _Found) -> None:
    found.count("plans")
    where = f"{ledger.LEDGER_REF}:{ledger.plan_dir(plan_ref)}"
    events = _check_log(found, where, "plan.json", lambda: view.plan(plan_ref),
                        lambda: view.plan_events(plan_ref), run_events.replay_plan)
    stored = view.plan(plan_ref) if events is not None else None
    if stored is None or events is None:
        return
    approval = stored.approval
    if approval is None:
        return
    path = next((e.path for e in reversed(events) if e.type == "plan_approved"), None)
    if path is None:
        return
    sources = _plan_texts(repo, stored.line, path)
    if not sources:
        found.add("plans", f"{path} (approved as {approval.content_hash[:12]}) is in neither "
                           "the work tree nor its line's branch")
    for source, text in sources:
        try:
            current = parse_plan(path, text).content_hash
        except RunrError as exc:
            found.add("plans", f"{path} in {source} no longer parses: {exc.message}")
            continue
        if current != approval.content_hash:
            found.add("plans", f"{path} in {source} changed since its approval by "
                               f"{approval.actor} ({approval.event_id}): approve it again with "
                               f"`git runr plan approve {plan_ref}`, or restore it")


def _plan_texts(repo: RunrRepo, line: str | None, path: str) -> list[tuple[str, str]]:
    """``(where, text)`` of the plan file on its line's branch (when the branch has it)
    and in the work tree (when there is one and it has the file)."""
    found: list[tuple[str, str]] = []
    if line is not None:
        shown = run_git(["show", f"refs/heads/{line}:{path}"], cwd=repo.cwd, check=False)
        if shown.returncode == 0:
            found.append((f"branch {line}", shown.stdout.decode("utf-8", "replace")))
    if repo.workdir is not None:
        with contextlib.suppress(OSError):
            found.append(("the work tree", (repo.workdir / path).read_text(encoding="utf-8")))
    return found
