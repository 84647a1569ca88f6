"""gitrunr.plans: plan files in the work tree, parsed, found and named (docs/plans.md)."""

from __future__ import annotations

import builtins
import hashlib
import io
import os
import threading
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from gitrunr import plans
from gitrunr.errors import CorruptRecordError, NotFoundError, UsageError
from gitrunr.plans import Plan, PlanTask, content_hash, discover, is_plan_ref, parse, resolve

PATH = "specs/feature-01/phase-01.2/03-PLAN.md"

FULL = """\
---
status: approved
depends_on:
  - feature-01/phase-01.1/02
  - "01"
target_branch: feat/plans
owner: ada
---
# Read *plan* files

## Objective

Parse plan files from the work tree
so that `status` can list them.

Keep it **small**.

## Tasks

- [x] Write the `parse` function
  and its helpers
- [ ] Write the tests
- [X] Document the format
- Wire it into the CLI
  - a nested item is not a task

### Notes

- not a task either

## Success criteria

- [ ] `pytest` passes
  on every platform
- mypy is clean

## Out of scope

- editing plans
"""


def write(root: Path, rel: str, text: str = "# A plan\n") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def plan_at(path: str, text: str = "# A plan\n") -> Plan:
    return parse(path, text)


# --------------------------------------------------------------------------- parse


def test_parse_full_plan() -> None:
    plan = parse(PATH, FULL)
    assert plan.ref == "feature-01/phase-01.2/03"
    assert (plan.initiative, plan.phase, plan.number) == ("feature-01", "01.2", "03")
    assert plan.path == PATH
    assert plan.summary_path == "specs/feature-01/phase-01.2/03-SUMMARY.md"
    assert plan.status == "approved"
    assert plan.depends_on == ("feature-01/phase-01.1/02", "01")
    assert plan.target_branch == "feat/plans"
    assert plan.title == "Read plan files"
    assert plan.objective == ("Parse plan files from the work tree so that status can list "
                              "them.\n\nKeep it small.")
    assert plan.tasks == (
        PlanTask(id="01", title="Write the parse function", done=True),
        PlanTask(id="02", title="Write the tests", done=False),
        PlanTask(id="03", title="Document the format", done=True),
        PlanTask(id="04", title="Wire it into the CLI", done=False),
    )
    assert plan.criteria == ("pytest passes on every platform", "mypy is clean")
    assert len(plan.content_hash) == 64
    assert int(plan.content_hash, 16) >= 0


def test_the_example_in_the_docs() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "plans.md").read_text()
    example = doc.split("## A complete plan file")[1].split("```markdown\n")[1].split("```\n")[0]
    plan = parse(PATH, example)
    assert (plan.ref, plan.status, plan.title) == (
        "feature-01/phase-01.2/03", "approved", "Read plan files")
    assert plan.depends_on == ("feature-01/phase-01.1/02", "01")
    assert [(t.id, t.done) for t in plan.tasks] == [("01", True), ("02", False), ("03", False)]
    assert len(plan.criteria) == 2
    assert plan.objective.startswith("Read the plan files of the work tree, so that git runr")


def test_status_defaults_to_drafted() -> None:
    plan = parse(PATH, "---\ntitle: T\n---\n# Body\n")
    assert plan.status == "drafted"
    assert plan.title == "T"


@pytest.mark.parametrize("status", ["drafted", "approved", "ready"])
def test_each_status_is_read(status: str) -> None:
    assert parse(PATH, f"---\nstatus: {status}\n---\n").status == status


def test_plan_without_front_matter() -> None:
    plan = parse(PATH, "# Only a body\n\n## Objective\nDo it.\n")
    assert plan.status == "drafted"
    assert plan.depends_on == ()
    assert plan.target_branch is None
    assert plan.title == "Only a body"
    assert plan.objective == "Do it."
    assert plan.tasks == ()
    assert plan.criteria == ()
    assert plan.content_hash == content_hash({}, "# Only a body\n\n## Objective\nDo it.\n")


def test_front_matter_closes_with_dots_and_allows_trailing_spaces() -> None:
    assert parse(PATH, "---\nstatus: ready\n...\n# T\n").status == "ready"
    assert parse(PATH, "--- \nstatus: ready\n---\t\n# T\n").title == "T"


def test_a_thematic_break_later_in_the_file_is_not_front_matter() -> None:
    plan = parse(PATH, "# Title\n---\nstatus: ready\n---\n")
    assert plan.status == "drafted"
    assert plan.title == "Title"


def test_empty_front_matter_and_single_string_depends_on() -> None:
    assert parse(PATH, "---\n---\n# T\n").title == "T"
    plan = parse(PATH, "---\ndepends_on: phase-01.1/02\ntarget_branch: null\n---\n")
    assert plan.depends_on == ("phase-01.1/02",)
    assert plan.target_branch is None


def test_unknown_front_matter_keys_are_ignored() -> None:
    plan = parse(PATH, "---\nowner: ada\nlabels: [a, b]\nstatus: ready\n---\n# T\n")
    assert plan.status == "ready"
    assert plan.title == "T"


def test_title_front_matter_wins_over_heading() -> None:
    assert parse(PATH, "---\ntitle: ' From front matter '\n---\n# Heading\n").title == \
        "From front matter"


def test_title_falls_back_to_first_level_1_heading() -> None:
    text = "Intro text.\n\n## Objective\nx\n\nSetext title\n============\n\n# Second\n"
    assert parse(PATH, text).title == "Setext title"


def test_title_falls_back_to_the_ref() -> None:
    assert parse(PATH, "## Objective\n\nNo level-1 heading here.\n").title == \
        "feature-01/phase-01.2/03"
    assert parse(PATH, "---\ntitle: ''\n---\n").title == "feature-01/phase-01.2/03"


def test_heading_inside_a_list_is_not_the_title() -> None:
    assert parse(PATH, "- # Not a title\n").title == "feature-01/phase-01.2/03"


def test_sections_match_case_insensitively_and_by_alias() -> None:
    text = ("# T\n\n### GOAL:\nThe goal.\n\n## tasks\n1. one\n2. two\n\n"
            "#### Acceptance Criteria\n* it works\n")
    plan = parse(PATH, text)
    assert plan.objective == "The goal."
    assert [t.title for t in plan.tasks] == ["one", "two"]
    # "Acceptance Criteria" is level 4, inside Tasks: still found as its own section.
    assert plan.criteria == ("it works",)


@pytest.mark.parametrize("heading", ["Success criteria", "Success Criteria",
                                     "Acceptance criteria", "Criteria"])
def test_criteria_heading_aliases(heading: str) -> None:
    assert parse(PATH, f"## {heading}\n- [x] ok\n").criteria == ("ok",)


def test_level_1_headings_do_not_name_sections() -> None:
    plan = parse(PATH, "# Tasks\n- not a task\n# Objective\nnot the objective\n")
    assert plan.tasks == ()
    assert plan.objective == ""
    assert plan.title == "Tasks"


def test_a_section_ends_at_the_next_heading_of_its_level() -> None:
    text = ("## Objective\nIn.\n### Detail\nAlso in.\n## Other\nOut.\n"
            "## Tasks\n- a\n# Top\n- b\n")
    plan = parse(PATH, text)
    assert plan.objective == "In.\n\nAlso in."
    assert [t.title for t in plan.tasks] == ["a"]


def test_tasks_from_sub_headings_when_there_is_no_list() -> None:
    text = ("## Tasks\n\nSome intro.\n\n### Task 1: write the parser\n#### Details\n"
            "- step\n### [x] Task 2: test it\n### Document\n")
    plan = parse(PATH, text)
    assert plan.tasks == (
        PlanTask(id="01", title="write the parser", done=False),
        PlanTask(id="02", title="test it", done=True),
        PlanTask(id="03", title="Document", done=False),
    )


def test_only_a_leading_task_prefix_is_stripped() -> None:
    text = "## Tasks\n### Do Task 3: later\n"
    assert [t.title for t in parse(PATH, text).tasks] == ["Do Task 3: later"]


def test_task_checkboxes_need_a_space_and_are_not_escaped() -> None:
    text = "## Tasks\n- [x]done\n- \\[x] escaped\n- [ ]\n- [x] [link](http://e.x) *it*\n"
    tasks = parse(PATH, text).tasks
    assert [(t.title, t.done) for t in tasks] == [
        ("[x]done", False), ("[x] escaped", False), ("", False), ("link it", True)]


def test_task_ids_grow_past_two_digits() -> None:
    text = "## Tasks\n" + "".join(f"- task {n}\n" for n in range(1, 101))
    tasks = parse(PATH, text).tasks
    assert [t.id for t in tasks[:2]] == ["01", "02"]
    assert (tasks[98].id, tasks[99].id) == ("99", "100")
    assert tasks[99].title == "task 100"


def test_tasks_in_two_lists_are_numbered_on() -> None:
    text = "## Tasks\n- a\n- b\n\nBetween.\n\n1. c\n"
    assert [(t.id, t.title) for t in parse(PATH, text).tasks] == [
        ("01", "a"), ("02", "b"), ("03", "c")]


def test_crlf_and_bom_parse_like_lf() -> None:
    lf = parse(PATH, FULL)
    assert parse(PATH, FULL.replace("\n", "\r\n")) == lf
    assert parse(PATH, "\ufeff" + FULL.replace("\n", "\r\n")) == lf
    assert parse(PATH, FULL.replace("\n", "\r")) == lf


def test_path_with_leading_dot_slash_is_normalised() -> None:
    assert parse("./" + PATH, FULL).path == PATH


def test_plan_task_is_strict_and_frozen() -> None:
    task = PlanTask(id="01", title="t", done=False)
    with pytest.raises(ValueError):
        PlanTask(id="01", title="t", done=False, extra="x")  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        task.title = "other"


# --------------------------------------------------------------------------- parse errors


@pytest.mark.parametrize(("text", "words"), [
    ("---\nstatus: done\n---\n",
     ["front matter", "status 'done' is not one of drafted, approved, ready",
      "fix the front matter"]),
    ("---\nstatus: [ready]\n---\n", ["status", "not one of"]),
    ("---\ntitle: [unclosed\n---\n", ["front matter is not valid YAML", "line 2"]),
    ("---\ntitle: a\n  b: c\n---\n", ["not valid YAML", "line 3"]),
    ("---\n- a\n- b\n---\n", ["front matter is a list, not a mapping"]),
    ("---\njust text\n---\n", ["front matter is a string, not a mapping"]),
    ("---\ndepends_on: 02\n---\n", ["depends_on 2 is not a plan ref", "quote numbers"]),
    ("---\ndepends_on: [a/phase-1/1, 3]\n---\n", ["depends_on", "list of plan refs"]),
    ("---\ndepends_on: {a: b}\n---\n", ["depends_on"]),
    ("---\ndepends_on: ['']\n---\n", ["depends_on"]),
    ("---\ntitle: [a, b]\n---\n", ["title ['a', 'b'] is not a string"]),
    ("---\ntitle: 12\n---\n", ["title 12 is not a string"]),
    ("---\ntarget_branch: 7\n---\n", ["target_branch 7 is not a string"]),
    ("---\ntarget_branch: {x: 1}\n---\n", ["target_branch"]),
    ("---\nstatus: ready\n# Title\n", ["front matter", "never closed", "add a '---' line"]),
    ("\ufeff---\r\nstatus: ready\r\n", ["never closed"]),
])
def test_corrupt_plan_errors(text: str, words: list[str]) -> None:
    with pytest.raises(CorruptRecordError) as info:
        parse(PATH, text)
    message = info.value.message
    assert message.startswith(PATH + ": ")
    for word in words:
        assert word in message
    assert "\n" not in message and "\r" not in message
    assert "; " in message  # the fix follows the problem


def test_long_bad_values_are_shortened_in_the_message() -> None:
    with pytest.raises(CorruptRecordError) as info:
        parse(PATH, "---\nstatus: |\n  " + "x" * 500 + "\n  y\n---\n")
    assert len(info.value.message) < 200
    assert "\n" not in info.value.message


@pytest.mark.parametrize("path", [
    "specs/feature-01/phase-01.2/03-plan.md",
    "specs/feature-01/phase-01.2/03-SUMMARY.md",
    "specs/feature-01/phase-1.2.3/03-PLAN.md",
    "specs/feature-01/01.2/03-PLAN.md",
    "specs/-feature/phase-01/03-PLAN.md",
    "specs/feature-01/phase-01/x3-PLAN.md",
    "phase-01/03-PLAN.md",
    "specs/feature-01/phase-٠١/03-PLAN.md",
])
def test_parse_refuses_a_path_that_is_not_a_plan_path(path: str) -> None:
    with pytest.raises(CorruptRecordError) as info:
        parse(path, "# T\n")
    assert info.value.message.startswith(f"{path}: not a plan path")
    assert "\n" not in info.value.message


def test_root_is_any_prefix() -> None:
    assert parse("docs/plans/x/phase-2/7-PLAN.md", "").ref == "x/phase-2/7"
    assert parse("x/phase-2/7-PLAN.md", "").summary_path == "x/phase-2/7-SUMMARY.md"


# --------------------------------------------------------------------------- refs


@pytest.mark.parametrize(("text", "ok"), [
    ("feature-01/phase-01.2/03", True),
    ("a/phase-1/1", True),
    ("A.b_c-d/phase-10/100", True),
    ("03", False),
    ("phase-01.2/03", False),
    ("feature-01/phase-01.2/03/", False),
    ("feature-01/phase-01.2.1/03", False),
    ("feature-01/01.2/03", False),
    ("-x/phase-1/1", False),
    ("x/phase-1/1a", False),
    ("x/phase-1/1\n", False),
    ("specs/x/phase-1/1", False),
    ("x/phase-1/١", False),
])
def test_is_plan_ref(text: str, ok: bool) -> None:
    assert is_plan_ref(text) is ok


def test_plan_refs_are_plan_refs() -> None:
    assert is_plan_ref(parse(PATH, FULL).ref)


@pytest.fixture
def some_plans() -> list[Plan]:
    return [plan_at(p) for p in (
        "specs/feature-01/phase-01.2/03-PLAN.md",
        "specs/feature-01/phase-01.2/04-PLAN.md",
        "specs/feature-02/phase-02.1/03-PLAN.md",
        "specs/feature-02/phase-01.2/05-PLAN.md",
    )]


@pytest.mark.parametrize(("query", "ref"), [
    ("feature-01/phase-01.2/03", "feature-01/phase-01.2/03"),
    ("04", "feature-01/phase-01.2/04"),
    ("phase-02.1/03", "feature-02/phase-02.1/03"),
    ("feature-02/phase-02.1/03", "feature-02/phase-02.1/03"),
    ("specs/feature-01/phase-01.2/03-PLAN.md", "feature-01/phase-01.2/03"),
    ("./specs/feature-02/phase-02.1/03-PLAN.md", "feature-02/phase-02.1/03"),
    ("phase-02.1/03-PLAN.md", "feature-02/phase-02.1/03"),
    (" 05 ", "feature-02/phase-01.2/05"),
])
def test_resolve(some_plans: list[Plan], query: str, ref: str) -> None:
    assert resolve(some_plans, query).ref == ref


@pytest.mark.parametrize(("query", "candidates"), [
    ("03", "feature-01/phase-01.2/03, feature-02/phase-02.1/03"),
    ("03-PLAN.md", "feature-01/phase-01.2/03, feature-02/phase-02.1/03"),
])
def test_resolve_ambiguous_lists_the_candidates(some_plans: list[Plan], query: str,
                                                candidates: str) -> None:
    with pytest.raises(UsageError) as info:
        resolve(some_plans, query)
    assert info.value.message == (f"plan ref '{query}' is ambiguous: {candidates}; "
                                  "give more of it")


@pytest.mark.parametrize("query", [
    "06", "3", "2/03", "e-01/phase-01.2/03", "phase-01.2", "feature-01",
    "other/feature-01/phase-01.2/03", "specs/feature-01/phase-01.2/06-PLAN.md",
    "eature-01/phase-01.2/03-PLAN.md", "",
])
def test_resolve_unknown(some_plans: list[Plan], query: str) -> None:
    with pytest.raises(NotFoundError) as info:
        resolve(some_plans, query)
    assert info.value.message == f"no plan matches {query!r}: `git runr status` lists the plans"


def test_resolve_exact_match_wins_over_suffix_matches() -> None:
    inner = plan_at("specs/a/phase-1/01-PLAN.md")
    outer = plan_at("old/specs/a/phase-1/01-PLAN.md")
    assert resolve([outer, inner], "specs/a/phase-1/01-PLAN.md") is inner
    with pytest.raises(UsageError):
        resolve([outer, inner], "a/phase-1/01-PLAN.md")


def test_resolve_in_no_plans() -> None:
    with pytest.raises(NotFoundError):
        resolve([], "01")


# --------------------------------------------------------------------------- content hash


BASE = "---\nstatus: approved\ntitle: T\ndepends_on: [a/phase-1/1]\nx: 1\n---\n# Body\n\ntext\n"


@pytest.mark.parametrize("edited", [
    BASE.replace("status: approved", "status: ready"),
    BASE.replace("status: approved\n", ""),
    BASE.replace("status: approved\ntitle: T\n", "title: T\nstatus: drafted\n"),
    BASE.replace("title: T", "title: 'T'  # comment"),
    BASE.replace("depends_on: [a/phase-1/1]", "depends_on:\n  - a/phase-1/1"),
    BASE + "\n\n   \n",
    BASE.replace("\n", "\r\n"),
])
def test_hash_ignores_status_and_formatting(edited: str) -> None:
    assert parse(PATH, edited).content_hash == parse(PATH, BASE).content_hash


@pytest.mark.parametrize("edited", [
    BASE.replace("text", "text!"),
    BASE.replace("title: T", "title: U"),
    BASE.replace("depends_on: [a/phase-1/1]", "depends_on: [a/phase-1/2]"),
    BASE.replace("depends_on: [a/phase-1/1]", "depends_on: a/phase-1/1"),
    BASE.replace("x: 1", "x: 2"),
    BASE.replace("x: 1\n", ""),
    BASE.replace("x: 1", "x: 1\ntarget_branch: main"),
    BASE.replace("# Body\n\ntext", "# Body\ntext"),
])
def test_hash_changes_with_any_other_edit(edited: str) -> None:
    assert parse(PATH, edited).content_hash != parse(PATH, BASE).content_hash


def test_hash_is_the_documented_canonical_json() -> None:
    front_matter = {"title": "Plän", "status": "ready", "when": date(2026, 1, 2), "n": [1, None]}
    expected = ('{"body":"a\\nb\\n\\n  c","front_matter":'
                '{"n":[1,null],"title":"Plän","when":"2026-01-02"}}')
    assert content_hash(front_matter, "a\r\nb\r\r  c \n\t\n") == \
        hashlib.sha256(expected.encode("utf-8")).hexdigest()


def test_hash_of_yaml_dates_and_odd_values() -> None:
    text = "---\nwhen: 2026-01-02\nat: 2026-01-02 10:00:00\nset: !!set {a, b}\n1: x\n---\n"
    plan = parse(PATH, text)
    assert plan.content_hash == content_hash(
        {"when": "2026-01-02", "at": "2026-01-02 10:00:00", "set": ["a", "b"], "1": "x"}, "")


# --------------------------------------------------------------------------- discover


def test_discover_sorts_numerically(tmp_path: Path) -> None:
    for rel in ("b/phase-1/1-PLAN.md", "a/phase-10/1-PLAN.md", "a/phase-2/10-PLAN.md",
                "a/phase-2/2-PLAN.md", "a/phase-2.10/1-PLAN.md", "a/phase-2.2/1-PLAN.md",
                "a/phase-02/03-PLAN.md"):
        write(tmp_path, "specs/" + rel)
    found, problems = discover(tmp_path)
    assert problems == []
    assert [p.ref for p in found] == [
        "a/phase-2/2", "a/phase-02/03", "a/phase-2/10",
        "a/phase-2.2/1", "a/phase-2.10/1", "a/phase-10/1", "b/phase-1/1"]
    assert found[0].path == "specs/a/phase-2/2-PLAN.md"


def test_discover_ignores_other_files_and_layouts(tmp_path: Path) -> None:
    write(tmp_path, "specs/f/phase-01/01-PLAN.md")
    for rel in ("specs/f/phase-01/01-SUMMARY.md", "specs/f/phase-01/notes.md",
                "specs/f/phase-01/01-plan.md", "specs/f/phase-01/x-PLAN.md",
                "specs/f/phase-01/sub/02-PLAN.md", "specs/f/01-PLAN.md", "specs/01-PLAN.md",
                "specs/f/phase01/01-PLAN.md", "specs/f/phase-1.2.3/01-PLAN.md",
                "specs/.hidden/phase-01/01-PLAN.md", "specs/f/g/phase-01/01-PLAN.md",
                "other/f/phase-01/02-PLAN.md", "f/phase-01/03-PLAN.md"):
        write(tmp_path, rel, "---\nstatus: [broken\n")
    (tmp_path / "specs/f/phase-01/05-PLAN.md").mkdir()
    (tmp_path / "specs/g").mkdir()
    (tmp_path / "specs/g/phase-01").write_text("a file, not a directory")
    found, problems = discover(tmp_path)
    assert [p.ref for p in found] == ["f/phase-01/01"]
    assert problems == []


def test_discover_reads_only_plan_files(tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "specs/f/phase-01/01-PLAN.md")
    write(tmp_path, "specs/f/phase-01/01-SUMMARY.md")
    write(tmp_path, "specs/f/phase-01/README.md")
    write(tmp_path, "specs/f/README.md")
    opened: list[str] = []
    real_open = io.open

    def spy(file: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(io, "open", spy)
    monkeypatch.setattr(builtins, "open", spy)
    found, _ = discover(tmp_path)
    assert [p.ref for p in found] == ["f/phase-01/01"]
    assert opened, "the spy saw no file opened"
    assert all(name.endswith("-PLAN.md") for name in opened), opened


def test_discover_reports_broken_plans_and_returns_the_rest(tmp_path: Path) -> None:
    write(tmp_path, "specs/f/phase-01/01-PLAN.md", "# fine\n")
    write(tmp_path, "specs/f/phase-01/02-PLAN.md", "---\nstatus: done\n---\n")
    write(tmp_path, "specs/f/phase-01/04-PLAN.md", "---\nstatus: ready\n")
    (tmp_path / "specs/f/phase-01/05-PLAN.md").write_bytes(b"# caf\xe9\n")
    write(tmp_path, "specs/f/phase-02/01-PLAN.md", "---\nstatus: ready\n---\n")
    found, problems = discover(tmp_path)
    assert [p.ref for p in found] == ["f/phase-01/01", "f/phase-02/01"]
    assert len(problems) == 3
    assert problems[0].startswith("specs/f/phase-01/02-PLAN.md: front matter: status 'done'")
    assert problems[1].startswith("specs/f/phase-01/04-PLAN.md: ")
    assert "never closed" in problems[1]
    assert problems[2].startswith("specs/f/phase-01/05-PLAN.md: not valid UTF-8")
    assert all("\n" not in p for p in problems)


def test_discover_missing_root(tmp_path: Path) -> None:
    assert discover(tmp_path) == ([], [])
    assert discover(tmp_path, "nowhere/deep") == ([], [])


def test_discover_other_root(tmp_path: Path) -> None:
    write(tmp_path, "docs/plans/f/phase-1/1-PLAN.md")
    write(tmp_path, "specs/f/phase-1/2-PLAN.md")
    found, problems = discover(tmp_path, "docs/plans")
    assert [(p.ref, p.path) for p in found] == [("f/phase-1/1", "docs/plans/f/phase-1/1-PLAN.md")]
    assert problems == []
    assert [p.path for p in discover(tmp_path, "./docs/plans/")[0]] == [
        "docs/plans/f/phase-1/1-PLAN.md"]


def test_discover_parses_the_same_as_parse(tmp_path: Path) -> None:
    (tmp_path / PATH).parent.mkdir(parents=True)
    (tmp_path / PATH).write_bytes(FULL.replace("\n", "\r\n").encode("utf-8-sig"))
    assert discover(tmp_path) == ([parse(PATH, FULL)], [])


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_discover_does_not_follow_symlinks_out_of_the_work_tree(tmp_path: Path) -> None:
    work, outside = tmp_path / "work", tmp_path / "outside"
    write(outside, "f/phase-1/1-PLAN.md")
    write(outside, "plan.md")
    write(work, "specs/a/phase-1/1-PLAN.md")
    (work / "specs/b").symlink_to(outside / "f")
    (work / "specs/a/phase-1/2-PLAN.md").symlink_to(outside / "plan.md")
    (work / "specs/a/phase-2").symlink_to(work / "specs/a/phase-1")  # inside: followed
    (work / "specs/a/phase-1/3-PLAN.md").symlink_to("3-PLAN.md")  # a loop
    found, problems = discover(work)
    assert [(p.ref, p.path) for p in found] == [
        ("a/phase-1/1", "specs/a/phase-1/1-PLAN.md"), ("a/phase-2/1", "specs/a/phase-2/1-PLAN.md")]
    assert sorted(p.split(":")[0] for p in problems) == [
        "specs/a/phase-1/2-PLAN.md", "specs/a/phase-1/3-PLAN.md", "specs/a/phase-2/2-PLAN.md",
        "specs/a/phase-2/3-PLAN.md", "specs/b"]
    assert any("outside the work tree" in p for p in problems)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_discover_root_symlinked_out_of_the_work_tree(tmp_path: Path) -> None:
    work, outside = tmp_path / "work", tmp_path / "outside"
    write(outside, "f/phase-1/1-PLAN.md")
    work.mkdir()
    (work / "specs").symlink_to(outside)
    found, problems = discover(work)
    assert found == []
    assert problems == ["specs: leads outside the work tree; not read (keep plans inside "
                        "the work tree)"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_discover_skips_a_fifo_named_like_a_plan(tmp_path: Path) -> None:
    write(tmp_path, "specs/f/phase-1/1-PLAN.md")
    fifo = tmp_path / "specs/f/phase-1/2-PLAN.md"
    os.mkfifo(fifo)

    # A writer waits on the FIFO, so a discover that opened it would read a plan
    # (and fail the test) instead of hanging it.
    def feed() -> None:
        with open(fifo, "w", encoding="utf-8") as out:
            out.write("# from the fifo\n")

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    found = discover(tmp_path)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # release the writer
    writer.join(timeout=10)
    os.close(reader)
    assert [p.ref for p in found[0]] == ["f/phase-1/1"]


def test_module_exports() -> None:
    assert plans.PLAN_FILE_SUFFIX == "-PLAN.md"
    assert set(plans.__all__) <= set(dir(plans))
