"""The run's event log and its snapshot: validation and replay.

A run is its events (``runs/<shard>/<run-id>/events/<event-id>.json`` in the ledger);
``run.json`` is a snapshot derived from them (seed ``004_6b658e854f93eade.txt``:
"event log + snapshot"; the status/event model "validates and persists what did
happen"). :func:`check` is the validation, :func:`apply` one step of the replay, and
:func:`replay` the whole of it. Replaying the events in event-id order (ids are
time-sortable, :mod:`gitrunr.ids`) always gives the stored snapshot.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import TypeVar

from gitrunr.errors import InvalidStateError, NotFoundError
from gitrunr.models import (
    FINAL_STATE,
    LANE_EDGES,
    RUN_TRANSITIONS,
    TERMINAL_LANES,
    VERB_TARGET,
    Approval,
    ArtifactAdded,
    ArtifactEntry,
    CheckpointRecord,
    CheckpointRecorded,
    CommitRewritten,
    Event,
    EvidenceRecord,
    EvidenceRecorded,
    ExecStatus,
    InterventionLinked,
    InterventionRecord,
    InterventionRecorded,
    LaneChanged,
    LaneTransition,
    PlanApproved,
    PlanEvent,
    PlanRecord,
    PlanRunStarted,
    ProgressUpdated,
    Receipt,
    ReceiptRecorded,
    Review,
    ReviewRequested,
    RunAccepted,
    RunEscalated,
    RunFinished,
    RunSnapshot,
    RunStarted,
    RunStopped,
    RunSubmitted,
    RunTransitioned,
    StepReached,
    Submission,
    TaskProgress,
    Transition,
)

_R = TypeVar("_R", CheckpointRecord, InterventionRecord)


def check(snapshot: RunSnapshot | None, event: Event) -> None:
    """Refuse an event the run's current state does not allow.

    - ``run_started``: the run must not exist yet.
    - ``checkpoint_recorded``, ``intervention_recorded``, ``run_finished``,
      ``step_reached``, ``artifact_added``: the run must exist and be open (active or
      verifying; a finalized run takes no new work).
    - ``run_transitioned``: the run must be in ``from_state``, and ``to_state`` must
      be one :data:`~gitrunr.models.RUN_TRANSITIONS` allows from it (docs/runs.md).
    - ``artifact_added``: a name already used must hold the same bytes.
    - ``intervention_linked``: the run must hold that intervention, still unlinked.
    - ``commit_rewritten``: the run must exist (rewrites are tracked after a run ends).

    Raises :class:`NotFoundError` for an unknown run or intervention and
    :class:`InvalidStateError` for a run in the wrong state.
    """
    if isinstance(event, RunStarted):
        if snapshot is not None:
            raise InvalidStateError(f"run {event.run_id} already exists")
        return
    if snapshot is None:
        raise NotFoundError(
            f"unknown run {event.run_id}: `git runr run list` shows the runs in the ledger"
        )
    if isinstance(event, ProgressUpdated) and not snapshot.is_open:
        raise InvalidStateError(
            f"run {event.run_id} is {snapshot.state}: its exec status is frozen")
    if (isinstance(event, CheckpointRecorded | InterventionRecorded | RunFinished
                   | RunTransitioned | StepReached | ArtifactAdded | RunStopped
                   | ReviewRequested | EvidenceRecorded | RunEscalated)
            and not snapshot.is_open):
        raise InvalidStateError(
            f"run {event.run_id} is already {snapshot.state}; start a new run with "
            "`git runr run start`"
        )
    if isinstance(event, ProgressUpdated):
        head = snapshot.exec_status.chain_head or genesis(event.run_id)
        if event.prev_hash != head:
            raise InvalidStateError(f"progress update {event.event_id} of {event.run_id} "
                                    f"follows {event.prev_hash[:12]}, but the chain's head is "
                                    f"{head[:12]}; read the run again and retry")
        known = [t.task for t in snapshot.exec_status.tasks]
        if snapshot.plan_ref is not None and known and event.task not in known:
            raise NotFoundError(f"run {event.run_id} has no task {event.task!r}; its tasks "
                                f"are {', '.join(known)}")
    if isinstance(event, RunStopped) and snapshot.state == "stopped":
        raise InvalidStateError(f"run {event.run_id} is already stopped "
                                f"({snapshot.stop_reason})")
    if isinstance(event, RunEscalated) and snapshot.state != "stopped":
        raise InvalidStateError(f"run {event.run_id} is {snapshot.state}: only a stopped run "
                                "is escalated")
    if isinstance(event, ReceiptRecorded) and snapshot.is_open:
        raise InvalidStateError(f"run {event.run_id} is {snapshot.state}: a receipt is made "
                                "when a run ends")
    if isinstance(event, RunSubmitted) and snapshot.state in ("finalized/failed",
                                                              "finalized/aborted"):
        raise InvalidStateError(f"run {event.run_id} is {snapshot.state}: only an open or "
                                "passed run is submitted")
    if isinstance(event, RunTransitioned):
        if snapshot.state != event.from_state:
            raise InvalidStateError(f"run {event.run_id} is {snapshot.state}, not "
                                    f"{event.from_state}; look again with `git runr show "
                                    f"{event.run_id}`")
        allowed = RUN_TRANSITIONS[snapshot.state]
        if event.to_state not in allowed:
            raise InvalidStateError(
                f"run {event.run_id} cannot go from {snapshot.state} to {event.to_state}; "
                f"from {snapshot.state} it can go to {', '.join(allowed)} or be finished "
                "with `git runr run finish`")
    if isinstance(event, ArtifactAdded):
        for entry in snapshot.artifacts:
            if entry.name == event.name and entry.sha256 != event.sha256:
                raise InvalidStateError(
                    f"run {event.run_id} already has an artifact {event.name} with other "
                    "content; add this one under another name")
    if isinstance(event, InterventionLinked):
        found = [i for i in snapshot.interventions if i.intervention_id == event.intervention_id]
        if not found:
            raise NotFoundError(
                f"run {event.run_id} has no intervention {event.intervention_id}"
            )
        linked = found[0].commit_sha
        if linked is not None and linked != event.sha:
            raise InvalidStateError(
                f"intervention {event.intervention_id} is already linked to {linked[:12]}"
            )


def apply(snapshot: RunSnapshot | None, event: Event) -> RunSnapshot:
    """The snapshot after ``event``. Does not validate: call :func:`check` first.

    ``snapshot`` is None only for the run's first event, which must be ``run_started``;
    a log that starts otherwise raises :class:`InvalidStateError`.
    """
    if snapshot is None:
        if not isinstance(event, RunStarted):
            raise InvalidStateError(
                f"run {event.run_id}: its first event is {event.type}, not run_started"
            )
        return RunSnapshot(
            run_id=event.run_id, state="active", tier=event.tier, plan_ref=event.plan_ref,
            plan_hash=event.plan_hash, base_sha=event.base_sha, branch=event.branch,
            actor=event.actor, created_at=event.at, updated_at=event.at, event_count=1,
            last_event_id=event.event_id,
            transitions=[Transition(event_id=event.event_id, at=event.at, actor=event.actor,
                                    from_state=None, to_state="active")],
            exec_status=_derive([TaskProgress(
                task=t.id, title=t.title, percent=100 if t.done else 0,
                state="done" if t.done else "pending") for t in event.tasks],
                updates=0, head=genesis(event.run_id)),
            mode=event.mode,
        )
    update: dict[str, object] = {
        "updated_at": max(snapshot.updated_at, event.at),
        "event_count": snapshot.event_count + 1,
        "last_event_id": max(snapshot.last_event_id, event.event_id),
    }
    if isinstance(event, CheckpointRecorded):
        update["checkpoints"] = _record_checkpoint(snapshot.checkpoints, event)
    elif isinstance(event, InterventionRecorded):
        record = InterventionRecord(
            intervention_id=event.intervention_id, note=event.note, commands=event.commands,
            files_changed=event.files_changed, commit_sha=event.commit_sha,
            patch_id=event.patch_id, recorded_at=event.at, actor=event.actor,
            tree=event.tree,
        )
        update["interventions"] = [*snapshot.interventions, record]
    elif isinstance(event, InterventionLinked):
        update["interventions"] = [
            i.model_copy(update={
                "commit_sha": event.sha, "patch_id": event.patch_id, "tree": event.tree,
                "files_changed": event.files_changed or i.files_changed,
            }) if i.intervention_id == event.intervention_id else i
            for i in snapshot.interventions
        ]
    elif isinstance(event, CommitRewritten):
        update["checkpoints"] = [
            _moved(c, event) if c.sha == event.old_sha else c for c in snapshot.checkpoints
        ]
        update["interventions"] = [
            _moved(i, event) if i.commit_sha == event.old_sha else i
            for i in snapshot.interventions
        ]
    elif isinstance(event, RunFinished | RunTransitioned):
        # Replaying a union of two clones' logs may put a change after the finish:
        # a finalized run stays as it was finalized.
        if snapshot.is_open:
            to = (FINAL_STATE[event.outcome] if isinstance(event, RunFinished)
                  else event.to_state)
            update["transitions"] = [*snapshot.transitions, Transition(
                event_id=event.event_id, at=event.at, actor=event.actor,
                from_state=snapshot.state, to_state=to, reason=event.reason)]
            update["state"] = to
            if isinstance(event, RunFinished):
                update.update(outcome=event.outcome, finished_at=event.at)
    elif isinstance(event, ProgressUpdated):
        update["exec_status"] = _progress(snapshot.exec_status, event)
    elif isinstance(event, RunStopped):
        if snapshot.is_open and snapshot.state != "stopped":
            update["transitions"] = [*snapshot.transitions, Transition(
                event_id=event.event_id, at=event.at, actor=event.actor,
                from_state=snapshot.state, to_state="stopped", reason=event.stop_reason)]
            update.update(state="stopped", stop_reason=event.stop_reason,
                          diagnosis=event.diagnosis)
    elif isinstance(event, ReviewRequested):
        update["reviews"] = [*snapshot.reviews, Review(
            event_id=event.event_id, at=event.at, actor=event.actor, request=event.request,
            normalized=event.normalized)]
    elif isinstance(event, EvidenceRecorded):
        update["evidence"] = [*snapshot.evidence, EvidenceRecord.model_validate(
            event.model_dump(exclude={"type", "schema_version", "run_id"}))]
    elif isinstance(event, ReceiptRecorded):
        update["receipt"] = Receipt.model_validate(event.model_dump(
            exclude={"type", "schema_version", "run_id", "actor"}))
    elif isinstance(event, RunSubmitted):
        update["submissions"] = [*snapshot.submissions, Submission.model_validate(
            event.model_dump(exclude={"type", "schema_version", "run_id"}))]
    elif isinstance(event, RunEscalated):
        update["escalations"] = [*snapshot.escalations, event.reason]
    elif isinstance(event, StepReached):
        update["current_step"] = event.step
        if event.step not in snapshot.step_timestamps:
            update["step_timestamps"] = {**snapshot.step_timestamps, event.step: event.at}
    elif isinstance(event, ArtifactAdded):
        if not any(a.name == event.name for a in snapshot.artifacts):
            entry = ArtifactEntry(name=event.name, size=event.size, sha256=event.sha256,
                                  blob=event.blob, media_type=event.media_type,
                                  added_at=event.at, actor=event.actor)
            update["artifacts"] = sorted([*snapshot.artifacts, entry], key=lambda a: a.name)
    elif isinstance(event, RunStarted):
        raise InvalidStateError(f"run {event.run_id} has two run_started events")
    return snapshot.model_copy(update=update)


def genesis(run_id: str) -> str:
    """The hash a run's first progress update follows (``prev_hash``)."""
    return hashlib.sha256(f"gitrunr exec status {run_id}".encode()).hexdigest()


def update_hash(event: ProgressUpdated) -> str:
    """The hash of a progress update: SHA-256 of its canonical JSON without the
    signature (sorted keys, no spaces). The next update names it as ``prev_hash``."""
    return hashlib.sha256(signed_bytes(event)).hexdigest()


def signed_bytes(event: ProgressUpdated) -> bytes:
    """The bytes a progress update's signature covers: its canonical JSON without
    ``signature``."""
    doc = event.model_dump(mode="json", exclude={"signature"})
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _progress(status: ExecStatus, event: ProgressUpdated) -> ExecStatus:
    tasks = {t.task: t for t in status.tasks}
    old = tasks.get(event.task) or TaskProgress(task=event.task, percent=0, state="pending")
    percent = event.percent if event.percent is not None else (
        100 if event.state == "done" else old.percent)
    state = event.state or ("done" if percent == 100 else
                            "in_progress" if percent > 0 and old.state == "pending"
                            else old.state)
    tasks[event.task] = old.model_copy(update={
        "percent": percent, "state": state,
        "note": event.note if event.note is not None else old.note,
        "persona": event.persona, "updated_at": event.at, "updated_by": event.actor})
    return _derive(list(tasks.values()), updates=status.updates + 1, head=update_hash(event))


def _derive(tasks: list[TaskProgress], *, updates: int, head: str) -> ExecStatus:
    """An exec status with its derived fields computed from ``tasks``."""
    ordered = sorted(tasks, key=lambda t: t.task)
    return ExecStatus(
        tasks=ordered,
        completion=round(sum(t.percent for t in ordered) / len(ordered)) if ordered else 0,
        passed=sum(t.state == "done" for t in ordered),
        failed=sum(t.state == "failed" for t in ordered),
        blockers=[f"{t.task}: {t.note or 'blocked'}" for t in ordered if t.state == "blocked"],
        updates=updates, chain_head=head)


def _record_checkpoint(
    checkpoints: list[CheckpointRecord], event: CheckpointRecorded
) -> list[CheckpointRecord]:
    for n, existing in enumerate(checkpoints):
        if existing.checkpoint_id == event.checkpoint_id:
            if existing.sha == event.sha:
                return checkpoints
            moved = existing.model_copy(update={
                "sha": event.sha, "patch_id": event.patch_id, "subject": event.subject,
                "tree": event.tree,
                "previous_shas": [*existing.previous_shas, existing.sha],
            })
            return [*checkpoints[:n], moved, *checkpoints[n + 1:]]
    record = CheckpointRecord(
        checkpoint_id=event.checkpoint_id, sha=event.sha, patch_id=event.patch_id,
        subject=event.subject, recorded_at=event.at, tree=event.tree,
    )
    return [*checkpoints, record]


def _moved(record: _R, event: CommitRewritten) -> _R:
    key = "sha" if isinstance(record, CheckpointRecord) else "commit_sha"
    return record.model_copy(update={
        key: event.new_sha, "patch_id": event.patch_id, "tree": event.tree,
        "previous_shas": [*record.previous_shas, event.old_sha],
    })


def replay(events: Iterable[Event]) -> RunSnapshot:
    """The snapshot of a run from all its events, applied in event-id order.

    Raises :class:`InvalidStateError` when there are no events or the first is not
    ``run_started``.
    """
    return _fold(events, apply, "a run with no events has no snapshot")


_S = TypeVar("_S", RunSnapshot, PlanRecord)
_V = TypeVar("_V")


def _fold(events: Iterable[_V], step: Callable[[_S | None, _V], _S], empty: str) -> _S:
    """Apply ``events`` in event-id order from nothing; :class:`InvalidStateError`
    with ``empty`` when there are none."""
    state: _S | None = None
    for event in sorted(events, key=lambda e: e.event_id):  # type: ignore[attr-defined]
        state = step(state, event)
    if state is None:
        raise InvalidStateError(empty)
    return state


def is_noop(snapshot: RunSnapshot, event: Event) -> bool:
    """True when ``event`` would change nothing but the counters (a repeated record)."""
    if isinstance(event, CheckpointRecorded):
        return any(c.checkpoint_id == event.checkpoint_id and c.sha == event.sha
                   for c in snapshot.checkpoints)
    if isinstance(event, CommitRewritten):
        return not any(c.sha == event.old_sha for c in snapshot.checkpoints) and not any(
            i.commit_sha == event.old_sha for i in snapshot.interventions)
    if isinstance(event, InterventionLinked):
        return any(i.intervention_id == event.intervention_id and i.commit_sha == event.sha
                   for i in snapshot.interventions)
    if isinstance(event, ArtifactAdded):
        return any(a.name == event.name and a.sha256 == event.sha256
                   for a in snapshot.artifacts)
    return False


# --------------------------------------------------------------------------- plans


def check_plan(record: PlanRecord | None, event: PlanEvent) -> None:
    """Refuse a plan event the plan's record does not allow.

    - ``plan_run_started``: the run must not be listed yet.
    - ``run_accepted``: the run must be one of the plan's runs.
    - ``plan_approved``: always allowed (a new approval replaces the last).

    Raises :class:`InvalidStateError` or :class:`NotFoundError`.
    """
    runs = record.runs if record is not None else []
    if isinstance(event, LaneChanged):
        check_lane(record, event)
    if isinstance(event, PlanRunStarted) and event.run_id in runs:
        raise InvalidStateError(f"run {event.run_id} is already a run of {event.plan_ref}")
    if isinstance(event, RunAccepted) and event.run_id not in runs:
        raise NotFoundError(f"run {event.run_id} is not a run of plan {event.plan_ref}; "
                            f"`git runr runs {event.plan_ref}` lists its runs")


def apply_plan(record: PlanRecord | None, event: PlanEvent) -> PlanRecord:
    """The plan record after ``event`` (the first event creates it). Does not validate:
    call :func:`check_plan` first."""
    if record is None:
        record = PlanRecord(plan_ref=event.plan_ref, created_at=event.at, updated_at=event.at,
                            event_count=0, last_event_id=event.event_id)
    update: dict[str, object] = {
        "updated_at": max(record.updated_at, event.at),
        "event_count": record.event_count + 1,
        "last_event_id": max(record.last_event_id, event.event_id),
    }
    if isinstance(event, PlanApproved):
        update["approvals"] = [*record.approvals, Approval(
            event_id=event.event_id, content_hash=event.content_hash, at=event.at,
            actor=event.actor, reason=event.reason)]
    elif isinstance(event, PlanRunStarted):
        if event.run_id not in record.runs:
            update["runs"] = sorted([*record.runs, event.run_id])
    elif isinstance(event, RunAccepted):
        update.update(accepted_run_id=event.run_id, accepted_at=event.at,
                      accepted_by=event.actor)
    elif isinstance(event, LaneChanged):
        update["lane"] = event.to_lane
        if event.verb in ("claim", "steal"):
            update.update(holder=event.actor, lease_until=event.lease_until)
        elif event.to_lane in ("planned", "canceled", "done"):
            update.update(holder=None, lease_until=None)
        if event.line is not None:
            update["line"] = event.line
        update["lane_history"] = [*record.lane_history, LaneTransition(
            event_id=event.event_id, at=event.at, actor=event.actor, verb=event.verb,
            from_lane=event.from_lane, to_lane=event.to_lane, reason=event.reason,
            evidence=event.evidence, review_ref=event.review_ref, workspace=event.workspace,
            run_id=event.run_id, forced=event.forced)]
    return record.model_copy(update=update)


#: What each verb's guard needs (seed 004's transition labels), by event field.
GUARDS: dict[str, tuple[str, str]] = {
    "start": ("workspace", "a workspace context (worktree and branch)"),
    "ready_for_review": ("evidence", "evidence (--evidence)"),
    "approve": ("evidence", "done evidence (--evidence)"),
    "changes_requested": ("review_ref", "a review ref (--review-ref)"),
    "replan": ("review_ref", "a review ref (--review-ref)"),
    "reassign": ("reason", "a reason (--reason)"),
    "block": ("reason", "a reason (--reason)"),
}


def check_lane(record: PlanRecord | None, event: LaneChanged) -> None:
    """Refuse a lane move seed 004's machine does not allow, naming why.

    The lane must be ``from_lane`` (so concurrent claims are a compare-and-swap: one
    wins, the others find the lane claimed); the move must be one of
    :data:`~gitrunr.models.LANE_EDGES`, or, out of a terminal lane (done, canceled),
    ``forced`` with a reason; and the verb's guard (:data:`GUARDS`; every move needs
    an actor; a steal needs a lapsed lease held by someone else) must be met.
    Raises :class:`InvalidStateError`.
    """
    lane = record.lane if record is not None else "planned"
    plan = event.plan_ref
    if lane != event.from_lane:
        held = ""
        if record is not None and record.holder and lane in ("claimed", "in_progress"):
            until = record.lease_until.isoformat(timespec="seconds") \
                if record.lease_until else "no expiry"
            held = f" by {record.holder} (lease: {until})"
        raise InvalidStateError(f"{plan} is {lane}{held}, not {event.from_lane}; "
                                f"`git runr show {plan}` shows its lane")
    if lane in TERMINAL_LANES:
        if not event.forced:
            raise InvalidStateError(f"{plan} is {lane}, which is terminal: {event.verb} needs "
                                    "--force with --actor and --reason")
        if event.to_lane != VERB_TARGET[event.verb] or not (event.reason or "").strip():
            raise InvalidStateError(f"a forced {event.verb} of {plan} goes to "
                                    f"{VERB_TARGET[event.verb]} and needs --reason")
    elif LANE_EDGES.get((lane, event.verb)) != event.to_lane:
        allowed = sorted(v for (f, v) in LANE_EDGES if f == lane)
        raise InvalidStateError(f"{event.verb} is not a move from {lane} ({plan}); from {lane} "
                                f"the moves are: {', '.join(allowed)}")
    if not event.actor.strip():
        raise InvalidStateError(f"{event.verb} of {plan} needs an actor (--actor)")
    field, what = GUARDS.get(event.verb, ("", ""))
    value = getattr(event, field) if field else None
    given = any(v.strip() for v in value) if isinstance(value, list) else (
        value.strip() if isinstance(value, str) else value)
    if field and not given:
        raise InvalidStateError(f"{event.verb} of {plan} needs {what}")
    if event.verb == "steal":
        assert record is not None  # claimed, so it has a record
        if record.lease_until is None or event.at < record.lease_until:
            until = record.lease_until.isoformat(timespec="seconds") \
                if record.lease_until else "never expires"
            raise InvalidStateError(f"{plan} is claimed by {record.holder}, whose lease "
                                    f"{'lasts until ' + until if record.lease_until else until};"
                                    " it can be stolen only after it lapses")
        if record.holder == event.actor:
            raise InvalidStateError(f"{plan} is already claimed by {event.actor}, and a claim "
                                    "is not renewed: start the run while the lease lasts, or "
                                    "claim with a longer --lease next time")


def replay_plan(events: Iterable[PlanEvent]) -> PlanRecord:
    """The record of a plan from all its events, in event-id order. Raises
    :class:`InvalidStateError` when there are none."""
    return _fold(events, apply_plan, "a plan with no events has no record")


def is_plan_noop(record: PlanRecord, event: PlanEvent) -> bool:
    """True when ``event`` would change nothing (a run already listed)."""
    return isinstance(event, PlanRunStarted) and event.run_id in record.runs
