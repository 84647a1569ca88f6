"""The CI gate: `audit --fail-under` and `--strict`, and the pre-commit framework.

The pre-commit tests run the real framework (the `pre-commit` of the test extra) on
a repository whose `.pre-commit-config.yaml` points at a git repository holding this
project's `.pre-commit-hooks.yaml`; the hooks it runs are `language: system`, so
they use the gitrunr installed here. Its cache (`PRE_COMMIT_HOME`) stays in the
test's temporary directory, so `$HOME` stays empty.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gitrunr.cli import _reaches
from gitrunr.ids import new_id
from tests.conftest import GitRepo

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / ".pre-commit-hooks.yaml"
HOOK_IDS = ["gitrunr-commit-msg", "gitrunr-post-commit", "gitrunr-post-merge",
            "gitrunr-post-rewrite"]
HOOK_TYPES = ["commit-msg", "post-commit", "post-merge", "post-rewrite"]


def audit(repo: GitRepo, *args: str) -> dict:
    return json.loads(repo.runr("audit", "--json", *args).stdout)


def start(repo: GitRepo, *args: str) -> str:
    return json.loads(repo.runr("run", "start", "--json", *args).stdout)["run_id"]


def error_line(proc: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


# --------------------------------------------------------------------------- --fail-under


_BUILT: dict[str, tuple[Path, dict[str, str]]] = {}


@pytest.fixture
def mixed(repo: GitRepo, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """``repo`` becomes a copy of :func:`build_mixed`'s repository (built once)."""
    if "mixed" not in _BUILT:
        built = GitRepo(tmp_path_factory.mktemp("mixed") / "repo")
        built.path.mkdir()
        subprocess.run(["git", "init", "-q", "-b", "main", str(built.path)], check=True)
        _BUILT["mixed"] = (built.path, build_mixed(built))
    path, names = _BUILT["mixed"]
    shutil.rmtree(repo.path)
    shutil.copytree(path, repo.path, symlinks=True)
    return names


def build_mixed(repo: GitRepo) -> dict[str, str]:
    """8 commits: 2 GAP, then 5 checkpoints and 1 intervention (75% provenance)."""
    repo.commit("initial commit", {"README": "hello\n"})
    repo.runr("init")
    repo.commit("chore: set up gitrunr", {".gitignore": "*.log\n"})
    run_id = start(repo)
    for n in range(5):
        repo.commit(f"feat(task-0{n + 1}): step {n}", {f"s{n}.py": f"s = {n}\n"})
    repo.write("fix.py", "fix = 1\n")
    repo.git("add", "fix.py")
    repo.runr("intervene", run_id, "--note", "by hand", "--commit", "-m", "fix: by hand")
    shas = repo.git("rev-list", "--reverse", "HEAD").stdout.split()
    assert len(shas) == 8
    return {"run": run_id, "gap1": shas[0][:7], "gap2": shas[1][:7]}


@pytest.mark.parametrize(("pct", "code"), [
    ("0", 0), ("50", 0), ("75", 0), ("75.0", 0), ("74.99", 0), ("7.5e1", 0),
    ("75.01", 1), ("80", 1), ("100", 1),
])
def test_fail_under_passes_at_and_above_the_share(repo: GitRepo,
                                                  mixed: dict[str, str], pct: str,
                                                  code: int) -> None:
    proc = repo.runr("audit", "--fail-under", pct, check=False)
    assert proc.returncode == code, proc.stderr
    assert "  Provenance: 75.0% (6 of 8)\n" in proc.stdout
    if code:
        assert error_line(proc) == (
            f"error: 75.0% of 8 commits have provenance, under --fail-under "
            f"{float(pct):g}: {mixed['gap1']} (GAP), {mixed['gap2']} (GAP)")
    else:
        assert proc.stderr == ""


def test_fail_under_with_json_streams_the_report_then_fails(repo: GitRepo,
                                                             mixed: dict[str, str]) -> None:
    proc = repo.runr("audit", "--json", "--fail-under", "80", check=False)
    report = json.loads(proc.stdout)
    assert report["summary"] == {"RUNR": 5, "MANUAL": 1, "UNVERIFIED": 0, "GAP": 2,
                                 "total": 8}
    assert "under --fail-under 80" in error_line(proc)


def test_fail_under_and_strict_report_both_reasons(repo: GitRepo,
                                                   mixed: dict[str, str]) -> None:
    both = error_line(repo.runr("audit", "--strict", "--fail-under", "90", check=False))
    assert both == (f"error: 2 of 8 commits lack verified provenance (--strict), and 75.0% "
                    f"have provenance, under --fail-under 90: {mixed['gap1']} (GAP), "
                    f"{mixed['gap2']} (GAP)")
    strict_only = error_line(repo.runr("audit", "--strict", "--fail-under", "50",
                                       check=False))
    assert strict_only == (f"error: 2 of 8 commits lack verified provenance: "
                           f"{mixed['gap1']} (GAP), {mixed['gap2']} (GAP)")
    # The run's own commits: every one has provenance, both checks pass.
    proc = repo.runr("audit", "--strict", "--fail-under", "100", "HEAD~6..HEAD")
    assert "  Provenance: 100.0% (6 of 6)\n" in proc.stdout


def test_an_empty_range_passes(repo: GitRepo, mixed: dict[str, str]) -> None:
    proc = repo.runr("audit", "--fail-under", "100", "--strict", "HEAD..HEAD")
    assert "(no commits in this range)" in proc.stdout
    assert "  Provenance: 100.0% (0 of 0)\n" in proc.stdout


def test_unverified_counts_against_the_share_and_rounds_down(repo: GitRepo,
                                                              mixed: dict[str, str]) -> None:
    repo.runr("run", "finish", "--outcome", "passed")
    claim = repo.commit("feat: a claim\n\nRunr-Run-Id: run-0000made0up",
                        {"claim.txt": "c\n"})[:7]
    # 6 of 9 is 66.66…%: printed 66.6 (never rounded up past a threshold), and the
    # check itself is exact.
    proc = repo.runr("audit", "--fail-under", "66.6")
    assert "  Provenance: 66.6% (6 of 9)\n" in proc.stdout
    line = error_line(repo.runr("audit", "--fail-under", "66.7", check=False))
    assert line == (f"error: 66.6% of 9 commits have provenance, under --fail-under 66.7: "
                    f"{mixed['gap1']} (GAP), {mixed['gap2']} (GAP), {claim} (UNVERIFIED)")


def test_the_offenders_are_capped_at_ten(repo: GitRepo) -> None:
    for n in range(12):
        repo.commit(f"plain {n}", {"f.txt": f"{n}\n"})
    shas = [s[:7] for s in repo.git("rev-list", "--reverse", "HEAD").stdout.split()]
    line = error_line(repo.runr("audit", "--fail-under", "0.01", check=False))
    listed = ", ".join(f"{s} (GAP)" for s in shas[:10])
    assert line == (f"error: 0.0% of 12 commits have provenance, under --fail-under 0.01: "
                    f"{listed} and 2 more")
    assert repo.runr("audit", "--fail-under", "0").returncode == 0


@pytest.mark.parametrize("bad", ["101", "-1", "nan", "inf", "lots", ""])
def test_fail_under_must_be_a_percentage(repo_with_commit: GitRepo, bad: str) -> None:
    proc = repo_with_commit.runr("audit", "--fail-under", bad, check=False)
    assert proc.returncode == 2 and "--fail-under" in proc.stderr, proc.stderr
    assert proc.stdout == "" and "Traceback" not in proc.stderr


@pytest.mark.parametrize(("good", "total", "pct", "reaches"), [
    (1, 1000, 0.1, True),      # 0.1 as written, not as the binary float above it
    (1, 3, 33.333, True), (1, 3, 33.334, False), (0, 0, 100.0, True),
    (7, 10, 70.0, True), (69, 100, 69.0, True), (68, 100, 69.0, False),
])
def test_the_threshold_is_compared_exactly(good: int, total: int, pct: float,
                                           reaches: bool) -> None:
    assert _reaches(good, total, pct) is reaches


# --------------------------------------------------------------------------- pre-commit


def pre_commit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "pre_commit", *args], cwd=cwd,
                          capture_output=True, text=True)
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


@pytest.fixture
def hook_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A git repository publishing our `.pre-commit-hooks.yaml`, and its commit."""
    monkeypatch.setenv("PRE_COMMIT_HOME", str(tmp_path / "pre-commit-cache"))
    path = tmp_path / "gitrunr-hooks"
    path.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    hooks = GitRepo(path)
    shutil.copy(MANIFEST, path / ".pre-commit-hooks.yaml")
    hooks.git("add", ".")
    hooks.git("commit", "-q", "-m", "hooks")
    return path, hooks.head()


def use_pre_commit(repo: GitRepo, hook_repo: tuple[Path, str], ids: list[str],
                   hook_types: list[str]) -> None:
    path, rev = hook_repo
    config = {"repos": [{"repo": str(path), "rev": rev, "hooks": [{"id": i} for i in ids]}]}
    repo.write(".pre-commit-config.yaml", yaml.safe_dump(config))
    repo.runr("init", "--no-hooks")
    install = [a for t in hook_types for a in ("--hook-type", t)]
    pre_commit("install", *install, cwd=repo.path)
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "chore: pre-commit and gitrunr")


@pytest.fixture
def pc_repo(repo_with_commit: GitRepo, hook_repo: tuple[Path, str]) -> GitRepo:
    use_pre_commit(repo_with_commit, hook_repo, HOOK_IDS, HOOK_TYPES)
    return repo_with_commit


def test_the_manifest_is_valid_and_covers_our_hooks(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRE_COMMIT_HOME", str(tmp_path / "cache"))
    pre_commit("validate-manifest", str(MANIFEST), cwd=tmp_path)
    hooks = {h["id"]: h for h in yaml.safe_load(MANIFEST.read_text())}
    assert list(hooks) == [*HOOK_IDS, "gitrunr-sync-on-push"]
    for hook_id, name in zip(hooks, [*HOOK_TYPES, "pre-push"], strict=True):
        hook = hooks[hook_id]
        assert hook["stages"] == [name] and hook["always_run"] is True
        assert hook["entry"] == f"python3 -P -m gitrunr.hooks {name}"
        assert hook["language"] == "system"
        # Only commit-msg takes a file: the message, git's one argument.
        assert hook["pass_filenames"] is (name == "commit-msg")


def test_pre_commit_runs_our_hooks(pc_repo: GitRepo) -> None:
    repo = pc_repo
    assert "pre-commit" in (repo.path / ".git" / "hooks" / "commit-msg").read_text()
    run_id = start(repo, "--tier", "tier1")
    proc = repo.git("commit", "-q", "--allow-empty", "-m", "feat(task-01): empty start")
    assert "gitrunr (stamp Runr trailers)" in proc.stderr  # pre-commit's own report
    repo.commit("feat(task-01): add a", {"a.py": "a = 1\n"})
    message = repo.message()
    assert message.count(f"Runr-Run-Id: {run_id}\n") == 1
    assert message.count("Runr-Checkpoint: cp-") == 1 and "Runr-Tier: tier1\n" in message
    repo.write("b.py", "b = 1\n")
    repo.git("add", "b.py")
    out = repo.runr("checkpoint", "-m", "add b", "--task", "2").stdout
    assert out.split()[0] == repo.head()[:7]
    report = audit(repo, "HEAD~3..HEAD")
    assert [(c["subject"], c["class"], c["linked"], c["run_id"]) for c in report["commits"]] \
        == [("feat(task-01): empty start", "RUNR", "sha", run_id),
            ("feat(task-01): add a", "RUNR", "sha", run_id),
            ("feat(task-02): add b", "RUNR", "sha", run_id)]

    # gitrunr's own commits and GITRUNR_HOOKS=off keep our hooks out, as with the shims.
    repo.write("c.py", "c = 1\n")
    repo.git("add", "c.py")
    repo.runr("intervene", run_id, "--note", "by hand", "--commit", "-m", "fix: by hand")
    assert repo.message().count("Runr-") == 2
    repo.git("commit", "-q", "--allow-empty", "-m", "chore: unstamped",
             env={"GITRUNR_HOOKS": "off"})
    assert "Runr-" not in repo.message()
    classes = [c["class"] for c in audit(repo, "HEAD~2..HEAD")["commits"]]
    assert classes == ["MANUAL", "GAP"]


@pytest.mark.slow  # ~10 s: pre-commit starts for every hook of every commit
def test_amend_and_rebase_follow_by_sha_under_pre_commit(pc_repo: GitRepo) -> None:
    """pre-commit gives post-rewrite no stdin; the pairs are read back from git."""
    repo = pc_repo
    base = repo.head()
    run_id = start(repo)
    repo.commit("feat(task-01): add a", {"a.py": "a = 1\n"})
    repo.commit("feat(task-02): add b", {"b.py": "b = 1\n"})
    repo.runr("run", "finish", "--outcome", "passed")
    # After the run, post-commit records nothing: only post-rewrite can follow.
    old = repo.head()
    repo.write("b.py", "b = 2\n")  # a new patch-id: only a record can link it
    repo.git("add", "b.py")
    repo.git("commit", "-q", "--amend", "--no-edit")
    amended = repo.head()
    repo.git("checkout", "-q", "-b", "side", base)
    repo.commit("docs: side", {"side.md": "s\n"})
    repo.git("checkout", "-q", "main")
    repo.git("rebase", "-q", "side")
    report = audit(repo, "side..main")
    assert [(c["subject"], c["class"], c["linked"]) for c in report["commits"]] == [
        ("feat(task-01): add a", "RUNR", "sha"), ("feat(task-02): add b", "RUNR", "sha")]
    shown = json.loads(repo.runr("run", "show", run_id, "--json").stdout)
    b = next(c for c in shown["checkpoints"] if c["subject"] == "feat(task-02): add b")
    assert b["sha"] == repo.head() and b["previous_shas"][-2:] == [old, amended]
    note = repo.git("notes", "--ref=runr", "show", "HEAD").stdout
    assert json.loads(note)["links"][0]["run_id"] == run_id
    # The apply backend (git am) keeps its list elsewhere.
    rebased = repo.head()
    repo.git("checkout", "-q", "side")
    repo.commit("docs: side 2", {"side2.md": "s\n"})
    repo.git("checkout", "-q", "main")
    repo.git("rebase", "-q", "--apply", "side")
    assert [c["linked"] for c in audit(repo, "side..main")["commits"]] == ["sha", "sha"]
    shown = json.loads(repo.runr("run", "show", run_id, "--json").stdout)
    b = next(c for c in shown["checkpoints"] if c["subject"] == "feat(task-02): add b")
    assert b["sha"] == repo.head() and b["previous_shas"][-1] == rebased


def test_merges_during_a_run_are_recorded_and_squashes_are_not(pc_repo: GitRepo) -> None:
    repo = pc_repo
    repo.git("checkout", "-q", "-b", "side")
    repo.commit("docs: side", {"side.md": "s\n"})
    repo.git("checkout", "-q", "main")
    repo.commit("docs: main", {"main.md": "m\n"})
    start(repo)
    repo.git("merge", "-q", "--no-ff", "side", "-m", "merge side")
    assert "Runr-Checkpoint: cp-" in repo.message()
    report = audit(repo, "--first-parent", "HEAD^..HEAD")
    assert [(c["subject"], c["class"]) for c in report["commits"]] == \
        [("merge side", "RUNR")]
    # A squash merge makes no commit: post-merge (PRE_COMMIT_IS_SQUASH_MERGE=1) records
    # nothing, not even a HEAD whose trailers claim the run (typed here by hand).
    run_id = report["commits"][0]["run_id"]
    repo.git("checkout", "-q", "-b", "other", "HEAD^")
    repo.commit("docs: other", {"other.md": "o\n"})
    repo.git("checkout", "-q", "main")
    claim = f"docs: typed\n\nRunr-Run-Id: {run_id}\nRunr-Checkpoint: {new_id('cp')}\n"
    repo.git("commit", "-q", "--allow-empty", "-m", claim, env={"GITRUNR_HOOKS": "off"})
    before = json.loads(repo.runr("run", "show", "--json", run_id).stdout)["checkpoints"]
    repo.git("merge", "-q", "--squash", "other")
    after = json.loads(repo.runr("run", "show", "--json", run_id).stdout)["checkpoints"]
    assert after == before


def test_sync_on_push_under_pre_commit(repo_with_commit: GitRepo,
                                       hook_repo: tuple[Path, str], tmp_path: Path) -> None:
    repo = repo_with_commit
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    repo.git("remote", "add", "origin", str(remote))
    use_pre_commit(repo, hook_repo, [*HOOK_IDS, "gitrunr-sync-on-push"],
                   [*HOOK_TYPES, "pre-push"])
    start(repo)
    repo.commit("feat: a", {"a.py": "a\n"})
    repo.git("push", "-q", "origin", "main")
    local = repo.git("rev-parse", "refs/runr/ledger").stdout
    pushed = subprocess.run(["git", "--git-dir", str(remote), "rev-parse", "refs/runr/ledger"],
                            capture_output=True, text=True, check=True).stdout
    assert pushed == local


# --------------------------------------------------------------------------- docs/ci.md


def workflow() -> dict:
    """The GitHub Actions workflow printed in docs/ci.md."""
    text = (ROOT / "docs" / "ci.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    return yaml.safe_load(next(b for b in blocks if "jobs:" in b))


@pytest.mark.slow  # ~20 s: two clones, ten commits through the hooks, four CI jobs
def test_the_documented_workflow_gates_a_pull_request(tmp_path: Path) -> None:
    steps = workflow()["jobs"]["audit"]["steps"]
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"] == {"fetch-depth": 0,
                                "ref": "${{ github.event.pull_request.head.sha }}"}
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "timeline.html"
    # The shell steps, as CI runs them (gitrunr is installed here already).
    scripts = [s["run"].replace("${{ github.base_ref }}", "main") for s in steps
               if "run" in s and "pip install" not in s["run"]]
    assert len(scripts) == 2 and "git fetch" in scripts[0] and "git runr audit" in scripts[1]

    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    subprocess.run(["git", "clone", "-q", str(origin), str(tmp_path / "dev")], check=True,
                   capture_output=True)
    dev = GitRepo(tmp_path / "dev")
    dev.commit("initial commit", {"README": "hello\n"})
    dev.runr("init")
    dev.commit("chore: set up gitrunr", {".gitignore": "*.log\n"})
    dev.git("push", "-q", "origin", "main")
    dev.git("checkout", "-q", "-b", "feature")
    start(dev)
    for n in range(9):
        dev.commit(f"feat(task-0{n + 1}): step {n}", {f"s{n}.py": f"{n}\n"})
    dev.runr("run", "finish", "--outcome", "passed")
    dev.commit("misc cleanup", {"e.txt": "e\n"})  # 9 of 10: 90%
    dev.git("push", "-q", "origin", "feature")
    dev.runr("sync", "origin")

    def ci_job() -> list[subprocess.CompletedProcess[str]]:
        ci = tmp_path / "ci"
        shutil.rmtree(ci, ignore_errors=True)
        subprocess.run(["git", "clone", "-q", str(origin), str(ci)], check=True)
        subprocess.run(["git", "checkout", "-q", dev.head()], cwd=ci, check=True)
        return [subprocess.run(["sh", "-c", script], cwd=ci, capture_output=True, text=True)
                for script in scripts]

    fetched, gate = ci_job()
    assert fetched.returncode == 0, fetched.stderr
    assert gate.returncode == 1, gate.stderr  # --strict: the one GAP fails it
    assert gate.stderr.endswith(
        f"error: 1 of 10 commits lack verified provenance: {dev.head()[:7]} (GAP)\n")
    assert "  Provenance: 90.0% (9 of 10)\n" in gate.stdout
    assert "misc cleanup" in (tmp_path / "ci" / "timeline.html").read_text()

    scripts[1] = scripts[1].replace("--strict ", "")
    fetched, gate = ci_job()
    assert gate.returncode == 0, gate.stderr  # --fail-under 90 alone: 90% passes
    dev.commit("more cleanup", {"f.txt": "f\n"})  # 9 of 11
    dev.git("push", "-q", "origin", "feature")
    fetched, gate = ci_job()
    assert gate.returncode == 1 and "81.8% of 11 commits have provenance, under " \
        "--fail-under 90" in gate.stderr, gate.stderr

    # Without the records every commit is a GAP: the fetch step is what makes it pass.
    scripts[0] = "true"
    fetched, gate = ci_job()
    assert gate.returncode == 1 and "0.0% of 11 commits" in gate.stderr, gate.stderr
