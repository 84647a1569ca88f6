"""Runs: start, move through their states, finish, accept; steps and artifacts.

Seed 000: a run is one attempt at a plan, and exists only once it is started;
starting one makes it the active run of this worktree, so the hooks stamp and record
every commit made here as its checkpoint until it is finished. A run's states are
active, verifying and finalized (docs/runs.md); every change is an event with its
actor, time and reason. Seed 001: ``current_step`` and ``step_timestamps`` (each
step's first time), and artifacts stored with the run under a manifest.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pygit2
from pydantic import TypeAdapter, ValidationError

from gitrunr import ledger, lifecycle, planning
from gitrunr.errors import CorruptRecordError, InvalidStateError, NotFoundError, UsageError
from gitrunr.ids import is_run_id, new_id
from gitrunr.models import (
    FINAL_STATE,
    ActiveRun,
    ArtifactAdded,
    ArtifactEntry,
    ArtifactName,
    Event,
    Mode,
    Outcome,
    PlanEvent,
    PlanRecord,
    PlanRunStarted,
    RunAccepted,
    RunFinished,
    RunList,
    RunListItem,
    RunSnapshot,
    RunStarted,
    RunState,
    RunTransitioned,
    StepReached,
    TaskSeed,
    utcnow,
)
from gitrunr.plans import Plan, is_plan_ref
from gitrunr.repo import RunrRepo
from gitrunr.state import ACTIVE_RUN, read_json, remove, write_json_atomic
from gitrunr.summary import render_summary


def validate_run_id(run_id: str) -> str:
    """Return ``run_id`` if it is a well-formed run id; raise :class:`UsageError` if not.

    Checked before any lookup, so a value such as ``../x`` never reaches a path.
    """
    if not is_run_id(run_id):
        raise UsageError(f"{run_id!r} is not a run id (they look like run-0mi8x2k3f7d9qz0a4); "
                         "`git runr run list` shows them")
    return run_id


def active_run(repo: RunrRepo) -> ActiveRun | None:
    """This worktree's active run, or None. Raises CorruptRecordError for a bad file."""
    path = repo.state_dir / ACTIVE_RUN
    try:
        doc = read_json(path)
        return None if doc is None else ActiveRun.model_validate(doc)
    except (ValueError, ValidationError) as exc:
        raise CorruptRecordError(f"{path} is not a valid active-run record ({exc}); delete it "
                                 "and run `git runr run start` again") from None


def start(repo: RunrRepo, *, tier: str | None = None, plan: str | None = None,
          actor: str | None = None, mode: Mode | None = None) -> RunSnapshot:
    """Create a run in the ledger and make it this worktree's active run.

    ``plan``: a plan ref (or suffix, or path) the run executes; None for an ad hoc
    run. A plan's run starts only from an approved or ready plan whose dependencies
    are done (seed 000); a plan may have many runs, and each is its own record. The
    plan's lane moves to in_progress (claimed first by ``actor`` when it was planned;
    docs/lifecycle.md), and the run's exec status starts with the plan's tasks at 0%.

    Raises :class:`InvalidStateError` when this worktree already has an active run or
    the plan cannot start (every reason named), :class:`NotFoundError` /
    :class:`UsageError` for a plan that is unknown or ambiguous, :class:`UsageError`
    for a tier with a newline, and ledger write errors.
    """
    repo.require_worktree()
    chosen: Plan | None = None
    if plan is not None:
        space = planning.workspace(repo)
        chosen = space.find(plan)
        planning.require_startable(space, chosen)
    current = active_run(repo)
    if current is not None:
        raise InvalidStateError(
            f"run {current.run_id} is already active in this worktree; finish it with "
            f"`git runr run finish --outcome passed|failed|aborted` first")
    if tier is not None and ("\n" in tier or "\r" in tier or not tier.strip()):
        raise UsageError("--tier must be a single non-empty line")
    head = None if repo.git.head_is_unborn else str(repo.git.head.target)
    branch = None
    if not repo.git.head_is_detached:
        branch = str(repo.git.references["HEAD"].target).removeprefix("refs/heads/")
    run_id = new_id("run")
    who, at = actor or ledger.actor(repo.git), utcnow()
    lanes = [] if chosen is None else lifecycle.start_events(
        repo, space, chosen, actor=who, run_id=run_id, at=at)
    event = RunStarted(event_id=new_id("ev"), run_id=run_id, at=at, actor=who, tier=tier,
                       base_sha=head, branch=branch,
                       plan_ref=chosen.ref if chosen else None,
                       plan_hash=chosen.content_hash if chosen else None,
                       tasks=[TaskSeed(id=t.id, title=t.title, done=t.done)
                              for t in (chosen.tasks if chosen else ())],
                       mode=mode)
    attached = [] if chosen is None else [PlanRunStarted(
        event_id=new_id("ev"), plan_ref=chosen.ref, at=at, actor=who, run_id=run_id)]
    result = ledger.append(repo, [event, *attached, *lanes])
    snapshot = result.snapshots[run_id]
    target = lifecycle.line_of(repo, chosen) if chosen else lifecycle.default_line(repo)
    write_json_atomic(repo.state_dir / ACTIVE_RUN, ActiveRun(
        run_id=run_id, tier=tier, started_at=event.at, mode=mode,
        target=target).model_dump(mode="json"))
    return snapshot


def get(repo: RunrRepo, run_id: str) -> RunSnapshot:
    """The snapshot of ``run_id``. Raises UsageError, NotFoundError, CorruptRecordError."""
    validate_run_id(run_id)
    snapshot = ledger.read(repo).run(run_id)
    if snapshot is None:
        raise NotFoundError(f"unknown run {run_id}: `git runr run list` shows the runs in "
                            "the ledger")
    return snapshot


def finish(repo: RunrRepo, run_id: str | None, outcome: Outcome, *,
           reason: str | None = None, actor: str | None = None) -> RunSnapshot:
    """Finish ``run_id`` (default: this worktree's active run) with ``outcome``.

    Its state becomes ``finalized/<outcome>`` (from active or any verifying state);
    if it is this worktree's active run, the worktree has no active run afterwards.
    Raises :class:`InvalidStateError` when no run is named and none is active, or the
    run is already finalized.
    """
    current = active_run(repo)
    if run_id is None:
        if current is None:
            raise InvalidStateError("no run is active in this worktree: name the run, "
                                    "`git runr run finish RUN_ID --outcome …`")
        run_id = current.run_id
    snapshot = get(repo, run_id)
    if not snapshot.is_open:
        raise InvalidStateError(f"run {run_id} is already {snapshot.state}")
    if outcome == "passed":
        require_evidence(repo, snapshot)
    result = ledger.append(repo, finish_events(repo, snapshot, outcome, reason=reason,
                                               actor=actor or ledger.actor(repo.git),
                                               at=utcnow()))
    release(repo, run_id)
    return result.snapshots[run_id]


def finish_events(repo: RunrRepo, snapshot: RunSnapshot, outcome: Outcome, *,
                  reason: str | None, actor: str, at: datetime) -> list[Event]:
    """The events that end a run: ``run_finished`` and its receipt (seed 002, flow rule
    2: a receipt when a run ends; :mod:`gitrunr.receipts`), written together."""
    from gitrunr import receipts

    finished = RunFinished(event_id=new_id("ev"), run_id=snapshot.run_id, at=at, actor=actor,
                           outcome=outcome, reason=reason)
    return [finished, receipts.make(repo, snapshot, actor=actor, at=at)]


def require_evidence(repo: RunrRepo, snapshot: RunSnapshot) -> None:
    """Ledger mode (seed 002, rule 3): a run finishes as passed only when every task
    of its exec status has passing evidence, or, with no tasks, the run has some.
    Raises :class:`InvalidStateError` naming the tasks without it."""
    from gitrunr import workflow

    if workflow.mode_of(repo, snapshot) != "ledger":
        return
    passing = {e.task for e in snapshot.evidence if e.exit_code == 0}
    tasks = [t.task for t in snapshot.exec_status.tasks]
    missing = [t for t in tasks if t not in passing]
    if missing or (not tasks and not passing):
        which = f"tasks {', '.join(missing)} have" if missing else "the run has"
        raise InvalidStateError(
            f"ledger mode: {which} no passing verification evidence; attach it with `git runr "
            f"evidence {snapshot.run_id} --cmd … --task T` before finishing as passed")


def _require_workable(repo: RunrRepo, snapshot: RunSnapshot, action: str) -> None:
    from gitrunr import workflow

    workflow.require_open(repo, snapshot, action)


def release(repo: RunrRepo, run_id: str) -> None:
    """A finalized run is no longer this worktree's active run (if it was)."""
    current = active_run(repo)
    if current is not None and current.run_id == run_id:
        remove(repo.state_dir / ACTIVE_RUN)


def list_item(snapshot: RunSnapshot, accepted: bool = False) -> RunListItem:
    """The one-line form of a run, as ``runs`` and ``status`` list it."""
    return RunListItem(
        run_id=snapshot.run_id, state=snapshot.state, outcome=snapshot.outcome,
        tier=snapshot.tier, plan_ref=snapshot.plan_ref, current_step=snapshot.current_step,
        accepted=accepted, created_at=snapshot.created_at, finished_at=snapshot.finished_at,
        checkpoints=len(snapshot.checkpoints), interventions=len(snapshot.interventions))


def list_runs(repo: RunrRepo, *, limit: int | None = None, plan: str | None = None) -> RunList:
    """Runs newest first (ids are unique and sort by start time, so there are no ties).

    ``plan``: only the runs of that plan (a ref, suffix or path, resolved against this
    work tree's plans, or the exact ref of a plan the ledger knows). Raises
    :class:`NotFoundError` / :class:`UsageError` for an unknown or ambiguous plan.
    """
    view = ledger.read(repo)
    accepted: set[str] = set()
    plan_ref = None
    if plan is not None:
        plan_ref = _plan_ref(repo, view, plan)
        record = view.plan(plan_ref)
        ids = sorted(record.runs, reverse=True) if record is not None else []
        if record is not None and record.accepted_run_id:
            accepted.add(record.accepted_run_id)
    else:
        ids = view.run_ids()
    items = []
    for run_id in ids[:limit] if limit is not None else ids:
        snap = view.run(run_id)
        if snap is None:
            continue
        if plan is None and snap.plan_ref is not None:
            record = view.plan(snap.plan_ref)
            if record is not None and record.accepted_run_id == run_id:
                accepted.add(run_id)
        items.append(list_item(snap, run_id in accepted))
    return RunList(total=len(ids), plan_ref=plan_ref, runs=items)


def _plan_ref(repo: RunrRepo, view: ledger.LedgerView, query: str) -> str:
    """The full ref of the plan ``query`` names: an exact ref the ledger knows (the file
    may be gone), else resolved against this work tree's plan files."""
    if is_plan_ref(query) and view.plan(query) is not None:
        return query
    return planning.workspace(repo).find(query).ref


# --------------------------------------------------------------------------- states


def transition(repo: RunrRepo, run_id: str, to_state: str, *,
               reason: str | None = None, actor: str | None = None) -> RunSnapshot:
    """Move ``run_id`` to ``to_state`` (docs/runs.md), recording who, when and why.

    A ``finalized/<outcome>`` state finishes the run (:func:`finish`). Raises
    :class:`UsageError` for a state the machine does not have, and
    :class:`InvalidStateError` for a move it does not allow (naming the allowed ones).
    """
    try:
        state: RunState = TypeAdapter(RunState).validate_python(to_state)
    except ValidationError:
        raise UsageError(f"{to_state!r} is not a run state; the states are active, "
                         "verifying/testing, verifying/passed, verifying/failed, "
                         "finalized/passed, finalized/failed, finalized/aborted") from None
    if state.startswith("finalized/"):
        return finish(repo, run_id, state.removeprefix("finalized/"),  # type: ignore[arg-type]
                      reason=reason, actor=actor)
    snapshot = get(repo, run_id)
    if not snapshot.is_open:
        raise InvalidStateError(f"run {run_id} is already {snapshot.state}; a finalized run "
                                "does not change state")
    if state != "active":  # stopped -> active is resume, allowed in every mode
        _require_workable(repo, snapshot, f"move to {state}")
    if snapshot.state == state:
        return snapshot
    event = RunTransitioned(event_id=new_id("ev"), run_id=run_id, at=utcnow(),
                            actor=actor or ledger.actor(repo.git),
                            from_state=snapshot.state,  # type: ignore[arg-type]  # open
                            to_state=state,  # type: ignore[arg-type]  # not finalized
                            reason=reason)
    return ledger.append(repo, [event]).snapshots[run_id]


def step(repo: RunrRepo, run_id: str, name: str, *, actor: str | None = None) -> RunSnapshot:
    """Set the run's ``current_step`` to ``name``; the first time a step is reached its
    time is kept in ``step_timestamps`` (seed 001), later times never replace it.

    Raises :class:`UsageError` for an empty or multi-line step (at most 100
    characters), :class:`InvalidStateError` for a finalized run.
    """
    if not name.strip() or "\n" in name or "\r" in name or len(name) > 100:
        raise UsageError("a step is one non-empty line of at most 100 characters")
    snapshot = get(repo, run_id)
    if not snapshot.is_open:
        raise InvalidStateError(f"run {run_id} is already {snapshot.state}; a finalized run "
                                "takes no steps")
    _require_workable(repo, snapshot, "take a step")
    if snapshot.current_step == name:
        return snapshot
    event = StepReached(event_id=new_id("ev"), run_id=run_id, at=utcnow(),
                        actor=actor or ledger.actor(repo.git), step=name)
    return ledger.append(repo, [event]).snapshots[run_id]


# --------------------------------------------------------------------------- accept


def accept(repo: RunrRepo, run_id: str, *, reason: str | None = None,
           evidence: Sequence[str] = (), actor: str | None = None,
           via_accept: bool = True, force: bool = False
           ) -> tuple[RunSnapshot, PlanRecord, Path]:
    """Accept ``run_id`` as its plan's run and write ``NN-SUMMARY.md`` beside the plan.

    Seed 000: SUMMARY.md corresponds to the accepted run, not the first one and not an
    average. The run must belong to a plan and have passed: ``finalized/passed``, or
    ``verifying/passed`` (then it is finalized as passed in the same ledger write).
    The plan's lane goes to done (docs/lifecycle.md): ``approve`` from for_review, or,
    for ``run accept`` (``via_accept``) from in_progress, ``ready_for_review`` first
    with its guard (every exec-status task done). Accepting another run of a done plan
    needs ``--force`` through ``approve``. The summary is written to a temporary file
    first and moved into place only after the ledger took the events, so a failure
    writes nothing.

    Returns the run, the plan's record and the summary's path. Raises
    :class:`InvalidStateError` for an ad hoc run or one that has not passed,
    :class:`NotFoundError` when the plan's file is not in this work tree.
    """
    snapshot = get(repo, run_id)
    if snapshot.plan_ref is None:
        raise InvalidStateError(f"run {run_id} was started without a plan; only a plan's run "
                                "can be accepted (`git runr run start PLAN_REF`)")
    if snapshot.state not in ("finalized/passed", "verifying/passed"):
        raise InvalidStateError(f"run {run_id} is {snapshot.state}; only a run that passed "
                                "(verifying/passed or finalized/passed) can be accepted")
    space = planning.workspace(repo)
    plan = planning.find_plan_file(space, snapshot.plan_ref)
    who, at = actor or ledger.actor(repo.git), utcnow()
    new: list[Event | PlanEvent] = []
    new += lifecycle.approve_events(space, plan, snapshot, actor=who,
                                    line=lifecycle.line_of(repo, plan), at=at,
                                    evidence=evidence, reason=reason, via_accept=via_accept,
                                    force=force)
    if snapshot.state == "verifying/passed":
        require_evidence(repo, snapshot)
        new += finish_events(repo, snapshot, "passed", reason=reason or "accepted", actor=who,
                             at=at)
        snapshot = snapshot.model_copy(update={"state": FINAL_STATE["passed"]})
    record = space.record(plan)
    if record is None or record.accepted_run_id != run_id:
        new.append(RunAccepted(event_id=new_id("ev"), plan_ref=plan.ref, at=at, actor=who,
                               run_id=run_id, reason=reason))
    workdir = repo.require_worktree()
    target = workdir / plan.summary_path
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        if new:
            result = ledger.append(repo, new)
            snapshot = result.snapshots.get(run_id, snapshot)
            record = result.plans.get(plan.ref, record)
        assert record is not None
        others = [s for s in (ledger.read(repo).run(r) for r in reversed(record.runs))
                  if s is not None and s.run_id != run_id]
        tmp.write_text(render_summary(plan, snapshot, record, others), encoding="utf-8")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    release(repo, run_id)
    return snapshot, record, target


# --------------------------------------------------------------------------- artifacts

_NAME: TypeAdapter[str] = TypeAdapter(ArtifactName)
#: Python's own table of media types, not the machine's mime.types: the same file
#: name gets the same media type on every machine.
_MIME = mimetypes.MimeTypes(filenames=())


def add_artifacts(repo: RunrRepo, run_id: str, files: Sequence[Path], *,
                  name: str | None = None) -> list[ArtifactEntry]:
    """Store ``files`` in the ledger under the run (``artifacts/<name>``) and list them
    in its manifest (``artifacts/index.json``: name, size, sha256, media type, added at;
    seed 001). All of them land in one ledger write, or none.

    ``name`` renames a single file. Adding the same bytes under the same name again
    changes nothing. Raises :class:`UsageError` for a bad or repeated name, a file that
    cannot be read, or ``name`` with several files; :class:`InvalidStateError` for a
    finalized run or a name already holding other bytes.
    """
    if name is not None and len(files) != 1:
        raise UsageError("--name renames one file; give one FILE with it")
    snapshot = get(repo, run_id)
    _require_workable(repo, snapshot, "take artifacts")
    who, at = ledger.actor(repo.git), utcnow()
    events: list[ArtifactAdded] = []
    for path in files:
        label = name if name is not None else path.name
        try:
            _NAME.validate_python(label)
        except ValidationError:
            raise UsageError(f"{label!r} cannot be an artifact name: use letters, digits and "
                             "._+@=- (no directories, no leading dot, not index.json); "
                             "--name gives another") from None
        if any(e.name == label for e in events):
            raise UsageError(f"two files are named {label}; add them under different names")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
        blob = repo.git.create_blob(data)
        events.append(ArtifactAdded(
            event_id=new_id("ev"), run_id=run_id, at=at, actor=who, name=label,
            size=len(data), sha256=hashlib.sha256(data).hexdigest(), blob=str(blob),
            media_type=_MIME.guess_type(label)[0] or "application/octet-stream"))
    result = ledger.append(repo, events)
    snapshot = result.snapshots.get(run_id, snapshot)
    names = {e.name for e in events}
    return [a for a in snapshot.artifacts if a.name in names]


def read_artifact(repo: RunrRepo, run_id: str, name: str) -> tuple[ArtifactEntry, bytes]:
    """The manifest entry and the bytes of artifact ``name`` of ``run_id``.

    Raises :class:`NotFoundError` for an unknown name, :class:`CorruptRecordError`
    when the stored bytes do not match the manifest's SHA-256.
    """
    snapshot = get(repo, run_id)
    for entry in snapshot.artifacts:
        if entry.name == name:
            blob = repo.git.get(entry.blob)
            data = blob.data if isinstance(blob, pygit2.Blob) else None
            if data is None or hashlib.sha256(data).hexdigest() != entry.sha256:
                raise CorruptRecordError(f"artifact {name} of {run_id} is missing or damaged "
                                         "in the ledger; fetch the ledger again")
            return entry, data
    names = ", ".join(a.name for a in snapshot.artifacts) or "none"
    raise NotFoundError(f"run {run_id} has no artifact {name!r} (it has: {names})")
