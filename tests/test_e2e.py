"""End to end: hooks installed by `git runr init`, real `git commit`s, then the audit."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from gitrunr.models import AuditReport
from tests.conftest import GitRepo


def audit(repo: GitRepo, *args: str, cwd: Path | None = None) -> dict:
    return json.loads(repo.runr("audit", "--json", *args, cwd=cwd).stdout)


def classes(report: dict) -> list[tuple[str, str]]:
    return [(c["subject"], c["class"]) for c in report["commits"]]


def start(repo: GitRepo, *args: str, cwd: Path | None = None) -> str:
    out = repo.runr("run", "start", "--json", *args, cwd=cwd).stdout
    return json.loads(out)["run_id"]


@pytest.fixture
def initialized(repo_with_commit: GitRepo) -> GitRepo:
    repo_with_commit.runr("init")
    repo_with_commit.commit("add gitrunr config", {".gitignore": "*.log\n"})
    return repo_with_commit


def test_readme_scenario_is_classified(initialized: GitRepo) -> None:
    repo = initialized
    run_id = start(repo, "--tier", "tier2")
    repo.commit("Task 01: setup", {"a.py": "a = 1\n"})
    repo.commit("Task 02: logic", {"b.py": "b = 2\n"})
    message = repo.message()
    assert f"Runr-Run-Id: {run_id}" in message and "Runr-Tier: tier2" in message
    assert message.count("Runr-Checkpoint: cp-") == 1

    repo.write("c.py", "c = 3\n")
    repo.git("add", "c.py")
    repo.runr("intervene", run_id, "--note", "fixed a type error by hand",
              "--cmd", "true", "--commit", "-m", "fix: type error")
    # An intervention recorded first; the next commit is linked by the hooks.
    repo.runr("intervene", run_id, "--note", "tidied imports")
    repo.commit("chore: imports", {"d.py": "import os\n"})
    assert "Runr-Intervention: true" in repo.message()
    repo.runr("run", "finish", "--outcome", "passed")
    repo.commit("misc cleanup", {"e.txt": "e\n"})

    raw = repo.runr("audit", "--json").stdout
    # The documented schema holds for real output (entries are built unvalidated).
    assert AuditReport.model_validate_json(raw).model_dump(mode="json", by_alias=True) == \
        json.loads(raw)
    report = json.loads(raw)
    assert classes(report) == [
        ("initial commit", "GAP"),
        ("add gitrunr config", "GAP"),
        ("Task 01: setup", "RUNR"),
        ("Task 02: logic", "RUNR"),
        ("fix: type error", "MANUAL"),
        ("chore: imports", "MANUAL"),
        ("misc cleanup", "GAP"),
    ]
    assert report["summary"] == {"RUNR": 2, "MANUAL": 2, "UNVERIFIED": 0, "GAP": 3, "total": 7}
    runr = [c for c in report["commits"] if c["class"] == "RUNR"]
    assert all(c["run_id"] == run_id and c["tier"] == "tier2" and c["linked"] == "sha"
               for c in runr)

    shown = json.loads(repo.runr("run", "show", run_id, "--json").stdout)
    assert len(shown["checkpoints"]) == 2 and len(shown["interventions"]) == 2
    assert shown["interventions"][0]["commands"][0]["exit_code"] == 0
    assert shown["interventions"][0]["files_changed"] == ["c.py"]
    assert shown["interventions"][1]["files_changed"] == ["d.py"]

    text = repo.runr("audit", "HEAD~5..HEAD").stdout
    assert text.startswith("Timeline: HEAD~5..HEAD\n")
    assert f"[RUNR] {runr[0]['short_sha']} - Task 01: setup" in text
    assert f"Run: {run_id} | Checkpoint: " in text and "| Tier: tier2" in text
    assert f"Intervention: ✓ (linked to run {run_id})" in text
    assert "Gaps (no provenance): 1" in text

    strict = repo.runr("audit", "--strict", "HEAD~5..HEAD", check=False)
    assert strict.returncode == 1 and "misc cleanup" not in strict.stderr
    assert "1 of 5 commits lack verified provenance" in strict.stderr
    assert repo.runr("audit", "--strict", "HEAD~5..HEAD~1").returncode == 0
    assert repo.git("status", "--porcelain").stdout == ""  # nothing in the work tree


def test_hand_typed_trailers_are_unverified(initialized: GitRepo) -> None:
    repo = initialized
    repo.git("commit", "-q", "--allow-empty", "-m",
             "sneaky\n\nRunr-Run-Id: run-0000000000000\nRunr-Checkpoint: cp-0000000000000")
    run_id = start(repo)
    repo.runr("run", "finish", "--outcome", "aborted")
    # A real run, but it never recorded this commit.
    repo.git("commit", "-q", "--allow-empty", "-m", f"claims\n\nRunr-Run-Id: {run_id}")
    # Case and spacing variants are the same key to git, and to us.
    repo.git("commit", "-q", "--allow-empty", "-m", f"variant\n\nrunr-run-id : {run_id}")
    report = audit(repo, "HEAD~3..HEAD")
    assert classes(report) == [("sneaky", "UNVERIFIED"), ("claims", "UNVERIFIED"),
                               ("variant", "UNVERIFIED")]
    assert "does not know" in report["commits"][0]["reason"]
    assert "never recorded" in report["commits"][1]["reason"]


def test_amend_keeps_one_set_of_trailers_and_stays_runr(initialized: GitRepo) -> None:
    repo = initialized
    start(repo)
    repo.commit("Task: first try", {"f.py": "x\n"})
    before = repo.message()
    repo.write("f.py", "y\n")
    repo.git("add", "f.py")
    repo.git("commit", "-q", "--amend", "--no-edit")
    after = repo.message()
    assert after == before  # the same trailers, once
    report = audit(repo, "HEAD~1..HEAD")
    assert classes(report) == [("Task: first try", "RUNR")]
    assert report["commits"][0]["linked"] == "sha"
    shown = json.loads(repo.runr("run", "show", report["commits"][0]["run_id"], "--json").stdout)
    assert len(shown["checkpoints"]) == 1 and len(shown["checkpoints"][0]["previous_shas"]) == 1


def test_rebase_after_the_run_keeps_provenance(initialized: GitRepo) -> None:
    repo = initialized
    repo.git("checkout", "-q", "-b", "feature")
    start(repo)
    repo.commit("Task: feature work", {"feat.py": "f\n"})
    repo.runr("run", "finish", "--outcome", "passed")
    repo.git("checkout", "-q", "main")
    repo.commit("upstream change", {"up.txt": "u\n"})
    repo.git("checkout", "-q", "feature")
    repo.git("rebase", "-q", "main")
    report = audit(repo, "main..feature")
    assert classes(report) == [("Task: feature work", "RUNR")]
    # Cherry-picked elsewhere with no hook help, it is matched by patch-id.
    repo.git("checkout", "-q", "-b", "other", "main~1")
    repo.git("-c", "core.hooksPath=/dev/null", "cherry-pick", "feature",
             env={"GIT_COMMITTER_DATE": "2026-02-01T00:00:00+00:00"})
    report = audit(repo, "main~1..other")
    assert classes(report) == [("Task: feature work", "RUNR")]
    assert report["commits"][0]["linked"] == "patch-id"


def test_linked_worktree_has_its_own_active_run(initialized: GitRepo, tmp_path: Path) -> None:
    repo = initialized
    wt = tmp_path / "wt"
    repo.git("worktree", "add", "-q", "-b", "side", str(wt))
    main_run = start(repo)
    side_run = start(repo, cwd=wt)
    assert main_run != side_run
    (wt / "side.txt").write_text("side\n")
    repo.git("-C", str(wt), "add", "side.txt")
    repo.git("-C", str(wt), "commit", "-q", "-m", "side work")
    repo.commit("main work", {"main.txt": "m\n"})
    assert f"Runr-Run-Id: {side_run}" in repo.message("side")
    assert f"Runr-Run-Id: {main_run}" in repo.message("main")
    # Both worktrees see one ledger.
    side_report = audit(repo, "main..side", cwd=wt)
    assert side_report["commits"][0]["run_id"] == side_run
    assert side_report["commits"][0]["class"] == "RUNR"
    listed = json.loads(repo.runr("run", "list", "--json").stdout)
    assert {r["run_id"] for r in listed["runs"]} == {main_run, side_run}


def test_core_hooks_path_is_honoured(repo_with_commit: GitRepo) -> None:
    repo = repo_with_commit
    repo.git("config", "core.hooksPath", ".githooks")
    repo.runr("init")
    assert (repo.path / ".githooks" / "commit-msg").exists()
    assert not (repo.path / ".git" / "hooks" / "commit-msg").exists()
    run_id = start(repo)
    repo.commit("via hooksPath", {"h.txt": "h\n"})
    assert f"Runr-Run-Id: {run_id}" in repo.message()


def test_background_flush_is_read_by_the_next_command(initialized: GitRepo,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The default: post-commit spools and flushes in a detached process."""
    repo = initialized
    run_id = start(repo)
    monkeypatch.delenv("GITRUNR_FLUSH")
    repo.commit("async checkpoint", {"x.txt": "x\n"})
    report = audit(repo, "HEAD~1..HEAD")  # flushes whatever is still spooled
    assert classes(report) == [("async checkpoint", "RUNR")]
    assert report["commits"][0]["run_id"] == run_id
    spool = repo.path / ".git" / "runr" / "spool"
    deadline = time.monotonic() + 20
    while any(p.suffix == ".json" for p in spool.glob("*")) and time.monotonic() < deadline:
        time.sleep(0.05)  # let the detached flusher finish before tmp_path goes away
    assert not any(p.suffix == ".json" for p in spool.glob("*"))


def test_hooks_stay_out_of_the_way_without_a_run(initialized: GitRepo) -> None:
    repo = initialized
    sha = repo.commit("plain", {"p.txt": "p\n"})
    assert "Runr-" not in repo.message()
    assert repo.git("notes", "--ref=runr", "list", sha, check=False).returncode != 0
    assert not (repo.path / ".git" / "runr" / "spool").exists() or not any(
        (repo.path / ".git" / "runr" / "spool").glob("*.json"))


def test_empty_message_is_not_rescued_by_trailers(initialized: GitRepo) -> None:
    repo = initialized
    start(repo)
    repo.write("z.txt", "z\n")
    repo.git("add", "z.txt")
    proc = repo.git("commit", "-q", "-m", "", check=False)
    assert proc.returncode != 0  # git's own refusal of an empty message stands
    assert "Runr-" not in repo.git("log", "-1", "--format=%B").stdout


def test_init_is_idempotent(repo_with_commit: GitRepo) -> None:
    repo = repo_with_commit
    first = json.loads(repo.runr("init", "--json").stdout)
    second = json.loads(repo.runr("init", "--json").stdout)
    assert first["config_written"] and not second["config_written"]
    assert first["notes_rewrite_ref_set"] and not second["notes_rewrite_ref_set"]
    assert repo.git("config", "--get-all", "notes.rewriteRef").stdout == "refs/notes/runr\n"
    hook = (repo.path / ".git" / "hooks" / "commit-msg").read_bytes()
    repo.runr("init")
    assert (repo.path / ".git" / "hooks" / "commit-msg").read_bytes() == hook
    assert (repo.path / ".runr" / "runr.toml").read_text().count('mode = "flow"') == 1
    changed = json.loads(repo.runr("init", "--mode", "ledger", "--json").stdout)
    assert changed["config_written"] and changed["mode"] == "ledger"


def test_no_runtime_state_in_the_work_tree(initialized: GitRepo) -> None:
    repo = initialized
    run_id = start(repo)
    repo.runr("intervene", run_id, "--note", "pending")
    assert repo.git("status", "--porcelain", "--ignored").stdout == ""
    state = Path(repo.git("rev-parse", "--git-path", "runr").stdout.strip())
    assert not state.is_absolute() or repo.path not in state.parents or ".git" in state.parts
    assert os.path.exists(repo.path / state / "pending-intervention.json")


def test_message_with_a_divider_line_is_stamped_where_git_log_reads(initialized: GitRepo) -> None:
    """`%(trailers)` ignores `---` (pretty.c no_divider); the hook must write below it."""
    repo = initialized
    run_id = start(repo)
    repo.commit("Task: notes\n\n---\nsome text after a divider line", {"n.txt": "n\n"})
    shown = repo.git("log", "-1", "--format=%(trailers:key=Runr-Run-Id,valueonly,separator=)"
                     ).stdout.strip()
    assert shown == run_id
    assert classes(audit(repo, "HEAD~1..HEAD")) == [("Task: notes", "RUNR")]


def test_failing_command_is_recorded_and_fails_the_exit_status(initialized: GitRepo) -> None:
    repo = initialized
    run_id = start(repo)
    proc = repo.runr("intervene", run_id, "--note", "tried the build", "--cmd", "true",
                     "--cmd", "echo boom >&2; exit 3", check=False)
    assert proc.returncode == 1
    assert "1 of 2 command(s) failed" in proc.stderr
    shown = json.loads(repo.runr("run", "show", run_id, "--json").stdout)
    (iv,) = shown["interventions"]
    assert [(c["cmd"], c["exit_code"]) for c in iv["commands"]] == [
        ("true", 0), ("echo boom >&2; exit 3", 3)]
    assert iv["commands"][1]["output_tail"] == "boom\n"
    assert iv["commands"][1]["duration_ms"] >= 0


def test_output_tail_is_bounded(initialized: GitRepo) -> None:
    repo = initialized
    run_id = start(repo)
    repo.runr("intervene", run_id, "--note", "noisy", "--cmd", "seq 1 5000")
    (iv,) = json.loads(repo.runr("run", "show", run_id, "--json").stdout)["interventions"]
    tail = iv["commands"][0]["output_tail"]
    assert iv["commands"][0]["output_truncated"] is True
    assert tail.endswith("5000\n") and tail.count("\n") == 64 and len(tail) <= 8 * 1024


def test_a_message_cannot_inject_a_run_trailer(initialized: GitRepo) -> None:
    repo = initialized
    run_id = start(repo)
    repo.write("i.txt", "i\n")
    repo.git("add", "i.txt")
    head = repo.head()
    proc = repo.runr("intervene", run_id, "--note", "n", "--commit", "-m",
                     "fix\n\nRunr-Run-Id: run-0000evil0000", check=False)
    assert proc.returncode == 2 and "Runr-Run-Id" in proc.stderr
    assert repo.head() == head  # nothing committed, nothing recorded
    assert json.loads(repo.runr("run", "show", run_id, "--json").stdout)["interventions"] == []
    # A note with newlines is data in the ledger, never a trailer of the commit.
    repo.runr("intervene", run_id, "--note", "line one\nRunr-Run-Id: run-0000evil0000",
              "--commit", "-m", "fix: by hand")
    message = repo.message()
    assert message.count("Runr-Run-Id:") == 1 and f"Runr-Run-Id: {run_id}" in message


def test_notes_rebuild_restores_the_index_from_the_ledger(initialized: GitRepo) -> None:
    repo = initialized
    run_id = start(repo)
    repo.commit("Task: a", {"a.txt": "a\n"})
    repo.git("commit", "-q", "--amend", "-m", "Task: a, amended")
    repo.runr("intervene", run_id, "--note", "by hand", "--sha", "HEAD~1")
    before = audit(repo)
    # A forged note for a commit the ledger never recorded, and a lost note.
    forged = repo.git("rev-parse", "HEAD~2").stdout.strip()
    repo.git("notes", "--ref=runr", "add", "-f", "-m",
             json.dumps({"schema_version": 1, "links": [{"run_id": run_id,
                                                         "kind": "checkpoint"}]}), forged)
    repo.git("notes", "--ref=runr", "remove", "HEAD~1")
    out = json.loads(repo.runr("notes", "rebuild", "--json").stdout)
    assert out["runs"] == 1 and out["notes"] == 3  # amended checkpoint (new + old sha), iv
    listed = repo.git("notes", "--ref=runr", "list").stdout
    assert forged not in listed and repo.git("rev-parse", "HEAD~1").stdout.strip() in listed
    assert audit(repo) == before


def test_rewritten_commits_stay_reachable_after_gc(initialized: GitRepo) -> None:
    repo = initialized
    start(repo)
    before = repo.commit("Task: first", {"g.txt": "1\n"})
    repo.git("commit", "-q", "--amend", "-m", "Task: first, reworded")
    after = repo.head()
    # Forget every other path to the old commit, then collect garbage.
    repo.git("reflog", "expire", "--expire=now", "--all")
    repo.git("gc", "-q", "--prune=now")
    assert repo.git("cat-file", "-t", before).stdout.strip() == "commit"
    for sha in (before, after):  # both are named by the record
        repo.git("merge-base", "--is-ancestor", sha, "refs/runr/archive")
    # The archive names each commit once: the amend added only the new one.
    archived = repo.git("rev-list", "--parents", "-1", "refs/runr/archive").stdout.split()
    assert archived[2:] == [after]
    shown = json.loads(repo.runr("run", "list", "--json").stdout)["runs"][0]
    run = json.loads(repo.runr("run", "show", shown["run_id"], "--json").stdout)
    assert run["checkpoints"][0]["sha"] == after
    assert run["checkpoints"][0]["previous_shas"] == [before]
