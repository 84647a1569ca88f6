"""Running the ``git`` command line.

gitrunr uses pygit2 to read and build objects, and the ``git`` command where git's
own behaviour is the contract: revision parsing, ``--git-path`` lookups, and the
compare-and-swap ref transaction of ``git update-ref --stdin``.

Standard library only: the hooks use :func:`run_git`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from gitrunr.errors import GitError


def run_git(
    args: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``git *args`` and return the completed process (stdout and stderr as bytes).

    The environment is inherited, so inside a hook git's own ``GIT_DIR`` and
    ``GIT_INDEX_FILE`` keep pointing at the repository being committed to.

    Raises :class:`~gitrunr.errors.GitError` naming the command, its exit status and
    git's message when ``check`` is true and git exits non-zero, or when ``git`` is
    not installed.
    """
    full_env = None
    if env is not None:
        full_env = {**os.environ, **env}
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            input=input,
            env=full_env,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH; install git 2.30 or newer") from None
    if check and proc.returncode != 0:
        raise GitError(
            f"`git {' '.join(args)}` exited {proc.returncode}: {first_line(proc.stderr)}"
        )
    return proc


def git_text(args: Sequence[str], *, cwd: str | os.PathLike[str] | None = None) -> str:
    """``git *args`` and its stdout decoded as UTF-8, without the final newline."""
    out = run_git(args, cwd=cwd).stdout.decode("utf-8", "replace")
    return out[:-1] if out.endswith("\n") else out


def first_line(stderr: bytes) -> str:
    """git's message in one line: the first non-empty line of ``stderr``, prefix removed."""
    for raw in stderr.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if line:
            for prefix in ("fatal: ", "error: "):
                if line.startswith(prefix):
                    line = line[len(prefix):]
            return line
    return "no message"


def git_path(name: str, *, cwd: str | os.PathLike[str] | None = None) -> Path:
    """``git rev-parse --git-path NAME`` as an absolute path.

    Honours linked worktrees (per-worktree paths such as ``runr``) and
    ``core.hooksPath`` (for ``hooks``), exactly as git resolves them
    (git-rev-parse(1), gitrepository-layout(5)).
    """
    out = git_text(["rev-parse", "--git-path", name], cwd=cwd)
    path = Path(out)
    if not path.is_absolute():
        path = Path(cwd or os.getcwd()) / path
    return path
