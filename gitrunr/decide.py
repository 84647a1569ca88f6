"""Runtime decisioning: what to do next. Reads only; never writes.

Seed ``004_6b658e854f93eade.txt``: "Runtime decides what should happen next.
Status/event model validates and persists what did happen." This module is the
first half: :func:`next_actions` looks at the plans, their lanes, leases and runs
and recommends; the lifecycle commands (:mod:`gitrunr.lifecycle`) are the only
writers. A recommendation is a command to run, so an agent can act on it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from gitrunr import planning
from gitrunr.models import Document, PlanRecord, RunSnapshot, utcnow
from gitrunr.plans import Plan
from gitrunr.repo import RunrRepo

Action = Literal["continue", "submit", "start", "retry", "review", "steal", "claim",
                 "unblock"]
#: The order recommendations come in: finish your own work before taking more.
PRIORITY: tuple[Action, ...] = ("continue", "submit", "start", "retry", "review", "steal",
                                "claim", "unblock")


class Recommendation(BaseModel):
    """One thing to do: which, on what, the command, and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Action
    plan_ref: str
    run_id: str | None = None
    command: str
    reason: str


class NextReport(Document):
    """``git runr next --json``: recommendations, most pressing first; the first is
    *the* next thing to do. Empty when there is nothing to do."""

    actor: str
    recommendations: list[Recommendation]


def next_actions(repo: RunrRepo, actor: str) -> NextReport:
    """What ``actor`` should do next, from ready plans, lanes, leases and runs.

    Mutates nothing. Ordered by :data:`PRIORITY`, then by plan ref.
    """
    space = planning.workspace(repo)
    found: list[Recommendation] = []
    now = utcnow()
    for plan in space.plans:
        record = space.record(plan)
        lane = record.lane if record is not None else "planned"
        mine = record is not None and record.holder == actor
        found += _for_plan(space, plan, record, lane, mine, actor, now)
    found.sort(key=lambda r: (PRIORITY.index(r.action), r.plan_ref))
    return NextReport(actor=actor, recommendations=found)


def _for_plan(space: planning.Workspace, plan: Plan, record: PlanRecord | None, lane: str,
              mine: bool, actor: str, now: datetime) -> list[Recommendation]:
    ref = plan.ref
    if lane == "in_progress" and mine:
        run = _open_run(space, record)
        if run is None:
            return [Recommendation(action="retry", plan_ref=ref, command=f"git runr run start "
                                   f"{ref} --actor '{actor}'",
                                   reason="in progress, but its last run ended")]
        undone = [t.task for t in run.exec_status.tasks if t.state != "done"]
        if not undone and run.state in ("active", "verifying/passed"):
            return [Recommendation(action="submit", plan_ref=ref, run_id=run.run_id,
                                   command=f"git runr submit {run.run_id} --evidence …",
                                   reason="every task is done: submit it for review")]
        step = f" (step {run.current_step})" if run.current_step else ""
        todo = f"; tasks left: {', '.join(undone)}" if undone else ""
        return [Recommendation(action="continue", plan_ref=ref, run_id=run.run_id,
                               command=f"git runr show {run.run_id}",
                               reason=f"run {run.run_id} is {run.state}{step}{todo}")]
    if lane == "claimed" and mine:
        return [Recommendation(action="start", plan_ref=ref, command=f"git runr run start "
                               f"{ref} --actor '{actor}'", reason="you hold the claim")]
    if lane == "claimed" and record is not None and record.lease_until is not None \
            and record.lease_until <= now:
        return [Recommendation(action="steal", plan_ref=ref, command=f"git runr claim {ref} "
                               f"--actor '{actor}' --steal",
                               reason=f"the claim of {record.holder} lapsed at "
                                      f"{record.lease_until.isoformat(timespec='seconds')}")]
    if lane == "for_review" and not mine:
        run = _open_run(space, record)
        target = run.run_id if run is not None else ref
        return [Recommendation(action="review", plan_ref=ref, run_id=run.run_id if run else None,
                               command=f"git runr approve {target} --evidence … | git runr "
                                       f"request-changes {target} --review-ref …",
                               reason=f"submitted by {record.holder if record else '—'}")]
    if lane == "blocked":
        last = record.lane_history[-1] if record is not None and record.lane_history else None
        return [Recommendation(action="unblock", plan_ref=ref,
                               command=f"git runr unblock {ref}",
                               reason=f"blocked: {last.reason if last else 'no reason given'}")]
    if lane == "planned" and space.status(plan) != "drafted" and not space.is_done(plan) \
            and not space.blockers(plan):
        return [Recommendation(action="claim", plan_ref=ref, command=f"git runr claim {ref} "
                               f"--actor '{actor}'", reason="ready and unclaimed")]
    return []


def _open_run(space: planning.Workspace, record: PlanRecord | None) -> RunSnapshot | None:
    for run_id in reversed(record.runs if record is not None else []):
        run = space.view.run(run_id)
        if run is not None and run.is_open:
            return run
    return None
