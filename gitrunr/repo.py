"""Finding and opening the repository a command runs in.

One ``git rev-parse`` call asks git where everything is (so gitrunr agrees with git
about ``GIT_DIR``, linked worktrees and ``core.hooksPath``); pygit2 then opens the
per-worktree git directory for object access.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pygit2

from gitrunr.errors import NotARepositoryError, NotFoundError
from gitrunr.git import first_line, run_git


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
        repo = pygit2.Repository(str(git_dir))
    except pygit2.GitError as exc:
        raise NotARepositoryError(
            f"gitrunr cannot open {git_dir}: {exc} (repositories with SHA-256 object names "
            "or the reftable format are not supported yet)"
        ) from None
    return RunrRepo(git=repo, git_dir=git_dir, common_dir=common, workdir=workdir)
