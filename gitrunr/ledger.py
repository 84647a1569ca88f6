"""The ledger: every run's events, kept on ``refs/runr/ledger``.

The ledger is a chain of commits that is never checked out, so it never touches a
work tree and no branch operation can undo it. Its tree (``docs/storage.md``)::

    ledger.json                                   format marker (LedgerFormat)
    runs/<shard>/<run-id>/run.json                snapshot (RunSnapshot)
    runs/<shard>/<run-id>/events/<event-id>.json  one immutable file per event
    runs/<shard>/<run-id>/artifacts/index.json    manifest (ArtifactIndex), derived
    runs/<shard>/<run-id>/artifacts/<name>        a stored file, byte for byte
    runs/<shard>/<run-id>/evidence/<event-id>.log an evidence log (redacted), derived
    runs/<shard>/<run-id>/receipt.patch           the receipt's patch, derived
    plans/<plan-ref>/plan.json                    what the ledger knows of a plan
    plans/<plan-ref>/events/<event-id>.json       (PlanRecord, its events)

``<shard>`` is the first two hex digits of SHA-1(run id), so appending rewrites a
handful of small trees whatever the number of runs. Event files are never changed
or removed, and event ids are unique and time-sortable, so two ledgers merge by the
union of their files. Every chain starts from the same fixed root commit
(:func:`root_commit`), so two clones' ledgers always share history.

Writes (:func:`append`) build objects first and then move ``refs/runr/ledger`` and
``refs/notes/runr`` together with one compare-and-swap transaction, retrying from a
fresh read when another writer won the race.

The hooks do not write here directly (pygit2 and pydantic take ~170 ms to import):
they append to a spool of small JSON files (:mod:`gitrunr.state`) and
:func:`flush` moves the spool into the ledger. Every command flushes before it reads.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar, cast

import pygit2
from pydantic import ValidationError
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_random_exponential

from gitrunr import events as run_events
from gitrunr import notes
from gitrunr.errors import CorruptRecordError, GitError, RefRaceError, RunrError
from gitrunr.ids import base36
from gitrunr.models import (
    EVENT_ADAPTER,
    PLAN_EVENT_ADAPTER,
    ArtifactIndex,
    CheckpointRecorded,
    CommitNote,
    CommitRewritten,
    Event,
    InterventionLinked,
    InterventionRecorded,
    LaneChanged,
    LedgerFormat,
    NoteLink,
    PlanApproved,
    PlanEvent,
    PlanRecord,
    PlanRunStarted,
    RunAccepted,
    RunSnapshot,
)
from gitrunr.objects import (
    cas_update_refs,
    json_blob,
    read_model,
    ref_target,
    signature,
    tree_entry,
    update_tree,
)
from gitrunr.repo import RunrRepo
from gitrunr.state import REJECTED, read_json, write_json_atomic

_T = TypeVar("_T")
_E = TypeVar("_E", Event, PlanEvent)

LEDGER_REF = "refs/runr/ledger"
#: A chain of commits whose extra parents are commits that were rewritten (amend,
#: rebase) after being recorded: it keeps them reachable, so no record points at a
#: commit ``git gc`` removed. Never pushed by ``git runr sync``.
ARCHIVE_REF = "refs/runr/archive"
#: How long a writer keeps retrying a lost compare-and-swap before giving up.
RETRY_SECONDS = 120.0
_ROOT_IDENTITY = ("gitrunr", "gitrunr@localhost")


def shard(run_id: str) -> str:
    """The shard directory of a run: the first two hex digits of SHA-1(run id)."""
    return hashlib.sha1(run_id.encode()).hexdigest()[:2]


def run_dir(run_id: str) -> str:
    """``runs/<shard>/<run-id>``: where a run's files live in the ledger tree."""
    return f"runs/{shard(run_id)}/{run_id}"


def plan_dir(plan_ref: str) -> str:
    """``plans/<initiative>/phase-<NN.D>/<NN>``: where a plan's records live."""
    return f"plans/{plan_ref}"


#: Any event the ledger stores: a run's or a plan's.
AnyEvent = Event | PlanEvent
_PLAN_EVENTS = (PlanApproved, PlanRunStarted, RunAccepted, LaneChanged)


def is_plan_event(event: AnyEvent) -> bool:
    """True for an event of a plan's log (it has ``plan_ref``, not ``run_id``)."""
    return isinstance(event, _PLAN_EVENTS)


def run_files(git: pygit2.Repository, snapshot: RunSnapshot) -> dict[str, pygit2.Oid | None]:
    """The derived files of a run directory, by path in the ledger tree: ``run.json``
    and, when the run has artifacts, ``artifacts/index.json`` and each artifact's blob.
    Written after every change to the run, and by a merge of two ledgers."""
    base = run_dir(snapshot.run_id)
    files: dict[str, pygit2.Oid | None] = {f"{base}/run.json": json_blob(git, snapshot)}
    if snapshot.artifacts:
        files[f"{base}/artifacts/index.json"] = json_blob(git, ArtifactIndex(
            run_id=snapshot.run_id, artifacts=snapshot.artifacts))
        for entry in snapshot.artifacts:
            files[f"{base}/artifacts/{entry.name}"] = pygit2.Oid(hex=entry.blob)
    for evidence in snapshot.evidence:
        if evidence.log_blob is not None:
            files[f"{base}/evidence/{evidence.event_id}.log"] = pygit2.Oid(hex=evidence.log_blob)
    if snapshot.receipt is not None and snapshot.receipt.patch_blob is not None:
        files[f"{base}/receipt.patch"] = pygit2.Oid(hex=snapshot.receipt.patch_blob)
    return files


def identity(repo: pygit2.Repository) -> tuple[str, str]:
    """The committer identity git would use: ``GIT_COMMITTER_*`` then ``user.*`` config.

    Falls back to ``unknown <unknown@localhost>`` rather than failing, so a machine
    with no identity configured still records (the actor is then visibly unknown).
    """
    config = repo.config
    name = os.environ.get("GIT_COMMITTER_NAME") or (
        str(config["user.name"]) if "user.name" in config else "unknown")
    email = os.environ.get("GIT_COMMITTER_EMAIL") or (
        str(config["user.email"]) if "user.email" in config else "unknown@localhost")
    return name, email


def actor(repo: pygit2.Repository) -> str:
    """``Name <email>`` of :func:`identity`."""
    name, email = identity(repo)
    return f"{name} <{email}>"


def root_commit(repo: pygit2.Repository) -> pygit2.Oid:
    """Write (or find) the ledger's fixed root commit and return its id.

    Its bytes are the same in every repository (a fixed tree holding only
    ``ledger.json``, a fixed author and date), so every clone's ledger starts from
    the same commit.
    """
    fmt = json_blob(repo, LedgerFormat())
    tree = update_tree(repo, None, {"ledger.json": fmt})
    sig = pygit2.Signature(*_ROOT_IDENTITY, 0, 0)
    oid: pygit2.Oid = repo.create_commit(None, sig, sig, "gitrunr ledger\n", tree, [])
    return oid


# --------------------------------------------------------------------------- reading


@dataclass
class LedgerView:
    """The ledger at one commit, read lazily and cached. ``tip`` None: an empty ledger."""

    repo: pygit2.Repository
    tip: pygit2.Oid | None
    _tree: pygit2.Tree | None = field(init=False, default=None)
    _runs: dict[str, RunSnapshot | None] = field(init=False, default_factory=dict)
    _plans: dict[str, PlanRecord | None] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        if self.tip is not None:
            commit = self.repo.get(self.tip)
            if not isinstance(commit, pygit2.Commit):
                raise CorruptRecordError(
                    f"{LEDGER_REF} points at {self.tip}, which is not a commit; restore it "
                    f"from `git reflog {LEDGER_REF}`"
                )
            self._tree = commit.tree

    @property
    def tree(self) -> pygit2.Tree | None:
        return self._tree

    def run(self, run_id: str) -> RunSnapshot | None:
        """The snapshot of ``run_id``, or None if the ledger has no such run.

        Raises :class:`CorruptRecordError` when ``run.json`` fails validation.
        """
        if run_id not in self._runs:
            path = f"{run_dir(run_id)}/run.json"
            obj = tree_entry(self.repo, self._tree, path)
            self._runs[run_id] = None if obj is None else read_model(
                self.repo, obj, RunSnapshot, f"{LEDGER_REF}:{path}")
        return self._runs[run_id]

    def events(self, run_id: str) -> list[Event]:
        """All events of ``run_id`` in id order; CorruptRecordError names a bad file."""
        found = self._event_files(run_dir(run_id), lambda data: EVENT_ADAPTER.validate_json(data))
        for where, event in found:
            if event.run_id != run_id:
                raise CorruptRecordError(f"{where} holds an event of {event.run_id}, not of "
                                         f"{run_id}")
        return [event for _, event in found]

    def plan(self, plan_ref: str) -> PlanRecord | None:
        """The ledger's record of ``plan_ref``, or None when it has none (a plan that was
        never approved nor run). Raises :class:`CorruptRecordError` for a bad record."""
        if plan_ref not in self._plans:
            path = f"{plan_dir(plan_ref)}/plan.json"
            obj = tree_entry(self.repo, self._tree, path)
            self._plans[plan_ref] = None if obj is None else read_model(
                self.repo, obj, PlanRecord, f"{LEDGER_REF}:{path}")
        return self._plans[plan_ref]

    def plan_events(self, plan_ref: str) -> list[PlanEvent]:
        """All events of ``plan_ref`` in id order; CorruptRecordError names a bad file."""
        found = self._event_files(plan_dir(plan_ref),
                                  lambda data: PLAN_EVENT_ADAPTER.validate_json(data))
        for where, event in found:
            if event.plan_ref != plan_ref:
                raise CorruptRecordError(f"{where} holds an event of {event.plan_ref}, not "
                                         f"of {plan_ref}")
        return [event for _, event in found]

    def _event_files(self, base: str, parse: Callable[[bytes], _E]) -> list[tuple[str, _E]]:
        """``(where, event)`` for each file of ``base/events``, in event-id order."""
        tree = tree_entry(self.repo, self._tree, f"{base}/events")
        if not isinstance(tree, pygit2.Tree):
            return []
        found: list[tuple[str, _E]] = []
        for entry in tree:
            where = f"{LEDGER_REF}:{base}/events/{entry.name}"
            blob = self.repo[entry.id]
            if not isinstance(blob, pygit2.Blob):
                raise CorruptRecordError(f"{where} is not a file")
            try:
                event = parse(blob.data)
            except ValidationError as exc:
                raise CorruptRecordError(f"{where} fails validation: {exc.errors()[0]['msg']}"
                                         ) from None
            if f"{event.event_id}.json" != entry.name:
                raise CorruptRecordError(f"{where} holds event {event.event_id}, not what "
                                         "its path says")
            found.append((where, event))
        return sorted(found, key=lambda found: found[1].event_id)

    def plan_refs(self) -> list[str]:
        """Every plan the ledger has a record of, in ref order."""
        refs: list[str] = []
        plans = tree_entry(self.repo, self._tree, "plans")
        if not isinstance(plans, pygit2.Tree):
            return refs
        for initiative in plans:
            sub = self.repo[initiative.id]
            for phase in sub if isinstance(sub, pygit2.Tree) else ():
                leaf = self.repo[phase.id]
                for number in leaf if isinstance(leaf, pygit2.Tree) else ():
                    refs.append(f"{initiative.name}/{phase.name}/{number.name}")
        return sorted(refs)

    def run_ids(self) -> list[str]:
        """Every run id in the ledger, newest first (ids sort by creation time)."""
        runs = tree_entry(self.repo, self._tree, "runs")
        ids: list[str] = []
        if not isinstance(runs, pygit2.Tree):
            return ids
        for shard_entry in runs:
            sub = self.repo[shard_entry.id]
            if isinstance(sub, pygit2.Tree):
                ids.extend(e.name for e in sub if e.name)
        return sorted(ids, reverse=True)

    def runs(self) -> Iterator[RunSnapshot]:
        """Every run's snapshot, newest first."""
        for run_id in self.run_ids():
            snapshot = self.run(run_id)
            if snapshot is not None:
                yield snapshot


def read(repo: RunrRepo) -> LedgerView:
    """The ledger as it is now."""
    return LedgerView(repo.git, ref_target(repo.git, LEDGER_REF))


# --------------------------------------------------------------------------- writing


@dataclass
class AppendResult:
    """What :func:`append` did: events applied, events skipped as already present or
    changing nothing, events refused (with the error), the new ledger commit, and the
    records of the runs and plans it changed."""

    applied: list[AnyEvent] = field(default_factory=list)
    skipped: list[AnyEvent] = field(default_factory=list)
    rejected: list[tuple[AnyEvent, RunrError]] = field(default_factory=list)
    commit: pygit2.Oid | None = None
    snapshots: dict[str, RunSnapshot] = field(default_factory=dict)
    plans: dict[str, PlanRecord] = field(default_factory=dict)


def append(repo: RunrRepo, new_events: Sequence[AnyEvent], *, partial: bool = False,
           message: str | None = None) -> AppendResult:
    """Append events to the ledger and update the notes of the commits they name.

    Each event is checked against its run's or plan's state
    (:func:`gitrunr.events.check`, :func:`gitrunr.events.check_plan`). With
    ``partial`` false (commands), the first refused event raises and nothing is
    written, so the events of one call land together or not at all; with ``partial``
    true (the spool), refused events are returned in ``rejected`` and the rest are
    written. An event whose file already exists, or that changes nothing, is skipped,
    which makes replaying the spool idempotent.

    Raises :class:`RunrError` subclasses: a refused event, :class:`CorruptRecordError`
    for an invalid stored document, :class:`GitError` when writing fails or the ref
    kept moving for :data:`RETRY_SECONDS`.
    """
    return _retry_races(lambda: _append_once(repo, new_events, partial=partial,
                                             message=message))


def append_built(repo: RunrRepo, build: Callable[[LedgerView], Sequence[AnyEvent]], *,
                 message: str | None = None) -> AppendResult:
    """:func:`append` for events that depend on the ledger's current content (a
    progress update names the previous update's hash): ``build`` makes them from the
    ledger as each attempt reads it, so a lost race is retried with fresh events
    instead of failing. ``build`` may raise a :class:`RunrError` to refuse."""
    return _retry_races(lambda: _append_once(repo, build, partial=False, message=message))


def _retry_races(attempt_once: Callable[[], _T]) -> _T:
    """Run ``attempt_once`` until it does not lose a compare-and-swap race.

    Exponential back-off with jitter (tenacity), for at most :data:`RETRY_SECONDS`;
    then :class:`GitError`.
    """
    retrying = Retrying(
        retry=retry_if_exception_type(RefRaceError), stop=stop_after_delay(RETRY_SECONDS),
        wait=wait_random_exponential(multiplier=0.005, max=0.25), reraise=True,
    )
    try:
        for attempt in retrying:
            with attempt:
                return attempt_once()
    except RefRaceError as race:
        raise GitError(f"gave up writing after {RETRY_SECONDS:.0f}s of concurrent "
                       f"updates: {race}; try again") from None
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass
class _Log:
    """How to append to one kind of event log (a run's or a plan's)."""

    base: str
    load: Callable[[], RunSnapshot | PlanRecord | None]
    load_events: Callable[[], Sequence[AnyEvent]]
    check: Callable[[object, object], None]
    apply: Callable[[object, object], RunSnapshot | PlanRecord]
    replay: Callable[[Iterable[object]], RunSnapshot | PlanRecord]
    is_noop: Callable[[object, object], bool]


def _log_of(view: LedgerView, event: AnyEvent) -> tuple[str, _Log]:
    if isinstance(event, _PLAN_EVENTS):
        ref = event.plan_ref
        return f"plan:{ref}", _Log(
            plan_dir(ref), lambda: view.plan(ref), lambda: view.plan_events(ref),
            run_events.check_plan, run_events.apply_plan,  # type: ignore[arg-type]
            run_events.replay_plan, run_events.is_plan_noop)  # type: ignore[arg-type]
    run_id = event.run_id
    return f"run:{run_id}", _Log(
        run_dir(run_id), lambda: view.run(run_id), lambda: view.events(run_id),
        run_events.check, run_events.apply, run_events.replay,  # type: ignore[arg-type]
        run_events.is_noop)  # type: ignore[arg-type]


def _append_once(repo: RunrRepo,
                 new_events: Sequence[AnyEvent] | Callable[[LedgerView], Sequence[AnyEvent]],
                 *, partial: bool, message: str | None) -> AppendResult:
    git = repo.git
    old_tip = ref_target(git, LEDGER_REF)
    old_notes = ref_target(git, notes.NOTES_REF)
    view = LedgerView(git, old_tip)
    if callable(new_events):
        new_events = new_events(view)
    result = AppendResult()
    changes: dict[str, pygit2.Oid | None] = {}
    note_links: dict[str, list[NoteLink]] = {}

    logs: dict[str, tuple[_Log, list[AnyEvent]]] = {}
    for event in new_events:
        key, log = _log_of(view, event)
        logs.setdefault(key, (log, []))[1].append(event)
    for log, log_new in logs.values():
        try:
            record = log.load()
            events_tree = tree_entry(git, view.tree, f"{log.base}/events")
        except RunrError as exc:  # a damaged run: its records wait, the others go in
            if not partial:
                raise
            result.rejected.extend((event, exc) for event in log_new)
            continue
        present = {e.name for e in events_tree} if isinstance(events_tree, pygit2.Tree) else set()
        accepted: list[AnyEvent] = []
        for event in sorted(log_new, key=lambda e: e.event_id):
            if f"{event.event_id}.json" in present or (
                    record is not None and log.is_noop(record, event)):
                result.skipped.append(event)
                if isinstance(event, CommitRewritten) and isinstance(record, RunSnapshot):
                    # Moved already (an amend inside a rebase), but git may have copied
                    # notes over ours since (notes.rewriteMode=overwrite): re-assert them.
                    for sha, link in _note_links(event, record):
                        note_links.setdefault(sha, []).append(link)
                continue
            try:
                log.check(record, event)
                if record is not None and event.event_id < record.last_event_id:
                    # An older event arrived late (another clone, a slow writer): the
                    # record is the replay of the whole log, so replay it. An event
                    # older than the run itself (a clock stepped back) fails here.
                    record = log.replay([*log.load_events(), *accepted, event])
                else:
                    record = log.apply(record, event)
            except RunrError as exc:
                if not partial:
                    raise
                result.rejected.append((event, exc))
                continue
            accepted.append(event)
            present.add(f"{event.event_id}.json")
            changes[f"{log.base}/events/{event.event_id}.json"] = json_blob(git, event)
            if isinstance(record, RunSnapshot):
                for sha, link in _note_links(event, record):  # type: ignore[arg-type]
                    note_links.setdefault(sha, []).append(link)
        if accepted and isinstance(record, RunSnapshot):
            changes.update(run_files(git, record))
            result.snapshots[record.run_id] = record
        elif accepted and isinstance(record, PlanRecord):
            changes[f"{log.base}/plan.json"] = json_blob(git, record)
            result.plans[record.plan_ref] = record
        result.applied.extend(accepted)

    if not result.applied and not note_links:
        return result

    when = datetime.now(UTC)
    sig = signature(*identity(git), when)
    updates: list[tuple[str, pygit2.Oid, pygit2.Oid | None]] = []
    summary = message or _commit_message(result.applied or result.skipped)
    if result.applied:
        parent = old_tip if old_tip is not None else root_commit(git)
        parent_commit = git[parent]
        assert isinstance(parent_commit, pygit2.Commit)
        tree = update_tree(git, parent_commit.tree, changes)
        result.commit = _ledger_commit(repo, sig, summary, tree, parent, strict=not partial)
        updates.append((LEDGER_REF, result.commit, old_tip))
    if note_links:
        notes_commit = _write_notes(git, old_notes, note_links, sig)
        if notes_commit is not None:
            updates.append((notes.NOTES_REF, notes_commit, old_notes))
    kept = _newly_named(git, view, result.snapshots)
    if kept:
        old_archive = ref_target(git, ARCHIVE_REF)
        archive = git.create_commit(
            None, sig, sig, f"runr: keep {len(kept)} recorded commit(s) reachable\n",
            update_tree(git, None, {}), [*([old_archive] if old_archive else []), *kept])
        updates.append((ARCHIVE_REF, archive, old_archive))
    if updates:
        cas_update_refs(git, str(repo.cwd), updates, summary.splitlines()[0])
    return result


def _ledger_commit(repo: RunrRepo, sig: pygit2.Signature, message: str, tree: pygit2.Oid,
                   parent: pygit2.Oid, *, strict: bool) -> pygit2.Oid:
    """A ledger commit, signed with the user's git signing key when one is configured
    (``user.signingKey``, ``gpg.format``: the ``gpgsig`` header git itself writes, so
    ``git verify-commit`` and ``git log --show-signature`` read it).

    When signing fails, a command (``strict``) raises :class:`GitError` and writes
    nothing; the spool flush in the background writes the commit unsigned instead, so
    a locked key never loses a record (``git runr verify`` reports it unsigned).
    """
    git = repo.git
    if "user.signingkey" in git.config:
        from gitrunr import signing

        try:
            signer = signing.signer(repo.workdir or repo.cwd)
            if signer is not None:
                # pygit2's stub says Oid; the method returns the commit's text.
                content = cast(str, git.create_commit_string(sig, sig, message, tree, [parent]))
                signature = signer.sign(content.encode())
                oid: pygit2.Oid = git.create_commit_with_signature(content, signature,
                                                                    "gpgsig")
                return oid
        except GitError:
            if strict:
                raise
    unsigned: pygit2.Oid = git.create_commit(None, sig, sig, message, tree, [parent])
    return unsigned


def _newly_named(git: pygit2.Repository, view: LedgerView,
                 snapshots: dict[str, RunSnapshot]) -> list[pygit2.Oid]:
    """Commits the records name for the first time in this append (a checkpoint, an
    intervention's commit, or a sha from before a rewrite) that exist here. They go on
    the archive ref, so neither a rewrite, nor a squash merge whose branch is deleted,
    nor ``git gc`` leaves a record pointing at nothing."""
    def named(snapshot: RunSnapshot | None) -> list[str]:
        if snapshot is None:
            return []
        found = [sha for cp in snapshot.checkpoints for sha in (cp.sha, *cp.previous_shas)]
        found += [sha for iv in snapshot.interventions
                  for sha in ((iv.commit_sha,) if iv.commit_sha else ()) + tuple(iv.previous_shas)]
        return found

    kept: list[pygit2.Oid] = []
    for run_id, after in snapshots.items():
        known = set(named(view.run(run_id)))
        for sha in named(after):
            if sha not in known and isinstance(git.get(sha), pygit2.Commit):
                kept.append(pygit2.Oid(hex=sha))
    return list(dict.fromkeys(kept))


def _note_links(event: Event, snapshot: RunSnapshot) -> Iterable[tuple[str, NoteLink]]:
    run_id = event.run_id
    if isinstance(event, CheckpointRecorded):
        yield event.sha, NoteLink(run_id=run_id, kind="checkpoint",
                                  checkpoint_id=event.checkpoint_id, patch_id=event.patch_id)
    elif isinstance(event, InterventionRecorded) and event.commit_sha is not None:
        yield event.commit_sha, NoteLink(run_id=run_id, kind="intervention",
                                         intervention_id=event.intervention_id,
                                         patch_id=event.patch_id)
    elif isinstance(event, InterventionLinked):
        yield event.sha, NoteLink(run_id=run_id, kind="intervention",
                                  intervention_id=event.intervention_id,
                                  patch_id=event.patch_id)
    elif isinstance(event, CommitRewritten):
        for cp in snapshot.checkpoints:
            if cp.sha == event.new_sha:
                yield cp.sha, NoteLink(run_id=run_id, kind="checkpoint",
                                       checkpoint_id=cp.checkpoint_id, patch_id=cp.patch_id)
        for iv in snapshot.interventions:
            if iv.commit_sha == event.new_sha:
                yield event.new_sha, NoteLink(run_id=run_id, kind="intervention",
                                              intervention_id=iv.intervention_id,
                                              patch_id=iv.patch_id)


def _write_notes(git: pygit2.Repository, old: pygit2.Oid | None,
                 links: dict[str, list[NoteLink]], sig: pygit2.Signature
                 ) -> pygit2.Oid | None:
    """A notes commit on top of ``old`` that adds ``links`` to the notes of their
    commits (merged with what is there), or None when every link is there already."""
    old_commit = git[old] if old is not None else None
    if old_commit is not None and not isinstance(old_commit, pygit2.Commit):
        raise CorruptRecordError(f"{notes.NOTES_REF} points at {old}, which is not a commit")
    tree = old_commit.tree if isinstance(old_commit, pygit2.Commit) else None
    changes: dict[str, pygit2.Oid | None] = {}
    for sha, new_links in links.items():
        path = notes.locate(tree, sha)
        existing: CommitNote | None = None
        if path is not None:
            blob = tree_entry(git, tree, path)
            if isinstance(blob, pygit2.Blob):
                existing = notes.parse(blob.data, sha)
        merged = notes.merge(existing, new_links)
        if merged != existing:
            changes[path or notes.new_path(sha)] = git.create_blob(notes.encode(merged))
    if not changes:
        return None
    new_tree = update_tree(git, tree, changes)
    parents = [old] if old is not None else []
    oid: pygit2.Oid = git.create_commit(None, sig, sig, "Notes added by 'git runr'\n",
                                        new_tree, parents)
    return oid


@dataclass(frozen=True)
class RebuildResult:
    """What :func:`rebuild_notes` wrote: notes, runs read, notes there before."""

    notes: int
    runs: int
    previous_notes: int


def rebuild_notes(repo: RunrRepo) -> RebuildResult:
    """Write ``refs/notes/runr`` afresh from the ledger (docs/storage.md: the notes are
    an index that can be rebuilt from the ledger).

    Every checkpoint and linked intervention of every run gets a note on its commit
    and on the commits it was before an amend or rebase. Notes the ledger does not
    back are dropped. The new notes commit has the old tip as parent, so the old
    notes stay in history, and it lands by compare-and-swap. Raises
    :class:`CorruptRecordError` for an unreadable run.
    """
    def once() -> RebuildResult:
        git = repo.git
        view = read(repo)
        links: dict[str, list[NoteLink]] = {}
        runs = 0
        for snap in view.runs():
            runs += 1
            for cp in snap.checkpoints:
                for sha in (cp.sha, *cp.previous_shas):
                    links.setdefault(sha, []).append(NoteLink(
                        run_id=snap.run_id, kind="checkpoint", checkpoint_id=cp.checkpoint_id,
                        patch_id=cp.patch_id))
            for iv in snap.interventions:
                if iv.commit_sha is None:
                    continue
                for sha in (iv.commit_sha, *iv.previous_shas):
                    links.setdefault(sha, []).append(NoteLink(
                        run_id=snap.run_id, kind="intervention",
                        intervention_id=iv.intervention_id, patch_id=iv.patch_id))
        old = ref_target(git, notes.NOTES_REF)
        old_commit = git.get(old) if old is not None else None
        before = len(notes.index(git, old_commit.tree)) if isinstance(
            old_commit, pygit2.Commit) else 0
        changes: dict[str, pygit2.Oid | None] = {
            notes.new_path(sha): git.create_blob(notes.encode(notes.merge(None, found)))
            for sha, found in links.items()}
        tree = update_tree(git, None, changes)
        sig = signature(*identity(git), datetime.now(UTC))
        # The old notes stay in history, unless the ref was damaged (not a commit):
        # then the rebuilt notes start afresh, and the ref's reflog keeps the old id.
        parents: list[pygit2.Oid] = (
            [old] if isinstance(old_commit, pygit2.Commit) and old is not None else [])
        commit = git.create_commit(None, sig, sig, "Notes rebuilt by 'git runr'\n", tree,
                                   parents)
        cas_update_refs(git, str(repo.cwd), [(notes.NOTES_REF, commit, old)],
                        "runr: notes rebuilt from the ledger")
        return RebuildResult(notes=len(links), runs=runs, previous_notes=before)

    return _retry_races(once)


def _commit_message(applied: Sequence[AnyEvent]) -> str:
    def owner(event: AnyEvent) -> str:
        return event.plan_ref if isinstance(event, _PLAN_EVENTS) else event.run_id

    first = applied[0]
    head = f"runr: {first.type} {owner(first)}"
    if len(applied) > 1:
        head += f" (+{len(applied) - 1} more)"
    body = "".join(f"{e.event_id} {e.type} {owner(e)}\n" for e in applied)
    return f"{head}\n\n{body}"


# --------------------------------------------------------------------------- patch-id


def patch_id(commit: pygit2.Commit) -> str | None:
    """The stable patch-id of ``commit`` against its first parent (git-patch-id(1)
    ``--stable``, computed by libgit2), or None for a merge or a commit with no diff.
    """
    if len(commit.parents) > 1:
        return None
    return tree_patch_id(commit.parents[0].tree if commit.parents else None, commit.tree)


def tree_patch_id(old: pygit2.Tree | None, new: pygit2.Tree) -> str | None:
    """The stable patch-id of the change from tree ``old`` (None: nothing) to ``new``,
    or None when they do not differ. For two commits' trees it is the combined patch-id
    of every commit between them, which is what a squash of them carries."""
    diff = old.diff_to_tree(new) if old is not None else new.diff_to_tree(swap=True)
    if len(diff) == 0:
        return None
    pid = diff.patchid
    return None if pid is None or pid.raw == b"\0" * len(pid.raw) else str(pid)


# --------------------------------------------------------------------------- the spool


@dataclass
class FlushResult:
    """What :func:`flush` did, in numbers, and the spool entries it set aside."""

    applied: int = 0
    skipped: int = 0
    rejected: list[str] = field(default_factory=list)


def flush(repo: RunrRepo) -> FlushResult:
    """Move every spooled hook record into the ledger; idempotent and safe to race.

    Each spool file is deleted only after the ledger holds its events. An entry
    that cannot be applied (unreadable, invalid, or refused by its run's state) is
    moved to ``spool/rejected/`` beside a ``.reason`` file, never silently dropped.
    """
    spool = repo.spool_dir
    try:
        paths = sorted(p for p in spool.iterdir() if p.suffix == ".json")
    except FileNotFoundError:
        return FlushResult()
    if not paths:
        return FlushResult()
    result = FlushResult()
    planned: list[tuple[Path, list[Event]]] = []
    note_index: dict[str, pygit2.Oid] | None = None
    for path in paths:
        try:
            doc = read_json(path)
            if doc is None:  # another flusher took it
                continue
            if doc.get("kind") == "rewrite":
                if note_index is None:
                    notes_tip = ref_target(repo.git, notes.NOTES_REF)
                    notes_commit = repo.git[notes_tip] if notes_tip is not None else None
                    note_index = notes.index(repo.git, notes_commit.tree if isinstance(
                        notes_commit, pygit2.Commit) else None)
                planned.append((path, _rewrite_events(repo, path.stem, doc, note_index)))
            else:
                event = EVENT_ADAPTER.validate_python(doc.get("event"))
                planned.append((path, [_complete(repo, event)]))
        except (ValueError, ValidationError, RunrError, KeyError, TypeError) as exc:
            _reject(path, f"unreadable spool entry: {exc}")
            result.rejected.append(path.name)
    events = [e for _, evs in planned for e in evs]
    outcome = append(repo, events, partial=True)
    refused = {id(e): err for e, err in outcome.rejected}
    for path, evs in planned:
        errors = [refused[id(e)] for e in evs if id(e) in refused]
        if errors:
            _reject(path, "; ".join(err.message for err in errors))
            result.rejected.append(path.name)
        else:
            path.unlink(missing_ok=True)
    result.applied = len(outcome.applied)
    result.skipped = len(outcome.skipped)
    return result


def _complete(repo: RunrRepo, event: Event) -> Event:
    """Fill in what a hook leaves to the flusher: the commit's patch-id and tree and,
    for an intervention, the files it changed."""
    if isinstance(event, CheckpointRecorded | InterventionLinked) and event.tree is None:
        commit = repo.git.get(event.sha)
        if not isinstance(commit, pygit2.Commit):
            raise CorruptRecordError(f"commit {event.sha} is not in the repository")
        update: dict[str, object] = {"patch_id": event.patch_id or patch_id(commit),
                                     "tree": str(commit.tree_id)}
        if isinstance(event, InterventionLinked) and not event.files_changed:
            update["files_changed"] = changed_files(repo.git, commit)
        return event.model_copy(update=update)
    return event


def changed_files(git: pygit2.Repository, commit: pygit2.Commit) -> list[str]:
    """Paths ``commit`` changes against its first parent (every path of a root commit)."""
    if commit.parents:
        diff = git.diff(commit.parents[0], commit)
    else:
        diff = commit.tree.diff_to_tree(swap=True)
    paths: set[str] = set()
    for delta in diff.deltas:
        paths.update((delta.new_file.path, delta.old_file.path))
    return sorted(paths)


def _rewrite_events(repo: RunrRepo, entry_id: str, doc: dict[str, object],
                    note_index: dict[str, pygit2.Oid]) -> list[Event]:
    """``commit_rewritten`` events for each rewritten commit that a note links to a run.

    Event ids are derived from the spool entry, the pair and the run, so flushing the
    same entry twice produces the same ids (and the second time, nothing new).
    """
    kind = str(doc.get("rewrite", "rebase"))
    at = datetime.fromisoformat(str(doc["at"]))
    who = str(doc.get("actor") or actor(repo.git))
    pairs = doc.get("pairs")
    if not isinstance(pairs, list):
        raise ValueError("rewrite entry has no pairs")
    made: list[Event] = []
    for pair in pairs:
        old, new = str(pair[0]), str(pair[1])
        if old == new:  # rebase -i reports unchanged commits too
            continue
        blob_id = note_index.get(old)
        if blob_id is None:
            continue
        blob = repo.git[blob_id]
        if not isinstance(blob, pygit2.Blob):
            continue
        note = notes.parse(blob.data, old)
        commit = repo.git.get(new)
        if not isinstance(commit, pygit2.Commit):
            raise CorruptRecordError(f"rewritten commit {new} is not in the repository")
        pid = patch_id(commit)
        for run_id in sorted({link.run_id for link in note.links}):
            digest = int(hashlib.sha1(f"{entry_id}:{old}:{new}:{run_id}".encode()).hexdigest(),
                         16)
            event_id = f"ev-{entry_id[3:12]}{base36(digest, 8)[-8:]}"
            made.append(CommitRewritten(
                event_id=event_id, run_id=run_id, at=at, actor=who, old_sha=old,
                new_sha=new, patch_id=pid, tree=str(commit.tree_id), rewrite=kind,
            ))
    return made


def _reject(path: Path, reason: str) -> None:
    target = path.parent / REJECTED / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(path, target)
    except FileNotFoundError:
        return
    write_json_atomic(target.with_suffix(".reason.json"), {"reason": reason})
