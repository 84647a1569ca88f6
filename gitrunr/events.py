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
    CheckpointRecord,
    CheckpointRecorded,
    CommitRewritten,
    Event,
    InterventionLinked,
    InterventionRecord,
    InterventionRecorded,
    RunFinished,
    RunSnapshot,
    RunStarted,
)

_R = TypeVar("_R", CheckpointRecord, InterventionRecord)


def check(snapshot: RunSnapshot | None, event: Event) -> None:
    """Refuse an event the run's current state does not allow.

    - ``run_started``: the run must not exist yet.
    - ``checkpoint_recorded``, ``intervention_recorded``, ``run_finished``: the run
      must exist and be active (a finalized run takes no new work).
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
    if (isinstance(event, CheckpointRecorded | InterventionRecorded | RunFinished)
            and not snapshot.is_active):
        raise InvalidStateError(
            f"run {event.run_id} is already {snapshot.state}; start a new run with "
            "`git runr run start`"
        )
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
            base_sha=event.base_sha, branch=event.branch, actor=event.actor,
            created_at=event.at, updated_at=event.at, event_count=1,
            last_event_id=event.event_id,
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
    elif isinstance(event, RunFinished):
        update.update(state=FINAL_STATE[event.outcome], outcome=event.outcome,
                      finished_at=event.at)
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
    return False
