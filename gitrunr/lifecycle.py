"""Lifecycle mutation: the lane of a plan, moved by guarded, recorded transitions.

Seed ``004_6b658e854f93eade.txt``: "Runtime decisioning and lifecycle mutation are
separate authorities ... Status/event model validates and persists what did
happen." This module validates and persists; :mod:`gitrunr.decide` recommends and
never writes. The machine is seed 004's, exactly (:data:`gitrunr.models.LANE_EDGES`);
each move is a ``lane_changed`` event in the plan's log, checked again by
:func:`gitrunr.events.check_lane` inside the ledger's compare-and-swap.

How lanes, plans and runs map onto each other (docs/lifecycle.md):

========================  =====================================================
lane move                 what happens to runs (same ledger write)
========================  =====================================================
claim / steal             nothing; the holder and lease are recorded
start                     ``git runr run start PLAN``: a run begins (a planned
                          plan is claimed by the same actor first)
ready_for_review          ``submit``: the run under review goes to verifying
approve                   ``approve`` / ``run accept``: the run is accepted
                          (finalized as passed) and SUMMARY.md is written
changes_requested         the run under review goes back to active
replan, reassign, cancel  the plan's open runs are finalized as aborted
block / unblock           nothing
========================  =====================================================

Lifecycle records live in the ledger, never in a branch: which worktree or branch a
command runs from changes nothing. Each move records the plan's *line*, its
``target_branch`` or the default branch (seed 004: branch target routing).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import TypeAdapter, ValidationError

from gitrunr import ledger, planning
from gitrunr.errors import InvalidStateError, NotFoundError, UsageError
from gitrunr.events import check_lane
from gitrunr.git import run_git
from gitrunr.ids import is_run_id, new_id
from gitrunr.models import (
    LANE_EDGES,
    TERMINAL_LANES,
    VERB_TARGET,
    Event,
    Lane,
    LaneChanged,
    LaneVerb,
    PlanEvent,
    PlanRecord,
    RunSnapshot,
    RunTransitioned,
    WorkspaceContext,
    utcnow,
)
from gitrunr.plans import Plan
from gitrunr.repo import RunrRepo

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_lease(text: str) -> timedelta:
    """A lease duration: ``30m``, ``2h``, ``1d``, ``90s``, or what pydantic reads as a
    timedelta (ISO 8601 ``PT30M``, seconds). Raises :class:`UsageError`."""
    match = _DURATION.match(text.strip())
    try:
        value: timedelta = TypeAdapter(timedelta).validate_python(
            int(match[1]) * _UNIT[match[2]] if match else text.strip())
    except ValidationError:
        raise UsageError(f"--lease {text!r} is not a duration: use 30m, 2h, 1d or PT30M"
                         ) from None
    if value <= timedelta(0):
        raise UsageError("--lease must be longer than zero")
    return value


def default_line(repo: RunrRepo) -> str:
    """The default branch: the remote's HEAD (``refs/remotes/origin/HEAD``), else
    ``init.defaultBranch``, else ``main``. Plans without ``target_branch`` belong to it."""
    cwd = repo.cwd
    head = run_git(["symbolic-ref", "-q", "--short", "refs/remotes/origin/HEAD"], cwd=cwd,
                   check=False)
    if head.returncode == 0 and head.stdout.strip():
        return head.stdout.decode().strip().split("/", 1)[-1]
    configured = run_git(["config", "--get", "init.defaultBranch"], cwd=cwd, check=False)
    return configured.stdout.decode().strip() or "main"


def line_of(repo: RunrRepo, plan: Plan) -> str:
    """The line a plan's lifecycle belongs to (seed 004: ``target_branch`` routes)."""
    return plan.target_branch or default_line(repo)


def workspace_context(repo: RunrRepo) -> WorkspaceContext:
    """This worktree's path and branch (None when HEAD is detached)."""
    workdir = repo.require_worktree()
    branch = None
    if not repo.git.head_is_detached and not repo.git.head_is_unborn:
        branch = str(repo.git.references["HEAD"].target).removeprefix("refs/heads/")
    elif repo.git.head_is_unborn:
        target = run_git(["symbolic-ref", "-q", "--short", "HEAD"], cwd=workdir, check=False)
        branch = target.stdout.decode().strip() or None
    return WorkspaceContext(worktree=str(workdir), branch=branch)


@dataclass
class Move:
    """A lane move to write: the plan, its record as read, the events of the move and
    of what it does to runs, and the runs it finalizes (their worktree lets go)."""

    plan: Plan
    record: PlanRecord | None
    events: list[Event | PlanEvent] = field(default_factory=list)
    released: list[str] = field(default_factory=list)

    @property
    def lane(self) -> Lane:
        return self.record.lane if self.record is not None else "planned"


def lane_event(move: Move, verb: LaneVerb, *, actor: str, line: str, at: datetime,
               reason: str | None = None, evidence: Sequence[str] = (),
               review_ref: str | None = None, workspace: WorkspaceContext | None = None,
               run_id: str | None = None, lease_until: datetime | None = None,
               force: bool = False) -> LaneChanged:
    """The ``lane_changed`` event for ``verb`` from the move's current lane, appended to
    the move (its lane is then the target). Raises :class:`InvalidStateError` naming
    the missing guard or the moves allowed, before anything is written."""
    lane = move.lane if not move.events else _last_lane(move)
    forced = force and lane in TERMINAL_LANES
    if force and not forced:
        raise UsageError(f"--force lifts only a terminal lane (done, canceled); "
                         f"{move.plan.ref} is {lane}")
    to = VERB_TARGET[verb] if forced else LANE_EDGES.get((lane, verb))
    record = move.record
    if verb == "claim" and lane != "planned" and record is not None and record.holder:
        until = record.lease_until.isoformat(timespec="seconds") if record.lease_until \
            else "no expiry"
        raise InvalidStateError(f"{move.plan.ref} is {lane}, held by {record.holder} (lease: "
                                f"{until}); `git runr claim --steal` takes a lapsed claim")
    if to is None:
        if lane in TERMINAL_LANES:
            raise InvalidStateError(f"{move.plan.ref} is {lane}, which is terminal: {verb} "
                                    "needs --force with --actor and --reason")
        allowed = sorted(v for (f, v) in LANE_EDGES if f == lane)
        raise InvalidStateError(f"{verb} is not a move from {lane} ({move.plan.ref}); from "
                                f"{lane} the moves are: {', '.join(allowed)}")
    event = LaneChanged(
        event_id=new_id("ev"), plan_ref=move.plan.ref, at=at, actor=actor, verb=verb,
        from_lane=lane, to_lane=to, reason=reason, evidence=list(evidence),
        review_ref=review_ref, workspace=workspace, run_id=run_id, lease_until=lease_until,
        forced=forced, line=line)
    check_lane(_as_record(move, lane), event)
    move.events.append(event)
    return event


def _last_lane(move: Move) -> Lane:
    return next(e.to_lane for e in reversed(move.events) if isinstance(e, LaneChanged))


def _as_record(move: Move, lane: Lane) -> PlanRecord:
    """The record as the next event will find it (after the move's earlier events)."""
    now = utcnow()
    base = move.record or PlanRecord(plan_ref=move.plan.ref, created_at=now, updated_at=now,
                                     event_count=0, last_event_id="ev-" + "0" * 17)
    return base.model_copy(update={"lane": lane})


# --------------------------------------------------------------------------- the verbs


def resolve(repo: RunrRepo, ref: str) -> tuple[planning.Workspace, Plan, RunSnapshot | None]:
    """The plan (and run) ``ref`` names: a plan ref, suffix or path, or a run id (its
    plan). Raises :class:`NotFoundError` / :class:`UsageError`, and
    :class:`InvalidStateError` for an ad hoc run (it has no lane)."""
    space = planning.workspace(repo)
    if is_run_id(ref):
        run = space.view.run(ref)
        if run is None:
            raise NotFoundError(f"unknown run {ref}: `git runr runs` lists the runs")
        if run.plan_ref is None:
            raise InvalidStateError(f"run {ref} was started without a plan; lanes are a plan's "
                                    "lifecycle")
        return space, planning.find_plan_file(space, run.plan_ref), run
    return space, space.find(ref), None


def under_review(space: planning.Workspace, plan: Plan, run: RunSnapshot | None
                 ) -> RunSnapshot:
    """The run a review move concerns: ``run``, else the plan's newest open run, else
    its newest run. Raises :class:`InvalidStateError` when the plan has no run."""
    if run is not None:
        return run
    record = space.record(plan)
    ids = list(reversed(record.runs)) if record is not None else []
    snapshots = [s for s in (space.view.run(r) for r in ids) if s is not None]
    for snapshot in snapshots:
        if snapshot.is_open:
            return snapshot
    if snapshots:
        return snapshots[0]
    raise InvalidStateError(f"{plan.ref} has no run: start one with `git runr run start "
                            f"{plan.ref}`")


def claim(repo: RunrRepo, ref: str, *, actor: str, lease: timedelta | None = None,
          steal: bool = False, force: bool = False, reason: str | None = None) -> PlanRecord:
    """Claim a plan for ``actor`` (optionally for a lease), or with ``steal`` take over
    a claim whose lease lapsed. A compare-and-swap: of many claims at once, one wins
    and the others are refused naming the holder. Renewing one's own claim is a
    ``claim`` refused by the machine (claimed is not planned): steal is for others."""
    space, plan, _ = resolve(repo, ref)
    move = Move(plan, space.record(plan))
    at = utcnow()
    lane_event(move, "steal" if steal else "claim", actor=actor, line=line_of(repo, plan),
               at=at, lease_until=at + lease if lease else None, force=force, reason=reason)
    return write(repo, move).plans[plan.ref]


def transition(repo: RunrRepo, ref: str, verb: LaneVerb, *, actor: str, reason: str | None = None,
               evidence: Sequence[str] = (), review_ref: str | None = None,
               force: bool = False) -> tuple[PlanRecord, dict[str, RunSnapshot]]:
    """A lane move other than claim, start and approve (see :func:`approve`), with what
    it does to the plan's runs, in one ledger write.

    - ``ready_for_review`` (``submit``): every task of the run's exec status done, and
      evidence (``evidence``, or the run's artifacts); an active run goes to
      ``verifying/testing``.
    - ``changes_requested``: the run under review goes back to ``active``.
    - ``replan``, ``reassign``, ``cancel``: the plan's open runs end as aborted.
    - ``block``, ``unblock``: runs are left as they are.

    Returns the plan's record and the runs changed. Raises
    :class:`InvalidStateError` naming the missing guard or the allowed moves.
    """
    space, plan, run = resolve(repo, ref)
    move = plan_move(repo, space, plan, run, verb, actor=actor, reason=reason,
                     evidence=evidence, review_ref=review_ref, force=force)
    result = write(repo, move)
    return result.plans[plan.ref], result.snapshots


def plan_move(repo: RunrRepo, space: planning.Workspace, plan: Plan, run: RunSnapshot | None,
              verb: LaneVerb, *, actor: str, reason: str | None = None,
              evidence: Sequence[str] = (), review_ref: str | None = None,
              force: bool = False) -> Move:
    """The events of :func:`transition`, validated, not yet written (so a caller can
    add its own to the same ledger write, as ``submit --integrate`` does)."""
    move = Move(plan, space.record(plan))
    at = utcnow()
    line = line_of(repo, plan)
    evidence = [e for e in evidence if e.strip()]
    subject: RunSnapshot | None = None
    if verb in ("ready_for_review", "changes_requested"):
        subject = under_review(space, plan, run)
    if verb == "ready_for_review":
        assert subject is not None
        _require_subtasks(subject)
        evidence += [f"artifact {a.name} sha256:{a.sha256}" for a in subject.artifacts]
        if not evidence:
            raise InvalidStateError(f"ready_for_review of {plan.ref} needs evidence: give "
                                    "--evidence, or attach files with `git runr artifact add`")
    lane_event(move, verb, actor=actor, line=line, at=at, reason=reason, evidence=evidence,
               review_ref=review_ref, run_id=subject.run_id if subject else None, force=force)
    if verb == "ready_for_review" and subject is not None and subject.state == "active":
        move.events.append(RunTransitioned(
            event_id=new_id("ev"), run_id=subject.run_id, at=at, actor=actor,
            from_state="active", to_state="verifying/testing", reason="submitted for review"))
    elif verb == "changes_requested" and subject is not None \
            and subject.state.startswith("verifying/"):
        move.events.append(RunTransitioned(
            event_id=new_id("ev"), run_id=subject.run_id, at=at, actor=actor,
            from_state=subject.state,  # type: ignore[arg-type]  # a verifying state
            to_state="active", reason=f"changes requested ({review_ref})"))
    elif verb in ("replan", "reassign", "cancel"):
        _abort_open_runs(space, move, actor=actor, at=at,
                         reason=f"{verb}: {review_ref or reason or 'no reason given'}")
    return move


def _require_subtasks(run: RunSnapshot) -> None:
    undone = [t for t in run.exec_status.tasks if t.state != "done"]
    if undone:
        listed = ", ".join(f"{t.task} ({t.state}, {t.percent}%)" for t in undone)
        raise InvalidStateError(
            f"ready_for_review needs every subtask done; not done in {run.run_id}: {listed}; "
            f"record them with `git runr progress {run.run_id} --task T --state done`")


def _abort_open_runs(space: planning.Workspace, move: Move, *, actor: str, at: datetime,
                     reason: str) -> None:
    record = move.record
    for run_id in record.runs if record is not None else []:
        snapshot = space.view.run(run_id)
        if snapshot is not None and snapshot.is_open:
            from gitrunr.runs import finish_events

            move.events += finish_events(space.repo, snapshot, "aborted", reason=reason,
                                         actor=actor, at=at)
            move.released.append(run_id)


def start_events(repo: RunrRepo, space: planning.Workspace, plan: Plan, *, actor: str,
                 run_id: str, at: datetime) -> list[LaneChanged]:
    """The lane moves a new run of ``plan`` makes (seed 004: start needs a workspace
    context): from planned, a claim by ``actor`` then start; from claimed, start (a
    claim held by someone else under a live lease refuses; a lapsed one is stolen
    first); from in_progress, none (another attempt). Blocked, for_review, done and
    canceled plans refuse, saying what to do."""
    move = Move(plan, space.record(plan))
    line = line_of(repo, plan)
    lane = move.lane
    if lane in ("blocked", "for_review", "done", "canceled"):
        hint = {"blocked": "unblock it first (`git runr unblock`)",
                "for_review": "it is under review: request changes first "
                              "(`git runr request-changes`)",
                "done": "its accepted run is done (`--force` moves it back)",
                "canceled": "it was canceled"}[lane]
        raise InvalidStateError(f"cannot start a run of {plan.ref}: it is {lane}; {hint}")
    if lane == "in_progress":
        return []
    context = workspace_context(repo)
    if lane == "planned":
        lane_event(move, "claim", actor=actor, line=line, at=at)
    elif move.record is not None and move.record.holder not in (None, actor):
        lapsed = move.record.lease_until is not None and at >= move.record.lease_until
        if not lapsed:
            until = move.record.lease_until.isoformat(timespec="seconds") \
                if move.record.lease_until else "no expiry"
            raise InvalidStateError(f"cannot start a run of {plan.ref}: it is claimed by "
                                    f"{move.record.holder} (lease: {until})")
        lane_event(move, "steal", actor=actor, line=line, at=at)
    lane_event(move, "start", actor=actor, line=line, at=at, workspace=context, run_id=run_id)
    return [e for e in move.events if isinstance(e, LaneChanged)]


def approve_events(space: planning.Workspace, plan: Plan, run: RunSnapshot, *, actor: str,
                   line: str, at: datetime, evidence: Sequence[str], reason: str | None,
                   via_accept: bool, force: bool = False) -> list[LaneChanged]:
    """The lane moves that make ``run`` the plan's done work: ``approve`` from
    for_review; from in_progress (``run accept``), ``ready_for_review`` first, with
    its guards. Approve needs done evidence: ``evidence`` (``run accept`` names the
    run's passed verification as its evidence), and the run passed. ``run accept`` of
    the run already accepted changes nothing; ``force`` approves another run of a
    done plan (a forced move, with actor and reason)."""
    move = Move(plan, space.record(plan))
    if via_accept and move.lane == "done" and move.record is not None \
            and move.record.accepted_run_id == run.run_id:
        return []
    evidence = [e for e in evidence if e.strip()]
    if not via_accept and not evidence:
        raise InvalidStateError(f"approve of {plan.ref} needs done evidence (--evidence)")
    passed = f"run {run.run_id} passed verification ({run.state})"
    if move.lane == "in_progress" and via_accept:
        _require_subtasks(run)
        lane_event(move, "ready_for_review", actor=actor, line=line, at=at,
                   evidence=[passed], run_id=run.run_id, reason=reason)
    lane_event(move, "approve", actor=actor, line=line, at=at, reason=reason,
               evidence=[*evidence, passed], run_id=run.run_id, force=force)
    return [e for e in move.events if isinstance(e, LaneChanged)]


def write(repo: RunrRepo, move: Move) -> ledger.AppendResult:
    from gitrunr.runs import release

    result = ledger.append(repo, move.events)
    for run_id in move.released:
        release(repo, run_id)
    return result


def lane_of(record: PlanRecord | None) -> Lane:
    """The lane of a plan's record (``planned`` when the ledger has none)."""
    return record.lane if record is not None else "planned"
