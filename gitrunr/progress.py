"""Exec status: a run's live, per-task progress, kept apart from its plan.

Seed ``003_f84484d295a09bfe.txt`` (ADR-OS-016): the plan is the immutable work
order, the exec status its mutable observation. Here the exec status is part of the
run's record in the ledger, created at run start with the plan's tasks at 0%
(:func:`gitrunr.events.apply`), changed only by ``progress_updated`` events, each of
which touches one task's sub-object, names the persona that wrote it and the hash of
the run's previous update (a hash chain per run), and is signed with the user's git
signing key when one is configured. After the run is finalized the exec status is
frozen: updates are refused.
"""

from __future__ import annotations

from collections.abc import Sequence

from gitrunr import ledger, signing, workflow
from gitrunr.errors import InvalidStateError, NotFoundError, UsageError
from gitrunr.events import genesis, signed_bytes
from gitrunr.ids import new_id
from gitrunr.ledger import AnyEvent
from gitrunr.models import ProgressUpdated, RunSnapshot, TaskState, utcnow
from gitrunr.repo import RunrRepo
from gitrunr.runs import validate_run_id


def update(repo: RunrRepo, run_id: str, task: str, *, percent: int | None = None,
           state: TaskState | str | None = None, note: str | None = None,
           persona: str | None = None, actor: str | None = None) -> RunSnapshot:
    """Record one task's progress in ``run_id``'s exec status and return the run.

    The update is built from the run as the ledger holds it at the moment of writing
    (so its ``prev_hash`` is the chain's head even when other personas write at the
    same time: a lost compare-and-swap is retried with a fresh head), and signed when
    ``user.signingKey`` is set. ``state`` done with no ``percent`` means 100%.

    Raises :class:`UsageError` when nothing is given to update or a value is bad,
    :class:`NotFoundError` for an unknown run or task, :class:`InvalidStateError` for
    a finalized run (frozen), :class:`~gitrunr.errors.GitError` when signing fails.
    """
    validate_run_id(run_id)
    if percent is None and state is None and note is None:
        raise UsageError("say what changed: --percent, --state or --note")
    if note is not None and ("\n" in note or "\r" in note):
        raise UsageError("--note must be one line")
    who = actor or ledger.actor(repo.git)
    signer = signing.signer(repo.workdir or repo.cwd)
    current = ledger.read(repo).run(run_id)
    if current is not None and current.is_open:
        workflow.require_open(repo, current, "take progress updates")

    def build(view: ledger.LedgerView) -> Sequence[AnyEvent]:
        snapshot = view.run(run_id)
        if snapshot is None:
            raise NotFoundError(f"unknown run {run_id}: `git runr runs` lists the runs")
        if not snapshot.is_open:
            raise InvalidStateError(f"run {run_id} is {snapshot.state}: its exec status is "
                                    "frozen")
        event = ProgressUpdated.model_validate({
            "event_id": new_id("ev"), "run_id": run_id, "at": utcnow(), "actor": who,
            "task": task, "percent": percent, "state": state, "note": note,
            "persona": persona,
            "prev_hash": snapshot.exec_status.chain_head or genesis(run_id)})
        if signer is not None:
            event = event.model_copy(update={"signature": signer.sign(signed_bytes(event))})
        return [event]

    try:
        result = ledger.append_built(repo, build)
    except ValueError as exc:  # pydantic: a task id, percent or state out of shape
        raise UsageError(f"bad progress update: {exc}") from None
    return result.snapshots[run_id]
