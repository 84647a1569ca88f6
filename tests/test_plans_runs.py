"""Plans and their runs, end to end through ``git runr`` (docs/plans.md, docs/json.md).

Planning commands (``status``, ``ready``, ``show PLAN``, ``plan approve``) read the plan
files and the ledger; runtime commands (``run start|transition|step|finish|accept``,
``runs``, ``artifact``) write runs. Every test starts from the repository of
``tests/fixtures/repos/plans.py``: six plans, hooks installed, no runs, and checks the
exact data each command prints: JSON (the canonical form), the text a person reads,
and TOON, which must decode to the same data as the JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from toon_format import decode

from tests.conftest import AUTHOR_EMAIL, AUTHOR_NAME, GitRepo, fails, written
from tests.fixtures.repos.plans import (
    F1_03,
    F1_03_CRITERIA,
    F1_03_OBJECTIVE,
    F1_03_TASKS,
    F1_04,
    F1_10_01,
    F2_01,
    F2_03,
    F2_05,
    FILES,
    MISSING_DEP,
    REFS,
    STATUSES,
    TITLES,
    build_plans,
    path_of,
    summary_of,
)

ACTOR = f"{AUTHOR_NAME} <{AUTHOR_EMAIL}>"
RUN_ID = re.compile(r"run-[0-9a-z]{4,40}")
#: Well formed, but no run has it.
UNKNOWN_RUN = "run-0000000000000"

#: Why F1_04 and F2_05 cannot start in the fixture as built.
F1_04_WAITS = f"it depends on {F1_03}, which is not done (no accepted run)"
F2_05_WAITS = f"it depends on '{MISSING_DEP}', which is not a plan here"
AMBIGUOUS_03 = f"plan ref '03' is ambiguous: {F1_03}, {F2_03}; give more of it"


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def plans_repo(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    """A repository holding the fixture set of plans, committed, with ``git runr init``
    done and no runs: a copy of one built for the session (building costs two
    ``git runr`` processes; nothing in it names its own path)."""
    template = tmp_path_factory.getbasetemp() / "plans-repo"
    if not template.exists():
        built = tmp_path_factory.mktemp("plans-build") / "repo"
        built.mkdir()
        subprocess.run(["git", "init", "-q", "-b", "main", str(built)], check=True)
        build_plans(GitRepo(built))
        built.rename(template)
    path = tmp_path / "repo"
    shutil.copytree(template, path, symlinks=True)
    return GitRepo(path)


def runr_json(repo: GitRepo, *args: str) -> Any:
    """``git runr ARGS --json``, parsed."""
    return json.loads(repo.runr(*args, "--json").stdout)


def runr_bytes(repo: GitRepo, *args: str) -> bytes:
    """``git runr ARGS``'s standard output as bytes (it must succeed)."""
    proc = subprocess.run(["git", "runr", *args], cwd=repo.path, capture_output=True,
                          env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def text_lines(text: str) -> list[str]:
    """Lines of text output with runs of spaces collapsed (tables pad their cells)."""
    return [" ".join(line.split()) for line in text.splitlines()]


def start(repo: GitRepo, *args: str) -> str:
    """``git runr run start ARGS``: exactly one line on stdout, the new run's id."""
    out = repo.runr("run", "start", *args).stdout
    run_id = out.strip()
    assert RUN_ID.fullmatch(run_id) and out == run_id + "\n", out
    return run_id


def complete_tasks(repo: GitRepo, run_id: str) -> None:
    """Mark every task of the run's exec status done: a plan's run is accepted only
    when its subtasks are (docs/lifecycle.md, the ready_for_review guard)."""
    for task in runr_json(repo, "show", run_id)["run"]["exec_status"]["tasks"]:
        if task["state"] != "done":
            repo.runr("progress", run_id, "--task", task["task"], "--state", "done")


def checkpoint(repo: GitRepo, subject: str) -> str:
    """Commit a change with ``subject``; the hooks record it on the active run."""
    slug = re.sub(r"[^a-z0-9]+", "-", subject.lower()).strip("-")
    return repo.commit(subject, {f"work/{slug}.txt": subject + "\n"})






def brief(status: dict[str, Any], ref: str) -> dict[str, Any]:
    """The entry of plan ``ref`` in a ``status --json`` document."""
    (found,) = [p for p in status["plans"] if p["ref"] == ref]
    return found


def ready_item(ref: str, depends_on: list[str] | None = None) -> dict[str, Any]:
    """A plan as ``ready --json`` lists it."""
    return {"ref": ref, "title": TITLES[ref], "path": path_of(ref), "status": STATUSES[ref],
            "depends_on": depends_on or []}


def what_was_done(summary: str) -> list[str]:
    """The checkpoint subjects under ``## What was done`` of a SUMMARY.md."""
    section = summary.split("## What was done", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^- `[0-9a-f]{12}` (.*) \(cp-[0-9a-z]+\)$", section, re.MULTILINE)


# --------------------------------------------------------------------------- status


def test_status_lists_every_plan_with_no_runs(plans_repo: GitRepo) -> None:
    assert runr_json(plans_repo, "status") == {
        "schema_version": 1, "root": "specs", "mode": "flow", "problems": [],
        "plans": [{"ref": ref, "title": TITLES[ref], "path": path_of(ref),
                   "status": STATUSES[ref], "changed_since_approval": False,
                   "lane": "planned", "holder": None, "done": False,
                   "accepted_run_id": None, "runs": 0, "latest_run": None}
                  for ref in REFS],
    }


def test_status_text_groups_plans_by_initiative_and_phase_in_numeric_order(
        plans_repo: GitRepo) -> None:
    run_id = start(plans_repo, F1_10_01)
    assert text_lines(plans_repo.runr("status").stdout) == [
        "Plans in specs/ (mode: flow)",
        "",
        "feature-01 / phase-01.2",
        "03 Read plan files ready planned —",
        "04 List plans in status approved planned —",
        "",
        "feature-01 / phase-01.10",  # after 01.2: phases compare as numbers
        f"01 Polish the output ready in_progress ({ACTOR}) {run_id} (active)",
        "",
        "feature-02 / phase-02.1",
        "01 Sketch the importer drafted planned —",
        "03 Import old runs ready planned —",
        "05 Export to the tracker approved planned —",
    ]
    latest = brief(runr_json(plans_repo, "status"), F1_10_01)
    assert latest["runs"] == 1 and latest["done"] is False
    assert {k: latest["latest_run"][k] for k in ("run_id", "state", "plan_ref", "accepted")} \
        == {"run_id": run_id, "state": "active", "plan_ref": F1_10_01, "accepted": False}


def test_status_and_ready_work_without_a_plans_directory(repo_with_commit: GitRepo) -> None:
    repo = repo_with_commit
    empty = {"schema_version": 1, "root": "specs", "mode": "flow", "plans": [],
             "problems": []}
    assert runr_json(repo, "status") == empty
    assert text_lines(repo.runr("status").stdout) == [
        "Plans in specs/ (mode: flow)",
        "no plans yet: write specs/<initiative>/phase-01/01-PLAN.md (docs/plans.md)",
    ]
    assert runr_json(repo, "ready") == {"schema_version": 1, "plans": [], "waiting": []}
    start(repo)  # an ad hoc run changes nothing in the planning view
    assert runr_json(repo, "status") == empty


def test_status_reports_a_broken_plan_and_lists_the_rest(plans_repo: GitRepo) -> None:
    broken = "specs/feature-02/phase-02.1/07-PLAN.md"
    plans_repo.write(broken, "---\nstatus: done\n---\n# Broken\n")
    proc = plans_repo.runr("status", "--json")
    problem = (f"{broken}: front matter: status 'done' is not one of drafted, approved, "
               "ready; fix the front matter")
    assert json.loads(proc.stdout)["problems"] == [problem]
    assert [p["ref"] for p in json.loads(proc.stdout)["plans"]] == REFS
    assert proc.stderr == f"warning: {problem}\n"


# --------------------------------------------------------------------------- ready


def test_ready_lists_startable_plans_and_says_why_others_wait(plans_repo: GitRepo) -> None:
    assert runr_json(plans_repo, "ready") == {
        "schema_version": 1,
        # F2_01 is drafted: neither ready nor waiting.
        "plans": [ready_item(F1_03), ready_item(F1_10_01), ready_item(F2_03)],
        "waiting": [{"ref": F1_04, "reasons": [F1_04_WAITS]},
                    {"ref": F2_05, "reasons": [F2_05_WAITS]}],
    }
    assert text_lines(plans_repo.runr("ready").stdout) == [
        "READY",
        f"- {F1_03} Read plan files",
        f"- {F1_10_01} Polish the output",
        f"- {F2_03} Import old runs",
        "",
        "WAITING",
        f"- {F1_04}: {F1_04_WAITS}",
        f"- {F2_05}: {F2_05_WAITS}",
    ]


def test_a_plan_becomes_ready_once_its_dependency_is_accepted(plans_repo: GitRepo) -> None:
    run_id = start(plans_repo, F1_03)
    checkpoint(plans_repo, "Task 01: parse the front matter")
    complete_tasks(plans_repo, run_id)
    plans_repo.runr("run", "finish", run_id, "--outcome", "passed")
    # Passed is not done: only an accepted run makes a plan done. Until then the plan
    # is in progress, held by whoever started it: not for someone else to take.
    ready = runr_json(plans_repo, "ready")
    assert [p["ref"] for p in ready["plans"]] == [F1_10_01, F2_03]
    assert ready["waiting"][0] == {"ref": F1_03, "reasons": [f"it is in_progress by {ACTOR}"]}
    assert ready["waiting"][1] == {"ref": F1_04, "reasons": [F1_04_WAITS]}

    plans_repo.runr("run", "accept", run_id)
    assert runr_json(plans_repo, "ready") == {
        "schema_version": 1,
        "plans": [ready_item(F1_04, [F1_03]), ready_item(F1_10_01), ready_item(F2_03)],
        "waiting": [{"ref": F2_05, "reasons": [F2_05_WAITS]}],
    }
    assert runr_json(plans_repo, "show", F1_04)["plan"]["blockers"] == []
    start(plans_repo, F1_04)


def test_a_plan_with_an_open_run_is_not_ready(plans_repo: GitRepo) -> None:
    run_id = start(plans_repo, F1_10_01)
    running = {"ref": F1_10_01, "reasons": [f"it is running: {run_id}"]}
    ready = runr_json(plans_repo, "ready")
    assert [p["ref"] for p in ready["plans"]] == [F1_03, F2_03]
    assert ready["waiting"] == [{"ref": F1_04, "reasons": [F1_04_WAITS]}, running,
                                {"ref": F2_05, "reasons": [F2_05_WAITS]}]
    plans_repo.runr("run", "transition", run_id, "verifying/testing")
    assert running in runr_json(plans_repo, "ready")["waiting"]  # verifying is open too

    plans_repo.runr("run", "finish", run_id, "--outcome", "failed")
    ready = runr_json(plans_repo, "ready")
    assert [p["ref"] for p in ready["plans"]] == [F1_03, F2_03]
    assert running not in ready["waiting"]  # not running, but still its starter's work:
    assert {"ref": F1_10_01, "reasons": [f"it is in_progress by {ACTOR}"]} in ready["waiting"]


def test_an_ambiguous_dependency_is_reported_as_ambiguous(plans_repo: GitRepo) -> None:
    """``depends_on: ["03"]`` fits two plans: the reason says so, not "not a plan here"."""
    ref = "feature-03/phase-01/01"
    plans_repo.write(path_of(ref), '---\nstatus: ready\ndepends_on: ["03"]\n---\n# Both\n')
    (reasons,) = [w["reasons"] for w in runr_json(plans_repo, "ready")["waiting"]
                  if w["ref"] == ref]
    assert len(reasons) == 1 and F1_03 in reasons[0] and F2_03 in reasons[0], reasons


# --------------------------------------------------------------------------- show


def test_show_a_plan_with_no_runs(plans_repo: GitRepo) -> None:
    view = runr_json(plans_repo, "show", "phase-01.2/03")
    assert (view["kind"], view["runs"], view["run"]) == ("plan", [], None)
    assert view["note"] == "no runs yet: this plan is a proposal"
    plan = view["plan"]
    assert re.fullmatch(r"[0-9a-f]{64}", plan.pop("content_hash"))
    assert plan == {
        "ref": F1_03, "initiative": "feature-01", "phase": "01.2", "number": "03",
        "title": "Read plan files", "path": path_of(F1_03), "status": "ready",
        "depends_on": [], "target_branch": "feat/plans", "objective": F1_03_OBJECTIVE,
        "tasks": F1_03_TASKS, "criteria": F1_03_CRITERIA, "approval": None,
        "changed_since_approval": False, "lane": "planned", "holder": None,
        "lease_until": None, "line": None, "lane_history": [], "done": False,
        "accepted_run_id": None, "summary_path": None, "blockers": [],
    }
    assert text_lines(plans_repo.runr("show", "phase-01.2/03").stdout) == [
        f"Plan: {F1_03} Read plan files",
        "Status: ready",
        "Lane: planned",
        f"File: {path_of(F1_03)}",
        "Branch: feat/plans",
        "",
        "Objective:",
        "Read the plan files of the work tree, so that status can list them.",
        "",
        "Keep the reader small.",
        "",
        "Tasks (3):",
        "[x] 01 Parse the front matter",
        "[ ] 02 Find the plans under the root",
        "[ ] 03 Resolve a ref or a suffix",
        "",
        "Success criteria (2):",
        "- Every plan under specs/ is listed, in order",
        "- A broken plan is reported on one line",
        "",
        "no runs yet: this plan is a proposal",
    ]


def test_show_a_blocked_plan_names_what_blocks_it(plans_repo: GitRepo) -> None:
    plan = runr_json(plans_repo, "show", F1_04)["plan"]
    assert (plan["depends_on"], plan["blockers"]) == ([F1_03], [F1_04_WAITS])
    text = text_lines(plans_repo.runr("show", F1_04).stdout)
    assert f"Depends: {F1_03}" in text and f"Blocked: {F1_04_WAITS}" in text


def test_show_a_plan_with_runs_shows_the_latest_or_the_chosen_one(
        plans_repo: GitRepo) -> None:
    first = start(plans_repo, F1_03)
    checkpoint(plans_repo, "Task 01: first attempt")
    plans_repo.runr("run", "finish", "--outcome", "failed")
    second = start(plans_repo, F1_03)
    checkpoint(plans_repo, "Task 01: second attempt")

    view = runr_json(plans_repo, "show", F1_03)
    assert [(r["run_id"], r["state"]) for r in view["runs"]] == \
        [(second, "active"), (first, "finalized/failed")]
    assert view["run"]["run_id"] == second and view["note"] is None
    assert [c["subject"] for c in view["run"]["checkpoints"]] == ["Task 01: second attempt"]
    chosen = runr_json(plans_repo, "show", F1_03, "--run", first)
    assert chosen["runs"] == view["runs"] and chosen["run"]["run_id"] == first
    assert [c["subject"] for c in chosen["run"]["checkpoints"]] == ["Task 01: first attempt"]

    text = text_lines(plans_repo.runr("show", F1_03).stdout)
    assert "Objective:" in text and "Runs (2, newest first; * accepted):" in text
    assert f"Run {second}:" in text and f"Run {first}:" not in text
    text = text_lines(plans_repo.runr("show", F1_03, "--run", first).stdout)
    assert f"Run {first}:" in text and f"Run {second}:" not in text

    plans_repo.runr("run", "finish", "--outcome", "aborted")
    other = start(plans_repo, F2_03)
    assert fails(plans_repo, "show", F1_03, "--run", other, code=4) == \
        f"{other} is not a run of {F1_03}; `git runr runs {F1_03}` lists its runs"


def test_show_a_run_id_shows_the_execution_only(plans_repo: GitRepo) -> None:
    run_id = start(plans_repo, F1_03)
    checkpoint(plans_repo, "Task 01: parse the front matter")
    plans_repo.runr("run", "step", run_id, "implement")
    view = runr_json(plans_repo, "show", run_id)
    assert set(view) == {"schema_version", "kind", "run", "accepted", "accepted_at"}
    assert (view["kind"], view["accepted"], view["accepted_at"]) == ("run", False, None)
    assert view["run"] == runr_json(plans_repo, "run", "show", run_id)
    assert (view["run"]["run_id"], view["run"]["plan_ref"], view["run"]["current_step"]) == \
        (run_id, F1_03, "implement")

    text = text_lines(plans_repo.runr("show", run_id).stdout)
    assert text[:3] == [f"Run: {run_id}", "State: active", f"Plan: {F1_03}"]
    assert "Step: implement" in text
    assert any(line.endswith(" Task 01: parse the front matter") for line in text)
    for planning in ("Objective", "Tasks (", "Success criteria", "Status:", "no runs yet"):
        assert not any(planning in line for line in text), planning


# --------------------------------------------------------------------------- run start


def test_run_start_refusals_name_the_reason_and_write_nothing(plans_repo: GitRepo) -> None:
    before = written(plans_repo)
    assert fails(plans_repo, "run", "start", F2_01, code=5) == (
        f"cannot start a run of {F2_01}: {F2_01} is drafted: approve it with "
        f"`git runr plan approve {F2_01}` or set `status: approved` in its front matter")
    assert written(plans_repo) == before
    assert plans_repo.git("for-each-ref", "refs/runr/").stdout == ""  # no ledger at all

    plans_repo.runr("plan", "approve", F1_03)  # now there is a ledger that must not move
    before = written(plans_repo)
    assert fails(plans_repo, "run", "start", "phase-01.2/04", code=5) == \
        f"cannot start a run of {F1_04}: {F1_04_WAITS}"
    assert fails(plans_repo, "run", "start", F2_05, code=5) == \
        f"cannot start a run of {F2_05}: {F2_05_WAITS}"
    assert fails(plans_repo, "run", "start", "feature-03/phase-01/01", code=4) == \
        "no plan matches 'feature-03/phase-01/01': `git runr status` lists the plans"
    assert fails(plans_repo, "run", "start", "03", code=2) == AMBIGUOUS_03
    assert fails(plans_repo, "run", "start", F2_01, code=5).endswith("in its front matter")
    assert written(plans_repo) == before
    assert runr_json(plans_repo, "runs")["total"] == 0


def test_run_start_records_the_plan_and_its_content(plans_repo: GitRepo) -> None:
    run_id = start(plans_repo, "specs/feature-01/phase-01.2/03-PLAN.md")  # a path names it
    run = runr_json(plans_repo, "run", "show", run_id)
    plan = runr_json(plans_repo, "show", F1_03)["plan"]
    assert (run["plan_ref"], run["plan_hash"], run["state"]) == \
        (F1_03, plan["content_hash"], "active")
    assert run["transitions"] == [{"event_id": run["transitions"][0]["event_id"],
                                   "at": run["created_at"], "actor": ACTOR,
                                   "from_state": None, "to_state": "active", "reason": None}]


# --------------------------------------------------------------------------- runs


def test_each_run_of_a_plan_is_its_own_record(plans_repo: GitRepo) -> None:
    first = start(plans_repo, F1_03)
    checkpoint(plans_repo, "Task 01: first attempt")
    plans_repo.runr("run", "transition", first, "verifying/testing", "--reason", "run tests")
    plans_repo.runr("run", "transition", first, "verifying/failed", "--reason", "2 fail")
    plans_repo.runr("run", "finish", first, "--outcome", "failed", "--reason", "no ideas")
    second = start(plans_repo, "phase-01.2/03")
    plans_repo.runr("run", "finish", "--outcome", "aborted")
    third = start(plans_repo, F1_03)
    checkpoint(plans_repo, "Task 01: third attempt")
    plans_repo.runr("run", "transition", third, "finalized/passed", "--reason", "all green")
    ad_hoc = start(plans_repo)
    assert len({first, second, third, ad_hoc}) == 4

    listed = runr_json(plans_repo, "runs", F1_03)
    assert (listed["plan_ref"], listed["total"]) == (F1_03, 3)
    assert [(r["run_id"], r["state"], r["outcome"], r["plan_ref"], r["checkpoints"])
            for r in listed["runs"]] == [
        (third, "finalized/passed", "passed", F1_03, 1),
        (second, "finalized/aborted", "aborted", F1_03, 0),
        (first, "finalized/failed", "failed", F1_03, 1),
    ]
    rows = text_lines(plans_repo.runr("runs", "phase-01.2/03").stdout)
    assert [row.split()[:3] for row in rows[1:]] == [
        [third, "finalized/passed", F1_03], [second, "finalized/aborted", F1_03],
        [first, "finalized/failed", F1_03]]

    everything = runr_json(plans_repo, "runs")
    assert (everything["plan_ref"], everything["total"]) == (None, 4)
    assert [(r["run_id"], r["plan_ref"]) for r in everything["runs"]] == \
        [(ad_hoc, None), (third, F1_03), (second, F1_03), (first, F1_03)]
    rows = text_lines(plans_repo.runr("runs").stdout)
    assert rows[1].startswith(f"{ad_hoc} active (ad hoc) ")

    # Nothing was overwritten: each run still shows as it ended.
    shown = {run_id: runr_json(plans_repo, "show", run_id)["run"]
             for run_id in (first, second, third)}
    for run_id, subjects in ((first, ["Task 01: first attempt"]), (second, []),
                             (third, ["Task 01: third attempt"])):
        assert (shown[run_id]["run_id"], shown[run_id]["plan_ref"]) == (run_id, F1_03)
        assert [c["subject"] for c in shown[run_id]["checkpoints"]] == subjects
    transitions = shown[first]["transitions"]
    assert [(t["from_state"], t["to_state"], t["actor"], t["reason"]) for t in transitions] == [
        (None, "active", ACTOR, None),
        ("active", "verifying/testing", ACTOR, "run tests"),
        ("verifying/testing", "verifying/failed", ACTOR, "2 fail"),
        ("verifying/failed", "finalized/failed", ACTOR, "no ideas"),
    ]


# --------------------------------------------------------------------------- steps


def test_a_step_keeps_the_time_it_was_first_reached(plans_repo: GitRepo) -> None:
    run_id = start(plans_repo)
    first_a = runr_json(plans_repo, "run", "step", run_id, "a")["step_timestamps"]["a"]
    first_b = runr_json(plans_repo, "run", "step", run_id, "b")["step_timestamps"]["b"]
    again = runr_json(plans_repo, "run", "step", run_id, "a")
    assert again["current_step"] == "a"
    assert again["step_timestamps"] == {"a": first_a, "b": first_b}
    assert first_a < first_b  # same ISO format, UTC: string order is time order
    assert runr_json(plans_repo, "runs")["runs"][0]["current_step"] == "a"


def test_a_finalized_run_takes_no_new_step(plans_repo: GitRepo) -> None:
    run_id = start(plans_repo)
    plans_repo.runr("run", "step", run_id, "a")
    plans_repo.runr("run", "finish", run_id, "--outcome", "passed")
    before = written(plans_repo)
    assert fails(plans_repo, "run", "step", run_id, "b", code=5) == \
        f"run {run_id} is already finalized/passed; a finalized run takes no steps"
    assert written(plans_repo) == before


def test_repeating_the_current_step_on_a_finalized_run_is_refused(
        plans_repo: GitRepo) -> None:
    """A finalized run takes no step, even the one it stopped at."""
    run_id = start(plans_repo)
    plans_repo.runr("run", "step", run_id, "a")
    plans_repo.runr("run", "finish", run_id, "--outcome", "passed")
    assert fails(plans_repo, "run", "step", run_id, "a", code=5).startswith(
        f"run {run_id} is already finalized/passed")


# --------------------------------------------------------------------------- transitions


def test_an_illegal_transition_is_refused_naming_the_allowed_ones(plans_repo: GitRepo) -> None:
    run_id = start(plans_repo)
    plans_repo.runr("run", "transition", run_id, "verifying/passed")
    before = written(plans_repo)
    assert fails(plans_repo, "run", "transition", run_id, "verifying/failed", code=5) == (
        f"run {run_id} cannot go from verifying/passed to verifying/failed; from "
        "verifying/passed it can go to verifying/testing, active or be finished with "
        "`git runr run finish`")
    states = ("active, verifying/testing, verifying/passed, verifying/failed, "
              "finalized/passed, finalized/failed, finalized/aborted")
    for unknown in ("bogus", "finalized"):
        assert fails(plans_repo, "run", "transition", run_id, unknown, code=2) == \
            f"{unknown!r} is not a run state; the states are {states}"
    assert written(plans_repo) == before

    plans_repo.runr("run", "transition", run_id, "active", "--reason", "back to work")
    out = plans_repo.runr("run", "transition", run_id, "finalized/aborted", "--reason", "stop")
    assert out.stdout == f"run {run_id} is finalized/aborted\n"
    before = written(plans_repo)
    assert fails(plans_repo, "run", "transition", run_id, "active", code=5) == \
        f"run {run_id} is already finalized/aborted; a finalized run does not change state"
    for finish in (["run", "transition", run_id, "finalized/passed"],
                   ["run", "finish", run_id, "--outcome", "passed"]):
        assert fails(plans_repo, *finish, code=5) == f"run {run_id} is already finalized/aborted"
    assert written(plans_repo) == before
    run = runr_json(plans_repo, "show", run_id)["run"]
    assert (run["state"], run["outcome"]) == ("finalized/aborted", "aborted")
    assert [(t["to_state"], t["actor"], t["reason"]) for t in run["transitions"]] == [
        ("active", ACTOR, None), ("verifying/passed", ACTOR, None),
        ("active", ACTOR, "back to work"), ("finalized/aborted", ACTOR, "stop")]


# --------------------------------------------------------------------------- accept


def test_accept_writes_the_summary_of_the_accepted_run(plans_repo: GitRepo) -> None:
    summary = plans_repo.path / summary_of(F1_03)
    failed = start(plans_repo, F1_03)
    checkpoint(plans_repo, "Task 01: doomed attempt")
    plans_repo.runr("run", "finish", "--outcome", "failed")
    before = written(plans_repo)
    assert fails(plans_repo, "run", "accept", failed, code=5) == (
        f"run {failed} is finalized/failed; only a run that passed (verifying/passed or "
        "finalized/passed) can be accepted")
    assert written(plans_repo) == before and not summary.exists()

    good = start(plans_repo, F1_03)
    checkpoint(plans_repo, "Task 01: parse the front matter")
    checkpoint(plans_repo, "Task 02: find the plans")
    complete_tasks(plans_repo, good)
    plans_repo.runr("run", "finish", "--outcome", "passed")
    assert plans_repo.runr("run", "accept", good).stdout == \
        f"run {good} is the accepted run of {F1_03}; wrote {summary_of(F1_03)}\n"

    text = summary.read_text()
    assert text.startswith("# Summary: Read plan files\n")
    assert f"Accepted run: `{good}` (finalized/passed)" in text
    assert what_was_done(text) == ["Task 01: parse the front matter", "Task 02: find the plans"]
    assert "doomed attempt" not in text  # another run's work is not "what was done"
    assert f"- `{failed}` finalized/failed, started " in text  # listed as another run
    assert plans_repo.git("status", "--porcelain").stdout == f"?? {summary_of(F1_03)}\n"

    entry = brief(runr_json(plans_repo, "status"), F1_03)
    assert (entry["done"], entry["accepted_run_id"], entry["runs"]) == (True, good, 2)
    assert (entry["latest_run"]["run_id"], entry["latest_run"]["accepted"]) == (good, True)
    assert f"03 Read plan files ready done {good} (finalized/passed)" in \
        text_lines(plans_repo.runr("status").stdout)
    view = runr_json(plans_repo, "show", F1_03)
    assert (view["plan"]["summary_path"], view["plan"]["accepted_run_id"]) == \
        (summary_of(F1_03), good)
    assert [(r["run_id"], r["accepted"]) for r in view["runs"]] == [(good, True), (failed, False)]
    shown = runr_json(plans_repo, "show", good)
    assert shown["accepted"] is True and shown["accepted_at"] is not None
    assert runr_json(plans_repo, "show", failed)["accepted"] is False


def test_accepting_another_run_rewrites_the_summary(plans_repo: GitRepo) -> None:
    summary = plans_repo.path / summary_of(F1_03)
    first = start(plans_repo, F1_03)
    checkpoint(plans_repo, "Task 01: the first way")
    complete_tasks(plans_repo, first)
    plans_repo.runr("run", "finish", "--outcome", "passed")
    plans_repo.runr("run", "accept", first)
    assert what_was_done(summary.read_text()) == ["Task 01: the first way"]

    # Done is terminal: a second run of the plan needs the work reopened, by force.
    assert "it is done" in fails(plans_repo, "run", "start", F1_03, code=5)
    plans_repo.runr("request-changes", F1_03, "--review-ref", "PR#2", "--force",
                    "--actor", ACTOR, "--reason", "try the second way")
    second = start(plans_repo, F1_03)
    checkpoint(plans_repo, "Task 01: the second way")
    complete_tasks(plans_repo, second)
    plans_repo.runr("run", "transition", second, "verifying/passed")
    accepted = runr_json(plans_repo, "run", "accept", second)  # verifying/passed: finalizes
    assert (accepted["run"]["run_id"], accepted["run"]["state"]) == (second, "finalized/passed")
    assert accepted["plan"]["accepted_run_id"] == second
    assert accepted["summary_path"] == summary_of(F1_03)

    text = summary.read_text()
    assert f"Accepted run: `{second}` (finalized/passed)" in text
    assert what_was_done(text) == ["Task 01: the second way"]
    assert "the first way" not in text
    assert f"- `{first}` finalized/passed, started " in text
    assert f"verifying/passed → finalized/passed by {ACTOR}: accepted" in text
    plans_repo.runr("run", "accept", second)
    assert summary.read_text() == text  # the same run again: the same bytes

    assert [(r["run_id"], r["accepted"]) for r in runr_json(plans_repo, "runs", F1_03)["runs"]] \
        == [(second, True), (first, False)]
    assert runr_json(plans_repo, "show", first)["accepted"] is False


def test_an_ad_hoc_run_cannot_be_accepted(plans_repo: GitRepo) -> None:
    run_id = start(plans_repo)
    plans_repo.runr("run", "finish", "--outcome", "passed")
    before = written(plans_repo)
    assert fails(plans_repo, "run", "accept", run_id, code=5) == (
        f"run {run_id} was started without a plan; only a plan's run can be accepted "
        "(`git runr run start PLAN_REF`)")
    assert written(plans_repo) == before


# --------------------------------------------------------------------------- approve


def test_an_edit_after_approval_shows_as_changed(plans_repo: GitRepo) -> None:
    approved = runr_json(plans_repo, "plan", "approve", F2_01)["approvals"][-1]["content_hash"]
    plans_repo.runr("plan", "approve", F1_03)
    status = runr_json(plans_repo, "status")
    assert (brief(status, F2_01)["status"], brief(status, F2_01)["changed_since_approval"]) \
        == ("approved", False)
    assert F2_01 in [p["ref"] for p in runr_json(plans_repo, "ready")["plans"]]

    plans_repo.write(path_of(F2_01), FILES[path_of(F2_01)] + "\n## Tasks\n\n- Read it\n")
    plans_repo.write(path_of(F1_03), FILES[path_of(F1_03)] + "- A third criterion\n")
    status = runr_json(plans_repo, "status")
    # The approval no longer holds: drafted again; a plan ready by its file stays ready.
    assert [(p["ref"], p["status"], p["changed_since_approval"]) for p in status["plans"]
            if p["ref"] in (F1_03, F2_01)] == [(F1_03, "ready", True), (F2_01, "drafted", True)]
    plan = runr_json(plans_repo, "show", F2_01)["plan"]
    assert plan["changed_since_approval"] is True and plan["status"] == "drafted"
    assert plan["approval"]["content_hash"] == approved != plan["content_hash"]
    assert "Status: drafted (changed since approval)" in \
        text_lines(plans_repo.runr("show", F2_01).stdout)
    assert "01 Sketch the importer drafted (changed since approval) planned —" in \
        text_lines(plans_repo.runr("status").stdout)
    assert "is drafted" in fails(plans_repo, "run", "start", F2_01, code=5)

    plans_repo.runr("plan", "approve", F2_01)
    entry = brief(runr_json(plans_repo, "status"), F2_01)
    assert (entry["status"], entry["changed_since_approval"]) == ("approved", False)


# --------------------------------------------------------------------------- artifacts


def test_artifacts_round_trip_byte_for_byte(plans_repo: GitRepo, tmp_path: Path) -> None:
    run_id = start(plans_repo)
    contents = {
        "blob.bin": bytes(range(256)) * 4 + b"\x00\x00\r\n\x00",
        "notes.txt": "héllo\r\nwörld\n\n".encode(),
    }
    for name, data in contents.items():
        (tmp_path / name).write_bytes(data)
    added = runr_json(plans_repo, "artifact", "add", run_id,
                      str(tmp_path / "blob.bin"), str(tmp_path / "notes.txt"))
    (tmp_path / "report").write_bytes(b'{"ok": true}\n')
    added["artifacts"] += runr_json(plans_repo, "artifact", "add", run_id,
                                    str(tmp_path / "report"), "--name", "report.json")["artifacts"]
    contents["report.json"] = b'{"ok": true}\n'
    sources = {"blob.bin": "blob.bin", "notes.txt": "notes.txt", "report.json": "report"}
    # Types Python knows without the system's mime.types (mimetypes.guess_type).
    media = {"blob.bin": "application/octet-stream", "notes.txt": "text/plain",
             "report.json": "application/json"}
    assert added["run_id"] == run_id
    assert [{k: a[k] for k in ("name", "size", "sha256", "media_type", "blob", "actor")}
            for a in added["artifacts"]] == [
        {"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
         "media_type": media[name], "actor": ACTOR,
         "blob": plans_repo.git("hash-object", str(tmp_path / sources[name])).stdout.strip()}
        for name, data in contents.items()]

    listed = runr_json(plans_repo, "artifact", "list", run_id)
    assert listed == added  # the manifest, in name order
    assert runr_json(plans_repo, "show", run_id)["run"]["artifacts"] == listed["artifacts"]
    for name, data in contents.items():
        assert runr_bytes(plans_repo, "artifact", "get", run_id, name) == data, name
    out = tmp_path / "out" / "copy.txt"
    out.parent.mkdir()
    proc = plans_repo.runr("artifact", "get", run_id, "notes.txt", "-o", str(out))
    assert proc.stdout == "" and out.read_bytes() == contents["notes.txt"]
    assert os.listdir(out.parent) == ["copy.txt"]  # no temporary file left


def test_artifact_refusals_write_nothing(plans_repo: GitRepo, tmp_path: Path) -> None:
    run_id = start(plans_repo)
    (tmp_path / "one.txt").write_text("one\n")
    plans_repo.runr("artifact", "add", run_id, str(tmp_path / "one.txt"))
    (tmp_path / "two").mkdir()
    (tmp_path / "two" / "one.txt").write_text("two\n")
    (tmp_path / "good.txt").write_text("good\n")
    (tmp_path / ".hidden").write_text("hidden\n")
    before = written(plans_repo)

    # The same bytes under the same name again: nothing to do, and nothing done.
    plans_repo.runr("artifact", "add", run_id, str(tmp_path / "one.txt"))
    assert written(plans_repo) == before
    assert fails(plans_repo, "artifact", "add", run_id, str(tmp_path / "two" / "one.txt"),
                 code=5) == (f"run {run_id} already has an artifact one.txt with other "
                             "content; add this one under another name")
    for bad in ("index.json", "../x", ".hidden"):
        assert fails(plans_repo, "artifact", "add", run_id, str(tmp_path / "good.txt"),
                     "--name", bad, code=2) == (
            f"{bad!r} cannot be an artifact name: use letters, digits and ._+@=- (no "
            "directories, no leading dot, not index.json); --name gives another")
    # One bad file in a batch: none of the batch is stored.
    assert fails(plans_repo, "artifact", "add", run_id, str(tmp_path / "good.txt"),
                 str(tmp_path / ".hidden"), code=2).startswith("'.hidden' cannot be")
    out = tmp_path / "got.txt"
    assert fails(plans_repo, "artifact", "get", run_id, "good.txt", "-o", str(out),
                 code=4) == f"run {run_id} has no artifact 'good.txt' (it has: one.txt)"
    assert not out.exists()
    assert written(plans_repo) == before
    assert [a["name"] for a in runr_json(plans_repo, "artifact", "list", run_id)["artifacts"]] \
        == ["one.txt"]


def test_an_empty_artifact_name_is_refused(plans_repo: GitRepo, tmp_path: Path) -> None:
    """``--name ""`` names nothing: it is refused, not replaced by the file's name."""
    run_id = start(plans_repo)
    (tmp_path / "good.txt").write_text("good\n")
    before = written(plans_repo)
    assert fails(plans_repo, "artifact", "add", run_id, str(tmp_path / "good.txt"), "--name",
                 "", code=2).startswith("'' cannot be an artifact name")
    assert written(plans_repo) == before


# --------------------------------------------------------------------------- JSON and TOON


def test_toon_output_is_the_same_data_as_json(plans_repo: GitRepo, tmp_path: Path) -> None:
    run_id = start(plans_repo, F1_03, "--tier", "1.50")  # a string that looks like a number
    checkpoint(plans_repo, "Task 01: parse, then: check")
    plans_repo.runr("run", "step", run_id, "007")
    (tmp_path / "log.txt").write_text("ok\n")
    plans_repo.runr("artifact", "add", run_id, str(tmp_path / "log.txt"))
    complete_tasks(plans_repo, run_id)
    plans_repo.runr("run", "finish", "--outcome", "passed", "--reason", "true")
    plans_repo.runr("run", "accept", run_id)
    ad_hoc = start(plans_repo)
    for n, args in enumerate([["status"], ["ready"], ["show", F1_03], ["show", run_id],
                              ["show", ad_hoc], ["runs"], ["runs", F1_03]]):
        # --format json is --json: use each spelling for half of the commands.
        as_json = json.loads(plans_repo.runr(*args, *(["--json"] if n % 2 else
                                                      ["--format", "json"])).stdout)
        assert decode(plans_repo.runr(*args, "--format", "toon").stdout) == as_json, args


def test_json_and_toon_together_is_a_usage_error(plans_repo: GitRepo) -> None:
    for args in (["status"], ["ready"], ["show", F1_03], ["runs"]):
        assert fails(plans_repo, *args, "--json", "--format", "toon", code=2) == \
            "--json and --format toon disagree: give one of them"


# --------------------------------------------------------------------------- errors


def test_errors_are_one_line_on_stderr_without_a_traceback(plans_repo: GitRepo) -> None:
    before = written(plans_repo)
    cases = [
        (["show", "03"], 2, AMBIGUOUS_03),
        (["runs", "03"], 2, AMBIGUOUS_03),
        (["plan", "approve", "03"], 2, AMBIGUOUS_03),
        (["show", "nope"], 4, "no plan matches 'nope'"),
        (["show", UNKNOWN_RUN], 4, f"unknown run {UNKNOWN_RUN}"),
        (["run", "transition", UNKNOWN_RUN, "active"], 4, f"unknown run {UNKNOWN_RUN}"),
        (["run", "step", UNKNOWN_RUN, "a"], 4, f"unknown run {UNKNOWN_RUN}"),
        (["run", "accept", UNKNOWN_RUN], 4, f"unknown run {UNKNOWN_RUN}"),
        (["run", "accept", "../x"], 2, "'../x' is not a run id"),
        (["artifact", "get", UNKNOWN_RUN, "x"], 4, f"unknown run {UNKNOWN_RUN}"),
    ]
    for args, code, message in cases:
        assert fails(plans_repo, *args, code=code).startswith(message), args
    assert written(plans_repo) == before
