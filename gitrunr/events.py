"""The run's event log and its snapshot: validation and replay.

A run is its events (``runs/<shard>/<run-id>/events/<event-id>.json`` in the ledger);
``run.json`` is a snapshot derived from them (seed ``004_6b658e854f93eade.txt``:
"event log + snapshot"; the status/event model "validates and persists what did
happen"). :func:`check` is the validation, :func:`apply` one step of the replay, and
:func:`replay` the whole of it. Replaying the events in event-id order (ids are
time-sortable, :mod:`gitrunr.ids`) always gives the stored snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from gitrunr.errors import InvalidStateError, NotFoundError
from gitrunr.models import (
    FINAL_STATE,
    RUN_TRANSITIONS,
    Approval,
    ArtifactAdded,
    ArtifactEntry,
    CheckpointRecord,
    CheckpointRecorded,
    CommitRewritten,
    Event,
    InterventionLinked,
    InterventionRecord,
    InterventionRecorded,
    PlanApproved,
    PlanEvent,
    PlanRecord,
    PlanRunStarted,
    RunAccepted,
    RunFinished,
    RunSnapshot,
    RunStarted,
    RunTransitioned,
    StepReached,
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
    if (isinstance(event, CheckpointRecorded | InterventionRecorded | RunFinished
                   | RunTransitioned | StepReached | ArtifactAdded)
            and not snapshot.is_open):
        raise InvalidStateError(
            f"run {event.run_id} is already {snapshot.state}; start a new run with "
            "`git runr run start`"
        )
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
    snapshot: RunSnapshot | None = None
    for event in sorted(events, key=lambda e: e.event_id):
        snapshot = apply(snapshot, event)
    if snapshot is None:
        raise InvalidStateError("a run with no events has no snapshot")
    return snapshot


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
    return record.model_copy(update=update)


def replay_plan(events: Iterable[PlanEvent]) -> PlanRecord:
    """The record of a plan from all its events, in event-id order. Raises
    :class:`InvalidStateError` when there are none."""
    record: PlanRecord | None = None
    for event in sorted(events, key=lambda e: e.event_id):
        record = apply_plan(record, event)
    if record is None:
        raise InvalidStateError("a plan with no events has no record")
    return record


def is_plan_noop(record: PlanRecord, event: PlanEvent) -> bool:
    """True when ``event`` would change nothing (a run already listed)."""
    return isinstance(event, PlanRunStarted) and event.run_id in record.runs
