"""Tests of ``gitrunr.hooks.install``: the shims, chaining, and where hooks live.

Every test drives real repositories and real ``git commit``s. The shim's interpreter
is a fake (:class:`FakePython`, a small sh script) that records its arguments, the
commit message it was shown and its stdin, so these tests do not depend on the hook
runtime ``gitrunr.hooks.__main__``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gitrunr.errors import InvalidStateError, NotARepositoryError, UsageError
from gitrunr.hooks.install import (
    CHAINED_SUFFIX,
    HOOK_NAMES,
    MARKER,
    OPTIONAL_HOOKS,
    HookStatus,
    hooks_dir,
    install,
    is_ours,
    render_shim,
    status,
    uninstall,
)
from tests.conftest import GitRepo

# --------------------------------------------------------------------------- helpers


@dataclass
class Call:
    """One run of the fake interpreter."""

    args: list[str] = field(default_factory=list)
    pwd: str = ""
    state_dir: str = ""  # GITRUNR_STATE_DIR as the shim exported it
    message: list[str] = field(default_factory=list)  # commit-msg: the message file then
    stdin: list[str] = field(default_factory=list)  # post-rewrite: its stdin lines


class FakePython:
    """An executable sh script standing in for Python; it records every call.

    Only shell builtins are used, so it works with a PATH that holds nothing but git.
    """

    def __init__(self, path: Path, exit_status: int = 0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.log = path.parent / (path.name + ".log")
        path.write_text(
            "#!/bin/sh\n"
            f"log={shlex.quote(str(self.log))}\n"
            "{\n"
            "  printf 'call\\n'\n"
            "  printf 'pwd %s\\n' \"$PWD\"\n"
            "  printf 'state %s\\n' \"${GITRUNR_STATE_DIR-}\"\n"
            "  for a in \"$@\"; do printf 'arg %s\\n' \"$a\"; done\n"
            "  hook=; file=; seen=\n"
            "  for a in \"$@\"; do\n"
            "    if [ -n \"$hook\" ] && [ -z \"$file\" ]; then file=$a; fi\n"
            "    if [ -n \"$seen\" ] && [ -z \"$hook\" ]; then hook=$a; fi\n"
            "    if [ \"$a\" = gitrunr.hooks ]; then seen=1; fi\n"
            "  done\n"
            "  if [ \"$hook\" = commit-msg ] && [ -f \"$file\" ]; then\n"
            "    while IFS= read -r line; do printf 'msg %s\\n' \"$line\"; done <\"$file\"\n"
            "  fi\n"
            "  if [ \"$hook\" = post-rewrite ]; then\n"
            "    while IFS= read -r line; do printf 'stdin %s\\n' \"$line\"; done\n"
            "  fi\n"
            "} >>\"$log\"\n"
            f"exit {exit_status}\n"
        )
        path.chmod(0o755)

    def calls(self) -> list[Call]:
        if not self.log.exists():
            return []
        calls: list[Call] = []
        for line in self.log.read_text().splitlines():
            kind, _, value = line.partition(" ")
            if kind == "call":
                calls.append(Call())
            elif kind == "pwd":
                calls[-1].pwd = value
            elif kind == "state":
                calls[-1].state_dir = value
            elif kind == "arg":
                calls[-1].args.append(value)
            elif kind == "msg":
                calls[-1].message.append(value)
            elif kind == "stdin":
                calls[-1].stdin.append(value)
        return calls

    def hooks_run(self) -> list[str]:
        """The hook names the shim exec'd us for, in order (argv: [-S] -P -m gitrunr.hooks HOOK)."""
        return [c.args[c.args.index("gitrunr.hooks") + 1] for c in self.calls()]


@pytest.fixture
def fake(tmp_path: Path) -> FakePython:
    return FakePython(tmp_path / "bin" / "fake-python")


def make_script(path: Path, body: str) -> Path:
    """An executable ``#!/bin/sh`` script at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def activate(repo: GitRepo, name: str = "active-run.json", cwd: Path | None = None) -> Path:
    """Create ``$(git rev-parse --git-path runr)/<name>`` as gitrunr would for a run."""
    where = cwd or repo.path
    out = subprocess.run(["git", "rev-parse", "--git-path", "runr"], cwd=where,
                         capture_output=True, text=True, check=True).stdout.strip()
    state = (where / out).resolve()
    state.mkdir(parents=True, exist_ok=True)
    marker = state / name
    marker.write_text("{}\n")
    return marker


def commit(repo: GitRepo, message: str, *extra: str, cwd: Path | None = None,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``git commit --allow-empty -m MESSAGE`` without raising; the caller checks."""
    return subprocess.run(
        ["git", "commit", "-q", "--allow-empty", "-m", message, *extra],
        cwd=cwd or repo.path, capture_output=True, text=True,
        env={**os.environ, **(env or {})},
    )


def git_dir_hooks(repo: GitRepo) -> Path:
    return (repo.path / ".git" / "hooks").resolve()


def snapshot(directory: Path) -> dict[str, tuple[bytes, int, str | None]]:
    """Every entry of ``directory``: (bytes or b'', mode, symlink target)."""
    if not directory.exists():
        return {}
    out: dict[str, tuple[bytes, int, str | None]] = {}
    for entry in sorted(directory.iterdir()):
        st = os.lstat(entry)
        if entry.is_symlink():
            out[entry.name] = (b"", st.st_mode, os.readlink(entry))
        elif entry.is_dir():
            out[entry.name] = (b"", st.st_mode, None)
        else:
            out[entry.name] = (entry.read_bytes(), st.st_mode, None)
    return out


FOREIGN_COMMIT_MSG = "printf 'Foreign-Hook: yes\\n' >>\"$1\"\n"


# --------------------------------------------------------------------------- install


def test_install_writes_an_executable_shim_per_hook(repo: GitRepo, fake: FakePython) -> None:
    assert not (repo.path / ".git" / "hooks").exists()  # the empty template made none

    result = install(repo.path, python=str(fake.path))

    directory = git_dir_hooks(repo)
    assert sorted(p.name for p in directory.iterdir()) == sorted(HOOK_NAMES)  # no temp files
    for name in HOOK_NAMES:
        path = directory / name
        st = os.lstat(path)
        assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o755
        lines = path.read_text().splitlines()
        assert lines[0] == "#!/bin/sh"
        assert lines[1].startswith(f"# {MARKER} v1 ({name}): written by `git runr hooks install`")
        assert path.read_text() == render_shim(name, str(fake.path))
        assert is_ours(path)
    assert result == status(repo.path, hooks=HOOK_NAMES)
    assert result == [
        HookStatus(name=n, path=directory / n, installed=True, chained=None, foreign=False,
                   interpreter=str(fake.path))
        for n in HOOK_NAMES
    ]


def test_install_is_idempotent_and_upgrades_the_interpreter(
    repo: GitRepo, fake: FakePython, tmp_path: Path
) -> None:
    install(repo.path, python=str(fake.path))
    first = snapshot(git_dir_hooks(repo))
    install(repo.path, python=str(fake.path))
    assert snapshot(git_dir_hooks(repo)) == first  # same bytes, and our shim was not chained

    other = FakePython(tmp_path / "other" / "python3.99")
    result = install(repo.path, python=str(other.path))
    after = snapshot(git_dir_hooks(repo))
    assert sorted(after) == sorted(HOOK_NAMES)  # still no *.runr-orig: an upgrade, not a chain
    assert all(after[n][0] != first[n][0] for n in HOOK_NAMES)
    assert [s.interpreter for s in result] == [str(other.path)] * len(HOOK_NAMES)
    assert result[0].to_json() == {
        "name": "commit-msg",
        "path": str(git_dir_hooks(repo) / "commit-msg"),
        "installed": True,
        "chained": None,
        "foreign": False,
        "interpreter": str(other.path),
    }


def test_install_only_selected_hooks(repo: GitRepo, fake: FakePython) -> None:
    result = install(repo.path, python=str(fake.path), hooks=["post-commit"])
    assert [s.name for s in result] == ["post-commit"]
    assert [p.name for p in git_dir_hooks(repo).iterdir()] == ["post-commit"]
    assert [s.name for s in status(repo.path) if s.installed] == ["post-commit"]


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_shims_are_valid_posix_sh(hook: str) -> None:
    text = render_shim(hook, "/opt/it's a $dir/python `x`")
    subprocess.run(["sh", "-n"], input=text, text=True, check=True)
    assert "python='/opt/it'\\''s a $dir/python `x`'" in text.splitlines()


def test_interpreter_path_with_quotes_and_spaces_runs(repo_with_commit: GitRepo,
                                                      tmp_path: Path) -> None:
    repo = repo_with_commit
    odd = FakePython(tmp_path / "it's a $HOME dir" / "py `thon`")
    statuses = install(repo.path, python=str(odd.path))
    assert statuses[0].interpreter == str(odd.path)  # parsed back through the sh quoting
    activate(repo)
    assert commit(repo, "odd interpreter").returncode == 0
    assert odd.hooks_run() == ["commit-msg", "post-commit"]


def test_bad_arguments_raise_usage_error_and_write_nothing(repo: GitRepo,
                                                           fake: FakePython) -> None:
    with pytest.raises(UsageError, match="unknown hook 'pre-commit'"):
        render_shim("pre-commit", str(fake.path))
    with pytest.raises(UsageError, match="not an absolute path"):
        render_shim("commit-msg", "python3")
    with pytest.raises(UsageError, match="newline"):
        render_shim("commit-msg", "/usr/bin/py\nthon")
    with pytest.raises(UsageError, match="unknown hook"):
        install(repo.path, python=str(fake.path), hooks=["commit-msg", "pre-receive"])
    with pytest.raises(UsageError):
        install(repo.path, python="relative/python")
    assert not (repo.path / ".git" / "hooks").exists()


# --------------------------------------------------------------------------- chaining


def test_foreign_commit_msg_hook_runs_first_and_is_restored_byte_for_byte(
    repo_with_commit: GitRepo, fake: FakePython
) -> None:
    repo = repo_with_commit
    directory = git_dir_hooks(repo)
    foreign = make_script(directory / "commit-msg", FOREIGN_COMMIT_MSG + "# keep me\n")
    foreign.chmod(0o750)  # an unusual mode, to see it kept
    original = foreign.read_bytes()

    result = install(repo.path, python=str(fake.path))
    orig = directory / ("commit-msg" + CHAINED_SUFFIX)
    assert result[0] == HookStatus(name="commit-msg", path=directory / "commit-msg",
                                   installed=True, chained=orig, foreign=False,
                                   interpreter=str(fake.path))
    assert orig.read_bytes() == original
    assert stat.S_IMODE(orig.stat().st_mode) == 0o750

    activate(repo)
    proc = commit(repo, "with a foreign hook")
    assert proc.returncode == 0, proc.stderr
    assert "Foreign-Hook: yes" in repo.message()  # the foreign hook still ran
    calls = fake.calls()
    assert [c.args[4] for c in calls] == ["commit-msg", "post-commit"]
    # ...and it ran before gitrunr: the message gitrunr saw already had its line.
    assert calls[0].message == ["with a foreign hook", "Foreign-Hook: yes"]

    uninstall(repo.path)
    restored = directory / "commit-msg"
    assert restored.read_bytes() == original
    assert stat.S_IMODE(restored.stat().st_mode) == 0o750
    assert not orig.exists()
    assert sorted(p.name for p in directory.iterdir()) == ["commit-msg"]
    assert status(repo.path)[0] == HookStatus(name="commit-msg", path=restored,
                                              installed=False, chained=None, foreign=True,
                                              interpreter=None)


def test_failing_foreign_commit_msg_hook_blocks_the_commit(repo_with_commit: GitRepo,
                                                           fake: FakePython) -> None:
    repo = repo_with_commit
    make_script(git_dir_hooks(repo) / "commit-msg",
                "echo 'foreign says no' >&2\nexit 3\n")
    install(repo.path, python=str(fake.path))
    activate(repo)
    before = repo.head()

    proc = commit(repo, "blocked")

    assert proc.returncode != 0
    assert "foreign says no" in proc.stderr
    assert repo.head() == before
    assert fake.calls() == []  # gitrunr never ran for a commit that did not happen


def test_foreign_symlink_hook_stays_a_symlink(repo_with_commit: GitRepo, fake: FakePython,
                                              tmp_path: Path) -> None:
    repo = repo_with_commit
    target = make_script(tmp_path / "shared" / "commit-msg", FOREIGN_COMMIT_MSG)
    directory = git_dir_hooks(repo)
    directory.mkdir(parents=True)
    (directory / "commit-msg").symlink_to(target)

    install(repo.path, python=str(fake.path))
    orig = directory / ("commit-msg" + CHAINED_SUFFIX)
    assert orig.is_symlink() and os.readlink(orig) == str(target)
    assert commit(repo, "via a symlink").returncode == 0
    assert "Foreign-Hook: yes" in repo.message()

    uninstall(repo.path)
    assert os.readlink(directory / "commit-msg") == str(target)
    assert target.read_text() == "#!/bin/sh\n" + FOREIGN_COMMIT_MSG


def test_reinstall_keeps_the_chained_hook(repo: GitRepo, fake: FakePython) -> None:
    directory = git_dir_hooks(repo)
    original = make_script(directory / "post-commit", "echo mine\n").read_bytes()
    install(repo.path, python=str(fake.path))
    install(repo.path, python=str(fake.path))  # must not move our shim onto the chained hook
    assert (directory / ("post-commit" + CHAINED_SUFFIX)).read_bytes() == original
    assert is_ours(directory / "post-commit")
    uninstall(repo.path)
    assert (directory / "post-commit").read_bytes() == original


def test_foreign_hook_and_leftover_runr_orig_refuse_and_write_nothing(
    repo: GitRepo, fake: FakePython
) -> None:
    directory = git_dir_hooks(repo)
    make_script(directory / "post-rewrite", "echo foreign\n")
    make_script(directory / ("post-rewrite" + CHAINED_SUFFIX), "echo older\n")
    before = snapshot(directory)

    with pytest.raises(InvalidStateError) as excinfo:
        install(repo.path, python=str(fake.path))

    message = excinfo.value.message
    assert str(directory / "post-rewrite") in message
    assert str(directory / ("post-rewrite" + CHAINED_SUFFIX)) in message
    assert "git runr hooks install" in message
    # commit-msg and post-commit come first in HOOK_NAMES, yet were not written either.
    assert snapshot(directory) == before


def test_uninstall_is_idempotent_and_leaves_foreign_hooks_alone(
    repo: GitRepo, fake: FakePython
) -> None:
    directory = git_dir_hooks(repo)
    assert [s.installed for s in uninstall(repo.path)] == [False] * (
        len(HOOK_NAMES) + len(OPTIONAL_HOOKS))
    make_script(directory / "post-commit", "echo foreign\n")
    install(repo.path, python=str(fake.path))
    # Someone replaces our commit-msg shim with their own hook after install.
    replacement = make_script(directory / "commit-msg", "echo replaced\n").read_bytes()

    uninstall(repo.path)
    first = snapshot(directory)
    result = uninstall(repo.path)

    assert snapshot(directory) == first
    assert (directory / "commit-msg").read_bytes() == replacement
    assert not (directory / "post-rewrite").exists()
    assert (directory / "post-commit").read_text() == "#!/bin/sh\necho foreign\n"
    assert [(s.installed, s.foreign, s.chained) for s in result] == [
        (False, True, None), (False, True, None), (False, False, None), (False, False, None),
        (False, False, None),  # pre-push, never installed
    ]


def test_uninstall_does_not_clobber_a_foreign_hook_with_the_chained_one(
    repo: GitRepo, fake: FakePython
) -> None:
    directory = git_dir_hooks(repo)
    kept = make_script(directory / "commit-msg", "echo first\n").read_bytes()
    install(repo.path, python=str(fake.path), hooks=["commit-msg"])
    newer = make_script(directory / "commit-msg", "echo newer\n").read_bytes()

    result = uninstall(repo.path, hooks=["commit-msg"])

    assert (directory / "commit-msg").read_bytes() == newer
    orig = directory / ("commit-msg" + CHAINED_SUFFIX)
    assert orig.read_bytes() == kept
    assert result[0].foreign and result[0].chained == orig


def test_leftover_chained_hook_is_reported_and_restored(repo: GitRepo,
                                                          fake: FakePython) -> None:
    directory = git_dir_hooks(repo)
    kept = make_script(directory / "post-commit", "echo kept\n").read_bytes()
    install(repo.path, python=str(fake.path), hooks=["post-commit"])
    (directory / "post-commit").unlink()  # our shim deleted by hand; the kept hook remains
    orig = directory / ("post-commit" + CHAINED_SUFFIX)
    assert status(repo.path, hooks=["post-commit"])[0] == HookStatus(
        name="post-commit", path=directory / "post-commit", installed=False, chained=orig,
        foreign=False, interpreter=None)

    uninstall(repo.path)

    assert (directory / "post-commit").read_bytes() == kept
    assert not orig.exists()


def test_sample_files_are_never_touched(repo: GitRepo, fake: FakePython) -> None:
    directory = git_dir_hooks(repo)
    for name in HOOK_NAMES:
        make_script(directory / f"{name}.sample", f"# sample {name}\n")
    (directory / "post-commit.sample").chmod(0o644)
    before = snapshot(directory)

    install(repo.path, python=str(fake.path))
    after_install = snapshot(directory)
    uninstall(repo.path)

    assert {k: v for k, v in after_install.items() if k.endswith(".sample")} == before
    assert not any(k.endswith(CHAINED_SUFFIX) for k in after_install)
    assert snapshot(directory) == before


def test_is_ours_only_for_our_marker_on_line_two(tmp_path: Path) -> None:
    shim = tmp_path / "commit-msg"
    shim.write_text(render_shim("commit-msg", "/usr/bin/python3"))
    assert is_ours(shim)
    line1 = tmp_path / "a"
    line1.write_text(f"# {MARKER} v1 (commit-msg)\n#!/bin/sh\n")
    line3 = tmp_path / "b"
    line3.write_text(f"#!/bin/sh\n# mine\n# {MARKER} v1 (commit-msg)\n")
    link = tmp_path / "c"
    link.symlink_to(shim)
    assert not is_ours(line1)
    assert not is_ours(line3)
    assert not is_ours(link)  # we only ever write regular files
    assert not is_ours(tmp_path / "missing")
    assert not is_ours(tmp_path)


# --------------------------------------------------------------------------- where


@pytest.mark.parametrize("absolute", [False, True], ids=["relative", "absolute"])
def test_core_hooks_path_is_honoured_even_before_it_exists(
    repo_with_commit: GitRepo, fake: FakePython, tmp_path: Path, absolute: bool
) -> None:
    repo = repo_with_commit
    target = (tmp_path / "shared" / "hooks") if absolute else (repo.path / "tools" / "githooks")
    repo.git("config", "core.hooksPath", str(target) if absolute else "tools/githooks")
    sub = repo.path / "src" / "deep"
    sub.mkdir(parents=True)

    assert hooks_dir(repo.path) == target.resolve()
    assert hooks_dir(sub) == target.resolve()  # relative to the work tree top, not the cwd
    assert not target.exists()

    install(sub, python=str(fake.path))

    assert sorted(p.name for p in target.iterdir()) == sorted(HOOK_NAMES)
    assert not (repo.path / ".git" / "hooks").exists()
    activate(repo)
    assert commit(repo, "through core.hooksPath", cwd=sub).returncode == 0
    assert fake.hooks_run() == ["commit-msg", "post-commit"]  # git ran the shims there


def test_linked_worktree_shares_hooks_and_has_its_own_state(
    repo_with_commit: GitRepo, fake: FakePython, tmp_path: Path
) -> None:
    repo = repo_with_commit
    wt = tmp_path / "wt"
    repo.git("worktree", "add", "-q", "-b", "side", str(wt))

    assert hooks_dir(wt) == hooks_dir(repo.path) == git_dir_hooks(repo)
    install(wt, python=str(fake.path))
    assert all(is_ours(git_dir_hooks(repo) / n) for n in HOOK_NAMES)

    marker = activate(repo, cwd=wt)
    assert marker == (repo.path / ".git" / "worktrees" / "wt" / "runr" / "active-run.json")
    assert commit(repo, "in the main worktree").returncode == 0
    assert fake.calls() == []  # the linked worktree's run is not the main worktree's
    assert commit(repo, "in the linked worktree", cwd=wt).returncode == 0
    calls = fake.calls()
    assert [c.args[4] for c in calls] == ["commit-msg", "post-commit"]
    assert all(Path(c.pwd).resolve() == wt.resolve() for c in calls)
    assert all((Path(c.pwd) / c.state_dir).resolve() == marker.parent for c in calls)
    assert calls[0].message == ["in the linked worktree"]


# --------------------------------------------------------------------------- the shim


def test_fast_path_skips_the_interpreter_without_run_state(repo_with_commit: GitRepo,
                                                           fake: FakePython) -> None:
    repo = repo_with_commit
    install(repo.path, python=str(fake.path))
    assert commit(repo, "no run").returncode == 0
    assert commit(repo, "amend, no ledger", "--amend").returncode == 0
    assert fake.calls() == []


@pytest.mark.parametrize("state_file", ["active-run.json", "pending-intervention.json"])
def test_commit_hooks_run_with_their_arguments_when_state_exists(
    repo_with_commit: GitRepo, fake: FakePython, state_file: str
) -> None:
    repo = repo_with_commit
    install(repo.path, python=str(fake.path))
    activate(repo, state_file)

    assert commit(repo, "during a run").returncode == 0

    msg_call, post_call = fake.calls()
    assert msg_call.args[:5] == ["-S", "-P", "-m", "gitrunr.hooks", "commit-msg"]
    assert len(msg_call.args) == 6
    assert (Path(msg_call.pwd) / msg_call.args[5]).resolve() == (
        repo.path / ".git" / "COMMIT_EDITMSG"
    ).resolve()
    assert msg_call.message == ["during a run"]
    assert Path(msg_call.pwd).resolve() == repo.path.resolve()  # git runs hooks at the top
    assert post_call.args == ["-S", "-P", "-m", "gitrunr.hooks", "post-commit"]
    runr = (repo.path / ".git" / "runr").resolve()
    for call in (msg_call, post_call):  # exported, relative to the cwd git gave the hook
        assert (Path(call.pwd) / call.state_dir).resolve() == runr


def test_gitrunr_hooks_off_skips_gitrunr_but_not_the_chained_hook(
    repo_with_commit: GitRepo, fake: FakePython
) -> None:
    repo = repo_with_commit
    make_script(git_dir_hooks(repo) / "commit-msg", FOREIGN_COMMIT_MSG)
    install(repo.path, python=str(fake.path))
    activate(repo)

    assert commit(repo, "gitrunr's own", env={"GITRUNR_HOOKS": "off"}).returncode == 0

    assert fake.calls() == []
    assert "Foreign-Hook: yes" in repo.message()
    assert commit(repo, "a user's", env={"GITRUNR_HOOKS": "on"}).returncode == 0
    assert fake.hooks_run() == ["commit-msg", "post-commit"]


def test_post_rewrite_gets_old_and_new_on_amend_when_the_ledger_exists(
    repo_with_commit: GitRepo, fake: FakePython
) -> None:
    repo = repo_with_commit
    install(repo.path, python=str(fake.path), hooks=["post-rewrite"])
    repo.git("update-ref", "refs/runr/ledger", "HEAD")
    old = repo.head()

    assert commit(repo, "amended", "--amend").returncode == 0

    (call,) = fake.calls()
    assert call.args == ["-S", "-P", "-m", "gitrunr.hooks", "post-rewrite", "amend"]
    assert call.stdin == [f"{old} {repo.head()}"]


def test_chained_post_rewrite_gets_the_same_stdin_and_the_temp_file_goes(
    repo_with_commit: GitRepo, fake: FakePython, tmp_path: Path
) -> None:
    repo = repo_with_commit
    seen = tmp_path / "foreign-stdin"
    quoted = shlex.quote(str(seen))
    make_script(git_dir_hooks(repo) / "post-rewrite",
                f"printf '%s\\n' \"$*\" >{quoted}\ncat >>{quoted}\n")
    install(repo.path, python=str(fake.path))
    repo.git("update-ref", "refs/runr/ledger", "HEAD")
    scratch = tmp_path / "tmpdir"
    scratch.mkdir()
    old = repo.head()

    assert commit(repo, "amended", "--amend", env={"TMPDIR": str(scratch)}).returncode == 0

    new = repo.head()
    assert seen.read_text() == f"amend\n{old} {new}\n"
    (call,) = [c for c in fake.calls() if c.args[4] == "post-rewrite"]
    assert call.stdin == [f"{old} {new}"]
    assert list(scratch.iterdir()) == []  # the saved stdin was removed

    # Without the ledger gitrunr exits early; the chained hook still gets its input.
    repo.git("update-ref", "-d", "refs/runr/ledger")
    old = repo.head()
    assert commit(repo, "again", "--amend", env={"TMPDIR": str(scratch)}).returncode == 0
    assert seen.read_text() == f"amend\n{old} {repo.head()}\n"
    assert list(scratch.iterdir()) == []


def test_gone_interpreter_blocks_commit_msg_with_a_message(
    repo_with_commit: GitRepo, tmp_path: Path
) -> None:
    repo = repo_with_commit
    gone = tmp_path / "uninstalled-venv" / "bin" / "python"
    install(repo.path, python=str(gone), hooks=["commit-msg"])
    activate(repo)
    only_git = tmp_path / "only-git"
    only_git.mkdir()
    git = shutil.which("git")
    assert git is not None
    (only_git / "git").symlink_to(git)  # no python3 on PATH at all
    before = repo.head()

    proc = commit(repo, "blocked", env={"PATH": str(only_git)})

    assert proc.returncode != 0
    assert repo.head() == before
    assert (
        f"gitrunr: cannot run the commit-msg hook: {gone} is gone; reinstall gitrunr and "
        "run `git runr hooks install` (or commit with --no-verify)"
    ) in proc.stderr
    assert commit(repo, "skipped", "--no-verify", env={"PATH": str(only_git)}).returncode == 0


def test_gone_interpreter_does_not_block_post_commit(repo_with_commit: GitRepo,
                                                     tmp_path: Path) -> None:
    repo = repo_with_commit
    gone = tmp_path / "gone" / "python"
    install(repo.path, python=str(gone), hooks=["post-commit"])
    activate(repo)
    # A python3 that exists but cannot import gitrunr is no fallback.
    no_gitrunr = FakePython(tmp_path / "bin-without-gitrunr" / "python3", exit_status=1)
    path = f"{no_gitrunr.path.parent}{os.pathsep}{os.environ['PATH']}"

    proc = commit(repo, "recorded later, or not", env={"PATH": path})

    assert proc.returncode == 0
    assert repo.message().strip() == "recorded later, or not"
    assert f"gitrunr: cannot run the post-commit hook: {gone} is gone" in proc.stderr
    (probe,) = no_gitrunr.calls()
    assert probe.args == ["-P", "-c", "import gitrunr"]  # only asked, never exec'd

    # git ignores post-commit's status, so look at it directly: run the shim as git does.
    shim = git_dir_hooks(repo) / "post-commit"
    direct = subprocess.run([str(shim)], cwd=repo.path, capture_output=True, text=True,
                            env={**os.environ, "PATH": path})
    assert direct.returncode == 0
    assert "is gone" in direct.stderr


def test_gone_interpreter_falls_back_to_a_python3_with_gitrunr(repo_with_commit: GitRepo,
                                                               tmp_path: Path) -> None:
    repo = repo_with_commit
    install(repo.path, python=str(tmp_path / "gone" / "python"))
    activate(repo)
    python3 = FakePython(tmp_path / "fallback-bin" / "python3")  # "imports" anything
    path = f"{python3.path.parent}{os.pathsep}{os.environ['PATH']}"

    assert commit(repo, "fallback", env={"PATH": path}).returncode == 0

    args = [c.args for c in python3.calls()]
    assert args[0] == ["-P", "-c", "import gitrunr"]
    assert ["-P", "-m", "gitrunr.hooks", "post-commit"] in args  # no -S: its own site
    assert [a[:4] for a in args if a[:2] == ["-P", "-m"]] == [
        ["-P", "-m", "gitrunr.hooks", "commit-msg"],
        ["-P", "-m", "gitrunr.hooks", "post-commit"],
    ]


# --------------------------------------------------------------------------- errors


def test_not_a_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    # tmp_path lives outside any repository; stop git from looking above it anyway.
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    for call in (hooks_dir, status, uninstall, install):
        with pytest.raises(NotARepositoryError, match=r"not a git repository \(or any "
                                                      r"parent\): run this inside a "
                                                      r"repository, or `git init` first"):
            call(plain)
    with pytest.raises(NotARepositoryError, match="not a directory"):
        hooks_dir(tmp_path / "missing")
    assert list(plain.iterdir()) == []


def test_bare_repository_is_refused(tmp_path: Path, fake: FakePython) -> None:
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    before = snapshot(bare)
    for call in (hooks_dir, status, uninstall):
        with pytest.raises(NotARepositoryError, match="bare repository"):
            call(bare)
    with pytest.raises(NotARepositoryError, match="needs a work tree"):
        install(bare, python=str(fake.path))
    assert snapshot(bare) == before
    assert not (bare / "hooks").exists()
