"""Workflow policy, end to end on real repositories (docs/workflow.md, seed 002).

Seed ``002_840b2e5c18ad6aa1.txt`` wants *provenance on everything*: a mixed run and
manual workflow whose ``git runr audit`` shows no unexplained gaps; in ledger mode
every change through runs (a commit with no provenance and a direct merge refused,
the same work accepted through ``intervene`` and ``submit``); a receipt when a run
ends; verification evidence with its secrets redacted; review loops stopped with a
structured diagnosis; and, while a run is stopped in ledger mode, only resume,
bundle, submit and escalate.

Every test starts from a copy of a repository built once per session: one plain
commit, ``git runr init`` (hooks installed), ``.runr/runr.toml`` committed, in flow
or ledger mode. What is tested runs as a user runs it (``git runr ...`` and ``git
commit`` in their own processes, the hooks with them); reads that only check an
outcome (``show RUN --json``) call the same click command in-process.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gitrunr.cli import cli
from tests.conftest import GitRepo, fails, refused, run_all
from tests.conftest import written as written_elsewhere

RUN_ID = re.compile(r"run-[0-9a-z]{4,40}")
LEDGER = "refs/runr/ledger"
#: What a stopped run allows in ledger mode, as the refusals name it.
STOPPED_ALLOWS = "only resume, bundle, submit, escalate are allowed"
FEATURE = "feat: parse the config file"


# --------------------------------------------------------------------------- fixtures


def _template(tmp_path_factory: pytest.TempPathFactory, mode: str) -> Path:
    """A repository with a plain first commit and gitrunr set up in ``mode``, its
    ``.runr/runr.toml`` committed (``--no-verify``: ledger mode would refuse a commit
    with no run), built once per session and copied by each test."""
    template = tmp_path_factory.getbasetemp() / f"workflow-{mode}"
    if not template.exists():
        built = tmp_path_factory.mktemp(f"workflow-{mode}-build") / "repo"
        built.mkdir()
        subprocess.run(["git", "init", "-q", "-b", "main", str(built)], check=True)
        repo = GitRepo(built)
        repo.commit("initial commit", {"README": "hello\n"})
        repo.runr("init", "--mode", mode)
        repo.git("add", ".runr")
        repo.git("commit", "-q", "--no-verify", "-m", "chore: gitrunr config")
        built.rename(template)
    return template


def _copy(template: Path, tmp_path: Path) -> GitRepo:
    path = tmp_path / "repo"
    shutil.copytree(template, path, symlinks=True)
    return GitRepo(path)


@pytest.fixture
def flow_repo(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    """gitrunr in flow mode (the default), config committed, no runs."""
    return _copy(_template(tmp_path_factory, "flow"), tmp_path)


@pytest.fixture
def ledger_repo(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    """gitrunr in ledger mode (``[workflow] mode = "ledger"``), config committed."""
    return _copy(_template(tmp_path_factory, "ledger"), tmp_path)


# --------------------------------------------------------------------------- helpers


def start(repo: GitRepo, *args: str, cwd: Path | None = None) -> str:
    """``git runr run start ARGS``: one line on stdout, the new run's id."""
    out = repo.runr("run", "start", *args, cwd=cwd).stdout
    assert RUN_ID.fullmatch(out.strip()) and out.count("\n") == 1, out
    return out.strip()


def inproc(repo: GitRepo, *args: str, cwd: Path | None = None, code: int = 0) -> str:
    """``git runr ARGS`` in-process (click's runner, ``-C``): for reads and for steps a
    test needs but does not test. It must exit ``code``; returns its standard output."""
    result = CliRunner().invoke(cli, ["-C", str(cwd or repo.path), *args])
    assert result.exit_code == code, (args, result.output, result.exception)
    return result.stdout


def prepare_start(repo: GitRepo, *args: str, cwd: Path | None = None) -> str:
    """:func:`start`, in-process: a run a test needs but does not test."""
    out = inproc(repo, "run", "start", *args, cwd=cwd)
    assert RUN_ID.fullmatch(out.strip()), out
    return out.strip()


def run_doc(repo: GitRepo, run_id: str) -> dict[str, Any]:
    """``show RUN --json``'s ``run``: the run's record."""
    return json.loads(inproc(repo, "show", run_id, "--json"))["run"]  # type: ignore[no-any-return]


def audit(repo: GitRepo, rev_range: str) -> list[dict[str, Any]]:
    """``audit RANGE --json``'s commits, oldest first (in-process: a read)."""
    return json.loads(inproc(repo, "audit", rev_range, "--json"))["commits"]  # type: ignore[no-any-return]


def checkpoint(repo: GitRepo, subject: str, cwd: Path | None = None) -> str:
    """Commit a new file named after ``subject`` (in ``cwd``, default the repository);
    the hooks record it on the worktree's active run. Returns the sha."""
    slug = re.sub(r"[^a-z0-9]+", "-", subject.lower()).strip("-")
    where = GitRepo(cwd) if cwd is not None else repo
    return where.commit(subject, {f"work/{slug}.txt": subject + "\n"})


def trailer_keys(repo: GitRepo, rev: str = "HEAD") -> list[str]:
    """The keys of the trailers git reads from ``rev``'s message."""
    out = repo.git("log", "-1", "--format=%(trailers:only,unfold)", rev).stdout
    return [line.split(":", 1)[0] for line in out.splitlines() if line.strip()]






def written(repo: GitRepo) -> dict[str, Any]:
    """What a command could write: every ref (ledger, notes, branches), the work tree
    and index, the worktrees, and the files of ``.git/runr`` (the active run)."""
    return {**written_elsewhere(repo), "head": repo.git("rev-parse", "HEAD").stdout,
            "worktrees": repo.git("worktree", "list", "--porcelain").stdout}


def hook_refusal(proc: subprocess.CompletedProcess[str]) -> str:
    """A ``git commit``/``git merge`` that commit-msg refused: non-zero, and the
    refusal (``gitrunr (ledger mode): ...``) on stderr. Returns stderr."""
    assert proc.returncode != 0, (proc.args, proc.stdout, proc.stderr)
    assert "gitrunr (ledger mode): " in proc.stderr, proc.stderr
    return proc.stderr


def linked_worktree(repo: GitRepo, branch: str) -> GitRepo:
    """A linked worktree of ``repo`` on a new ``branch`` from main."""
    path = repo.path.parent / f"wt-{branch}"
    repo.git("worktree", "add", "-q", "-b", branch, str(path), "main")
    return GitRepo(path)


def worktree_paths(repo: GitRepo) -> list[str]:
    """The worktrees git knows (``git worktree list``), by path."""
    return [line.removeprefix("worktree ") for line in
            repo.git("worktree", "list", "--porcelain").stdout.splitlines()
            if line.startswith("worktree ")]


def plain_commit(repo: GitRepo, message: str, files: dict[str, str]) -> str:
    """A commit no hook sees (``--no-verify`` skips commit-msg): how the target branch
    moves behind a run's back in these tests."""
    return repo.commit(message, files, "--no-verify")


def plan_file(title: str, *tasks: str) -> str:
    """A ready plan with ``tasks`` (docs/plans.md)."""
    listed = "".join(f"- [ ] {task}\n" for task in tasks)
    return f"---\nstatus: ready\n---\n# {title}\n\n## Tasks\n\n{listed}"


def shard(run_id: str) -> str:
    """The ledger's shard directory of a run: SHA-1 of its id, two hex digits."""
    return hashlib.sha1(run_id.encode()).hexdigest()[:2]


def ledger_blob(repo: GitRepo, path: str) -> bytes:
    """The bytes of ``path`` in the ledger's tree."""
    proc = subprocess.run(["git", "cat-file", "blob", f"{LEDGER}:{path}"], cwd=repo.path,
                          capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def git_bytes(repo: GitRepo, *args: str) -> bytes:
    proc = subprocess.run(["git", *args], cwd=repo.path, capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def runr_bytes(repo: GitRepo, *args: str) -> bytes:
    proc = subprocess.run(["git", "runr", *args], cwd=repo.path, capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


# --------------------------------------------------------------------------- 1. flow: mixed


def test_mixed_flow_workflow_audits_with_no_unexplained_gaps(flow_repo: GitRepo) -> None:
    """Seed 002's success criteria: a mixed run + manual workflow, every commit after
    the setup either a run's checkpoint or linked to a recorded intervention."""
    repo = flow_repo
    base = repo.head()
    run_id = prepare_start(repo)
    cp1 = checkpoint(repo, "feat: add the parser")
    cp2 = checkpoint(repo, "feat: add the printer")

    repo.write("work/hand.txt", "fixed by hand\n")
    repo.git("add", "-A")
    repo.runr("intervene", run_id, "--note", "Fixed the TS error by hand", "--commit",
              "-m", "fix: TS error in game.ts")
    by_hand = repo.head()
    assert by_hand != cp2 and repo.git("rev-parse", "HEAD~1").stdout.strip() == cp2

    # --no-verify skips commit-msg: not stamped; post-commit says, once, how to record it.
    repo.write("work/quick.txt", "quick fix\n")
    repo.git("add", "-A")
    proc = repo.git("commit", "-q", "--no-verify", "-m", "fix: quick fix")
    quick = repo.head()
    assert trailer_keys(repo) == []
    (warning,) = proc.stderr.splitlines()
    assert warning == (f"gitrunr: {quick[:12]} has no provenance while run {run_id} is active; "
                       f"record it: git runr intervene {run_id} --sha {quick[:12]} --note \"…\"")
    # ...and the command it names records it.
    named = re.search(r"git runr intervene (\S+) --sha (\S+) --note", warning)
    assert named is not None
    repo.runr("intervene", named[1], "--sha", named[2], "--note", "quick fix, no hooks")
    cp3 = checkpoint(repo, "feat: wire it up")

    inproc(repo, "run", "finish", run_id, "--outcome", "passed")
    assert repo.runr("audit", f"{base}..HEAD", "--strict").returncode == 0
    entries = audit(repo, f"{base}..HEAD")
    assert [(e["sha"], e["class"], e["run_id"]) for e in entries] == [
        (cp1, "RUNR", run_id), (cp2, "RUNR", run_id), (by_hand, "MANUAL", run_id),
        (quick, "MANUAL", run_id), (cp3, "RUNR", run_id)]
    assert [e["note"] for e in entries if e["class"] == "MANUAL"] == [
        "Fixed the TS error by hand", "quick fix, no hooks"]
    # The setup commits before gitrunr are gaps: --strict over all history says so.
    whole = repo.runr("audit", "--strict", check=False)
    assert whole.returncode == 1 and "2 of 7 commits lack verified provenance" in whole.stderr


# --------------------------------------------------------------------------- 2. ledger


def test_ledger_refuses_a_commit_with_no_run_and_nothing_pending(ledger_repo: GitRepo) -> None:
    repo = ledger_repo
    before = repo.head()
    repo.write("src/config.py", "MODE = 'ledger'\n")
    repo.git("add", "-A")
    stderr = hook_refusal(repo.git("commit", "-q", "-m", FEATURE, check=False))
    assert "neither a checkpoint of an active run nor a recorded intervention" in stderr
    assert "git runr run start" in stderr and "git runr intervene" in stderr
    assert repo.head() == before
    assert repo.git("diff", "--cached", "--name-only").stdout == "src/config.py\n"


def test_ledger_accepts_the_same_change_through_intervene_commit(ledger_repo: GitRepo) -> None:
    """The change a plain commit may not land goes in as a recorded intervention of a
    run (here active in another worktree, so this one has none)."""
    repo = ledger_repo
    wt = linked_worktree(repo, "work")
    run_id = prepare_start(repo, cwd=wt.path)
    before = repo.head()
    repo.write("src/config.py", "MODE = 'ledger'\n")
    repo.git("add", "-A")
    out = repo.runr("intervene", run_id, "--note", "config by hand", "--commit",
                    "-m", FEATURE).stdout
    made = repo.head()
    assert made != before and repo.git("rev-parse", "HEAD~1").stdout.strip() == before
    assert out == (f"intervention {run_doc(repo, run_id)['interventions'][0]['intervention_id']}"
                   f" recorded for run {run_id}, linked to commit {made[:12]}\n")
    assert repo.git("show", "--format=", "--name-only", "HEAD").stdout == "src/config.py\n"
    assert trailer_keys(repo) == ["Runr-Run-Id", "Runr-Intervention"]
    (entry,) = audit(repo, f"{before}..HEAD")
    assert (entry["class"], entry["run_id"], entry["note"]) == ("MANUAL", run_id,
                                                                "config by hand")


def test_ledger_refuses_a_direct_merge_and_lands_the_same_work_through_submit(
        ledger_repo: GitRepo) -> None:
    """A run active on main (its target) in the main worktree; a feature done as another
    run on branch feature. Merging feature into main (--no-ff) is refused by
    commit-msg and moves nothing; ``submit --integrate`` lands the same work."""
    repo = ledger_repo
    wt = linked_worktree(repo, "feature")
    feature_run = prepare_start(repo, cwd=wt.path)
    feature = checkpoint(repo, FEATURE, cwd=wt.path)
    run_id = prepare_start(repo)
    state = json.loads((repo.path / ".git" / "runr" / "active-run.json").read_text())
    assert (state["run_id"], state["target"]) == (run_id, "main")
    refs = repo.git("for-each-ref").stdout
    main = repo.head()
    stderr = hook_refusal(repo.git("merge", "--no-ff", "-m", "Merge feature", "feature",
                                   check=False))
    assert f"a merge into main, run {run_id}'s target, comes only through submit" in stderr
    assert f"git runr submit {run_id} --integrate" in stderr
    assert repo.head() == main and repo.git("for-each-ref").stdout == refs
    repo.git("merge", "--abort")

    out = repo.runr("submit", feature_run, "--integrate").stdout
    assert out == f"main: fast-forward, 1 commit(s), now at {feature[:12]}\n"
    assert repo.head() == feature and repo.git("status", "--porcelain").stdout == ""
    assert [sub["method"] for sub in run_doc(repo, feature_run)["submissions"]] == ["fast-forward"]
    (entry,) = audit(repo, f"{main}..main")
    assert (entry["class"], entry["run_id"]) == ("RUNR", feature_run)


def test_ledger_submit_fast_forwards_the_target(ledger_repo: GitRepo) -> None:
    repo = ledger_repo
    main = repo.head()
    wt = linked_worktree(repo, "work")
    run_id = prepare_start(repo, cwd=wt.path)
    cps = [checkpoint(repo, FEATURE, cwd=wt.path),
           checkpoint(repo, "test: the config parser", cwd=wt.path)]
    out = repo.runr("submit", run_id, "--integrate").stdout
    assert out == f"main: fast-forward, 2 commit(s), now at {cps[-1][:12]}\n"
    assert repo.head() == cps[-1]  # main is checked out here: moved by merge --ff-only
    assert repo.git("status", "--porcelain").stdout == ""
    (sub,) = run_doc(repo, run_id)["submissions"]
    assert {k: sub[k] for k in ("target", "method", "old", "new", "commits")} == {
        "target": "main", "method": "fast-forward", "old": main, "new": cps[-1],
        "commits": cps}
    assert [(e["sha"], e["class"], e["linked"]) for e in audit(repo, f"{main}..main")] == [
        (cps[0], "RUNR", "sha"), (cps[1], "RUNR", "sha")]


def test_ledger_submit_rebases_when_the_target_moved(ledger_repo: GitRepo) -> None:
    repo = ledger_repo
    wt = linked_worktree(repo, "work")
    run_id = prepare_start(repo, cwd=wt.path)
    cps = [checkpoint(repo, FEATURE, cwd=wt.path),
           checkpoint(repo, "test: the config parser", cwd=wt.path)]
    moved = plain_commit(repo, "docs: moved main meanwhile", {"docs/x.md": "x\n"})
    worktrees = worktree_paths(repo)
    out = repo.runr("submit", run_id, "--integrate").stdout
    tip = repo.head()
    assert out == f"main: rebase, 2 commit(s), now at {tip[:12]}\n"
    picked = repo.git("rev-list", "--reverse", f"{moved}..main").stdout.split()
    assert len(picked) == 2 and repo.git("rev-parse", "main~2").stdout.strip() == moved
    for old, new in zip(cps, picked, strict=True):  # the same changes, on top of main
        assert new != old
        assert repo.git("diff-tree", "--no-commit-id", "-r", old).stdout == \
            repo.git("diff-tree", "--no-commit-id", "-r", new).stdout
    assert repo.git("rev-parse", "work").stdout.strip() == cps[-1]  # the run's branch stays
    (sub,) = run_doc(repo, run_id)["submissions"]
    assert {k: sub[k] for k in ("method", "old", "new", "commits")} == {
        "method": "rebase", "old": moved, "new": tip, "commits": picked}
    entries = audit(repo, f"{moved}..main")
    assert [(e["sha"], e["class"], e["run_id"]) for e in entries] == [
        (picked[0], "RUNR", run_id), (picked[1], "RUNR", run_id)]
    assert {e["linked"] for e in entries} <= {"sha", "patch-id"}
    assert repo.runr("audit", f"{moved}..main", "--strict").returncode == 0
    assert worktree_paths(repo) == worktrees  # the temporary one is gone


def test_submitting_a_rebased_run_again_changes_nothing(ledger_repo: GitRepo) -> None:
    """After a rebase landed the run, its work is on the target: a second submit is
    up to date, not a second copy of every commit (empty ones, here)."""
    repo = ledger_repo
    wt = linked_worktree(repo, "work")
    run_id = prepare_start(repo, cwd=wt.path)
    checkpoint(repo, FEATURE, cwd=wt.path)
    moved = plain_commit(repo, "docs: moved main meanwhile", {"docs/x.md": "x\n"})
    inproc(repo, "submit", run_id, "--integrate")
    landed = repo.head()
    assert repo.git("rev-list", "--count", f"{moved}..main").stdout.strip() == "1"
    out = repo.runr("submit", run_id, "--integrate").stdout
    assert out == f"main: up-to-date, 0 commit(s), now at {landed[:12]}\n"
    assert repo.head() == landed


def test_ledger_submit_conflict_names_the_paths_and_changes_nothing(
        ledger_repo: GitRepo) -> None:
    repo = ledger_repo
    wt = linked_worktree(repo, "work")
    run_id = prepare_start(repo, cwd=wt.path)
    wt.commit("docs: README from the run", {"README": "the run's README\n"})
    checkpoint(repo, FEATURE, cwd=wt.path)
    plain_commit(repo, "docs: README on main", {"README": "main's README\n"})
    before = written(repo)
    message = fails(repo, "submit", run_id, "--integrate", code=5)
    assert message.startswith("submit stopped: rebasing the run onto the target conflicts in "
                              "README; nothing was changed")
    assert written(repo) == before
    assert run_doc(repo, run_id)["submissions"] == []
    assert (repo.path / "README").read_text() == "main's README\n"


def test_submit_after_an_intervention_on_the_target_lands_every_checkpoint(
        ledger_repo: GitRepo) -> None:
    """Manual work recorded on main (``intervene --commit``, the ledger-mode way) does not
    make the run's later checkpoints count as landed: submit brings them all."""
    repo = ledger_repo
    wt = linked_worktree(repo, "work")
    run_id = prepare_start(repo, cwd=wt.path)
    checkpoint(repo, FEATURE, cwd=wt.path)
    repo.write("src/hand.py", "by hand\n")
    repo.git("add", "-A")
    repo.runr("intervene", run_id, "--note", "hotfix on main", "--commit", "-m", "fix: hotfix")
    last = checkpoint(repo, "test: the config parser", cwd=wt.path)
    out = repo.runr("submit", run_id, "--integrate").stdout
    assert not out.startswith("main: up-to-date"), out
    for path in ("work/feat-parse-the-config-file.txt", "work/test-the-config-parser.txt",
                 "src/hand.py"):
        assert repo.git("cat-file", "-e", f"main:{path}", check=False).returncode == 0, path
    assert repo.git("diff", last, "main", "--", "work").stdout == ""


# --------------------------------------------------------------------------- 3. a run's mode


def test_a_runs_own_ledger_mode_wins_over_a_flow_repository(flow_repo: GitRepo) -> None:
    repo = flow_repo
    run_id = start(repo, "--mode", "ledger")
    assert run_doc(repo, run_id)["mode"] == "ledger"
    checkpoint(repo, FEATURE)
    before = written(repo)
    message = fails(repo, "run", "finish", run_id, "--outcome", "passed", code=5)
    assert message == (f"ledger mode: the run has no passing verification evidence; attach it "
                       f"with `git runr evidence {run_id} --cmd … --task T` before finishing "
                       "as passed")
    assert written(repo) == before
    # The hooks see the run's own mode too: stopped, a commit is refused.
    inproc(repo, "run", "stop", run_id, "--reason", "timed out")
    head = repo.head()
    repo.write("work/late.txt", "late\n")
    repo.git("add", "-A")
    stderr = hook_refusal(repo.git("commit", "-q", "-m", "late", check=False))
    assert f"run {run_id} is stopped" in stderr and repo.head() == head
    # The repository's mode still governs a run without its own.
    repo.git("reset", "-q")
    inproc(repo, "run", "finish", run_id, "--outcome", "aborted")
    other = prepare_start(repo)
    inproc(repo, "run", "finish", other, "--outcome", "passed")


def test_a_runs_own_flow_mode_wins_over_a_ledger_repository(ledger_repo: GitRepo) -> None:
    repo = ledger_repo
    run_id = start(repo, "--mode", "flow")
    inproc(repo, "run", "stop", run_id, "--reason", "blocked on review")
    assert repo.runr("run", "step", run_id, "build").returncode == 0
    assert run_doc(repo, run_id)["current_step"] == "build"
    # A commit while stopped: not refused (flow), not stamped, and post-commit warns.
    repo.write("work/by-hand.txt", "by hand\n")
    repo.git("add", "-A")
    proc = repo.git("commit", "-q", "-m", "fix: by hand")
    assert trailer_keys(repo) == [] and "no provenance while run" in proc.stderr
    inproc(repo, "resume", run_id)
    repo.runr("run", "finish", run_id, "--outcome", "passed")  # no evidence needed
    assert run_doc(repo, run_id)["state"] == "finalized/passed"
    # ...while a run with no mode of its own follows the repository: ledger.
    other = prepare_start(repo)
    message = fails(repo, "run", "finish", other, "--outcome", "passed", code=5)
    assert message.startswith("ledger mode: the run has no passing verification evidence")


# --------------------------------------------------------------------------- 4. evidence rule


def test_ledger_finishes_passed_only_when_every_task_has_passing_evidence(
        ledger_repo: GitRepo) -> None:
    repo = ledger_repo
    plain_commit(repo, "docs: plan", {"specs/t/phase-01/01-PLAN.md": plan_file(
        "Parse the config", "Read the file", "Validate it")})
    run_id = prepare_start(repo, "t/phase-01/01")
    assert [t["task"] for t in run_doc(repo, run_id)["exec_status"]["tasks"]] == ["01", "02"]
    checkpoint(repo, FEATURE)

    def finish_refused(missing: str) -> None:
        before = written(repo)
        message = fails(repo, "run", "finish", run_id, "--outcome", "passed", code=5)
        assert message.startswith(f"ledger mode: tasks {missing} have no passing verification "
                                  "evidence"), message
        assert written(repo) == before

    finish_refused("01, 02")
    inproc(repo, "evidence", run_id, "--cmd", "true", "--task", "01")
    finish_refused("02")
    inproc(repo, "evidence", run_id, "--cmd", "false", "--task", "02", code=1)
    finish_refused("02")  # failing evidence is not passing evidence
    inproc(repo, "evidence", run_id, "--cmd", "true", "--task", "02")
    repo.runr("run", "finish", run_id, "--outcome", "passed")
    assert run_doc(repo, run_id)["state"] == "finalized/passed"
    # Failing and aborting never need evidence.
    for outcome in ("failed", "aborted"):
        other = prepare_start(repo)
        repo.runr("run", "finish", other, "--outcome", outcome)
        assert run_doc(repo, other)["state"] == f"finalized/{outcome}"


# --------------------------------------------------------------------------- 5. receipts


#: Longer than git's default --stat width: the receipt's stat must not cut it.
LONG = "src/a rather long directory name for the receipt/and a module name, long too.py"


def test_receipt_is_the_diff_of_the_runs_range(flow_repo: GitRepo) -> None:
    repo = flow_repo
    run_id = prepare_start(repo)
    message = fails(repo, "receipt", run_id, code=5)
    assert message == (f"run {run_id} has no receipt: it is made when the run ends (it is "
                       "active)")
    repo.commit("feat: rewrite the readme", {"README": "hello\nworld\n", LONG: "x = 1\n" * 30})
    (repo.path / "logo.bin").write_bytes(bytes(range(256)) * 4)
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "feat: a binary logo")
    repo.write(LONG, "x = 2\n" * 10)
    repo.git("rm", "-q", "README")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "refactor: shrink")
    tip = repo.head()
    inproc(repo, "run", "finish", run_id, "--outcome", "passed")
    base = run_doc(repo, run_id)["base_sha"]
    assert base == repo.git("rev-parse", "HEAD~3").stdout.strip()

    stat = repo.git("diff", "--stat=200", base, tip).stdout
    assert repo.runr("receipt", run_id).stdout == \
        f"receipt of run {run_id}: {base[:12]}..{tip[:12]}\n{stat}"
    short = repo.git("diff", "--shortstat", base, tip).stdout
    numbers = [int(n) for n in re.findall(r"(\d+) (?:files? changed|insert|delet)", short)]
    assert len(numbers) == 3, short
    doc = json.loads(repo.runr("receipt", run_id, "--json").stdout)
    receipt = doc["receipt"]
    assert doc["run_id"] == run_id
    assert [receipt["files_changed"], receipt["insertions"], receipt["deletions"]] == numbers
    assert (receipt["base"], receipt["tip"]) == (base, tip)
    patch = git_bytes(repo, "diff", "--binary", "--full-index", base, tip)
    assert b"GIT binary patch" in patch
    assert runr_bytes(repo, "receipt", run_id, "--patch") == patch
    assert receipt["patch_bytes"] == len(patch)
    path = f"runs/{shard(run_id)}/{run_id}/receipt.patch"
    assert ledger_blob(repo, path) == patch
    assert repo.git("rev-parse", f"{LEDGER}:{path}").stdout.strip() == receipt["patch_blob"]


def test_a_run_with_no_commits_gets_an_empty_receipt(flow_repo: GitRepo) -> None:
    repo = flow_repo
    run_id = prepare_start(repo)
    inproc(repo, "run", "finish", run_id, "--outcome", "aborted")
    head = repo.head()
    assert repo.runr("receipt", run_id).stdout == \
        f"receipt of run {run_id}: {head[:12]}..\n (no changes)\n"
    receipt = json.loads(repo.runr("receipt", run_id, "--json").stdout)["receipt"]
    assert {k: receipt[k] for k in ("base", "tip", "files_changed", "insertions", "deletions",
                                    "stat", "patch_blob", "patch_bytes")} == {
        "base": head, "tip": None, "files_changed": 0, "insertions": 0, "deletions": 0,
        "stat": "", "patch_blob": None, "patch_bytes": 0}
    assert runr_bytes(repo, "receipt", run_id, "--patch") == b""
    listing = repo.git("ls-tree", "-r", "--name-only", LEDGER,
                       f"runs/{shard(run_id)}/{run_id}/").stdout
    assert "receipt.patch" not in listing


# --------------------------------------------------------------------------- 6. evidence

GHP = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
KEY = ("-----BEGIN OPENSSH PRIVATE KEY-----\n"
       "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
       "-----END OPENSSH PRIVATE KEY-----")
SECRETS = ["hunter2", "abc123", "AKIAABCDEFGHIJKLMNOP", GHP,
           "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ", "internal-deadbeef", "s3cr3tvalue"]
#: What the command prints, and the same with its six secrets redacted.
OUTPUT = (f"connecting with password=hunter2\ntoken: abc123\naws AKIAABCDEFGHIJKLMNOP\n"
          f"github {GHP}\n{KEY}\nbuild id internal-deadbeef\n"
          + "".join(f"test {i:03d} ok\n" for i in range(40)))
REDACTED = ("connecting with password=[REDACTED]\ntoken: [REDACTED]\naws [REDACTED]\n"
            "github [REDACTED]\n[REDACTED]\nbuild id [REDACTED]\n"
            + "".join(f"test {i:03d} ok\n" for i in range(40)))
TAIL_BYTES = 64


def test_evidence_is_recorded_with_its_secrets_redacted(flow_repo: GitRepo) -> None:
    repo = flow_repo
    inproc(repo, "config", "set", "evidence.redact", '["internal-[0-9a-f]{8}"]')
    inproc(repo, "config", "set", "evidence.tail_bytes", str(TAIL_BYTES))
    run_id = prepare_start(repo)
    repo.write("emit.txt", OUTPUT)
    tested = checkpoint(repo, "test: the build")
    cmd = "API_KEY=s3cr3tvalue sleep 0.2 && cat emit.txt"
    proc = repo.runr("evidence", run_id, "--cmd", cmd, "--json")
    event = json.loads(proc.stdout)
    assert not any(s in proc.stdout for s in SECRETS)
    assert event["exit_code"] == 0 and event["duration_ms"] >= 200
    assert event["cmd"] == "API_KEY=[REDACTED] sleep 0.2 && cat emit.txt"
    assert event["redactions"] == 6
    assert event["head"] == tested
    log = ledger_blob(repo, f"runs/{shard(run_id)}/{run_id}/evidence/{event['event_id']}.log")
    assert log.decode() == REDACTED
    assert event["log_blob"] == repo.git("hash-object", "--stdin", input=REDACTED).stdout.strip()
    assert (event["output_bytes"], event["log_sha256"]) == (
        len(log), hashlib.sha256(log).hexdigest())
    assert event["output_truncated"] is True
    assert event["output_tail"] == REDACTED[-TAIL_BYTES:]
    stored = run_doc(repo, run_id)["evidence"]
    assert [e["event_id"] for e in stored] == [event["event_id"]]
    assert stored[0]["output_tail"] == event["output_tail"] and stored[0]["redactions"] == 6
    assert not any(s in json.dumps(stored) for s in SECRETS)

    # A failing command: exit 1 from git runr, recorded all the same.
    broken = checkpoint(repo, "feat: break the build")
    failed = repo.runr("evidence", run_id, "--cmd", "echo 'token=abc123 FAILED'; exit 3",
                       check=False)
    assert failed.returncode == 1
    assert failed.stderr.splitlines()[-1] == ("error: `echo 'token=[REDACTED] FAILED'; exit 3` "
                                              "exited 3 (recorded as evidence)")
    assert "abc123" not in failed.stdout + failed.stderr.splitlines()[-1]
    last = run_doc(repo, run_id)["evidence"][-1]
    assert (last["exit_code"], last["head"], last["output_tail"]) == (
        3, broken, "token=[REDACTED] FAILED\n")
    untested = checkpoint(repo, "docs: notes")
    inproc(repo, "run", "finish", run_id, "--outcome", "failed")

    marks = {e["sha"]: e["evidence"] for e in audit(repo, f"{tested}~1..HEAD")}
    assert marks == {tested: "passed", broken: "failed", untested: None}
    text = repo.runr("audit", f"{tested}~1..HEAD").stdout
    blocks = {line.split()[1]: line for line in text.split("\n[")[1:]}
    assert "Evidence: ✓" in blocks[tested[:7]] and "Evidence: ✗" not in blocks[tested[:7]]
    assert "Evidence: ✗" in blocks[broken[:7]] and "Evidence: ✓" not in blocks[broken[:7]]
    assert "Evidence" not in blocks[untested[:7]]


# --------------------------------------------------------------------------- 7. review loops


@pytest.mark.parametrize("threshold", [3, 2])
def test_a_review_loop_stops_the_run_with_a_diagnosis(flow_repo: GitRepo,
                                                      threshold: int) -> None:
    repo = flow_repo
    if threshold != 3:
        inproc(repo, "config", "set", "workflow.review_loop_threshold", str(threshold))
    run_id = prepare_start(repo)
    message = fails(repo, "diagnose", run_id, code=5)
    assert message == f"run {run_id} is active and never stopped: nothing to diagnose"
    failing_cmd = "test -f typecheck.ok"
    if threshold == 3:
        inproc(repo, "evidence", run_id, "--cmd", failing_cmd, code=1)
    others = ["Add a test for the edge case", "Rename the helper", "Split the module",
              "Document the flag", "Explain the magic number"][: 5 if threshold == 3 else 1]
    same = ["Include npm run typecheck output", "include NPM run typecheck-output!",
            "  Include   npm run typecheck   output.  "][:threshold]
    requests = [*others, *same]
    for i, request in enumerate(requests[:-1], 1):
        out = inproc(repo, "review", run_id, "--request", request)
        assert out == f"review request {i} recorded for run {run_id}\n"
    assert run_doc(repo, run_id)["state"] == "active"  # one short of the threshold
    out = repo.runr("review", run_id, "--request", requests[-1]).stdout
    assert out == (f"run {run_id} stopped: review_loop_detected ({threshold} times the same "
                   f"request); `git runr diagnose {run_id}` says what to do\n")

    doc = run_doc(repo, run_id)
    assert (doc["state"], doc["stop_reason"]) == ("stopped", "review_loop_detected")
    diagnosis = doc["diagnosis"]
    assert diagnosis["stop_reason"] == "review_loop_detected"
    assert diagnosis["loop_count"] == threshold
    assert diagnosis["last_review_requests"] == [r.strip() for r in requests][-5:]
    assert len(diagnosis["last_review_requests"]) == min(5, len(requests))
    assert diagnosis["unmet_checks"][0] == "npm_run_typecheck_output"
    assert diagnosis["suggestion"].strip()
    if threshold == 3:
        assert diagnosis["unmet_checks"] == ["npm_run_typecheck_output",
                                             f"evidence_failed:{failing_cmd}"]
        assert f"`{failing_cmd}`" in diagnosis["suggestion"]
    else:
        assert not any(c.startswith("evidence_failed:") for c in diagnosis["unmet_checks"])

    report = json.loads(repo.runr("diagnose", run_id, "--json").stdout)
    assert report == {"schema_version": 1, "run_id": run_id, "state": "stopped",
                      "stop_reason": "review_loop_detected", "diagnosis": diagnosis,
                      "escalations": []}
    text = repo.runr("diagnose", run_id).stdout.splitlines()
    assert text[0] == f"run {run_id} is stopped: review_loop_detected"
    assert f"  The same review request came back {threshold} times." in text
    assert [f"    - {r}" for r in diagnosis["last_review_requests"]] == \
        text[text.index("  Last requests:") + 1:][:len(diagnosis["last_review_requests"])]
    assert f"  Unmet checks: {', '.join(diagnosis['unmet_checks'])}" in text
    assert f"  Suggestion: {diagnosis['suggestion']}" in text


# --------------------------------------------------------------------------- 8. stopped runs


def test_a_stopped_run_in_ledger_mode_allows_only_resume_bundle_submit_escalate(
        ledger_repo: GitRepo, tmp_path: Path) -> None:
    repo = ledger_repo
    base = repo.head()
    run_id = prepare_start(repo)
    cps = [checkpoint(repo, FEATURE), checkpoint(repo, "test: the config parser")]
    repo.runr("run", "stop", run_id, "--reason", "timed out")
    doc = run_doc(repo, run_id)
    assert (doc["state"], doc["stop_reason"]) == ("stopped", "timed out")

    (tmp_path / "log.txt").write_text("a log\n")
    cases = [
        ["run", "step", run_id, "build"],
        ["progress", run_id, "--task", "01", "--state", "done"],
        ["evidence", run_id, "--cmd", "true"],
        ["intervene", run_id, "--note", "by hand", "--sha", "HEAD"],
        ["artifact", "add", run_id, str(tmp_path / "log.txt")],
        ["run", "transition", run_id, "verifying/testing"],
        ["review", run_id, "--request", "again"],
    ]
    before = written(repo)
    procs = run_all([(["git", "runr", *args], repo.path) for args in cases])
    for args, proc in zip(cases, procs, strict=True):
        message = refused(proc, 5)
        assert f"run {run_id} is stopped (timed out) in ledger mode: {STOPPED_ALLOWS}" \
            in message, (args, message)
    assert written(repo) == before
    # A commit: refused by commit-msg, naming what is allowed.
    repo.write("work/by-hand.txt", "by hand\n")
    repo.git("add", "-A")
    stderr = hook_refusal(repo.git("commit", "-q", "-m", "fix: by hand", check=False))
    assert f"run {run_id} is stopped: only resume, bundle, submit and escalate" in stderr
    assert f"git runr resume {run_id}" in stderr
    assert repo.head() == cps[-1]
    repo.git("reset", "-q", "--hard")

    bundle = tmp_path / "run.bundle"
    out = repo.runr("bundle", run_id, str(bundle)).stdout
    assert out == f"{bundle}: 2 commit(s) of run {run_id}\n"
    verified = repo.git("bundle", "verify", str(bundle)).stdout
    assert re.search(rf"requires this ref:\n{base} ?\n", verified), verified  # only the run's
    heads = repo.git("bundle", "list-heads", str(bundle)).stdout.split()
    assert heads[0] == cps[-1]
    assert repo.git("for-each-ref", "refs/runr/bundles").stdout == ""
    # Someone with only the run's base picks the run's commits up from the bundle.
    repo.git("branch", "base-line", base)
    clone = tmp_path / "other"
    subprocess.run(["git", "init", "-q", "--bare", str(clone)], check=True)
    subprocess.run(["git", "fetch", "-q", str(repo.path), "base-line:refs/heads/main"],
                   cwd=clone, check=True)
    subprocess.run(["git", "fetch", "-q", str(bundle), f"{heads[1]}:refs/heads/picked"],
                   cwd=clone, check=True)
    picked = subprocess.run(["git", "rev-list", f"{base}..picked"], cwd=clone,
                            capture_output=True, text=True, check=True).stdout.split()
    assert picked == cps[::-1]

    assert repo.runr("submit", run_id, "--integrate").stdout == \
        f"main: up-to-date, 0 commit(s), now at {cps[-1][:12]}\n"
    repo.runr("escalate", run_id, "--reason", "needs a person")
    doc = run_doc(repo, run_id)
    assert (doc["state"], doc["escalations"]) == ("stopped", ["needs a person"])
    assert "  Escalated: needs a person" in inproc(repo, "diagnose", run_id).splitlines()
    repo.runr("resume", run_id)
    assert run_doc(repo, run_id)["state"] == "active"
    assert json.loads((repo.path / ".git/runr/active-run.json").read_text())["stopped"] is False
    again = checkpoint(repo, "feat: go on")  # stamped again: a checkpoint
    assert [c["sha"] for c in run_doc(repo, run_id)["checkpoints"]] == [*cps, again]


def test_a_commit_while_stopped_in_flow_mode_is_not_stamped_and_warns(
        flow_repo: GitRepo) -> None:
    repo = flow_repo
    run_id = prepare_start(repo)
    checkpoint(repo, FEATURE)
    repo.runr("run", "stop", run_id, "--reason", "review loop by hand")
    assert json.loads((repo.path / ".git/runr/active-run.json").read_text())["stopped"] is True
    repo.write("work/by-hand.txt", "by hand\n")
    repo.git("add", "-A")
    proc = repo.git("commit", "-q", "-m", "fix: by hand")
    sha = repo.head()
    assert trailer_keys(repo) == []
    assert proc.stderr.splitlines() == [
        f"gitrunr: {sha[:12]} has no provenance while run {run_id} is stopped; record it: "
        f"git runr intervene {run_id} --sha {sha[:12]} --note \"…\""]
    assert len(run_doc(repo, run_id)["checkpoints"]) == 1
    (entry,) = audit(repo, "HEAD~1..HEAD")
    assert entry["class"] == "GAP"
    repo.runr("intervene", run_id, "--sha", sha[:12], "--note", "finished by hand")
    (entry,) = audit(repo, "HEAD~1..HEAD")
    assert (entry["class"], entry["run_id"]) == ("MANUAL", run_id)
