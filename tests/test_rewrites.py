"""Provenance through the rewrites of real workflows (issue: "Provenance that survives
real workflows"): interactive rebase (squash, fixup, drop), ``merge --squash``, and a
forge's squash merge. Each test records runs through the installed hooks, audits,
rewrites, and audits again: the classes stay, and ``linked`` says how the record was
found (``sha``, ``patch-id`` or ``tree``).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import GitRepo
from tests.test_e2e import audit, classes, start


@pytest.fixture
def initialized(repo_with_commit: GitRepo) -> GitRepo:
    repo_with_commit.runr("init")
    repo_with_commit.commit("add gitrunr config", {".gitignore": "*.log\n"})
    return repo_with_commit


def record_run(repo: GitRepo, tasks: dict[str, dict[str, str]]) -> str:
    """Start a run, commit each ``subject: files`` through the hooks, finish it."""
    run_id = start(repo)
    for subject, files in tasks.items():
        repo.commit(subject, files)
    repo.runr("run", "finish", "--outcome", "passed")
    return run_id


def two_runs_on_a_branch(repo: GitRepo) -> tuple[str, str]:
    repo.git("checkout", "-q", "-b", "feature")
    first = record_run(repo, {"Task 1: parser": {"parser.py": "parse = 1\n"}})
    second = record_run(repo, {"Task 2: lexer": {"lexer.py": "lex = 2\n"},
                               "Task 3: docs": {"README": "hello, docs\n"}})
    return first, second


def rebase_todo(repo: GitRepo, script: str, onto: str = "main") -> None:
    """``git rebase -i ONTO`` with the todo list edited by a sed ``script``."""
    repo.git("rebase", "-q", "-i", onto,
             env={"GIT_SEQUENCE_EDITOR": f"sed -i {script}", "GIT_EDITOR": "true"})


def link_runs(entry: dict) -> list[tuple[str, str]]:
    return [(link["run_id"], link["linked"]) for link in entry["links"]]


def test_rebase_i_squash_fixup_and_drop_keep_the_run(initialized: GitRepo) -> None:
    repo = initialized
    repo.git("checkout", "-q", "-b", "feature")
    run_id = record_run(repo, {f"Task {n}": {f"f{n}.py": f"{n}\n"} for n in range(1, 5)})
    assert classes(audit(repo, "main..feature")) == [(f"Task {n}", "RUNR") for n in range(1, 5)]

    rebase_todo(repo, "-e '2s/^pick/squash/' -e '3s/^pick/fixup/' -e '4s/^pick/drop/'")
    after = audit(repo, "main..feature")
    assert classes(after) == [("Task 1", "RUNR")]
    assert after["commits"][0]["linked"] == "sha"  # post-rewrite moved the records
    shown = json.loads(repo.runr("run", "show", run_id, "--json").stdout)
    head = repo.head()
    moved = [cp for cp in shown["checkpoints"] if cp["sha"] == head]
    assert len(moved) == 3  # squashed, fixed up, and the commit they went into
    dropped = [cp for cp in shown["checkpoints"] if cp["sha"] != head]
    assert [cp["subject"] for cp in dropped] == ["Task 4"]
    # The dropped commit's record still names a commit that exists.
    assert repo.git("cat-file", "-t", dropped[0]["sha"]).stdout.strip() == "commit"


@pytest.mark.parametrize("mode", ["concatenate", "cat_sort_uniq", "overwrite", "ignore"])
def test_rebase_i_squash_of_two_runs_lists_both(initialized: GitRepo, mode: str) -> None:
    """Whatever ``notes.rewriteMode`` says, the squashed commit's note names both runs:
    our post-rewrite flush merges the records' links into it (docs/decisions.md)."""
    repo = initialized
    first, second = two_runs_on_a_branch(repo)
    repo.git("config", "notes.rewriteMode", mode)
    rebase_todo(repo, "-e '2s/^pick/fixup/' -e '3s/^pick/fixup/'")  # one message left
    report = audit(repo, "main..feature")
    assert classes(report) == [("Task 1: parser", "RUNR")]
    assert link_runs(report["commits"][0]) == [(first, "sha"), (second, "sha")]
    note = repo.git("notes", "--ref=runr", "show", "HEAD").stdout
    assert {link["run_id"] for line in note.splitlines() if line.strip()
            for link in json.loads(line)["links"]} == {first, second}
    text = repo.runr("audit", "main..feature").stdout
    assert f"Runs combined: {first}, {second}" in text


def test_rebase_i_squash_without_our_hooks_links_by_patch_id(initialized: GitRepo) -> None:
    """A rebase the hooks never saw (another machine, hooks off): the squash is found
    by the combined patch-id of the commits it replaced."""
    repo = initialized
    first, second = two_runs_on_a_branch(repo)
    repo.commit("unrelated upstream work", {"other.txt": "x\n"})  # on feature, then moved
    repo.git("checkout", "-q", "main")
    repo.commit("upstream", {"up.txt": "u\n"})
    repo.git("checkout", "-q", "feature")
    repo.git("-c", "core.hooksPath=/dev/null", "rebase", "-q", "-i", "main",
             env={"GIT_SEQUENCE_EDITOR": "sed -i -e '2s/^pick/squash/' -e '3s/^pick/squash/'"
                                         " -e '4s/^pick/drop/'",
                  "GIT_EDITOR": "true"})
    report = audit(repo, "main..feature")
    assert classes(report) == [("Task 1: parser", "RUNR")]
    assert sorted(link_runs(report["commits"][0])) == sorted([(first, "patch-id"),
                                                              (second, "patch-id")])
    assert "Linked: patch-id (RELINKED after a rewrite)" in repo.runr(
        "audit", "main..feature").stdout


def test_merge_squash_links_every_run_by_tree(initialized: GitRepo) -> None:
    repo = initialized
    first, second = two_runs_on_a_branch(repo)
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--squash", "feature")
    repo.git("commit", "-q", "--no-edit")  # git's SQUASH_MSG lists the commits
    assert "    Runr-Run-Id: " + first in repo.message()
    report = audit(repo, "main~1..main")
    entry = report["commits"][0]
    assert entry["class"] == "RUNR" and entry["linked"] == "tree"
    assert link_runs(entry) == [(second, "tree"), (first, "tree")]  # message order
    text = repo.runr("audit", "main~1..main").stdout
    assert "Linked: tree (RELINKED as a squash of recorded commits)" in text
    assert "Runs combined: " in text


def test_merge_squash_after_main_moved_links_by_combined_patch_id(
        initialized: GitRepo) -> None:
    repo = initialized
    first, second = two_runs_on_a_branch(repo)
    repo.git("checkout", "-q", "main")
    repo.commit("meanwhile on main", {"main.txt": "m\n"})
    repo.git("merge", "-q", "--squash", "feature")
    repo.git("commit", "-q", "--no-edit")
    entry = audit(repo, "main~1..main")["commits"][0]
    assert entry["class"] == "RUNR"
    assert sorted(link_runs(entry)) == sorted([(first, "patch-id"), (second, "patch-id")])


def forge_squash(repo: GitRepo, branch: str, title: str) -> str:
    """What a forge's "squash and merge" makes: one commit on main, by the forge (so
    no hook of ours runs), whose message lists the branch's messages."""
    listed = repo.git("log", "--reverse", "--format=* %B", f"main..{branch}").stdout
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--squash", branch)
    repo.git("-c", "core.hooksPath=/dev/null", "commit", "-q", "-m", f"{title}\n\n{listed}")
    return repo.head()


def test_forge_squash_survives_branch_deletion_and_gc(initialized: GitRepo) -> None:
    repo = initialized
    first, second = two_runs_on_a_branch(repo)
    forge_squash(repo, "feature", "Feature: parser and lexer (#12)")
    repo.git("branch", "-q", "-D", "feature")
    repo.git("reflog", "expire", "--expire=now", "--all")
    repo.git("gc", "-q", "--prune=now")
    entry = audit(repo, "main~1..main")["commits"][0]
    assert entry["class"] == "RUNR"
    assert sorted(link_runs(entry)) == sorted([(first, "tree"), (second, "tree")])


def test_forge_squash_in_a_clone_that_never_had_the_branch(initialized: GitRepo,
                                                           tmp_path: Path) -> None:
    """A fresh clone has the records (through sync) but not the squashed commits: the
    recorded tree still verifies the branch's last commit, and says so."""
    repo = initialized
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    repo.git("remote", "add", "origin", str(bare))
    first, second = two_runs_on_a_branch(repo)
    forge_squash(repo, "feature", "Feature (#12)")
    repo.git("push", "-q", "origin", "main")
    repo.runr("sync", "origin")
    clone = GitRepo(tmp_path / "clone")
    subprocess.run(["git", "clone", "-q", str(bare), str(clone.path)], check=True)
    clone.runr("sync")
    assert clone.git("cat-file", "-e", repo.git("rev-parse", "feature").stdout.strip(),
                     check=False).returncode != 0  # the branch's commits are not here
    entry = audit(clone, "main~1..main")["commits"][0]
    assert entry["class"] == "RUNR"
    assert link_runs(entry) == [(second, "tree")]
    assert f"message claims run {first}" not in json.dumps(entry)  # RUNR carries no reason


def test_empty_commit_claiming_a_run_is_no_squash_of_it(initialized: GitRepo) -> None:
    """An empty commit has the tree of the checkpoint before it; that must not verify
    a hand-typed claim."""
    repo = initialized
    run_id = record_run(repo, {"Task: real work": {"w.py": "w\n"}})
    repo.git("commit", "-q", "--allow-empty", "-m", f"claims it\n\nRunr-Run-Id: {run_id}")
    # A claim copied into a body paragraph is read, and not believed either.
    repo.commit("copied", {"z.txt": "z\n"})
    repo.git("commit", "-q", "--amend", "-m",
             f"copied\n\n    Runr-Run-Id: {run_id}\n\nmore text")
    report = audit(repo, "HEAD~2..HEAD")
    assert classes(report) == [("claims it", "UNVERIFIED"), ("copied", "UNVERIFIED")]
    assert report["commits"][1]["reason"] == (
        f"message claims run {run_id}, which never recorded this commit as a checkpoint")
