"""What ``status``, ``ready``, ``show`` and ``runs`` print, as documents.

Seed ``000_78460206fc1b2322.txt``: planning commands operate on plans, runtime
commands on runs, and ``show`` speaks both. Each function here reads the plans of
the work tree and the ledger and returns one of the documents below; the CLI prints
it as text, JSON (the canonical form, schemas in ``docs/schemas/``) or TOON. Nothing
here writes.

Ordering is deterministic: plans by ref (initiative, then phase and number compared
as numbers), runs newest first (run ids sort by start time and are unique).
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from gitrunr import config, ledger, planning
from gitrunr.errors import InvalidStateError, NotFoundError, UsageError
from gitrunr.ids import is_run_id
from gitrunr.models import (
    Approval,
    ArtifactEntry,
    Diagnosis,
    Document,
    ExecStatus,
    Lane,
    LaneTransition,
    PlanRecord,
    Receipt,
    RunListItem,
    RunSnapshot,
)
from gitrunr.plans import Plan, PlanStatus, PlanTask
from gitrunr.repo import RunrRepo
from gitrunr.runs import get, list_item


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlanBrief(_Out):
    """A plan in one line, as ``status`` lists it."""

    ref: str
    title: str
    path: str
    #: drafted, approved or ready (docs/plans.md: a ledger approval of the plan as it
    #: stands lifts drafted to approved).
    status: PlanStatus
    changed_since_approval: bool
    #: The lifecycle lane (docs/lifecycle.md) and who holds the claim.
    lane: Lane
    holder: str | None
    #: True once a run of the plan was accepted.
    done: bool
    accepted_run_id: str | None
    #: How many runs the plan has had.
    runs: int
    #: The newest run, or None (the plan is still a proposal).
    latest_run: RunListItem | None


class PlanInfo(_Out):
    """A plan in full: its file's contents and what the ledger knows of it."""

    ref: str
    initiative: str
    phase: str
    number: str
    title: str
    path: str
    status: PlanStatus
    depends_on: list[str]
    target_branch: str | None
    objective: str
    tasks: list[PlanTask]
    criteria: list[str]
    content_hash: str
    approval: Approval | None
    changed_since_approval: bool
    lane: Lane
    holder: str | None
    lease_until: AwareDatetime | None
    #: The line (branch) its lifecycle belongs to, once a move recorded it.
    line: str | None
    lane_history: list[LaneTransition]
    done: bool
    accepted_run_id: str | None
    #: ``NN-SUMMARY.md`` beside the plan, when an accepted run wrote it.
    summary_path: str | None
    #: Why a run cannot start now (empty when it can).
    blockers: list[str]


class StatusReport(Document):
    """``git runr status``: every plan of the work tree with its planning status and
    its latest run, grouped by initiative and phase in the text form."""

    #: The plans directory (``[plans] root`` in .runr/runr.toml).
    root: str
    #: The workflow mode of .runr/runr.toml (flow or ledger).
    mode: str
    plans: list[PlanBrief]
    #: Plan files that could not be read, one line each.
    problems: list[str]


class ReadyItem(_Out):
    ref: str
    title: str
    path: str
    status: PlanStatus
    depends_on: list[str]


class WaitingItem(_Out):
    """An approved or ready plan that is not ready to start, and why."""

    ref: str
    reasons: list[str]


class ReadyReport(Document):
    """``git runr ready``: plans an agent can start now (approved or ready, not done,
    not running, dependencies done), and the approved ones still waiting."""

    plans: list[ReadyItem]
    waiting: list[WaitingItem]


class PlanView(Document):
    """``git runr show PLAN``: the plan, its runs newest first, and one run in full
    (the latest, or the one chosen with ``--run``); ``note`` says when there is none."""

    kind: Literal["plan"] = "plan"
    plan: PlanInfo
    runs: list[RunListItem]
    run: RunSnapshot | None
    note: str | None


class RunView(Document):
    """``git runr show RUN``: execution only: states, steps, checkpoints,
    interventions, artifacts."""

    kind: Literal["run"] = "run"
    run: RunSnapshot
    accepted: bool
    #: When the run was accepted, if it was.
    accepted_at: AwareDatetime | None


class Accepted(Document):
    """``git runr run accept --json``: the accepted run, its plan's record, and the
    summary written (relative to the work tree)."""

    run: RunSnapshot
    plan: PlanRecord
    summary_path: str


class ProgressReport(Document):
    """``git runr progress --json``: the run's exec status after the update."""

    run_id: str
    exec_status: ExecStatus


class Artifacts(Document):
    """``git runr artifact add|list --json``: manifest entries of a run."""

    run_id: str
    artifacts: list[ArtifactEntry]


class Integration(_Out):
    target: str
    method: str
    old: str | None
    new: str
    commits: list[str]


class SubmitReport(Document):
    """``git runr submit --json``: the run, its plan's record after the lane move (null
    when it did not move), and the integration (null without ``--integrate``)."""

    run: RunSnapshot
    plan: PlanRecord | None
    integrated: Integration | None


class ReceiptReport(Document):
    """``git runr receipt --json``: the receipt of a run that ended."""

    run_id: str
    receipt: Receipt


class DiagnoseReport(Document):
    """``git runr diagnose --json``: why a run stopped, in seed 002's structure."""

    run_id: str
    state: str
    stop_reason: str | None
    diagnosis: Diagnosis | None
    escalations: list[str]


def diagnose(repo: RunrRepo, run_id: str) -> DiagnoseReport:
    """The diagnosis of ``run_id``. Raises :class:`InvalidStateError` for a run that
    never stopped (there is nothing to diagnose)."""
    snapshot = get(repo, run_id)
    if snapshot.stop_reason is None:
        raise InvalidStateError(f"run {run_id} is {snapshot.state} and never stopped: nothing "
                                "to diagnose")
    return DiagnoseReport(run_id=run_id, state=snapshot.state, stop_reason=snapshot.stop_reason,
                          diagnosis=snapshot.diagnosis, escalations=snapshot.escalations)


def status(repo: RunrRepo) -> StatusReport:
    """Every plan with its planning status and latest run. Never fails because no run
    exists; an unreadable plan file is listed in ``problems``, not raised."""
    space = planning.workspace(repo)
    mode = config.load(repo.require_worktree()).workflow.mode
    briefs = []
    for plan in space.plans:
        record = space.record(plan)
        latest = None
        if record is not None and record.runs:
            snapshot = space.view.run(record.runs[-1])
            if snapshot is not None:
                latest = list_item(snapshot, record.accepted_run_id == snapshot.run_id)
        briefs.append(PlanBrief(
            ref=plan.ref, title=plan.title, path=plan.path, status=space.status(plan),
            changed_since_approval=space.changed_since_approval(plan),
            lane=record.lane if record is not None else "planned",
            holder=record.holder if record is not None else None,
            done=space.is_done(plan),
            accepted_run_id=record.accepted_run_id if record is not None else None,
            runs=len(record.runs) if record is not None else 0, latest_run=latest))
    return StatusReport(root=space.root, mode=mode, plans=briefs, problems=space.problems)


def ready(repo: RunrRepo) -> ReadyReport:
    """Plans that can start now, in ref order; never needs a run (seed 000: "If
    `ready` ever required a run, something went wrong")."""
    space = planning.workspace(repo)
    items, waiting = [], []
    for plan in space.plans:
        status = space.status(plan)
        record = space.record(plan)
        lane = record.lane if record is not None else "planned"
        if status == "drafted" or space.is_done(plan) or lane in ("done", "canceled"):
            continue
        reasons = space.blockers(plan)
        running = space.open_runs(plan)
        if running:
            reasons.insert(0, f"it is running: {', '.join(running)}")
        elif lane != "planned":
            held = f" by {record.holder}" if record is not None and record.holder else ""
            reasons.insert(0, f"it is {lane}{held}")
        if reasons:
            waiting.append(WaitingItem(ref=plan.ref, reasons=reasons))
        else:
            items.append(ReadyItem(ref=plan.ref, title=plan.title, path=plan.path,
                                   status=status, depends_on=list(plan.depends_on)))
    return ReadyReport(plans=items, waiting=waiting)


def show(repo: RunrRepo, ref: str, *, run_id: str | None = None) -> PlanView | RunView:
    """A run (``ref`` is a run id) or a plan (``ref`` names one) with its runs.

    Raises :class:`NotFoundError` for an unknown run or plan, or a ``run_id`` that is
    not a run of the plan; :class:`~gitrunr.errors.UsageError` for an ambiguous ref.
    """
    if is_run_id(ref):
        if run_id is not None:
            raise UsageError("--run chooses a run of a plan; REF is already a run")
        snapshot = get(repo, ref)
        record = ledger.read(repo).plan(snapshot.plan_ref) if snapshot.plan_ref else None
        accepted = record is not None and record.accepted_run_id == snapshot.run_id
        return RunView(run=snapshot, accepted=accepted,
                       accepted_at=record.accepted_at if accepted and record else None)
    space = planning.workspace(repo)
    plan = space.find(ref)
    record = space.record(plan)
    run_ids = list(reversed(record.runs)) if record is not None else []
    accepted_id = record.accepted_run_id if record is not None else None
    runs = [list_item(s, s.run_id == accepted_id)
            for s in (space.view.run(r) for r in run_ids) if s is not None]
    chosen: RunSnapshot | None = None
    if run_id is not None:
        if run_id not in run_ids:
            raise NotFoundError(f"{run_id} is not a run of {plan.ref}; `git runr runs "
                                f"{plan.ref}` lists its runs")
        chosen = space.view.run(run_id)
    elif run_ids:
        chosen = space.view.run(run_ids[0])
    return PlanView(plan=plan_info(space, plan), runs=runs, run=chosen,
                    note=None if run_ids else "no runs yet: this plan is a proposal")


def plan_info(space: planning.Workspace, plan: Plan) -> PlanInfo:
    """Everything known of ``plan``: its file and its ledger record."""
    record = space.record(plan)
    summary = space.repo.require_worktree() / plan.summary_path
    accepted = record.accepted_run_id if record is not None else None
    return PlanInfo(
        ref=plan.ref, initiative=plan.initiative, phase=plan.phase, number=plan.number,
        title=plan.title, path=plan.path, status=space.status(plan),
        depends_on=list(plan.depends_on), target_branch=plan.target_branch,
        objective=plan.objective, tasks=list(plan.tasks), criteria=list(plan.criteria),
        content_hash=plan.content_hash,
        approval=record.approval if record is not None else None,
        changed_since_approval=space.changed_since_approval(plan),
        lane=record.lane if record is not None else "planned",
        holder=record.holder if record is not None else None,
        lease_until=record.lease_until if record is not None else None,
        line=record.line if record is not None else None,
        lane_history=record.lane_history if record is not None else [],
        done=accepted is not None, accepted_run_id=accepted,
        summary_path=plan.summary_path if accepted and summary.is_file() else None,
        blockers=space.blockers(plan))
