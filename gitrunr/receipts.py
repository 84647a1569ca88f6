"""Receipts: the diffstat and the patch of a run's commits against its base.

Seed ``002_840b2e5c18ad6aa1.txt``, flow mode rule 2: "Always produce a receipt
artifact (diffstat + patch) at end of each task." A receipt is made when a run ends
(``run finish``, an accept that finalizes it, a lane move that aborts it) and is
written in the same ledger commit as the finish: a ``receipt_recorded`` event with
``git diff --stat`` of the run's range, its counts, and the patch as a blob of the
ledger (``runs/<shard>/<run-id>/receipt.patch``). ``git runr receipt RUN [--patch]``
prints it.

The run's range is ``base..tip``: ``base`` is HEAD when the run started (the empty
tree for a run started before the first commit), ``tip`` the checkpoint that
descends from all the run's other checkpoints, or the last one recorded when none
does (interventions may be committed elsewhere, on the target itself: they do not
decide the tip; a run with no checkpoint takes its interventions' commits).
"""

from __future__ import annotations

import re
from datetime import datetime

import pygit2

from gitrunr.errors import GitError
from gitrunr.git import run_git
from gitrunr.ids import new_id
from gitrunr.models import ReceiptRecorded, RunSnapshot
from gitrunr.repo import RunrRepo

#: git's empty tree: the base of a run that started before the first commit.
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
_SHORTSTAT = re.compile(r"(\d+) files? changed(?:, (\d+) insertions?\(\+\))?"
                        r"(?:, (\d+) deletions?\(-\))?")


def run_range(repo: RunrRepo, snapshot: RunSnapshot) -> tuple[str | None, str | None,
                                                               list[str]]:
    """``(base, tip, commits)`` of a run: see the module docstring. ``tip`` is None
    when the run recorded no commit that is in this repository."""
    git = repo.git

    def present(shas: list[str]) -> list[str]:
        return [sha for sha in dict.fromkeys(shas) if isinstance(git.get(sha), pygit2.Commit)]

    checkpoints = present([cp.sha for cp in snapshot.checkpoints])
    interventions = present([iv.commit_sha for iv in snapshot.interventions if iv.commit_sha])
    candidates = checkpoints or interventions
    tip = None
    for sha in candidates:
        if all(other == sha or git.descendant_of(sha, other) for other in candidates):
            tip = sha
    if tip is None and candidates:
        tip = candidates[-1]
    return snapshot.base_sha, tip, list(dict.fromkeys([*checkpoints, *interventions]))


def make(repo: RunrRepo, snapshot: RunSnapshot, *, actor: str, at: datetime
         ) -> ReceiptRecorded:
    """The receipt of ``snapshot``'s run as it ends: ``git diff --stat`` and the patch
    of ``base..tip`` (no diff: a receipt of nothing). Raises :class:`GitError` when
    git cannot diff the range."""
    base, tip, _ = run_range(repo, snapshot)
    stat, patch = "", b""
    files = insertions = deletions = 0
    if tip is not None:
        old = base or EMPTY_TREE
        cwd = repo.cwd
        flags = ["--no-color", "--no-ext-diff", "--no-textconv"]
        stat = run_git(["diff", *flags, "--stat=200", old, tip], cwd=cwd).stdout.decode(
            "utf-8", "replace")
        patch = run_git(["diff", *flags, "--binary", "--full-index", old, tip], cwd=cwd).stdout
        short = run_git(["diff", *flags, "--shortstat", old, tip], cwd=cwd).stdout.decode()
        match = _SHORTSTAT.search(short)
        if match:
            files, insertions, deletions = (int(g or 0) for g in match.groups())
        elif short.strip():
            raise GitError(f"cannot read `git diff --shortstat`: {short.strip()}")
    blob = repo.git.create_blob(patch) if patch else None
    return ReceiptRecorded(
        event_id=new_id("ev"), run_id=snapshot.run_id, at=at, actor=actor,
        base=base, tip=tip, files_changed=files, insertions=insertions, deletions=deletions,
        stat=stat, patch_blob=str(blob) if blob is not None else None, patch_bytes=len(patch))
