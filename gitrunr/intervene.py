"""``git runr intervene``: record manual work done outside a run (seed 002, section 1).

An intervention holds a note, the commands run with their exit codes, durations
and a bounded tail of their output, the files changed, and the commit holding the
work: made here (``--commit``), named (``--sha``), or the next commit made in this
worktree (linked by the hooks).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import pygit2

from gitrunr import ledger, trailers
from gitrunr.errors import GitError, InvalidStateError, NotFoundError, UsageError
from gitrunr.git import first_line, run_git
from gitrunr.ids import new_id
from gitrunr.models import (
    CommandResult,
    InterventionRecord,
    InterventionRecorded,
    PendingIntervention,
    utcnow,
)
from gitrunr.repo import RunrRepo, missing_parents
from gitrunr.runs import get, validate_run_id
from gitrunr.state import PENDING_INTERVENTION, write_json_atomic

#: The most output kept per command: the last 64 lines, and at most 8 KiB of them.
OUTPUT_TAIL_LINES = 64
OUTPUT_TAIL_BYTES = 8 * 1024


@dataclass(frozen=True)
class InterventionResult:
    """The recorded intervention, whether it is waiting for the next commit, and how
    many of its commands failed."""

    run_id: str
    record: InterventionRecord
    pending: bool
    failed_commands: int


def run_command(cmd: str, cwd: Path, echo: TextIO | None = sys.stderr) -> CommandResult:
    """Run ``cmd`` with the shell in ``cwd``, echoing its output live to ``echo``.

    Returns its exit code (``127`` when the shell cannot run it at all), its wall
    time in milliseconds and the last :data:`OUTPUT_TAIL_LINES` lines of combined
    stdout and stderr, cut to :data:`OUTPUT_TAIL_BYTES`.
    """
    tail: deque[str] = deque(maxlen=OUTPUT_TAIL_LINES)
    lines = 0
    started = time.monotonic()
    proc = subprocess.Popen(cmd, shell=True, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = raw.decode("utf-8", "replace")
        lines += 1
        tail.append(line)
        if echo is not None:
            echo.write(line)
            echo.flush()
    code = proc.wait()
    duration = int((time.monotonic() - started) * 1000)
    text = "".join(tail)
    truncated = lines > len(tail)
    data = text.encode()
    if len(data) > OUTPUT_TAIL_BYTES:
        text = data[-OUTPUT_TAIL_BYTES:].decode("utf-8", "ignore")
        truncated = True
    return CommandResult(cmd=cmd, exit_code=code, duration_ms=duration, output_tail=text,
                         output_truncated=truncated)


def _redacted(result: CommandResult, workdir: Path) -> CommandResult:
    """The result with secrets in its command and output replaced, as evidence does
    (:func:`gitrunr.evidence.redact`: built-in patterns and ``[evidence] redact``)."""
    from gitrunr import config
    from gitrunr.evidence import redact

    patterns = config.load(workdir).evidence.redact
    return result.model_copy(update={"cmd": redact(result.cmd, patterns)[0],
                                     "output_tail": redact(result.output_tail, patterns)[0]})


def worktree_changes(git: pygit2.Repository) -> list[str]:
    """Paths changed in the index or work tree against HEAD, ignored files left out."""
    flags = git.status(untracked_files="all", ignored=False)
    return sorted(path for path, flag in flags.items()
                  if flag != pygit2.enums.FileStatus.IGNORED)


def intervene(repo: RunrRepo, run_id: str, note: str, commands: list[str], *,
              commit: bool = False, message: str | None = None, sha: str | None = None,
              echo: TextIO | None = sys.stderr) -> InterventionResult:
    """Record an intervention against ``run_id``; see the module docstring.

    Everything that can be refused is checked before any command runs: the run must
    exist and be active; ``commit`` and ``sha`` exclude each other; ``commit`` needs
    staged changes; ``sha`` must name a commit. If the commit fails (a pre-commit
    hook refused it), nothing is recorded.

    Raises :class:`UsageError`, :class:`NotFoundError`, :class:`InvalidStateError`,
    :class:`GitError`. Failing commands do not raise: see ``failed_commands``.
    """
    workdir = repo.require_worktree()
    validate_run_id(run_id)
    if commit and sha is not None:
        raise UsageError("--commit and --sha exclude each other: commit the staged work, or "
                         "link an existing commit")
    if message is not None and not commit:
        raise UsageError("-m/--message goes with --commit")
    if not note.strip():
        raise UsageError("--note must say what was done")
    snapshot = get(repo, run_id)
    if not snapshot.is_open:
        raise InvalidStateError(f"run {run_id} is already {snapshot.state}; an intervention "
                                "is recorded against an active run")
    from gitrunr import workflow

    workflow.require_open(repo, snapshot, "record an intervention")
    target = repo.resolve_commit(sha) if sha is not None else None
    if target is not None and (cut := missing_parents(repo.git, target)):
        raise NotFoundError(
            f"the parent {cut[0][:12]} of {sha} is not in this repository (a shallow clone): "
            "its patch-id and changed files cannot be computed; fetch more history "
            "(`git fetch --deepen=1`) and try again")
    if commit and run_git(["diff", "--cached", "--quiet"], cwd=workdir,
                          check=False).returncode == 0:
        raise InvalidStateError("nothing is staged to commit: `git add` the files of the "
                                "intervention first, or drop --commit")

    if commit:
        claimed = [t.key for t in trailers.parse_trailers(message or note, divider=False)
                   if t.key.lower().startswith("runr-")]
        if claimed:
            raise UsageError(f"the commit message already carries {claimed[0]}: gitrunr adds "
                             "its trailers itself; remove that line")

    results = [_redacted(run_command(cmd, workdir, echo), workdir) for cmd in commands]
    intervention_id = new_id("iv")
    if commit:
        target = _commit(repo, workdir, run_id, message or note)
    if target is not None:
        files = ledger.changed_files(repo.git, target)
    else:
        files = worktree_changes(repo.git)
    event = InterventionRecorded(
        event_id=new_id("ev"), run_id=run_id, at=utcnow(), actor=ledger.actor(repo.git),
        intervention_id=intervention_id, note=note, commands=results, files_changed=files,
        commit_sha=str(target.id) if target is not None else None,
        patch_id=ledger.patch_id(target) if target is not None else None,
        tree=str(target.tree_id) if target is not None else None,
    )
    appended = ledger.append(repo, [event])
    pending = target is None
    if pending:
        write_json_atomic(repo.state_dir / PENDING_INTERVENTION, PendingIntervention(
            run_id=run_id, intervention_id=intervention_id, recorded_at=event.at,
        ).model_dump(mode="json"))
    record = next(i for i in appended.snapshots[run_id].interventions
                  if i.intervention_id == intervention_id)
    return InterventionResult(run_id=run_id, record=record, pending=pending,
                              failed_commands=sum(1 for r in results if r.exit_code != 0))


def _commit(repo: RunrRepo, workdir: Path, run_id: str, message: str) -> pygit2.Commit:
    """Commit the staged changes with the intervention's trailers and return the commit.

    Our own hooks are told to stand aside (``GITRUNR_HOOKS=off``) because the trailers
    are already there and the record is written by the caller; any other hook runs.
    """
    body = message if message.endswith("\n") else message + "\n"
    stamped = trailers.add_trailers(body, [(trailers.RUN_ID, run_id),
                                           (trailers.INTERVENTION, "true")], divider=False)
    proc = subprocess.run(["git", "commit", "-q", "-F", "-"], cwd=workdir,
                          input=stamped.encode(), capture_output=True,
                          env={**os.environ, "GITRUNR_HOOKS": "off"})
    if proc.returncode != 0:
        raise GitError(f"`git commit` failed, nothing was recorded: "
                       f"{first_line(proc.stderr or proc.stdout)}")
    head = repo.git.revparse_single("HEAD")
    assert isinstance(head, pygit2.Commit)
    return head
