"""Finding and opening the repository a command runs in.

One ``git rev-parse`` call asks git where everything is (so gitrunr agrees with git
about ``GIT_DIR``, linked worktrees and ``core.hooksPath``); pygit2 then opens the
per-worktree git directory for object access.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pygit2

from gitrunr.errors import GitError, MissingObjectError, NotARepositoryError, NotFoundError
from gitrunr.git import first_line, run_git


class Repository(pygit2.Repository):
    """pygit2's repository, with its failures turned into gitrunr's errors.

    - Reading an object that is not there (``repo[oid]`` in a shallow or partial
      clone, or a damaged object store) raises :class:`MissingObjectError`, which is
      also the ``KeyError`` pygit2 raises, instead of reaching the user as a traceback.
    - Writing an object the file system refuses (a full disk, a read-only
      ``.git/objects``) raises :class:`GitError` with the cause, instead of pygit2's
      ``OSError`` or ``GitError``: a command that only reads then reports the failed
      flush of the spool as a warning and goes on, and a writer fails with one line.
    """

    def __getitem__(self, key: str | pygit2.Oid) -> pygit2.Object:
        obj = self.get(key)
        if obj is None:
            raise MissingObjectError(
                f"object {key} is missing from the repository (a shallow or partial clone, "
                "or a damaged object store; `git fsck` lists what is missing)")
        return obj

    def create_blob(self, data: bytes | str) -> pygit2.Oid:
        try:
            return super().create_blob(data)
        except (pygit2.GitError, OSError) as exc:
            raise object_write_error(exc) from None

    def create_commit(self, *args: Any, **kwargs: Any) -> pygit2.Oid:
        try:
            return super().create_commit(*args, **kwargs)
        except (pygit2.GitError, OSError) as exc:
            raise object_write_error(exc) from None


def missing_parents(git: pygit2.Repository, commit: pygit2.Commit) -> list[str]:
    """The parents ``commit`` names that this repository cannot show.

    At the boundary of a shallow clone libgit2 presents a commit as having no parents
    (the shallow graft), so a diff against "its parent" would silently be a diff
    against nothing. This reads the parents from the commit object itself and returns
    those that are missing or hidden by the graft; empty for an ordinary commit.
    """
    _, data = git.odb.read(commit.id)
    header = bytes(data).split(b"\n\n", 1)[0]
    named = [line[len(b"parent "):].decode() for line in header.split(b"\n")
             if line.startswith(b"parent ")]
    shown = {str(oid) for oid in commit.parent_ids}
    return [sha for sha in named if sha not in shown or git.get(sha) is None]



def object_write_error(exc: BaseException) -> GitError:
    """The :class:`GitError` for an object git could not write (``exc`` from pygit2:
    an ``OSError`` when the file system refused, a ``GitError`` otherwise)."""
    if isinstance(exc, OSError):
        return GitError(f"cannot write to the git object store: {exc}; nothing was recorded "
                        "(free some disk space, or make .git writable, and try again)")
    return GitError(f"git could not write an object: {exc}; nothing was recorded")


@dataclass(frozen=True)
class RunrRepo:
    """A repository opened for gitrunr.

    ``git_dir`` is this worktree's git directory (``.git`` or
    ``.git/worktrees/<name>``), ``common_dir`` the one shared by all worktrees.
    ``workdir`` is None for a bare repository.
    """

    git: pygit2.Repository
    git_dir: Path
    common_dir: Path
    workdir: Path | None

    @property
    def state_dir(self) -> Path:
        """Per-worktree runtime state: ``$(git rev-parse --git-path runr)``."""
        return self.git_dir / "runr"

    @property
    def spool_dir(self) -> Path:
        """Records written by hooks and not yet in the ledger (shared by all worktrees)."""
        return self.common_dir / "runr" / "spool"

    @property
    def cwd(self) -> Path:
        return self.workdir or self.git_dir

    def require_worktree(self) -> Path:
        """The work tree; raises :class:`NotARepositoryError` in a bare repository."""
        if self.workdir is None:
            raise NotARepositoryError(
                f"{self.git_dir} is a bare repository; gitrunr records work done in a work "
                "tree: run this in a clone or a `git worktree`"
            )
        return self.workdir

    def require_commits(self) -> None:
        """Raises :class:`NotARepositoryError` when the repository has no commits yet."""
        if self.git.head_is_unborn:
            raise NotARepositoryError(
                "this repository has no commits yet: make a first commit, then try again"
            )

    def resolve_commit(self, rev: str) -> pygit2.Commit:
        """The commit ``rev`` names (any git revision syntax).

        Raises :class:`NotFoundError` when it does not resolve to a commit.
        """
        proc = run_git(["rev-parse", "--verify", "--end-of-options", f"{rev}^{{commit}}"],
                       cwd=self.cwd, check=False)
        if proc.returncode != 0:
            raise NotFoundError(f"revision {rev!r} does not resolve to a commit: "
                                f"{first_line(proc.stderr)}")
        obj = self.git[proc.stdout.decode().strip()]
        assert isinstance(obj, pygit2.Commit)
        return obj


def open_repo(cwd: str | os.PathLike[str] | None = None) -> RunrRepo:
    """Open the repository containing ``cwd`` (default: the current directory).

    Raises :class:`NotARepositoryError` outside a repository or when pygit2 cannot
    open it (for example a SHA-256 or reftable repository), naming the reason.
    """
    where = Path(cwd) if cwd is not None else Path.cwd()
    if not where.is_dir():
        raise NotARepositoryError(f"{where} is not a directory")
    proc = run_git(
        ["rev-parse", "--absolute-git-dir", "--git-common-dir", "--is-bare-repository",
         "--show-toplevel"],
        cwd=where, check=False,
    )
    if proc.returncode != 0:
        message = first_line(proc.stderr)
        if "not a git repository" in message:
            raise NotARepositoryError(
                "not a git repository (or any parent): run this inside a repository, "
                "or `git init` first"
            )
        # A bare repository has no top level: `--show-toplevel` fails there.
        proc = run_git(
            ["rev-parse", "--absolute-git-dir", "--git-common-dir", "--is-bare-repository"],
            cwd=where, check=False,
        )
        if proc.returncode != 0:
            raise NotARepositoryError(f"cannot use this repository: {first_line(proc.stderr)}")
    lines = proc.stdout.decode().splitlines()
    git_dir = Path(lines[0])
    common = Path(lines[1])
    if not common.is_absolute():
        common = (where / common).resolve()
    bare = lines[2] == "true"
    workdir = None if bare or len(lines) < 4 or not lines[3] else Path(lines[3])
    try:
        repo = Repository(str(git_dir))
    except pygit2.GitError as exc:
        raise NotARepositoryError(
            f"gitrunr cannot open {git_dir}: {exc} (repositories with SHA-256 object names "
            "or the reftable format are not supported yet)"
        ) from None
    return RunrRepo(git=repo, git_dir=git_dir, common_dir=common, workdir=workdir)
