"""Every bad input fails cleanly: the documented exit code, one ``error:`` line, no
traceback, and nothing written (DESIGN.md: "A failed command writes nothing").

"Nothing written" is checked with :func:`disk_state`, taken before and after the
command: the refs (``git for-each-ref``), ``git status --porcelain``, the local
config, the listing of ``$(git rev-parse --git-path runr)`` and of the common
directory's ``runr/``, and every path (with a digest of its content) under the test's
temporary directory but outside the object database, so a file created under a
hostile name anywhere there is seen.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gitrunr.errors import ExitCode
from gitrunr.ledger import LEDGER_REF, run_dir
from tests.conftest import GitRepo

UNKNOWN_RUN = "run-0000000000000"
BAD_RUN_IDS = ["../x", "run-../../etc", "run x", "run-;rm -rf", "$(id)", ""]

# --------------------------------------------------------------------------- helpers


def _listing(root: Path) -> dict[str, str]:
    """Every path under ``root``: ``dir`` or a digest of the file's bytes.

    The index is listed by name only: ``git status`` may refresh its stat data. The
    object database is left out: an unreachable object a failed write left behind is
    invisible to git and pruned by gc (the refs are what must not move).
    """
    out: dict[str, str] = {}
    if not root.exists():
        return out
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if ".git/objects" in rel:  # also bare.git/objects
            continue
        if path.is_dir():
            out[rel] = "dir"
        elif path.name == "index" or path.name.startswith("index."):
            out[rel] = "file"
        else:
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _git_out(cwd: Path, *args: str) -> tuple[int, str]:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    return proc.returncode, proc.stdout


def disk_state(cwd: Path, root: Path) -> dict[str, Any]:
    """What a command could have written, as seen from ``cwd`` (a repo or not)."""
    state: dict[str, Any] = {
        "refs": _git_out(cwd, "for-each-ref"),
        "status": _git_out(cwd, "status", "--porcelain", "--untracked-files=all"),
        "config": _git_out(cwd, "config", "--local", "--list"),
        "tree": _listing(root),
    }
    code, runr = _git_out(cwd, "rev-parse", "--path-format=absolute", "--git-path", "runr")
    state["runr"] = _listing(Path(runr.strip())) if code == 0 else None
    code, common = _git_out(cwd, "rev-parse", "--path-format=absolute", "--git-common-dir")
    state["common_runr"] = _listing(Path(common.strip()) / "runr") if code == 0 else None
    return state


def fails_cleanly(g: GitRepo, args: list[str], code: ExitCode, word: str, *,
                  root: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``git runr ARGS`` in ``g``; assert it fails cleanly with ``code``."""
    root = root or g.path.parent
    before = disk_state(g.path, root)
    proc = g.runr(*args, check=False)
    after = disk_state(g.path, root)
    shown = f"git runr {args!r} -> {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    assert proc.returncode == int(code), shown
    assert "Traceback" not in proc.stdout + proc.stderr, shown
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, shown
    assert lines[0].startswith("error: "), shown
    assert word.lower() in lines[0].lower(), shown
    assert proc.stdout == "", shown
    assert after == before, f"{shown}\nthe failed command wrote something"
    return proc


def start_run(g: GitRepo) -> str:
    proc = g.runr("run", "start")
    run_id = proc.stdout.strip()
    assert run_id.startswith("run-"), proc.stdout
    return run_id


@pytest.fixture
def plain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    """A directory that is not in any git repository."""
    path = tmp_path / "plain"
    path.mkdir()
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    return GitRepo(path)


@pytest.fixture
def bare(tmp_path: Path) -> GitRepo:
    path = tmp_path / "bare.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
    return GitRepo(path)


@pytest.fixture
def active(repo_with_commit: GitRepo) -> tuple[GitRepo, str]:
    """A repository with a commit and an active run (hooks not installed)."""
    return repo_with_commit, start_run(repo_with_commit)


# --------------------------------------------------------------------------- no usable repository


@pytest.mark.parametrize("args", [["audit"], ["run", "start"], ["run", "list"], ["init"]],
                         ids=" ".join)
def test_not_a_git_repository(plain: GitRepo, args: list[str]) -> None:
    fails_cleanly(plain, args, ExitCode.NOT_A_REPO, "not a git repository")
    assert list(plain.path.iterdir()) == []


@pytest.mark.parametrize("args", [
    ["run", "start"], ["init"], ["intervene", UNKNOWN_RUN, "--note", "x"],
], ids=lambda a: " ".join(a[:2]))
def test_bare_repository(bare: GitRepo, args: list[str]) -> None:
    fails_cleanly(bare, args, ExitCode.NOT_A_REPO, "bare")


def test_empty_repository_audit_fails_cleanly(repo: GitRepo) -> None:
    fails_cleanly(repo, ["audit"], ExitCode.NOT_A_REPO, "no commits")


def test_empty_repository_run_start_works(repo: GitRepo) -> None:
    run_id = start_run(repo)
    listed = json.loads(repo.runr("run", "list", "--json").stdout)
    assert [r["run_id"] for r in listed["runs"]] == [run_id]
    shown = json.loads(repo.runr("run", "show", run_id, "--json").stdout)
    assert shown["state"] == "active"
    assert shown["base_sha"] is None
    runr = Path(repo.git("rev-parse", "--path-format=absolute", "--git-path",
                         "runr").stdout.strip())
    assert json.loads((runr / "active-run.json").read_text())["run_id"] == run_id


# --------------------------------------------------------------------------- revisions


@pytest.mark.parametrize(("args", "code", "word"), [
    (["audit", "nope..HEAD"], ExitCode.NOT_FOUND, "nope"),
    (["audit", "nope"], ExitCode.NOT_FOUND, "nope"),
    (["audit", "HEAD...nope"], ExitCode.NOT_FOUND, "nope"),
    (["audit", "--since", "nope"], ExitCode.NOT_FOUND, "nope"),
    (["audit", "HEAD~5..HEAD"], ExitCode.NOT_FOUND, "HEAD~5"),
    (["audit", "--", "--output=x"], ExitCode.USAGE, "--output=x"),
    (["audit", "--", "-x"], ExitCode.USAGE, "-x"),
    (["audit", "--since=--output=x"], ExitCode.USAGE, "--output=x"),
    (["audit", "--", "--all"], ExitCode.USAGE, "--all"),
    (["audit", "nope..HEAD", "--since", "HEAD"], ExitCode.USAGE, "since"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_audit_range(repo_with_commit: GitRepo, args: list[str], code: ExitCode,
                         word: str) -> None:
    fails_cleanly(repo_with_commit, args, code, word)
    for name in ("x", "--output=x", "-x"):
        assert not (repo_with_commit.path / name).exists()


@pytest.mark.parametrize("args", [["audit", "HEAD:README"], ["audit", "HEAD^{tree}"],
                                  ["audit", "--since", "HEAD:README"]], ids=" ".join)
def test_audit_range_naming_a_non_commit(repo_with_commit: GitRepo, args: list[str]) -> None:
    # was exit 7 "git object access failed: object is not a committish" (fixed meanwhile)
    fails_cleanly(repo_with_commit, args, ExitCode.NOT_FOUND, "not a commit")


@pytest.mark.parametrize("args", [["audit", ""], ["audit", " "], ["audit", "--since", ""]],
                         ids=repr)
def test_audit_empty_range_string(repo_with_commit: GitRepo, args: list[str]) -> None:
    # an explicit empty range (an unset $RANGE) must not silently audit all of HEAD
    fails_cleanly(repo_with_commit, args, ExitCode.USAGE, "empty")


def test_intervene_sha_that_does_not_resolve(active: tuple[GitRepo, str]) -> None:
    g, run_id = active
    fails_cleanly(g, ["intervene", run_id, "--note", "n", "--sha", "nope"],
                  ExitCode.NOT_FOUND, "nope")


def test_intervene_sha_that_looks_like_an_option(active: tuple[GitRepo, str]) -> None:
    g, run_id = active
    fails_cleanly(g, ["intervene", run_id, "--note", "n", "--sha=--all"],
                  ExitCode.NOT_FOUND, "--all")


def test_intervene_sha_naming_a_blob(active: tuple[GitRepo, str]) -> None:
    g, run_id = active
    fails_cleanly(g, ["intervene", run_id, "--note", "n", "--sha", "HEAD:README"],
                  ExitCode.NOT_FOUND, "commit")


# --------------------------------------------------------------------------- run ids


@pytest.mark.parametrize("args", [
    ["run", "show", UNKNOWN_RUN],
    ["run", "finish", UNKNOWN_RUN, "--outcome", "passed"],
    ["intervene", UNKNOWN_RUN, "--note", "x"],
], ids=lambda a: " ".join(a[:2]))
def test_unknown_run(active: tuple[GitRepo, str], args: list[str]) -> None:
    g, _ = active
    fails_cleanly(g, args, ExitCode.NOT_FOUND, UNKNOWN_RUN)


@pytest.mark.parametrize("bad", BAD_RUN_IDS, ids=repr)
def test_malformed_run_id(active: tuple[GitRepo, str], bad: str) -> None:
    g, run_id = active
    for args in (["run", "show", bad],
                 ["run", "finish", bad, "--outcome", "passed"],
                 ["intervene", bad, "--note", "x", "--cmd", "touch ran.txt"]):
        proc = fails_cleanly(g, args, ExitCode.USAGE, "not a run id")
        assert repr(bad) in proc.stderr
        assert "uid=" not in proc.stdout + proc.stderr  # $(id) never reached a shell
        assert not (g.path / "ran.txt").exists()
    # the real run is untouched and still active
    assert json.loads(g.runr("run", "show", run_id, "--json").stdout)["state"] == "active"


# --------------------------------------------------------------------------- run state


def test_finish_twice(active: tuple[GitRepo, str]) -> None:
    g, run_id = active
    g.runr("run", "finish", run_id, "--outcome", "passed")
    fails_cleanly(g, ["run", "finish", run_id, "--outcome", "passed"],
                  ExitCode.INVALID_STATE, "already")
    fails_cleanly(g, ["run", "finish", run_id, "--outcome", "failed"],
                  ExitCode.INVALID_STATE, "finalized/passed")
    shown = json.loads(g.runr("run", "show", run_id, "--json").stdout)
    assert shown["state"] == "finalized/passed"
    assert shown["event_count"] == 3  # started, finished, and the receipt made with the finish


def test_finish_with_no_active_run(repo_with_commit: GitRepo) -> None:
    fails_cleanly(repo_with_commit, ["run", "finish", "--outcome", "passed"],
                  ExitCode.INVALID_STATE, "no run is active")


def test_intervene_on_finished_run(active: tuple[GitRepo, str]) -> None:
    g, run_id = active
    g.runr("run", "finish", run_id, "--outcome", "aborted")
    fails_cleanly(g, ["intervene", run_id, "--note", "late", "--cmd", "touch ran.txt"],
                  ExitCode.INVALID_STATE, "finalized")
    assert not (g.path / "ran.txt").exists()


def test_run_start_twice_in_one_worktree(active: tuple[GitRepo, str]) -> None:
    g, run_id = active
    fails_cleanly(g, ["run", "start"], ExitCode.INVALID_STATE, run_id)
    listed = json.loads(g.runr("run", "list", "--json").stdout)
    assert listed["total"] == 1


def test_finish_bad_outcome_is_a_click_usage_error(active: tuple[GitRepo, str]) -> None:
    g, run_id = active
    before = disk_state(g.path, g.path.parent)
    proc = g.runr("run", "finish", run_id, "--outcome", "bogus", check=False)
    assert proc.returncode == ExitCode.USAGE == 2
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "Usage: git runr run finish" in proc.stderr
    assert "'bogus' is not one of" in proc.stderr
    assert disk_state(g.path, g.path.parent) == before


def test_intervene_commit_and_sha_exclude_each_other(active: tuple[GitRepo, str]) -> None:
    g, run_id = active
    g.write("staged.txt", "x\n")
    g.git("add", "staged.txt")
    fails_cleanly(g, ["intervene", run_id, "--note", "n", "--commit", "--sha", "HEAD",
                      "--cmd", "touch ran.txt"], ExitCode.USAGE, "exclude")
    assert not (g.path / "ran.txt").exists()


def test_intervene_message_without_commit(active: tuple[GitRepo, str]) -> None:
    g, run_id = active
    fails_cleanly(g, ["intervene", run_id, "--note", "n", "-m", "x", "--cmd", "touch ran.txt"],
                  ExitCode.USAGE, "--commit")
    assert not (g.path / "ran.txt").exists()


def test_intervene_commit_with_nothing_staged(active: tuple[GitRepo, str]) -> None:
    g, run_id = active
    fails_cleanly(g, ["intervene", run_id, "--note", "n", "--commit", "--cmd", "touch ran.txt"],
                  ExitCode.INVALID_STATE, "staged")
    assert not (g.path / "ran.txt").exists()
    assert g.git("rev-list", "--count", "HEAD").stdout.strip() == "1"


# --------------------------------------------------------------------------- corrupt ledger


def plant_blob(g: GitRepo, tmp_path: Path, path: str, content: str) -> None:
    """Commit onto refs/runr/ledger a tree whose ``path`` holds ``content`` (plumbing)."""
    blob = g.git("hash-object", "-w", "--stdin", input=content).stdout.strip()
    old = g.git("rev-parse", LEDGER_REF).stdout.strip()
    index = tmp_path / "ledger.index"
    env = {"GIT_INDEX_FILE": str(index)}
    g.git("read-tree", old, env=env)
    g.git("update-index", "--cacheinfo", f"100644,{blob},{path}", env=env)
    tree = g.git("write-tree", env=env).stdout.strip()
    index.unlink()
    new = g.git("commit-tree", tree, "-p", old, "-m", "corrupt a document").stdout.strip()
    g.git("update-ref", LEDGER_REF, new, old)
    assert g.git("cat-file", "-p", f"{LEDGER_REF}:{path}").stdout == content


CORRUPTIONS = {
    "invalid-json": '{"schema_version": 1, "run_id": "unterminated',
    "wrong-schema": '{"schema_version": 1, "run_id": 42, "state": []}\n',
}


@pytest.mark.parametrize("content", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_corrupt_run_document(repo_with_commit: GitRepo, tmp_path: Path, content: str) -> None:
    g = repo_with_commit
    g.runr("hooks", "install")
    run_id = start_run(g)
    checkpoint = g.commit("checkpoint", {"cp.txt": "cp\n"})
    assert f"Runr-Run-Id: {run_id}" in g.message()
    report = json.loads(g.runr("audit", "--json").stdout)
    assert {c["sha"]: c["class"] for c in report["commits"]}[checkpoint] == "RUNR"

    doc = f"{run_dir(run_id)}/run.json"
    plant_blob(g, tmp_path, doc, content)

    fails_cleanly(g, ["run", "show", run_id], ExitCode.CORRUPT, f"{LEDGER_REF}:{doc}")
    fails_cleanly(g, ["run", "show", run_id, "--json"], ExitCode.CORRUPT, "validation")

    before = disk_state(g.path, tmp_path)
    proc = g.runr("audit", "--json", check=False)
    assert disk_state(g.path, tmp_path) == before
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning: skipped")]
    assert len(warnings) == 1, proc.stderr
    assert f"{LEDGER_REF}:{doc}" in warnings[0]
    report = json.loads(proc.stdout)
    classes = {c["sha"]: c["class"] for c in report["commits"]}
    assert classes[checkpoint] == "UNVERIFIED"
    reasons = {c["sha"]: c["reason"] for c in report["commits"]}
    assert "ledger record is unreadable" in reasons[checkpoint]
    assert report["summary"]["RUNR"] == 0
    assert all(c["class"] != "RUNR" for c in report["commits"])

    text = g.runr("audit", check=False)
    assert text.returncode == 0
    assert "[RUNR]" not in text.stdout
    assert "warning: skipped" in text.stderr

    strict = g.runr("audit", "--strict", check=False)
    assert strict.returncode == ExitCode.CHECK_FAILED, strict.stderr
    assert "Traceback" not in strict.stderr


def test_ledger_ref_pointing_at_a_blob(repo_with_commit: GitRepo) -> None:
    g = repo_with_commit
    start_run(g)
    blob = g.git("hash-object", "-w", "README").stdout.strip()
    g.git("update-ref", LEDGER_REF, blob)
    fails_cleanly(g, ["run", "list"], ExitCode.CORRUPT, "not a commit")
    fails_cleanly(g, ["run", "list", "--json"], ExitCode.CORRUPT, LEDGER_REF)
    fails_cleanly(g, ["audit"], ExitCode.CORRUPT, "not a commit")
    fails_cleanly(g, ["run", "show", UNKNOWN_RUN], ExitCode.CORRUPT, "not a commit")


@pytest.mark.parametrize("content", ['[1', '{"schema_version": 1, "run_id": "bad"}'],
                         ids=["invalid-json", "wrong-schema"])
def test_corrupt_active_run_file(active: tuple[GitRepo, str], content: str) -> None:
    g, run_id = active
    state = Path(g.git("rev-parse", "--path-format=absolute", "--git-path",
                       "runr").stdout.strip()) / "active-run.json"
    assert json.loads(state.read_text())["run_id"] == run_id
    state.write_text(content)
    fails_cleanly(g, ["run", "start"], ExitCode.CORRUPT, "active-run.json")
    fails_cleanly(g, ["run", "finish", "--outcome", "passed"], ExitCode.CORRUPT,
                  "active-run.json")
    assert state.read_text() == content


def test_corrupt_note(active: tuple[GitRepo, str]) -> None:
    g, run_id = active
    head = g.head()
    g.git("notes", "--ref=runr", "add", "-m", "not json", head)
    fails_cleanly(g, ["intervene", run_id, "--note", "n", "--sha", head], ExitCode.CORRUPT,
                  f"refs/notes/runr:{head}")
    proc = g.runr("audit", "--json", check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"warning: skipped refs/notes/runr:{head}" in proc.stderr
    classes = {c["sha"]: c["class"] for c in json.loads(proc.stdout)["commits"]}
    assert classes[head] not in ("RUNR", "MANUAL")


# --------------------------------------------------------------------------- --debug and help


def test_debug_shows_a_traceback(active: tuple[GitRepo, str]) -> None:
    g, _ = active
    plain = g.runr("run", "show", UNKNOWN_RUN, check=False)
    assert plain.returncode == ExitCode.NOT_FOUND
    assert "Traceback" not in plain.stderr
    debug = g.runr("--debug", "run", "show", UNKNOWN_RUN, check=False)
    assert debug.returncode != 0
    assert "Traceback (most recent call last)" in debug.stderr
    assert "NotFoundError" in debug.stderr
    assert UNKNOWN_RUN in debug.stderr


HELP_COMMANDS = [
    [], ["init"], ["hooks"], ["hooks", "install"], ["hooks", "uninstall"], ["hooks", "status"],
    ["run"], ["run", "start"], ["run", "finish"], ["run", "list"], ["run", "show"],
    ["intervene"], ["audit"], ["flush"],
]


@pytest.mark.parametrize("flag", ["-h", "--help"])
@pytest.mark.parametrize("command", HELP_COMMANDS, ids=lambda c: " ".join(c) or "git-runr")
def test_help(plain: GitRepo, command: list[str], flag: str) -> None:
    if not command and flag == "--help":
        # `git runr --help` is git's own (it opens a man page): use the script itself
        argv = ["git-runr", "--help"]
    else:
        argv = ["git", "runr", *command, flag]
    proc = subprocess.run(argv, cwd=plain.path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"Usage: git runr {' '.join(command)}".rstrip() + " "), \
        proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    assert list(plain.path.iterdir()) == []


def test_sha256_repository_gets_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "sha256"
    subprocess.run(["git", "init", "-q", "--object-format=sha256", str(path)], check=True)
    subprocess.run(["git", "-C", str(path), "commit", "-q", "--allow-empty", "-m", "x"],
                   check=True)
    for args in (["audit"], ["run", "start"], ["init"]):
        proc = subprocess.run(["git", "runr", *args], cwd=path, capture_output=True, text=True)
        assert proc.returncode == ExitCode.NOT_A_REPO
        assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
        assert "sha256" in proc.stderr and "Traceback" not in proc.stderr
    assert not (path / ".runr").exists()


def test_audit_reports_even_when_spooled_records_cannot_be_applied(
        repo_with_commit: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A damaged run.json holds back that run's hook records (set aside with the reason,
    never dropped), not the audit."""
    g = repo_with_commit
    g.runr("hooks", "install")
    run_id = start_run(g)
    plant_blob(g, tmp_path, f"{run_dir(run_id)}/run.json", CORRUPTIONS["wrong-schema"])
    monkeypatch.setenv("GITRUNR_FLUSH", "none")  # the hook leaves its record spooled
    g.commit("checkpoint", {"cp.txt": "cp\n"})
    spool = g.path / ".git" / "runr" / "spool"
    assert len(list(spool.glob("*.json"))) == 1
    proc = g.runr("audit", "--json", check=False)
    assert proc.returncode == 0, proc.stderr
    assert "warning: 1 hook record(s) could not be applied" in proc.stderr
    assert f"{run_dir(run_id)}/run.json fails validation" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert json.loads(proc.stdout)["summary"]["RUNR"] == 0
    assert list(spool.glob("*.json")) == []
    kept = [p.name for p in (spool / "rejected").glob("*.json")
            if not p.name.endswith(".reason.json")]
    assert len(kept) == 1  # set aside beside its reason, not lost
