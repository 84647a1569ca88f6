"""`git runr checkpoint` and the commit conventions of docs/conventions.md.

The subject rules are tested on the core function; the command runs a real
`git commit` through the hooks `git runr init` installed, and every `git log` recipe
of docs/conventions.md runs, as printed there, on a repository with checkpoints,
interventions, plain commits and a hand-typed claim.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import click
import pytest

from gitrunr.checkpoint import TYPES, build_message, task_scope
from gitrunr.cli import cli
from gitrunr.errors import UsageError
from tests.conftest import GitRepo

ROOT = Path(__file__).resolve().parent.parent
CONVENTIONS = ROOT / "docs" / "conventions.md"


# --------------------------------------------------------------------------- subject


@pytest.mark.parametrize(("given", "scope"), [
    ("01", "task-01"), ("1", "task-01"), ("task-01", "task-01"), ("task1", "task-01"),
    ("TASK-3", "task-03"), (" 7 ", "task-07"), ("12", "task-12"), ("100", "task-100"),
    ("task-007", "task-07"),
])
def test_task_scope_accepts_the_spellings_of_a_task(given: str, scope: str) -> None:
    assert task_scope(given) == scope


@pytest.mark.parametrize("bad", ["", "0", "task-", "task-00", "1.5", "a1", "x", "task 1",
                                 "-1", "1234567"])
def test_task_scope_refuses_what_is_not_a_task_number(bad: str) -> None:
    with pytest.raises(UsageError, match="not a task number"):
        task_scope(bad)


@pytest.mark.parametrize(("messages", "kw", "expected"), [
    (["add parser"], {"task": "1"}, "feat(task-01): add parser\n"),
    (["add parser"], {}, "feat: add parser\n"),
    (["  off by one  "], {"task": "task-02", "type_": "fix"}, "fix(task-02): off by one\n"),
    # Already conventional: kept; a missing scope is filled in from --task.
    (["fix(parser): off by one"], {"task": "3"}, "fix(parser): off by one\n"),
    (["fix: off by one"], {"task": "3", "type_": "feat"}, "fix(task-03): off by one\n"),
    (["feat!: drop py3.10"], {"task": "4"}, "feat(task-04)!: drop py3.10\n"),
    (["docs(task-05): usage"], {}, "docs(task-05): usage\n"),
    # Not conventional (capital, no space after the colon): prefixed.
    (["Task 01: setup"], {"task": "1"}, "feat(task-01): Task 01: setup\n"),
    (["fix:no space"], {}, "feat: fix:no space\n"),
    # More -m are paragraphs; a multi-line -m keeps its body.
    (["add parser", "It reads the plan files."], {"task": "1"},
     "feat(task-01): add parser\n\nIt reads the plan files.\n"),
    (["add parser\nsecond line"], {}, "feat: add parser\nsecond line\n"),
    (["add parser", "  ", "body"], {}, "feat: add parser\n\nbody\n"),
])
def test_build_message_writes_the_conventional_subject(messages: list[str], kw: dict,
                                                       expected: str) -> None:
    assert build_message(messages, **kw) == expected


@pytest.mark.parametrize(("messages", "kw", "match"), [
    ([], {}, "empty"),
    (["", "  \n "], {}, "empty"),
    (["x"], {"type_": "wip"}, "not one of"),
    (["x"], {"task": "zero"}, "not a task number"),
    (["add x\n\nRunr-Run-Id: run-0000made0up"], {}, "Runr-Run-Id"),
    (["add x", "runr-checkpoint: cp-0000made0up"], {}, "runr-checkpoint"),
])
def test_build_message_refuses(messages: list[str], kw: dict, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        build_message(messages, **kw)


def test_the_command_offers_exactly_the_core_types() -> None:
    command = cli.commands["checkpoint"]
    option = next(p for p in command.params if p.name == "type_")
    assert isinstance(option.type, click.Choice)
    assert tuple(option.type.choices) == TYPES


# --------------------------------------------------------------------------- command


def start(repo: GitRepo, *args: str) -> str:
    return json.loads(repo.runr("run", "start", "--json", *args).stdout)["run_id"]


def audit(repo: GitRepo, *args: str) -> dict:
    return json.loads(repo.runr("audit", "--json", *args).stdout)


def by_subject(report: dict) -> dict[str, dict]:
    return {c["subject"]: c for c in report["commits"]}


def one_line_error(proc: subprocess.CompletedProcess[str], code: int,
                   hook_output: str = "") -> str:
    """The error line; before it, only what the hooks printed (``hook_output``)."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stderr.startswith(hook_output), proc.stderr
    lines = proc.stderr[len(hook_output):].strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.fixture
def initialized(repo_with_commit: GitRepo) -> GitRepo:
    repo_with_commit.runr("init")
    repo_with_commit.commit("chore: set up gitrunr", {".gitignore": "*.log\n"})
    return repo_with_commit


def test_checkpoint_commits_through_the_hooks(initialized: GitRepo) -> None:
    repo = initialized
    run_id = start(repo, "--tier", "tier2")
    repo.write("parser.py", "x = 1\n")
    repo.git("add", "parser.py")
    proc = repo.runr("checkpoint", "-m", "add parser", "--task", "1")
    sha = repo.head()
    message = repo.message()
    assert message.splitlines()[0] == "feat(task-01): add parser"
    # Exactly one set of trailers, in the block git log reads.
    for key in ("Runr-Run-Id", "Runr-Checkpoint", "Runr-Tier"):
        values = repo.git("log", "-1", f"--format=%(trailers:key={key},valueonly)").stdout
        assert len(values.split()) == 1, (key, message)
    checkpoint_id = repo.git("log", "-1", "--format=%(trailers:key=Runr-Checkpoint,"
                             "valueonly,separator=%x2C)").stdout.strip()
    assert re.fullmatch(r"cp-[0-9a-z]+", checkpoint_id)
    assert proc.stdout == f"{sha[:7]} {checkpoint_id} feat(task-01): add parser\n"
    assert message.count("Runr-") == 3 and f"Runr-Run-Id: {run_id}\n" in message

    entry = by_subject(audit(repo))["feat(task-01): add parser"]
    assert (entry["class"], entry["run_id"], entry["checkpoint_id"], entry["linked"]) == \
        ("RUNR", run_id, checkpoint_id, "sha")
    shown = json.loads(repo.runr("run", "show", run_id, "--json").stdout)
    assert [(c["checkpoint_id"], c["sha"]) for c in shown["checkpoints"]] == \
        [(checkpoint_id, sha)]


def test_checkpoint_all_type_and_kept_subject(initialized: GitRepo) -> None:
    repo = initialized
    start(repo)
    repo.write("a.py", "a = 1\n")
    repo.git("add", "a.py")
    repo.runr("checkpoint", "-m", "add a", "--type", "test")
    assert repo.message().splitlines()[0] == "test: add a"
    repo.write("a.py", "a = 2\n")  # tracked, not staged: only -a commits it
    repo.runr("checkpoint", "-a", "-m", "fix(a): off by one", "--task", "02",
              "-m", "Found by the new test.")
    assert repo.message().split("\n\n")[:2] == ["fix(a): off by one",
                                                 "Found by the new test."]
    assert repo.git("status", "--porcelain").stdout == ""
    report = audit(repo)
    assert [c["class"] for c in report["commits"][-2:]] == ["RUNR", "RUNR"]


def test_checkpoint_refuses_without_an_active_run(initialized: GitRepo) -> None:
    repo = initialized
    before = repo.head()
    repo.write("a.py", "a = 1\n")
    repo.git("add", "a.py")
    line = one_line_error(repo.runr("checkpoint", "-m", "add a", check=False), 5)
    assert "no active run" in line and "git runr run start" in line
    assert repo.head() == before


def test_checkpoint_refuses_nothing_staged_and_an_empty_message(initialized: GitRepo) -> None:
    repo = initialized
    start(repo)
    before = repo.head()
    line = one_line_error(repo.runr("checkpoint", "-m", "add a", check=False), 5)
    assert "nothing to commit" in line
    repo.write("README", "changed\n")  # tracked but not staged
    assert "-a" in one_line_error(repo.runr("checkpoint", "-m", "x", check=False), 5)
    repo.git("add", "README")
    assert "empty" in one_line_error(repo.runr("checkpoint", "-m", " ", check=False), 2)
    assert "not a task number" in one_line_error(
        repo.runr("checkpoint", "-m", "x", "--task", "one", check=False), 2)
    assert "Runr-Run-Id" in one_line_error(repo.runr(
        "checkpoint", "-m", "x\n\nRunr-Run-Id: run-0000made0up", check=False), 2)
    assert repo.head() == before


def test_checkpoint_refuses_while_an_intervention_waits(initialized: GitRepo) -> None:
    repo = initialized
    run_id = start(repo)
    repo.runr("intervene", run_id, "--note", "tidied by hand")
    repo.write("a.py", "a = 1\n")
    repo.git("add", "a.py")
    line = one_line_error(repo.runr("checkpoint", "-m", "add a", check=False), 5)
    assert "intervention iv-" in line and "git commit" in line


def test_checkpoint_refuses_a_stopped_run(initialized: GitRepo) -> None:
    repo = initialized
    run_id = start(repo)
    repo.runr("run", "stop", run_id, "--reason", "timeout")
    repo.write("a.py", "a = 1\n")
    repo.git("add", "a.py")
    line = one_line_error(repo.runr("checkpoint", "-m", "add a", check=False), 5)
    assert f"run {run_id} is stopped" in line and f"git runr resume {run_id}" in line
    repo.runr("resume", run_id)
    repo.runr("checkpoint", "-m", "add a")
    assert "Runr-Checkpoint: cp-" in repo.message()


def test_checkpoint_refuses_when_no_hook_would_stamp(repo_with_commit: GitRepo) -> None:
    repo = repo_with_commit
    repo.runr("init", "--no-hooks")
    start(repo)
    before = repo.head()
    repo.write("a.py", "a = 1\n")
    repo.git("add", "a.py")
    line = one_line_error(repo.runr("checkpoint", "-m", "add a", check=False), 5)
    assert "no commit-msg hook" in line and "git runr hooks install" in line
    line = one_line_error(repo.runr("checkpoint", "-m", "add a", check=False,
                                    env={"GITRUNR_HOOKS": "off"}), 5)
    assert "GITRUNR_HOOKS=off" in line
    assert repo.head() == before


def test_a_refusing_hook_of_yours_makes_no_checkpoint(repo_with_commit: GitRepo) -> None:
    repo = repo_with_commit
    hook = repo.path / ".git" / "hooks" / "commit-msg"
    hook.parent.mkdir(parents=True, exist_ok=True)
    hook.write_text("#!/bin/sh\necho 'subject too long' >&2\nexit 1\n")
    hook.chmod(0o755)
    repo.runr("init")  # keeps it as commit-msg.runr-orig and runs it first
    run_id = start(repo)
    before = repo.head()
    repo.write("a.py", "a = 1\n")
    repo.git("add", "a.py")
    line = one_line_error(repo.runr("checkpoint", "-m", "add a", check=False), 7,
                          hook_output="subject too long\n")
    assert "git commit" in line and "subject too long" in line
    assert repo.head() == before
    shown = json.loads(repo.runr("run", "show", run_id, "--json").stdout)
    assert shown["checkpoints"] == []


def test_a_commit_the_hooks_did_not_record_is_reported(initialized: GitRepo) -> None:
    repo = initialized
    (repo.path / ".git" / "hooks" / "post-commit").unlink()
    run_id = start(repo)
    repo.write("a.py", "a = 1\n")
    repo.git("add", "a.py")
    line = one_line_error(repo.runr("checkpoint", "-m", "add a", check=False), 5)
    sha = repo.head()
    assert f"commit {sha[:12]} carries checkpoint cp-" in line
    assert f"git runr intervene {run_id} --note ... --sha {sha[:12]}" in line


# --------------------------------------------------------------------------- recipes


def recipe(text: str) -> str:
    """``text`` as printed in docs/conventions.md (it must be there, verbatim)."""
    assert text in CONVENTIONS.read_text(), f"not in docs/conventions.md: {text}"
    return text


def sh(repo: GitRepo, command: str, **env: str) -> str:
    proc = subprocess.run(["sh", "-c", command], cwd=repo.path, capture_output=True,
                          text=True, env={**os.environ, "GIT_PAGER": "cat", **env})
    assert proc.returncode == 0, (command, proc.stderr)
    return proc.stdout


@pytest.fixture
def history(initialized: GitRepo) -> dict[str, str]:
    """Checkpoints of two runs, interventions, plain commits, a claim in a body."""
    repo = initialized
    shas = {"setup": repo.head()}
    run_a = start(repo, "--tier", "tier2")
    for name, task, msg in [("a1", "1", "add parser"), ("a2", "2", "add printer")]:
        repo.write(f"{name}.py", f"{name} = 1\n")
        repo.git("add", f"{name}.py")
        repo.runr("checkpoint", "-m", msg, "--task", task)
        shas[name] = repo.head()
    repo.write("fix.py", "fix = 1\n")
    repo.git("add", "fix.py")
    repo.runr("intervene", run_a, "--note", "fixed the TS error by hand", "--commit",
              "-m", "fix: TS error in parser")
    shas["fix"] = repo.head()
    repo.runr("run", "finish", "--outcome", "passed")
    # A plain commit whose body quotes a trailer: --grep finds it, trailers do not.
    shas["quote"] = repo.commit("docs: explain the trailers\n\nWrite\nRunr-Intervention: "
                                "true\nby hand? No: intervene does.\n\nSigned-off-by: Ada "
                                "<ada@example.com>", {"doc.md": "d\n"})
    run_b = start(repo)
    repo.write("b1.py", "b = 1\n")
    repo.git("add", "b1.py")
    repo.runr("checkpoint", "-m", "add cli", "--task", "task-03")
    shas["b1"] = repo.head()
    repo.runr("run", "finish", "--outcome", "passed")
    shas["gap"] = repo.commit("misc cleanup", {"e.txt": "e\n"})
    shas["run_a"], shas["run_b"] = run_a, run_b
    return shas


def test_log_recipes_of_the_conventions(initialized: GitRepo, history: dict[str, str]) -> None:
    repo = initialized
    h = {k: v[:7] for k, v in history.items()}
    run_a, run_b = history["run_a"], history["run_b"]

    out = sh(repo, recipe("git log --format='%h %s%n  %(trailers:key=Runr-Run-Id,valueonly,"
                          "separator=%x2C)'"))
    assert f"{h['a1']} feat(task-01): add parser\n  {run_a}\n" in out
    assert f"{h['b1']} feat(task-03): add cli\n  {run_b}\n" in out
    assert f"{h['gap']} misc cleanup\n  \n" in out

    out = sh(repo, recipe("git log --format='%h %(trailers:key=Runr-Checkpoint,valueonly,"
                          "separator=%x2C) %(trailers:key=Runr-Run-Id,valueonly,"
                          "separator=%x2C) %s' | awk '$2 ~ /^cp-/'"))
    rows = [line.split(" ", 3) for line in out.splitlines()]
    assert [(r[0], r[2], r[3]) for r in rows] == [
        (h["b1"], run_b, "feat(task-03): add cli"),
        (h["a2"], run_a, "feat(task-02): add printer"),
        (h["a1"], run_a, "feat(task-01): add parser"),
    ]
    assert all(re.fullmatch(r"cp-[0-9a-z]+", r[1]) for r in rows)

    by_trailer = sh(repo, recipe("git log --format='%h %(trailers:key=Runr-Intervention,"
                                 "valueonly,separator=%x2C) %s' | awk '$2 == \"true\"'"))
    assert by_trailer == f"{h['fix']} true fix: TS error in parser\n"
    by_grep = sh(repo, recipe("git log -i --format='%h %s' "
                              "--grep='^Runr-Intervention: true$'"))
    assert by_grep == f"{h['quote']} docs: explain the trailers\n" \
                      f"{h['fix']} fix: TS error in parser\n"

    one_run = recipe("git log --format='%h %(trailers:key=Runr-Run-Id,valueonly,"
                     "separator=%x2C) %s' | awk -v run=\"$RUN\" '$2 == run'")
    out = sh(repo, one_run, RUN=run_a)
    assert [line.split()[0] for line in out.splitlines()] == [h["fix"], h["a2"], h["a1"]]
    assert sh(repo, recipe("git log --format='%h %s' --grep=\"^Runr-Run-Id: $RUN\\$\""),
              RUN=run_b) == f"{h['b1']} feat(task-03): add cli\n"

    out = sh(repo, recipe("git log -E --format='%h %s' --grep='^[a-z]+\\(task-01\\)!?: '"))
    assert out == f"{h['a1']} feat(task-01): add parser\n"

    out = sh(repo, recipe("git log --format='%h%x09%(trailers:key=Runr-Run-Id,valueonly,"
                          "separator=%x2C)%x09%s' | awk -F'\\t' '$2 == \"\"'"))
    assert [line.split("\t")[0] for line in out.splitlines()] == \
        [h["gap"], h["quote"], h["setup"], sh(repo, "git rev-list --max-parents=0 HEAD")[:7]]

    notes = sh(repo, recipe("git log --notes=refs/notes/runr --format='%h %s%n%N' -3"))
    assert f"{h['b1']} feat(task-03): add cli\n" in notes
    note = json.loads(notes.split(f"{h['b1']} feat(task-03): add cli\n")[1].split("\n")[0])
    assert note["links"][0]["run_id"] == run_b and note["links"][0]["kind"] == "checkpoint"
    assert sh(repo, recipe("git notes --ref=runr show HEAD~1")) == \
        notes.split(f"{h['b1']} feat(task-03): add cli\n")[1].split("\n")[0] + "\n"

    out = sh(repo, recipe("git log -1 --format='%(trailers:key=Runr-Run-Id,"
                          "key=Runr-Checkpoint,key=Runr-Tier,key=Runr-Intervention)' "
                          "HEAD~1"))
    assert out.startswith(f"Runr-Run-Id: {run_b}\nRunr-Checkpoint: cp-")

    # The authority agrees with what the recipes read.
    report = json.loads(repo.runr("audit", "--json").stdout)
    classes = {c["short_sha"]: c["class"] for c in report["commits"]}
    assert [classes[h[k]] for k in ("a1", "a2", "fix", "quote", "b1", "gap")] == \
        ["RUNR", "RUNR", "MANUAL", "GAP", "RUNR", "GAP"]
