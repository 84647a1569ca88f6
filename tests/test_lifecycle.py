"""The lane of a plan: seed 004's lifecycle machine, end to end through ``git runr``.

Seed ``004_6b658e854f93eade.txt`` gives the lanes (planned, claimed, in_progress,
for_review, done, blocked, canceled), the moves between them with their guards, the
split between deciding (``git runr next``, reads only) and mutating (the lane
commands, every move a ``lane_changed`` event in the plan's log), and branch target
routing. Seed ``003_f84484d295a09bfe.txt`` gives the exec status a run carries:
per-task progress written by personas, hash-chained, frozen once the run is final.

Every test writes its own small plans (``specs/t/phase-01/NN-PLAN.md``, committed;
no ``git runr init``: nothing here needs the hooks). The command under test always
runs as a user runs it, ``git runr ...`` in its own process; the steps that only
bring a plan into a lane, and the reads that check the outcome, call the same click
command in-process (:func:`prepare`, :func:`view`), which is the same code at a
fraction of a process's start-up cost. :data:`gitrunr.models.LANE_EDGES` is the
table the allowed and the forbidden moves are enumerated from, so a move added to or
dropped from the machine shows up here.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gitrunr import ledger
from gitrunr.cli import cli
from gitrunr.events import genesis, update_hash
from gitrunr.models import LANE_EDGES, TERMINAL_LANES, LaneChanged, ProgressUpdated
from gitrunr.repo import open_repo
from tests.conftest import GitRepo, fails, refused, run_all, written
from tests.fixtures.repos.plans import path_of, summary_of

OWNER = "owner <owner@example.com>"
MOVER = "mover <mover@example.com>"
OTHER = "other <other@example.com>"

REASON = "waiting for the schema freeze"
REVIEW = "https://review.example/pr/7#r1"
EVIDENCE = "pytest: 412 passed"
FORCE_NEEDS = "--force needs --actor and --reason: a forced move says who and why"

LANES = ("planned", "claimed", "in_progress", "for_review", "done", "blocked", "canceled")
VERBS = ("claim", "steal", "start", "ready_for_review", "approve", "changes_requested",
         "replan", "reassign", "block", "unblock", "cancel")
#: ``git runr run start`` also moves these lanes: planned (a claim, then start, by the
#: same actor) and in_progress (no move: another attempt). So start from them is not
#: a forbidden pair, though LANE_EDGES has start only from claimed.
START_ALSO = ("planned", "in_progress")


def ref_of(number: int) -> str:
    return f"t/phase-01/{number:02d}"


REF = ref_of(1)


# --------------------------------------------------------------------------- helpers


def plan_file(title: str, *tasks: str, target_branch: str | None = None,
              drafted: bool = False) -> str:
    """A plan file: front matter (status ready; none at all when ``drafted``), a
    title, and ``tasks`` as a list (``[x] ...`` is a checked task)."""
    branch = f"target_branch: {target_branch}\n" if target_branch else ""
    front = "" if drafted else f"---\nstatus: ready\n{branch}---\n"
    listed = "".join(f"- {task}\n" for task in tasks)
    return front + f"# {title}\n" + (f"\n## Tasks\n\n{listed}" if tasks else "")


def with_plans(repo: GitRepo, plans: dict[str, str]) -> GitRepo:
    """Write ``{ref: text}`` as plan files and commit them."""
    repo.commit("add plans", {path_of(ref): text for ref, text in plans.items()})
    return repo


def command(verb: str, ref: str, actor: str) -> list[str]:
    """The ``git runr`` arguments that apply ``verb`` to ``ref`` as ``actor``, with the
    data the verb's guard needs (seed 004: reason, review ref, evidence)."""
    return {
        "claim": ["claim", ref],
        "steal": ["claim", ref, "--steal"],
        "start": ["run", "start", ref],
        "ready_for_review": ["submit", ref, "--evidence", EVIDENCE],
        "approve": ["approve", ref, "--evidence", EVIDENCE],
        "changes_requested": ["request-changes", ref, "--review-ref", REVIEW],
        "replan": ["replan", ref, "--review-ref", REVIEW],
        "reassign": ["reassign", ref, "--reason", REASON],
        "block": ["block", ref, "--reason", REASON],
        "unblock": ["unblock", ref],
        "cancel": ["cancel", ref],
    }[verb] + ["--actor", actor]


def prepare(repo: GitRepo, *args: str, cwd: Path | None = None) -> str:
    """``git runr ARGS`` in-process (click's runner, ``-C`` the worktree), to bring a
    plan where a test needs it; it must succeed. Returns its standard output."""
    result = CliRunner().invoke(cli, ["-C", str(cwd or repo.path), *args])
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.stdout


def view(repo: GitRepo, *args: str) -> Any:
    """``git runr ARGS --json`` in-process, parsed: the reads that check an outcome."""
    return json.loads(prepare(repo, *args, "--json"))


def plan_view(repo: GitRepo, ref: str) -> dict[str, Any]:
    """``show REF --json``'s ``plan``: lane, holder, lease, line, lane history."""
    return view(repo, "show", ref)["plan"]  # type: ignore[no-any-return]


def run_view(repo: GitRepo, run_id: str) -> dict[str, Any]:
    return view(repo, "show", run_id)["run"]  # type: ignore[no-any-return]


def start(repo: GitRepo, ref: str, actor: str = OWNER, cwd: Path | None = None) -> str:
    """``git runr run start REF --actor A`` (its own process); the new run's id."""
    out = repo.runr("run", "start", ref, "--actor", actor, cwd=cwd).stdout
    assert out.startswith("run-") and out.count("\n") == 1, out
    return out.strip()


def prepare_start(repo: GitRepo, ref: str, actor: str = OWNER, cwd: Path | None = None) -> str:
    """:func:`start`, in-process: a run a test needs but does not test."""
    return prepare(repo, "run", "start", ref, "--actor", actor, cwd=cwd).strip()








Case = tuple[Sequence[str], int, str]


def refuse_all(repo: GitRepo, cases: Sequence[Case]) -> None:
    """Run every ``git runr ARGS`` of ``cases`` at once; each must exit with its code and
    print one line ``error: MESSAGE`` (a message ending in ``...`` is a prefix), and
    none may write anything. Every mismatch is reported, not only the first."""
    before = written(repo)
    procs = run_all([(["git", "runr", *args], repo.path) for args, _, _ in cases])
    wrong = []
    for (args, code, expected), proc in zip(cases, procs, strict=True):
        lines = proc.stderr.splitlines()
        message = lines[0].removeprefix("error: ") if lines else ""
        matches = message.startswith(expected[:-3]) if expected.endswith("...") \
            else message == expected
        if not (proc.returncode == code and proc.stdout == "" and len(lines) == 1
                and lines[0].startswith("error: ") and matches):
            wrong.append({"args": " ".join(args), "exit": proc.returncode,
                          "stdout": proc.stdout[:200], "stderr": proc.stderr,
                          "expected": f"{code}: {expected}"})
    assert wrong == []
    assert written(repo) == before


def plan_log(repo: GitRepo, ref: str, cwd: Path | None = None) -> list[Any]:
    """The plan's events as the ledger holds them (``plans/<ref>/events/``)."""
    return ledger.read(open_repo(cwd or repo.path)).plan_events(ref)


def lane_events(repo: GitRepo, ref: str) -> list[LaneChanged]:
    return sorted((e for e in plan_log(repo, ref) if isinstance(e, LaneChanged)),
                  key=lambda e: e.event_id)


def seconds(stamp: str) -> str:
    """An ISO time from ``--json`` as refusals print it (to the second)."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).isoformat(timespec="seconds")


def wait_past(stamp: str) -> None:
    """Sleep until a little after ``stamp`` (an ISO time from ``--json``)."""
    until = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 0.15)


def allowed_from(lane: str) -> str:
    """The moves a refusal lists, as the machine names them."""
    return ", ".join(sorted(verb for (frm, verb) in LANE_EDGES if frm == lane))


def not_a_move(verb: str, lane: str, ref: str = REF) -> str:
    return f"{verb} is not a move from {lane} ({ref}); from {lane} the moves are: " \
           f"{allowed_from(lane)}"


def terminal(verb: str, lane: str, ref: str = REF) -> str:
    return f"{ref} is {lane}, which is terminal: {verb} needs --force with --actor and --reason"


# --------------------------------------------------------------------------- allowed moves

#: The shortest way from a fresh plan (no tasks) into each lane a move leaves from,
#: and the lane moves it makes (run start from planned is a claim, then a start).
PATHS: dict[str, tuple[str, ...]] = {
    "planned": (),
    "claimed": ("claim",),
    "in_progress": ("start",),
    "for_review": ("start", "ready_for_review"),
    "blocked": ("block",),
}
PATH_MOVES: dict[str, list[str]] = {
    "planned": [],
    "claimed": ["claim"],
    "in_progress": ["claim", "start"],
    "for_review": ["claim", "start", "ready_for_review"],
    "blocked": ["block"],
}


@pytest.mark.parametrize(("frm", "verb"), sorted(LANE_EDGES),
                         ids=[f"{frm}-{verb}" for frm, verb in sorted(LANE_EDGES)])
def test_every_allowed_move(repo: GitRepo, frm: str, verb: str) -> None:
    """Each edge of the machine, taken through the CLI with its guard data, lands in its
    lane and is recorded with who, which verb, from, to and the guard data."""
    with_plans(repo, {REF: plan_file("Walk one edge")})
    run_id = None
    for step in PATHS[frm]:
        if verb == "steal":  # a steal takes over a claim whose lease lapsed
            wait_past(view(repo, *command(step, REF, OWNER), "--lease", "1s")["lease_until"])
            continue
        out = prepare(repo, *command(step, REF, OWNER))
        run_id = out.strip() if step == "start" else run_id
    actor = OWNER if verb == "start" else MOVER  # only the holder starts its claim
    if verb == "approve":  # done evidence includes: the run under review passed
        prepare(repo, "run", "transition", run_id or "", "verifying/passed")

    proc = repo.runr(*command(verb, REF, actor))
    run_id = proc.stdout.strip() if verb == "start" else run_id

    plan = plan_view(repo, REF)
    to = LANE_EDGES[(frm, verb)]
    assert plan["lane"] == to
    assert [h["verb"] for h in plan["lane_history"]] == [*PATH_MOVES[frm], verb]
    passed = [f"run {run_id} passed verification (verifying/passed)"]
    assert plan["lane_history"][-1] | {"event_id": None, "at": None} == {
        "event_id": None, "at": None, "actor": actor, "verb": verb, "from_lane": frm,
        "to_lane": to,
        "reason": REASON if verb in ("reassign", "block") else None,
        "evidence": {"ready_for_review": [EVIDENCE],
                     "approve": [EVIDENCE, *passed]}.get(verb, []),
        "review_ref": REVIEW if verb in ("changes_requested", "replan") else None,
        "workspace": {"worktree": str(repo.path.resolve()), "branch": "main"}
        if verb == "start" else None,
        "run_id": run_id if verb in ("start", "ready_for_review", "approve",
                                     "changes_requested") else None,
        "forced": False,
    }
    held = OWNER if frm in ("claimed", "in_progress", "for_review") else None
    assert plan["holder"] == (None if to in ("planned", "done", "canceled")
                              else actor if verb in ("claim", "steal") else held)
    # The plan's log holds the same move as a lane_changed event, with the plan's line.
    last = lane_events(repo, REF)[-1]
    assert (last.event_id, last.verb, last.from_lane, last.to_lane, last.actor, last.line) \
        == (plan["lane_history"][-1]["event_id"], verb, frm, to, actor, "main")


# --------------------------------------------------------------------------- forbidden moves


def forbidden(lane: str) -> list[str]:
    """The verbs that are no move from ``lane`` (start: through ``run start``)."""
    return [verb for verb in VERBS if (lane, verb) not in LANE_EDGES
            and not (verb == "start" and lane in START_ALSO)]


def test_the_forbidden_pairs_are_the_rest_of_the_table() -> None:
    """Allowed and forbidden pairs split lanes × verbs exactly."""
    allowed = set(LANE_EDGES) | {(lane, "start") for lane in START_ALSO}
    pairs = {(lane, verb) for lane in LANES for verb in forbidden(lane)}
    assert not pairs & allowed
    assert pairs | allowed == {(lane, verb) for lane in LANES for verb in VERBS}
    assert (len(LANE_EDGES), len(pairs)) == (18, 7 * 11 - 18 - 2)


def settle(repo: GitRepo, lane: str) -> None:
    """Put :data:`REF` (no tasks) in ``lane`` with one run, finalized/passed, so a
    refused submit, approve or request-changes is refused for the lane, not for want
    of a run that passed. The holder, where there is one, is :data:`OWNER`."""
    run_id = prepare_start(repo, REF)
    if lane == "for_review":
        prepare(repo, *command("ready_for_review", REF, OWNER))
    prepare(repo, "run", "finish", run_id, "--outcome", "passed")
    then = {"planned": [command("reassign", REF, OWNER)],
            "claimed": [command("reassign", REF, OWNER), command("claim", REF, OWNER)],
            "done": [["run", "accept", run_id]],
            "blocked": [command("block", REF, OWNER)],
            "canceled": [command("cancel", REF, OWNER)]}.get(lane, [])
    for args in then:
        prepare(repo, *args)


def refusal(lane: str, verb: str, holder: str | None) -> str:
    """What the refusal of ``verb`` from ``lane`` says."""
    if verb == "start":
        return f"cannot start a run of {REF}: it is {lane}; ..."
    if lane in TERMINAL_LANES:
        return terminal(verb, lane)
    if verb == "claim" and holder is not None:
        return f"{REF} is {lane}, held by {holder} (lease: no expiry); `git runr claim " \
               "--steal` takes a lapsed claim"
    return not_a_move(verb, lane)


@pytest.mark.parametrize("lane", LANES)
def test_every_forbidden_move_is_refused_and_writes_nothing(repo: GitRepo, lane: str) -> None:
    """Every verb that is no move from ``lane``, given with its guard data by another
    actor, exits 5 naming why (the moves allowed, the terminal lane, or the holder),
    and writes nothing. The refusals run at once: none of them may write."""
    with_plans(repo, {REF: plan_file("Refuse what is not a move")})
    settle(repo, lane)
    plan = plan_view(repo, REF)
    assert plan["lane"] == lane
    holder = plan["holder"]
    assert holder == (OWNER if lane in ("claimed", "in_progress", "for_review", "blocked")
                      else None)
    # Approving a done plan again: its own test, below.
    refuse_all(repo, [(command(verb, REF, OTHER), 5, refusal(lane, verb, holder))
                      for verb in forbidden(lane) if (lane, verb) != ("done", "approve")])
    assert plan_view(repo, REF)["lane_history"] == plan["lane_history"]


# --------------------------------------------------------------------------- guards


def test_each_missing_guard_is_refused_naming_it(repo: GitRepo, tmp_path: Path) -> None:
    """block and reassign need a reason, request-changes and replan a review ref,
    submit every subtask done and evidence (or artifacts), approve done evidence and a
    run that passed. Each refusal names what is missing and writes nothing."""
    with_plans(repo, {REF: plan_file("Guarded", "one", "two")})
    refuse_all(repo, [(["block", REF, "--actor", OWNER], 5,
                       f"block of {REF} needs a reason (--reason)")])
    run_id = prepare_start(repo, REF)
    refuse_all(repo, [
        (["reassign", REF, "--actor", OWNER], 5, f"reassign of {REF} needs a reason (--reason)"),
        (["block", REF, "--actor", OWNER], 5, f"block of {REF} needs a reason (--reason)"),
        (["submit", REF, "--evidence", EVIDENCE], 5,
         f"ready_for_review needs every subtask done; not done in {run_id}: 01 (pending, 0%), "
         f"02 (pending, 0%); record them with `git runr progress {run_id} --task T --state "
         "done`"),
    ])
    prepare(repo, "progress", run_id, "--task", "01", "--state", "done")
    prepare(repo, "progress", run_id, "--task", "02", "--percent", "60")
    refuse_all(repo, [(["submit", REF, "--evidence", EVIDENCE], 5,
                       f"ready_for_review needs every subtask done; not done in {run_id}: "
                       "02 (in_progress, 60%); ...")])
    prepare(repo, "progress", run_id, "--task", "02", "--state", "done")
    refuse_all(repo, [(["submit", REF], 5, f"ready_for_review of {REF} needs evidence: give "
                                           "--evidence, or attach files with `git runr "
                                           "artifact add`")])

    # An artifact of the run is evidence enough: it is recorded by name and hash.
    report = tmp_path / "report.txt"
    report.write_text("412 passed\n")
    prepare(repo, "artifact", "add", run_id, str(report))
    repo.runr("submit", REF, "--actor", OWNER)
    sha = hashlib.sha256(b"412 passed\n").hexdigest()
    assert plan_view(repo, REF)["lane_history"][-1]["evidence"] == \
        [f"artifact report.txt sha256:{sha}"]

    refuse_all(repo, [
        (["request-changes", REF, "--actor", MOVER], 5,
         f"changes_requested of {REF} needs a review ref (--review-ref)"),
        (["replan", REF, "--actor", MOVER], 5,
         f"replan of {REF} needs a review ref (--review-ref)"),
        (["approve", REF, "--actor", MOVER, "--evidence", EVIDENCE], 5,
         f"run {run_id} is verifying/testing; only a run that passed (verifying/passed or "
         "finalized/passed) can be accepted"),
    ])
    # approve without evidence is a missing guard like the others (exit 5, one line).
    before = written(repo)
    assert fails(repo, "approve", REF, "--actor", MOVER, code=5) == \
        f"approve of {REF} needs done evidence (--evidence)"
    assert written(repo) == before
    assert plan_view(repo, REF)["lane"] == "for_review"


BLANK_GUARDS = {
    "block-reason": ("planned", ["block", REF, "--reason", "   "],
                     f"block of {REF} needs a reason (--reason)"),
    "reassign-reason": ("in_progress", ["reassign", REF, "--reason", " "],
                        f"reassign of {REF} needs a reason (--reason)"),
    "submit-evidence": ("in_progress", ["submit", REF, "--evidence", " "],
                        f"ready_for_review of {REF} needs evidence..."),
    "request-changes-review-ref": ("for_review", ["request-changes", REF, "--review-ref", " "],
                                   f"changes_requested of {REF} needs a review ref "
                                   "(--review-ref)"),
}


@pytest.mark.parametrize("case", BLANK_GUARDS)
def test_a_blank_guard_is_a_missing_guard(repo: GitRepo, case: str) -> None:
    """Guard data of spaces says nothing: it is refused as missing, as ``--force``
    already refuses a blank ``--reason``."""
    lane, args, message = BLANK_GUARDS[case]
    with_plans(repo, {REF: plan_file("Say something")})
    for step in PATHS[lane]:
        prepare(repo, *command(step, REF, OWNER))
    refuse_all(repo, [([*args, "--actor", MOVER], 5, message)])


# --------------------------------------------------------------------------- force


def test_force_lifts_a_terminal_lane_saying_who_and_why(repo: GitRepo) -> None:
    """Seed 004: done and canceled are terminal unless force is used explicitly; a
    forced move needs --actor and a non-blank --reason, and is recorded as forced."""
    done, canceled = ref_of(1), ref_of(2)
    with_plans(repo, {done: plan_file("Done"), canceled: plan_file("Canceled")})
    run_id = prepare_start(repo, done)
    prepare(repo, "run", "finish", run_id, "--outcome", "passed")
    prepare(repo, "run", "accept", run_id)
    prepare(repo, *command("cancel", canceled, OWNER))
    refuse_all(repo, [
        (command("block", done, OWNER), 5, terminal("block", "done", done)),
        (command("claim", canceled, OWNER), 5, terminal("claim", "canceled", canceled)),
        (["block", done, "--force", "--actor", OWNER], 2, FORCE_NEEDS),
        (["block", done, "--force", "--reason", REASON], 2, FORCE_NEEDS),
        (["block", done, "--force", "--actor", OWNER, "--reason", "  "], 2, FORCE_NEEDS),
        (["cancel", done, "--force", "--actor", OWNER], 2, FORCE_NEEDS),
    ])

    record = json.loads(repo.runr("block", done, "--force", "--actor", MOVER, "--reason",
                                  "regression in 1.4", "--json").stdout)
    assert (record["lane"], record["holder"]) == ("blocked", None)
    history = plan_view(repo, done)["lane_history"]
    assert history == record["lane_history"]
    assert [(h["verb"], h["forced"]) for h in history] == \
        [("claim", False), ("start", False), ("ready_for_review", False), ("approve", False),
         ("block", True)]
    assert {k: history[-1][k] for k in ("from_lane", "to_lane", "actor", "reason")} == \
        {"from_lane": "done", "to_lane": "blocked", "actor": MOVER, "reason": "regression in 1.4"}

    repo.runr("claim", canceled, "--force", "--actor", MOVER, "--reason", "revived")
    plan = plan_view(repo, canceled)
    assert (plan["lane"], plan["holder"]) == ("claimed", MOVER)
    assert {k: plan["lane_history"][-1][k] for k in ("verb", "from_lane", "to_lane", "actor",
                                                      "reason", "forced")} == \
        {"verb": "claim", "from_lane": "canceled", "to_lane": "claimed", "actor": MOVER,
         "reason": "revived", "forced": True}


def test_force_on_a_lane_that_is_not_terminal_is_a_usage_error(repo: GitRepo) -> None:
    """``--force`` lifts only done and canceled; elsewhere it is refused (exit 2) by
    every lane command, approve included, and nothing is written."""
    planned, review = ref_of(1), ref_of(2)
    with_plans(repo, {planned: plan_file("Planned"), review: plan_file("Under review")})
    run_id = prepare_start(repo, review)
    prepare(repo, *command("ready_for_review", review, OWNER))
    prepare(repo, "run", "transition", run_id, "verifying/passed")
    force = ["--force", "--reason", "because"]

    def lifts_only(ref: str, lane: str) -> str:
        return f"--force lifts only a terminal lane (done, canceled); {ref} is {lane}"

    refuse_all(repo, [
        (command("claim", planned, MOVER) + force, 2, lifts_only(planned, "planned")),
        (command("block", planned, MOVER) + force, 2, lifts_only(planned, "planned")),
        (command("cancel", review, MOVER) + force, 2, lifts_only(review, "for_review")),
        (command("changes_requested", review, MOVER) + force, 2,
         lifts_only(review, "for_review")),
        (command("approve", review, MOVER) + force, 2, lifts_only(review, "for_review")),
    ])


# --------------------------------------------------------------------------- claims and leases


def test_sixteen_concurrent_claims_have_one_winner(repo: GitRepo) -> None:
    """A claim is a compare-and-swap: of 16 at once one wins, 15 are refused (exit 5)
    naming the winner, and the plan's log holds one claim."""
    with_plans(repo, {REF: plan_file("Wanted by all")})
    procs = run_all([(["git", "runr", "claim", REF, "--actor", f"agent-{n:02d}", "--json"],
                      repo.path) for n in range(16)])
    assert sorted(p.returncode for p in procs) == [0] + [5] * 15, \
        [(p.returncode, p.stderr) for p in procs]
    (won,) = [p for p in procs if p.returncode == 0]
    winner = won.args[won.args.index("--actor") + 1]
    assert json.loads(won.stdout)["holder"] == winner
    for proc in procs:
        if proc is not won:
            message = refused(proc, 5)
            assert f"{REF} is claimed" in message and winner in message, message
    assert [(e.type, e.verb, e.actor) for e in plan_log(repo, REF)] == \
        [("lane_changed", "claim", winner)]
    plan = plan_view(repo, REF)
    assert (plan["lane"], plan["holder"], len(plan["lane_history"])) == ("claimed", winner, 1)


def test_a_claim_is_stolen_only_after_its_lease_lapses(repo: GitRepo) -> None:
    """Under a live lease (an hour, so the refusals cannot race its end) a claim, a
    steal and a run start by another actor are refused naming the holder; once a
    one-second lease lapsed, the holder cannot steal from itself, a plain claim is
    still refused, and another actor's steal takes the claim (verb steal)."""
    held, lapsing = ref_of(1), ref_of(2)
    with_plans(repo, {held: plan_file("Held for an hour"), lapsing: plan_file("Held a second")})
    hour = json.loads(repo.runr("claim", held, "--actor", OWNER, "--lease", "1h",
                                "--json").stdout)
    second = json.loads(repo.runr("claim", lapsing, "--actor", OWNER, "--lease", "1s",
                                  "--json").stdout)
    assert (hour["lane"], hour["holder"], second["holder"]) == ("claimed", OWNER, OWNER)
    stamp = datetime.fromisoformat(hour["lease_until"].replace("Z", "+00:00"))
    assert 3590 < (stamp - datetime.now(UTC)).total_seconds() <= 3600
    until = seconds(hour["lease_until"])
    refuse_all(repo, [
        (command("claim", held, OTHER), 5, f"{held} is claimed, held by {OWNER} (lease: "
                                           f"{until}); `git runr claim --steal` takes a "
                                           "lapsed claim"),
        (command("steal", held, OTHER), 5, f"{held} is claimed by {OWNER}, whose lease lasts "
                                           f"until {until}; it can be stolen only after it "
                                           "lapses"),
        (command("start", held, OTHER), 5, f"cannot start a run of {held}: it is claimed by "
                                           f"{OWNER} (lease: {until})"),
    ])

    wait_past(second["lease_until"])
    until = seconds(second["lease_until"])
    refuse_all(repo, [
        (command("claim", lapsing, OTHER), 5, f"{lapsing} is claimed, held by {OWNER} (lease: "
                                              f"{until}); `git runr claim --steal` takes a "
                                              "lapsed claim"),
        (command("steal", lapsing, OWNER), 5, f"{lapsing} is already claimed by {OWNER}, and a "
         "claim is not renewed: ..."),
    ])
    repo.runr(*command("steal", lapsing, OTHER), "--lease", "30m")
    plan = plan_view(repo, lapsing)
    assert (plan["lane"], plan["holder"]) == ("claimed", OTHER)
    assert 1790 < (datetime.fromisoformat(plan["lease_until"].replace("Z", "+00:00"))
                   - datetime.now(UTC)).total_seconds() <= 1800
    assert [(h["verb"], h["from_lane"], h["to_lane"], h["actor"])
            for h in plan["lane_history"]] == \
        [("claim", "planned", "claimed", OWNER), ("steal", "claimed", "claimed", OTHER)]
    assert [(e.verb, e.actor) for e in lane_events(repo, lapsing)] == \
        [("claim", OWNER), ("steal", OTHER)]


def test_a_holder_is_not_offered_a_renewal_that_does_not_exist(repo: GitRepo) -> None:
    """Leases are not renewed (docs/lifecycle.md): the refusal of the holder's own steal
    says so, and a plain claim by the holder is refused too, naming the holder."""
    with_plans(repo, {REF: plan_file("Mine still")})
    wait_past(view(repo, "claim", REF, "--actor", OWNER, "--lease", "1s")["lease_until"])
    assert fails(repo, *command("steal", REF, OWNER), code=5) == (
        f"{REF} is already claimed by {OWNER}, and a claim is not renewed: start the run "
        "while the lease lasts, or claim with a longer --lease next time")
    assert f"held by {OWNER}" in fails(repo, *command("claim", REF, OWNER), code=5)


# --------------------------------------------------------------------------- runs and lanes


def test_runs_follow_the_lane(repo: GitRepo) -> None:
    """run start claims and starts; another attempt moves nothing; submit and
    request-changes move the run between verifying and active; approve accepts it;
    replan, reassign and cancel abort the open runs and release the claim."""
    main, replanned, reassigned, canceled, accepted = (ref_of(n) for n in range(1, 6))
    with_plans(repo, {ref: plan_file(f"Plan {ref[-2:]}")
                      for ref in (main, replanned, reassigned, canceled, accepted)})
    active = repo.path / ".git" / "runr" / "active-run.json"

    first = start(repo, main, OWNER)
    plan = plan_view(repo, main)
    assert (plan["lane"], plan["holder"]) == ("in_progress", OWNER)
    assert [(h["verb"], h["from_lane"], h["to_lane"], h["actor"], h["workspace"], h["run_id"])
            for h in plan["lane_history"]] == [
        ("claim", "planned", "claimed", OWNER, None, None),
        ("start", "claimed", "in_progress", OWNER,
         {"worktree": str(repo.path.resolve()), "branch": "main"}, first)]
    assert run_view(repo, first)["state"] == "active"

    prepare(repo, "run", "finish", first, "--outcome", "failed")
    second = start(repo, main, OWNER)  # another attempt: no lane move
    plan = plan_view(repo, main)
    assert (plan["lane"], len(plan["lane_history"])) == ("in_progress", 2)
    assert [r["run_id"] for r in view(repo, "show", main)["runs"]] == [second, first]

    repo.runr("submit", main, "--evidence", EVIDENCE, "--actor", OWNER)
    run = run_view(repo, second)
    assert (run["state"], run["transitions"][-1]["reason"]) == \
        ("verifying/testing", "submitted for review")
    repo.runr("request-changes", second, "--review-ref", REVIEW, "--actor", MOVER)
    run = run_view(repo, second)
    assert (run["state"], run["transitions"][-1]["actor"], run["transitions"][-1]["reason"]) \
        == ("active", MOVER, f"changes requested ({REVIEW})")
    plan = plan_view(repo, main)
    assert (plan["lane"], plan["lane_history"][-1]["run_id"]) == ("in_progress", second)

    prepare(repo, "submit", second, "--evidence", EVIDENCE)
    prepare(repo, "run", "transition", second, "verifying/passed")
    repo.runr("approve", second, "--evidence", EVIDENCE, "--actor", MOVER)
    plan = plan_view(repo, main)
    assert (plan["lane"], plan["holder"], plan["accepted_run_id"]) == ("done", None, second)
    assert run_view(repo, second)["state"] == "finalized/passed"
    assert f"Accepted run: `{second}` (finalized/passed)" in \
        (repo.path / summary_of(main)).read_text()
    assert not active.exists()

    for verb, ref in (("replan", replanned), ("reassign", reassigned), ("cancel", canceled)):
        run_id = prepare_start(repo, ref)
        if verb == "replan":
            prepare(repo, *command("ready_for_review", ref, OWNER))
        assert active.exists()
        repo.runr(*command(verb, ref, MOVER))
        run = run_view(repo, run_id)
        assert (run["state"], run["outcome"], run["transitions"][-1]["actor"]) == \
            ("finalized/aborted", "aborted", MOVER), verb
        plan = plan_view(repo, ref)
        assert (plan["lane"], plan["holder"], plan["lease_until"]) == \
            (LANE_EDGES[(plan["lane_history"][-1]["from_lane"], verb)], None, None), verb
        assert not active.exists(), verb  # the worktree let go of the aborted run

    # run accept from in_progress: ready_for_review, then approve, with their guards.
    run_id = prepare_start(repo, accepted)
    prepare(repo, "run", "finish", run_id, "--outcome", "passed")
    repo.runr("run", "accept", run_id)
    plan = plan_view(repo, accepted)
    assert [(h["verb"], h["to_lane"], h["run_id"]) for h in plan["lane_history"][-2:]] == \
        [("ready_for_review", "for_review", run_id), ("approve", "done", run_id)]
    assert (plan["lane"], plan["accepted_run_id"]) == ("done", run_id)


def test_approving_a_done_plan_again_is_refused_as_terminal(repo: GitRepo) -> None:
    """done is terminal: approve of a done plan is refused like every other verb, and
    does not print a move that did not happen."""
    with_plans(repo, {REF: plan_file("Done once")})
    settle(repo, "done")
    refuse_all(repo, [(command("approve", REF, OTHER), 5, terminal("approve", "done"))])


# --------------------------------------------------------------------------- exec status

TASKS = ("one", "two", "three", "four", "five", "six", "[x] seven")
#: task: (arguments, state and percent after the update)
UPDATES: dict[str, tuple[list[str], str, int]] = {
    "01": (["--state", "done"], "done", 100),
    "02": (["--percent", "100"], "done", 100),
    "03": (["--state", "failed", "--note", "flaky on arm64"], "failed", 0),
    "04": (["--state", "blocked", "--note", "waits for the API"], "blocked", 0),
    "05": (["--percent", "40"], "in_progress", 40),
    "06": (["--state", "in_progress", "--percent", "70"], "in_progress", 70),
}


def test_personas_update_their_tasks_at_once_and_the_chain_holds(repo: GitRepo) -> None:
    """Seed 003: six personas update six tasks of one run at once; every update lands,
    the derived fields add up, the hash chain is unbroken, and a finalized run's exec
    status is frozen."""
    with_plans(repo, {REF: plan_file("Many hands", *TASKS)})
    run_id = prepare_start(repo, REF)
    status = run_view(repo, run_id)["exec_status"]
    assert [(t["task"], t["state"], t["percent"]) for t in status["tasks"]] == \
        [(f"{n:02d}", "pending", 0) for n in range(1, 7)] + [("07", "done", 100)]
    assert (status["updates"], status["chain_head"], status["completion"]) == \
        (0, genesis(run_id), 14)

    procs = run_all([(["git", "runr", "progress", run_id, "--task", task, *args,
                       "--persona", f"persona-{task}", "--actor", f"agent-{task}", "--json"],
                      repo.path) for task, (args, _, _) in UPDATES.items()])
    for (task, (_, state, percent)), proc in zip(UPDATES.items(), procs, strict=True):
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)  # docs/json.md: the exec status after the update
        assert (report["schema_version"], report["run_id"]) == (1, run_id)
        mine = [t for t in report["exec_status"]["tasks"] if t["task"] == task]
        assert [(t["state"], t["percent"]) for t in mine] == [(state, percent)]

    status = run_view(repo, run_id)["exec_status"]
    assert [(t["task"], t["state"], t["percent"], t["persona"], t["updated_by"])
            for t in status["tasks"]] == [
        (task, state, percent, f"persona-{task}", f"agent-{task}")
        for task, (_, state, percent) in UPDATES.items()] + [("07", "done", 100, None, None)]
    assert [t["note"] for t in status["tasks"]] == \
        [None, None, "flaky on arm64", "waits for the API", None, None, None]
    assert {k: status[k] for k in ("completion", "passed", "failed", "blockers", "updates")} \
        == {"completion": round(410 / 7), "passed": 3, "failed": 1,
            "blockers": ["04: waits for the API"], "updates": 6}

    # The chain: each update names the hash of the one before it, in event-id order.
    updates = sorted((e for e in ledger.read(open_repo(repo.path)).events(run_id)
                      if isinstance(e, ProgressUpdated)), key=lambda e: e.event_id)
    assert sorted(e.task for e in updates) == list(UPDATES)
    head = genesis(run_id)
    for event in updates:
        assert event.prev_hash == head, event.task
        head = update_hash(event)
    assert status["chain_head"] == head

    refuse_all(repo, [
        (["progress", run_id, "--task", "99", "--percent", "5"], 4,
         f"run {run_id} has no task '99'; its tasks are 01, 02, 03, 04, 05, 06, 07"),
        (["progress", run_id, "--task", "01"], 2, "say what changed: --percent, --state or --note"),
    ])
    prepare(repo, "run", "finish", run_id, "--outcome", "failed")
    refuse_all(repo, [(["progress", run_id, "--task", "05", "--percent", "50"], 5,
                       f"run {run_id} is finalized/failed: its exec status is frozen")])


# --------------------------------------------------------------------------- next


def test_next_recommends_by_priority_and_writes_nothing(repo: GitRepo, tmp_path: Path) -> None:
    """One plan per kind of recommendation (two open runs of "me" live in two linked
    worktrees: one active run per worktree); ``next`` orders them by priority, then
    by ref, and writes nothing (seed 004: deciding is not mutating)."""
    me = "me"
    blocked, ready, mine, review, going, finished, lapsed, ready2, drafted, canceled = \
        (ref_of(n) for n in range(1, 11))
    with_plans(repo, {
        blocked: plan_file("Blocked"), ready: plan_file("Ready"), mine: plan_file("Mine"),
        review: plan_file("Under review"), going: plan_file("Going", "one", "two"),
        finished: plan_file("Finished"), lapsed: plan_file("Lapsed"),
        ready2: plan_file("Ready too"), drafted: plan_file("Drafted", drafted=True),
        canceled: plan_file("Canceled")})
    prepare(repo, "claim", lapsed, "--actor", OTHER, "--lease", "1s")
    prepare(repo, *command("block", blocked, OTHER))
    prepare(repo, *command("claim", mine, me))
    prepare(repo, *command("cancel", canceled, OTHER))
    in_review = prepare_start(repo, review, OTHER)
    prepare(repo, *command("ready_for_review", review, OTHER))
    runs = {}
    for ref in (going, finished):  # one open run per worktree
        worktree = tmp_path / f"wt-{ref[-2:]}"
        repo.git("worktree", "add", "-q", "-b", f"wt-{ref[-2:]}", str(worktree))
        runs[ref] = prepare_start(repo, ref, me, cwd=worktree)
    wait_past(plan_view(repo, lapsed)["lease_until"])
    before = written(repo)

    report = json.loads(repo.runr("next", "--actor", me, "--json").stdout)
    assert report["actor"] == me
    assert [(r["action"], r["plan_ref"], r["run_id"]) for r in report["recommendations"]] == [
        ("continue", going, runs[going]),
        ("submit", finished, runs[finished]),
        ("start", mine, None),
        ("review", review, in_review),
        ("steal", lapsed, None),
        ("claim", ready, None),
        ("claim", ready2, None),
        ("unblock", blocked, None),
    ]
    by = {r["plan_ref"]: r for r in report["recommendations"]}
    assert by[going]["reason"] == f"run {runs[going]} is active; tasks left: 01, 02"
    assert by[finished]["command"] == f"git runr submit {runs[finished]} --evidence …"
    assert by[mine]["command"] == f"git runr run start {mine} --actor '{me}'"
    assert by[review]["reason"] == f"submitted by {OTHER}"
    assert by[lapsed]["command"] == f"git runr claim {lapsed} --actor '{me}' --steal"
    assert by[lapsed]["reason"].startswith(f"the claim of {OTHER} lapsed at ")
    assert by[blocked]["reason"] == f"blocked: {REASON}"

    # The other actor sees its own lapsed claim to start, not its own review.
    other = json.loads(repo.runr("next", "--actor", OTHER, "--json").stdout)
    assert [(r["action"], r["plan_ref"]) for r in other["recommendations"]] == [
        ("start", lapsed), ("claim", ready), ("claim", ready2), ("unblock", blocked)]
    assert written(repo) == before  # deciding is not mutating (seed 004)
    assert plan_view(repo, lapsed)["holder"] == OTHER


# --------------------------------------------------------------------------- branch target routing


def test_lane_records_follow_the_plans_line_not_the_callers_worktree(
        repo: GitRepo, tmp_path: Path) -> None:
    """Seed 004: target_branch routes a plan's lifecycle; a plan without one is on the
    default branch; the worktree (and branch) a command runs from changes neither the
    line nor where the records go: one ledger ref, one plan log."""
    release, default = ref_of(1), ref_of(2)
    with_plans(repo, {release: plan_file("For the release", target_branch="release-1"),
                      default: plan_file("For main")})
    repo.runr(*command("claim", release, OWNER))
    repo.runr(*command("claim", default, OWNER))
    worktree = tmp_path / "elsewhere"
    repo.git("worktree", "add", "-q", "-b", "feature-x", str(worktree))
    elsewhere = GitRepo(worktree)
    heads = repo.git("for-each-ref", "refs/heads").stdout
    tip = repo.git("rev-parse", "refs/runr/ledger").stdout

    run_id = start(repo, release, OWNER, cwd=worktree)
    repo.runr(*command("block", default, OWNER), cwd=worktree)

    assert repo.git("rev-parse", "refs/runr/ledger").stdout != tip
    assert elsewhere.git("for-each-ref").stdout == repo.git("for-each-ref").stdout
    assert repo.git("for-each-ref", "refs/heads").stdout == heads  # no release-1 made
    assert [(e.verb, e.line) for e in lane_events(repo, release)] == \
        [("claim", "release-1"), ("start", "release-1")]
    assert [(e.verb, e.line) for e in lane_events(repo, default)] == \
        [("claim", "main"), ("block", "main")]
    assert plan_log(repo, release, cwd=worktree) == plan_log(repo, release)
    plan = plan_view(repo, release)
    assert (plan["line"], plan["lane"]) == ("release-1", "in_progress")
    assert plan["lane_history"][-1]["workspace"] == \
        {"worktree": str(worktree.resolve()), "branch": "feature-x"}
    assert run_view(repo, run_id)["branch"] == "feature-x"
    assert (plan_view(repo, default)["line"], plan_view(repo, default)["lane"]) == \
        ("main", "blocked")


def test_a_plan_without_target_branch_follows_the_remotes_default_branch(
        repo: GitRepo) -> None:
    """The default branch is the remote's HEAD when there is one."""
    with_plans(repo, {REF: plan_file("Follows origin")})
    repo.git("update-ref", "refs/remotes/origin/trunk", "HEAD")
    repo.git("symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/trunk")
    repo.runr(*command("claim", REF, OWNER))
    assert [e.line for e in lane_events(repo, REF)] == ["trunk"]
    assert plan_view(repo, REF)["line"] == "trunk"
