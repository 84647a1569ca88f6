"""Plans as the ledger sees them: approval, readiness, dependencies.

Seed ``000_78460206fc1b2322.txt``: a plan is a proposal until a run starts; planning
commands operate on plans. The plan's intent is its file (:mod:`gitrunr.plans`); the
ledger keeps what happened to it (``plans/<ref>/``: approvals, its runs, the accepted
run). This module joins the two.

- A plan's **status** is its front matter's ``status``; a ``drafted`` plan whose
  current content was approved with ``git runr plan approve`` counts as ``approved``.
- A plan is **changed since approval** when its content hash differs from the last
  approval's.
- A plan is **done** when one of its runs was accepted (``git runr run accept``).
- A plan is **running** while one of its runs is open (active or verifying).
- A plan is **ready** (``git runr ready``) when it is approved or ready, neither done
  nor running, and every plan it depends on is done.
"""

from __future__ import annotations

from dataclasses import dataclass

from gitrunr import config, ledger
from gitrunr.errors import InvalidStateError, NotFoundError, RunrError
from gitrunr.ids import new_id
from gitrunr.models import Approval, PlanApproved, PlanRecord, utcnow
from gitrunr.plans import Plan, PlanStatus, discover, resolve
from gitrunr.repo import RunrRepo


@dataclass(frozen=True)
class Workspace:
    """The plans of this work tree and the ledger they are judged against.

    ``plans``: every valid plan file, in ref order; ``problems``: one line per plan
    file that could not be read (left out of ``plans``).
    """

    repo: RunrRepo
    root: str
    plans: list[Plan]
    problems: list[str]
    view: ledger.LedgerView

    def find(self, query: str) -> Plan:
        """The plan ``query`` names (a ref, a suffix of one, or its path).

        Raises :class:`NotFoundError` or, for an ambiguous suffix,
        :class:`~gitrunr.errors.UsageError` listing the candidates.
        """
        return resolve(self.plans, query)

    def record(self, plan: Plan) -> PlanRecord | None:
        """The ledger's record of ``plan``, or None if nothing happened to it yet."""
        return self.view.plan(plan.ref)

    def status(self, plan: Plan) -> PlanStatus:
        """The planning status: the front matter's, lifted from ``drafted`` to
        ``approved`` by a ledger approval of the plan as it stands."""
        approval = self._approval(plan)
        if plan.status == "drafted" and approval is not None \
                and approval.content_hash == plan.content_hash:
            return "approved"
        return plan.status

    def changed_since_approval(self, plan: Plan) -> bool:
        approval = self._approval(plan)
        return approval is not None and approval.content_hash != plan.content_hash

    def is_done(self, plan: Plan) -> bool:
        record = self.record(plan)
        return record is not None and record.accepted_run_id is not None

    def open_runs(self, plan: Plan) -> list[str]:
        """The plan's runs that are active or verifying, newest first."""
        record = self.record(plan)
        found = []
        for run_id in reversed(record.runs if record is not None else []):
            snapshot = self.view.run(run_id)
            if snapshot is not None and snapshot.is_open:
                found.append(run_id)
        return found

    def blockers(self, plan: Plan) -> list[str]:
        """Why a run of ``plan`` cannot start: its status, or a dependency that is
        unknown or not done. Empty when it can."""
        reasons = []
        status = self.status(plan)
        if status == "drafted":
            reasons.append(f"{plan.ref} is drafted: approve it with `git runr plan approve "
                           f"{plan.ref}` or set `status: approved` in its front matter")
        for dep in plan.depends_on:
            try:
                target = self.find(dep)
            except NotFoundError:
                reasons.append(f"it depends on {dep!r}, which is not a plan here")
                continue
            except RunrError as exc:  # an ambiguous suffix: say so, with the candidates
                reasons.append(f"its depends_on {exc.message}")
                continue
            if not self.is_done(target):
                reasons.append(f"it depends on {target.ref}, which is not done (no accepted "
                               "run)")
        return reasons

    def _approval(self, plan: Plan) -> Approval | None:
        record = self.record(plan)
        return record.approval if record is not None else None


def workspace(repo: RunrRepo) -> Workspace:
    """Read the plans of this work tree (root from ``.runr/runr.toml``) and the ledger.

    Raises :class:`~gitrunr.errors.NotARepositoryError` in a bare repository and
    :class:`~gitrunr.errors.CorruptRecordError` for an invalid config file.
    """
    workdir = repo.require_worktree()
    root = config.load(workdir).plans.root
    plans, problems = discover(workdir, root)
    return Workspace(repo, root, plans, problems, ledger.read(repo))


def approve(repo: RunrRepo, query: str, *, reason: str | None = None
            ) -> tuple[Plan, PlanRecord, bool]:
    """Record the approval of the plan ``query`` names, as it stands now.

    Returns the plan, its ledger record, and False when its current content was the
    last approved already (nothing written). Raises :class:`NotFoundError` and
    :class:`~gitrunr.errors.UsageError` from the lookup, and ledger write errors.
    """
    space = workspace(repo)
    plan = space.find(query)
    record = space.record(plan)
    if record is not None and record.approval is not None \
            and record.approval.content_hash == plan.content_hash:
        return plan, record, False
    event = PlanApproved(event_id=new_id("ev"), plan_ref=plan.ref, at=utcnow(),
                         actor=ledger.actor(repo.git), content_hash=plan.content_hash,
                         path=plan.path, reason=reason)
    result = ledger.append(repo, [event])
    return plan, result.plans[plan.ref], True


def require_startable(space: Workspace, plan: Plan) -> None:
    """Raise :class:`InvalidStateError` naming every reason ``plan`` cannot start."""
    reasons = space.blockers(plan)
    if reasons:
        raise InvalidStateError(f"cannot start a run of {plan.ref}: " + "; ".join(reasons))


def find_plan_file(space: Workspace, plan_ref: str) -> Plan:
    """The plan file of ``plan_ref`` (an exact ref). Raises :class:`NotFoundError` when
    this work tree does not have it."""
    for plan in space.plans:
        if plan.ref == plan_ref:
            return plan
    raise NotFoundError(f"plan {plan_ref} has no file under {space.root}/ in this work tree; "
                        "check out the branch that has it")
