"""``git runr checkpoint``: commit the staged work as a checkpoint of the active run.

The commit conventions of seed 002 section 4 (docs/conventions.md): the subject is
``type(task-NN): what was done`` and the Runr trailers sit in the message's last
paragraph. This module writes only the subject. The trailers come from the
commit-msg hook and the record from the post-commit hook, as for any commit made
during a run: ``git commit`` runs here with the hooks switched on, and the commit is
then checked to carry this run's stamp and to be recorded in the ledger. A
checkpoint made here is therefore exactly what a plain ``git commit`` would have
made, and nothing is stamped twice.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

import pygit2

from gitrunr import ledger, trailers
from gitrunr.errors import CorruptRecordError, GitError, InvalidStateError, UsageError
from gitrunr.git import first_line, git_path, run_git
from gitrunr.repo import RunrRepo
from gitrunr.runs import active_run, get
from gitrunr.state import PENDING_INTERVENTION, read_json

__all__ = ["TYPES", "CheckpointResult", "build_message", "checkpoint", "task_scope"]

#: The commit types ``--type`` accepts (Conventional Commits' common set).
TYPES: tuple[str, ...] = ("feat", "fix", "docs", "test", "refactor", "chore", "perf",
                          "build", "ci", "style")

#: A subject already written as ``type(scope)!: text`` or ``type: text``: kept as it is
#: (only a missing scope is filled in from ``--task``).
_CONVENTIONAL = re.compile(r"^(?P<type>[a-z][a-z0-9-]*)(?P<scope>\([^()\r\n]+\))?"
                           r"(?P<bang>!?): \S")
_TASK = re.compile(r"^(?:task-?)?(?P<n>[0-9]{1,6})$", re.IGNORECASE)


@dataclass(frozen=True)
class CheckpointResult:
    """The commit made, and the checkpoint the hooks stamped and recorded on it."""

    run_id: str
    checkpoint_id: str
    sha: str
    subject: str

    @property
    def short_sha(self) -> str:
        return self.sha[:7]


def task_scope(task: str) -> str:
    """The scope for task ``task``: ``01``, ``1``, ``task-01`` and ``task1`` all give
    ``task-01`` (two digits at least, as plan task ids are; docs/plans.md).

    Raises :class:`UsageError` for anything that is not a task number from 1.
    """
    match = _TASK.match(task.strip())
    if match is None or int(match["n"]) == 0:
        raise UsageError(f"--task {task!r} is not a task number: give it as 01, 1 or task-01")
    return f"task-{int(match['n']):02d}"


def build_message(messages: Sequence[str], *, type_: str = "feat",
                  task: str | None = None) -> str:
    """The commit message for ``messages`` (one ``-m`` each; each is a paragraph, as
    with ``git commit -m``), its first line made a conventional subject.

    ``type(task-NN): MSG`` with a task, ``type: MSG`` without. A first line already
    in ``type(scope): …`` form is kept as it is; ``type: …`` gets the task's scope
    when one is given. Raises :class:`UsageError` for an empty message, a ``type``
    not in :data:`TYPES`, a bad task, or a message that already has a Runr trailer
    (the commit-msg hook stamps those, and leaves a message that has one alone).
    """
    if type_ not in TYPES:
        raise UsageError(f"--type {type_!r} is not one of {', '.join(TYPES)}")
    paragraphs = [m.strip() for m in messages if m.strip()]
    if not paragraphs:
        raise UsageError("the checkpoint message is empty: say what was done with -m MSG")
    scope = task_scope(task) if task is not None else None
    first, _, rest = paragraphs[0].partition("\n")
    first = first.strip()
    match = _CONVENTIONAL.match(first)
    if match is None:
        first = f"{type_}({scope}): {first}" if scope else f"{type_}: {first}"
    elif scope and match["scope"] is None:
        head = f"{match['type']}({scope}){match['bang']}: "
        first = head + first[match.end() - 1:]
    body = "\n\n".join([f"{first}\n{rest}".rstrip("\n"), *paragraphs[1:]]) + "\n"
    claimed = [t.key for t in trailers.parse_trailers(body, divider=False)
               if t.key.lower().startswith("runr-")]
    if claimed:
        raise UsageError(f"the message already carries {claimed[0]}: the commit-msg hook "
                         "adds the Runr trailers itself; remove that line")
    return body


def _has_changes(workdir: str, all_: bool) -> bool:
    """Whether ``git commit`` (``-a`` when ``all_``) would have anything to commit."""
    if run_git(["diff", "--cached", "--quiet"], cwd=workdir, check=False).returncode != 0:
        return True
    return all_ and run_git(["diff", "--quiet"], cwd=workdir, check=False).returncode != 0


def checkpoint(repo: RunrRepo, messages: Sequence[str], *, type_: str = "feat",
               task: str | None = None, all_: bool = False,
               echo: TextIO | None = sys.stderr) -> CheckpointResult:
    """Commit the staged changes (all tracked changes with ``all_``) as a checkpoint of
    this worktree's active run, through the hooks, and return what they recorded.

    Refused before anything is written: no active run, or it is finalized or stopped
    (:class:`InvalidStateError`); an intervention waiting for this worktree's next
    commit (that commit would be the intervention); ``GITRUNR_HOOKS=off``, or no
    commit-msg hook to stamp the trailers; nothing to commit (all
    :class:`InvalidStateError`); a bad message (:class:`UsageError`, see
    :func:`build_message`). A failed ``git commit`` (one of your hooks refused it) is
    :class:`GitError`. If the commit is made but the hooks did not stamp or record it,
    :class:`InvalidStateError` names the commit and how to record it.

    What the hooks print (pre-commit's summary, gitrunr's warnings) goes to ``echo``.
    """
    workdir = str(repo.require_worktree())
    active = active_run(repo)
    if active is None:
        raise InvalidStateError("no active run in this worktree: start one with "
                                "`git runr run start [PLAN]`, then make checkpoints")
    run_id = active.run_id
    snapshot = get(repo, run_id)
    if not snapshot.is_open:
        raise InvalidStateError(f"run {run_id} is finalized: start a new run with "
                                "`git runr run start` to make checkpoints")
    if snapshot.state == "stopped":  # the hooks stamp no checkpoint while it lasts
        raise InvalidStateError(f"run {run_id} is stopped: `git runr resume {run_id}` "
                                "first, or record the work with `git runr intervene`")
    message = build_message(messages, type_=type_, task=task)
    try:
        pending = read_json(repo.state_dir / PENDING_INTERVENTION)
    except ValueError as exc:
        raise CorruptRecordError(f"{exc}: delete it if no intervention is waiting") from None
    if pending is not None:
        raise InvalidStateError(
            f"intervention {pending.get('intervention_id')} is waiting for the next commit "
            "in this worktree, which would be linked to it, not a checkpoint: make that "
            "commit with `git commit` first")
    if os.environ.get("GITRUNR_HOOKS") == "off":
        raise InvalidStateError("GITRUNR_HOOKS=off switches off the hooks that stamp and "
                                "record a checkpoint: unset it")
    hook = git_path("hooks", cwd=workdir) / "commit-msg"
    if not os.access(hook, os.X_OK):
        raise InvalidStateError(f"no commit-msg hook at {hook}, so the commit would get no "
                                "Runr trailers: run `git runr hooks install` (or install "
                                "gitrunr's pre-commit hooks, docs/ci.md)")
    if not _has_changes(workdir, all_):
        raise InvalidStateError("nothing to commit: `git add` the checkpoint's files first"
                                + ("" if all_ else ", or use -a for all tracked changes"))

    args = ["git", "commit", "-q", "-F", "-"] + (["-a"] if all_ else [])
    proc = subprocess.run(args, cwd=workdir, input=message.encode(), capture_output=True,
                          check=False)
    if echo is not None:
        echo.write(proc.stderr.decode("utf-8", "replace"))
    if proc.returncode != 0:
        raise GitError(f"`git commit` failed (exit {proc.returncode}), no checkpoint made: "
                       f"{first_line(proc.stderr or proc.stdout)}")
    head = repo.git.revparse_single("HEAD")
    assert isinstance(head, pygit2.Commit)
    sha = str(head.id)
    found = trailers.parse_trailers(head.message, divider=False)
    checkpoints = trailers.trailer_values(found, trailers.CHECKPOINT)
    if trailers.trailer_values(found, trailers.RUN_ID)[:1] != [run_id] or not checkpoints:
        raise InvalidStateError(
            f"commit {sha[:12]} was made, but the commit-msg hook did not stamp it for run "
            f"{run_id} (see `git runr hooks status`); it counts as a GAP until you record it "
            f"with `git runr intervene {run_id} --note ... --sha {sha[:12]}`")
    checkpoint_id = checkpoints[0]
    ledger.flush(repo)  # the post-commit hook may have left it to a background flush
    recorded = any(c.checkpoint_id == checkpoint_id and c.sha == sha
                   for c in get(repo, run_id).checkpoints)
    if not recorded:
        raise InvalidStateError(
            f"commit {sha[:12]} carries checkpoint {checkpoint_id}, but the post-commit hook "
            "did not record it (see `git runr hooks status`); until it is, the audit calls "
            f"it UNVERIFIED: record it with `git runr intervene {run_id} --note ... --sha "
            f"{sha[:12]}`")
    return CheckpointResult(run_id=run_id, checkpoint_id=checkpoint_id, sha=sha,
                            subject=head.message.split("\n", 1)[0])
