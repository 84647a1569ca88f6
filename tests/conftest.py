"""Hermetic git repositories for the tests.

Every test runs with ``HOME`` pointed at an empty temporary directory, git's system
and global configuration switched off, a pinned author and committer identity and
dates, and an empty template directory, so no hook or setting of the machine leaks
in. The ``_home_stays_empty`` fixture fails any test that writes to ``$HOME``.

pytest-git is not used (see docs/decisions.md): ``GitRepo`` is our one fixture type.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

AUTHOR_NAME = "Ada Tester"
AUTHOR_EMAIL = "ada@example.com"
PINNED_DATE = "2026-01-06T12:00:00+00:00"
BIN_DIR = str(Path(sys.executable).parent)


class GitRepo:
    """A real git repository in a temporary directory, with helpers to drive it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def git(self, *args: str, check: bool = True, input: str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run git in this repository; raise with git's stderr when ``check`` fails."""
        proc = subprocess.run(
            ["git", *args], cwd=self.path, capture_output=True, text=True, input=input,
            env={**os.environ, **(env or {})},
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def runr(self, *args: str, check: bool = True, input: str | None = None,
             env: dict[str, str] | None = None,
             cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``git runr ARGS`` as a user would, through git and the console script."""
        proc = subprocess.run(
            ["git", "runr", *args], cwd=cwd or self.path, capture_output=True, text=True,
            input=input, env={**os.environ, **(env or {})},
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"git runr {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def write(self, name: str, content: str) -> Path:
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        return path

    def commit(self, message: str, files: dict[str, str] | None = None,
               *extra: str) -> str:
        """Write ``files``, stage everything, commit with ``message``; return the new sha."""
        for name, content in (files or {"file.txt": message}).items():
            self.write(name, content)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message, *extra)
        return self.head()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").stdout.strip()

    def message(self, rev: str = "HEAD") -> str:
        return self.git("log", "-1", "--format=%B", rev).stdout


def refused(proc: subprocess.CompletedProcess[str], code: int) -> str:
    """Assert ``proc`` exited ``code``, nothing on stdout, one ``error: ...`` line on
    stderr (so no traceback); return the message after ``error: ``."""
    assert proc.returncode == code, (proc.args, proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout == "", (proc.args, proc.stdout)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), (proc.args, proc.stderr)
    return lines[0].removeprefix("error: ")


def fails(repo: GitRepo, *args: str, code: int, cwd: Path | None = None) -> str:
    """Run ``git runr ARGS``; it must be refused with ``code`` (see :func:`refused`)."""
    return refused(repo.runr(*args, check=False, cwd=cwd), code)


def written(repo: GitRepo) -> dict[str, Any]:
    """What a command could have written: every ref (the ledger, the notes, branches),
    the work tree, and the files of ``.git/runr`` (the active run) with their contents.
    Equal before and after a refused command: it wrote nothing."""
    runr_dir = repo.path / ".git" / "runr"
    files = {p.relative_to(runr_dir).as_posix(): p.read_bytes()
             for p in sorted(runr_dir.rglob("*")) if p.is_file() and p.suffix != ".lock"} \
        if runr_dir.exists() else {}
    return {
        "refs": repo.git("for-each-ref").stdout,
        "work_tree": repo.git("status", "--porcelain", "--untracked-files=all").stdout,
        "runr": files,
    }


def run_all(commands: Sequence[tuple[Sequence[str], Path]], env: dict[str, str] | None = None,
            timeout: float = 150) -> list[subprocess.CompletedProcess[str]]:
    """Start every ``(argv, cwd)`` before waiting for any (so they really run at once),
    then wait for all of them, each for at most ``timeout`` seconds."""
    full_env = {**os.environ, **(env or {})}
    procs = [(list(argv), subprocess.Popen(list(argv), cwd=cwd, stdout=subprocess.PIPE,
                                           stderr=subprocess.PIPE, text=True, env=full_env))
             for argv, cwd in commands]
    done = []
    for argv, proc in procs:
        out, err = proc.communicate(timeout=timeout)
        done.append(subprocess.CompletedProcess(argv, proc.returncode, out, err))
    return done


@pytest.fixture(autouse=True)
def hermetic_env(tmp_path_factory: pytest.TempPathFactory,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Isolate git and gitrunr from the machine: fake HOME, no global config, pinned identity."""
    home = tmp_path_factory.mktemp("home")
    template = tmp_path_factory.mktemp("git-template")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_TEMPLATE_DIR", str(template))
    monkeypatch.setenv("GIT_AUTHOR_NAME", AUTHOR_NAME)
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", AUTHOR_EMAIL)
    monkeypatch.setenv("GIT_COMMITTER_NAME", AUTHOR_NAME)
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", AUTHOR_EMAIL)
    monkeypatch.setenv("GIT_AUTHOR_DATE", PINNED_DATE)
    monkeypatch.setenv("GIT_COMMITTER_DATE", PINNED_DATE)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("GIT_DIR", raising=False)
    monkeypatch.delenv("GIT_WORK_TREE", raising=False)
    monkeypatch.delenv("GIT_INDEX_FILE", raising=False)
    # The hooks flush the spool in the background by default; tests flush inline so
    # no process outlives its test's temporary directory. Tests of the background
    # path unset this themselves.
    monkeypatch.setenv("GITRUNR_FLUSH", "sync")
    # `git runr` must find the console script of the interpreter running the tests.
    monkeypatch.setenv("PATH", BIN_DIR + os.pathsep + os.environ.get("PATH", ""))
    yield home
    leaked = sorted(str(p.relative_to(home)) for p in home.rglob("*"))
    assert not leaked, f"a test wrote to $HOME: {leaked}"


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    """An empty, non-bare repository on branch ``main`` with no commits."""
    path = tmp_path / "repo"
    path.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    return GitRepo(path)


@pytest.fixture
def repo_with_commit(repo: GitRepo) -> GitRepo:
    """A repository with one plain commit (``README``) on ``main``."""
    repo.commit("initial commit", {"README": "hello\n"})
    return repo


@pytest.fixture
def git_available() -> None:
    if shutil.which("git") is None:  # pragma: no cover - git is a hard requirement
        pytest.fail("git is not installed")
