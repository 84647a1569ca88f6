"""Integrating a run's commits into its target branch (``git runr submit --integrate``).

Seed ``002_840b2e5c18ad6aa1.txt``, ledger mode rule 1: "All changes land via Runr
checkpoints + submit (no direct merge)", and "conflicts handled via submit flow".
The run's commits (its range, :func:`gitrunr.receipts.run_range`) land on the target
branch (the plan's ``target_branch``, else the default branch, or ``--target``):

- **up-to-date** when the target already has them;
- **fast-forward** when the target has not moved since the run's base;
- **rebase** otherwise: the commits the target lacks are cherry-picked onto it in a
  temporary worktree (the hooks there carry the records to the new commits). A
  conflict aborts the pick, removes the worktree and reports the conflicting paths:
  nothing is left half-done.

The target moves last, by compare-and-swap (``git update-ref NEW OLD``), or, when it
is checked out in a worktree, by ``git merge --ff-only`` there (which refuses a
dirty work tree). ``GITRUNR_SUBMIT=<run-id>`` in the environment tells our hooks
that this merge is a submission (ledger mode refuses any other merge into a run's
target). The submission is then recorded (``run_submitted``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pygit2

from gitrunr import ledger, lifecycle, planning
from gitrunr.errors import GitError, InvalidStateError, NotFoundError, UsageError
from gitrunr.git import first_line, run_git
from gitrunr.ids import is_run_id, new_id
from gitrunr.ledger import AnyEvent
from gitrunr.models import CommitRewritten, PlanRecord, RunSnapshot, RunSubmitted, utcnow
from gitrunr.receipts import run_range
from gitrunr.repo import RunrRepo
from gitrunr.runs import get

SUBMIT_ENV = "GITRUNR_SUBMIT"


@dataclass(frozen=True)
class Integrated:
    """What a submission did: the target, how, and its tip before and after."""

    target: str
    method: str
    old: str | None
    new: str
    commits: list[str]


def target_of(repo: RunrRepo, snapshot: RunSnapshot) -> str:
    """The branch a run lands on: its plan's ``target_branch``, else the default."""
    if snapshot.plan_ref is not None:
        space = planning.workspace(repo)
        for plan in space.plans:
            if plan.ref == snapshot.plan_ref:
                return lifecycle.line_of(repo, plan)
    return lifecycle.default_line(repo)


def integrate(repo: RunrRepo, snapshot: RunSnapshot, target: str | None = None
              ) -> tuple[Integrated, list[RunSubmitted | CommitRewritten]]:
    """Land ``snapshot``'s commits on ``target`` (see the module docstring) and return
    what was done with the events to record it (the caller appends them): the
    submission, and for a rebase the records moved to the copies.

    Raises :class:`InvalidStateError` for a run with no commits, a conflict (naming
    the paths) or a target checked out with local changes; :class:`NotFoundError`
    for a target branch that does not exist; :class:`GitError` when git fails.
    """
    cwd = repo.require_worktree()
    branch = target or target_of(repo, snapshot)
    ref = f"refs/heads/{branch}"
    found = run_git(["rev-parse", "--verify", "-q", f"{ref}^{{commit}}"], cwd=cwd, check=False)
    if found.returncode != 0:
        raise NotFoundError(f"target branch {branch} does not exist: create it, or name "
                            "another with --target")
    old = found.stdout.decode().strip()
    _, tip, _ = run_range(repo, snapshot)
    if tip is None:
        raise InvalidStateError(f"run {snapshot.run_id} has no commits to submit")
    # The run's commits the target lacks, by patch-id: after a rebase submit the run's
    # branch still has the old commits, and their copies are on the target already.
    missing = run_git(["rev-list", "--reverse", "--no-merges", "--cherry-pick",
                       "--right-only", f"{old}...{tip}"], cwd=cwd).stdout.decode().split()
    moved: list[tuple[str, str]] = []
    if _is_ancestor(cwd, tip, old) or not missing:
        method, new = "up-to-date", old
    elif _is_ancestor(cwd, old, tip):
        method, new = "fast-forward", tip
    else:
        method, new, moved = "rebase", *_rebase(cwd, snapshot.run_id, old, missing)
    if new != old:
        _move(cwd, branch, ref, old, new, snapshot.run_id)
    commits = run_git(["rev-list", "--reverse", f"{old}..{new}"], cwd=cwd).stdout.decode().split()
    done = Integrated(branch, method, old, new, commits)
    who, at = ledger.actor(repo.git), utcnow()
    event = RunSubmitted(event_id=new_id("ev"), run_id=snapshot.run_id, at=at, actor=who,
                         target=branch, method=method, old=old, new=new,  # type: ignore[arg-type]
                         commits=commits)
    return done, [event, *_follow(repo, snapshot, moved, who, at)]


def _follow(repo: RunrRepo, snapshot: RunSnapshot, moved: list[tuple[str, str]], who: str,
            at: datetime) -> list[CommitRewritten]:
    """``commit_rewritten`` for each recorded commit a rebase submit copied, so the
    run's records follow its commits onto the target (as after ``git rebase``)."""
    recorded = {cp.sha for cp in snapshot.checkpoints}
    recorded |= {iv.commit_sha for iv in snapshot.interventions if iv.commit_sha}
    events: list[CommitRewritten] = []
    for old_sha, new_sha in moved:
        commit = repo.git.get(new_sha)
        if old_sha in recorded and isinstance(commit, pygit2.Commit):
            events.append(CommitRewritten(
                event_id=new_id("ev"), run_id=snapshot.run_id, at=at, actor=who,
                old_sha=old_sha, new_sha=new_sha, patch_id=ledger.patch_id(commit),
                tree=str(commit.tree_id), rewrite="rebase"))
    return events


def _is_ancestor(cwd: Path, older: str, newer: str) -> bool:
    return run_git(["merge-base", "--is-ancestor", older, newer], cwd=cwd,
                   check=False).returncode == 0


def _rebase(cwd: Path, run_id: str, onto: str, picks: list[str]
            ) -> tuple[str, list[tuple[str, str]]]:
    """Cherry-pick ``picks`` onto ``onto`` in a temporary worktree; return the new tip
    and the ``(old, new)`` pairs. On a conflict everything is undone and
    :class:`InvalidStateError` names the conflicting paths."""
    tmp = Path(tempfile.mkdtemp(prefix="runr-submit-"))
    work = tmp / "wt"
    env = {SUBMIT_ENV: run_id}
    run_git(["worktree", "add", "--detach", "-q", str(work), onto], cwd=cwd)
    try:
        proc = run_git(["cherry-pick", "--allow-empty", "--keep-redundant-commits", *picks],
                       cwd=work, check=False, env=env)
        if proc.returncode != 0:
            conflicts = run_git(["diff", "--name-only", "--diff-filter=U"], cwd=work,
                                check=False).stdout.decode().split()
            run_git(["cherry-pick", "--abort"], cwd=work, check=False)
            if conflicts:
                raise InvalidStateError(
                    f"submit stopped: rebasing the run onto the target conflicts in "
                    f"{', '.join(conflicts)}; nothing was changed. Rebase the run's branch "
                    "onto the target yourself, resolve, and submit again")
            raise GitError(f"cherry-pick failed: {first_line(proc.stderr)}")
        new = run_git(["rev-parse", "HEAD"], cwd=work).stdout.decode().strip()
        copies = run_git(["rev-list", "--reverse", f"{onto}..{new}"],
                         cwd=work).stdout.decode().split()
        return new, list(zip(picks, copies, strict=False))
    finally:
        run_git(["worktree", "remove", "--force", str(work)], cwd=cwd, check=False)
        shutil.rmtree(tmp, ignore_errors=True)
        run_git(["worktree", "prune"], cwd=cwd, check=False)


def _move(cwd: Path, branch: str, ref: str, old: str, new: str, run_id: str) -> None:
    """Move ``branch`` from ``old`` to ``new``: in the worktree that has it checked out
    (``merge --ff-only``, refusing local changes), else by compare-and-swap."""
    listing = run_git(["worktree", "list", "--porcelain"], cwd=cwd).stdout.decode()
    holder = None
    for block in listing.split("\n\n"):
        lines = dict(line.split(" ", 1) for line in block.splitlines() if " " in line)
        if lines.get("branch") == ref:
            holder = Path(lines["worktree"])
    if holder is None:
        run_git(["update-ref", "-m", f"runr: submit {run_id}", ref, new, old], cwd=cwd)
        return
    env = {SUBMIT_ENV: run_id, "GIT_REFLOG_ACTION": f"runr submit {run_id}"}
    proc = run_git(["merge", "--ff-only", "-q", new], cwd=holder, check=False, env=env)
    if proc.returncode != 0:
        raise InvalidStateError(f"{branch} is checked out in {holder} and could not move "
                                f"there: {first_line(proc.stderr)}; commit or stash its "
                                "changes and submit again")


@dataclass(frozen=True)
class Submitted:
    """What ``git runr submit`` did: the run, its plan's record after the lane move
    (None for an ad hoc run, or when the lane did not move), and the integration."""

    run: RunSnapshot
    plan: PlanRecord | None
    integrated: Integrated | None


def submit(repo: RunrRepo, ref: str, *, actor: str, evidence: Sequence[str] = (),
           reason: str | None = None, integrate_commits: bool | None = None,
           target: str | None = None) -> Submitted:
    """``git runr submit``: the lane's ready_for_review move for a plan's run (guards:
    subtasks done, evidence), and, with ``integrate_commits`` (by default: in ledger
    mode), the run's commits landed on the target branch (:func:`integrate`), all
    recorded in one ledger write. A plan's run already in review (or done) is only
    integrated. Raises what :func:`gitrunr.lifecycle.plan_move` and :func:`integrate`
    raise, and :class:`UsageError` for an ad hoc run without integration.
    """
    from gitrunr import workflow

    space = planning.workspace(repo)
    run = get(repo, ref) if is_run_id(ref) else None
    plan = None
    if run is None or run.plan_ref is not None:
        _, plan, run = lifecycle.resolve(repo, ref)
    subject = lifecycle.under_review(space, plan, run) if plan is not None else run
    assert subject is not None  # no plan: ref was a run id, and get() found it
    if integrate_commits is None:
        integrate_commits = workflow.mode_of(repo, subject) == "ledger"
    move = None
    if plan is not None:
        record = space.record(plan)
        lane = record.lane if record is not None else "planned"
        if lane == "in_progress" or not integrate_commits:
            move = lifecycle.plan_move(repo, space, plan, subject, "ready_for_review",
                                       actor=actor, reason=reason, evidence=evidence)
    elif not integrate_commits:
        raise UsageError(f"run {subject.run_id} was started without a plan, so it has no "
                         "review to submit to: `--integrate` lands its commits")
    if not subject.is_open and subject.state != "finalized/passed":
        raise InvalidStateError(f"run {subject.run_id} is {subject.state}: only an open or "
                                "passed run is submitted")
    done = None
    events: list[AnyEvent] = []
    if integrate_commits:
        done, made = integrate(repo, subject, target)
        events += made
    if move is not None:
        move.events += events
        result = lifecycle.write(repo, move)
    else:
        result = ledger.append(repo, events)
    return Submitted(result.snapshots.get(subject.run_id, subject),
                     result.plans.get(plan.ref) if plan is not None else None, done)
