"""Runs: start, finish, list and show (seed 000: a run is one attempt at a plan).

A run exists only once it is started; starting one makes it the active run of this
worktree, so the hooks stamp and record every commit made here as its checkpoint
until it is finished.
"""

from __future__ import annotations

from pydantic import ValidationError

from gitrunr import ledger
from gitrunr.errors import CorruptRecordError, InvalidStateError, NotFoundError, UsageError
from gitrunr.ids import is_run_id, new_id
from gitrunr.models import (
    ActiveRun,
    Outcome,
    RunFinished,
    RunList,
    RunListItem,
    RunSnapshot,
    RunStarted,
    utcnow,
)
from gitrunr.repo import RunrRepo
from gitrunr.state import ACTIVE_RUN, read_json, remove, write_json_atomic


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


def start(repo: RunrRepo, *, tier: str | None = None) -> RunSnapshot:
    """Create a run in the ledger and make it this worktree's active run.

    Raises :class:`InvalidStateError` when this worktree already has an active run,
    :class:`UsageError` for a tier with a newline, and ledger write errors.
    """
    repo.require_worktree()
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
    event = RunStarted(event_id=new_id("ev"), run_id=run_id, at=utcnow(),
                       actor=ledger.actor(repo.git), tier=tier, base_sha=head, branch=branch)
    result = ledger.append(repo, [event])
    snapshot = result.snapshots[run_id]
    write_json_atomic(repo.state_dir / ACTIVE_RUN, ActiveRun(
        run_id=run_id, tier=tier, started_at=event.at).model_dump(mode="json"))
    return snapshot


def get(repo: RunrRepo, run_id: str) -> RunSnapshot:
    """The snapshot of ``run_id``. Raises UsageError, NotFoundError, CorruptRecordError."""
    validate_run_id(run_id)
    snapshot = ledger.read(repo).run(run_id)
    if snapshot is None:
        raise NotFoundError(f"unknown run {run_id}: `git runr run list` shows the runs in "
                            "the ledger")
    return snapshot


def finish(repo: RunrRepo, run_id: str | None, outcome: Outcome) -> RunSnapshot:
    """Finish ``run_id`` (default: this worktree's active run) with ``outcome``.

    Its state becomes ``finalized/<outcome>``; if it is this worktree's active run, the
    worktree has no active run afterwards. Raises :class:`InvalidStateError` when no
    run is named and none is active, or the run is already finalized.
    """
    current = active_run(repo)
    if run_id is None:
        if current is None:
            raise InvalidStateError("no run is active in this worktree: name the run, "
                                    "`git runr run finish RUN_ID --outcome …`")
        run_id = current.run_id
    snapshot = get(repo, run_id)
    if not snapshot.is_active:
        raise InvalidStateError(f"run {run_id} is already {snapshot.state}")
    event = RunFinished(event_id=new_id("ev"), run_id=run_id, at=utcnow(),
                        actor=ledger.actor(repo.git), outcome=outcome)
    result = ledger.append(repo, [event])
    if current is not None and current.run_id == run_id:
        remove(repo.state_dir / ACTIVE_RUN)
    return result.snapshots[run_id]


def list_runs(repo: RunrRepo, *, limit: int | None = None) -> RunList:
    """Runs newest first (ties cannot occur: ids are unique and sort by time)."""
    view = ledger.read(repo)
    ids = view.run_ids()
    items = []
    for run_id in ids[:limit] if limit is not None else ids:
        snap = view.run(run_id)
        if snap is None:
            continue
        items.append(RunListItem(
            run_id=snap.run_id, state=snap.state, outcome=snap.outcome, tier=snap.tier,
            created_at=snap.created_at, finished_at=snap.finished_at,
            checkpoints=len(snap.checkpoints), interventions=len(snap.interventions)))
    return RunList(total=len(ids), runs=items)
