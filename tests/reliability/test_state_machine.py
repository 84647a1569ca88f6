"""Properties: no sequence of writes reaches a run state the documented machine lacks.

docs/storage.md: a run is ``active`` from ``run_started`` until ``run_finished`` makes
it ``finalized/<outcome>``; checkpoints, interventions and finishing need an active
run; a link needs an unlinked intervention of the run; rewrites are accepted after
the run ends. A hypothesis ``RuleBasedStateMachine`` drives :func:`gitrunr.ledger.append`
on a real repository with every kind of event, alone or in batches (the spool's
``partial`` mode), against a model of those rules. After every step each run's
stored snapshot must be in a documented state, equal the replay of its events, and
agree with the model; every refused write must leave the refs where they were.

:class:`LateEvents` also delivers events late (an id older than the run's last
event, as from another clone or a slow writer) and checks the invariants that must
hold even then. That such a late event can still yield an event log whose id order
breaks the rules is a reported bug: see ``test_late_events_keep_the_log_in_order``.
"""

from __future__ import annotations

import copy
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from gitrunr import events as run_events
from gitrunr import ledger
from gitrunr.errors import InvalidStateError, NotFoundError, RunrError
from gitrunr.ids import base36
from gitrunr.models import (
    CheckpointRecorded,
    CommitRewritten,
    Event,
    InterventionLinked,
    InterventionRecorded,
    RunFinished,
    RunStarted,
)
from gitrunr.repo import RunrRepo, open_repo
from tests.conftest import GitRepo
from tests.reliability.helpers import DOCUMENTED_STATES, read_back, report

ACTOR = "Ada Tester <ada@example.com>"
T0 = datetime(2026, 1, 6, 12, 0, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)
OUTCOMES = ("passed", "failed", "aborted")
FIGURES = {"machines": 0, "steps": 0, "accepted": 0, "refused": 0, "skipped": 0}


def make_repo() -> tuple[Path, RunrRepo, list[str]]:
    """A fresh repository (hermetic, see tests/conftest.py) with six real commits for
    the events to name; returns its path, the opened repo and the commit shas."""
    path = Path(tempfile.mkdtemp(prefix="runr-machine-"))
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    shas = []
    for n in range(6):
        (path / "f.txt").write_text(f"{n}\n")
        subprocess.run(["git", "add", "f.txt"], cwd=path, check=True)
        subprocess.run(["git", "commit", "-q", "-m", f"c{n}"], cwd=path, check=True)
        shas.append(subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, check=True,
                                   capture_output=True, text=True).stdout.strip())
    return path, open_repo(path), shas


class RunModel:
    """What the documented rules say one run is."""

    def __init__(self) -> None:
        self.state = "active"
        self.events: set[str] = set()
        self.checkpoints: dict[str, str] = {}  # checkpoint id -> sha
        self.interventions: dict[str, str | None] = {}  # intervention id -> commit


class LedgerMachine(RuleBasedStateMachine):
    """Every event kind, in id order (ids minted from a clock that only moves on)."""

    runs = Bundle("runs")
    #: Whether every note must be backed by the ledger after each step.
    NOTES_BACKED = True

    def __init__(self) -> None:
        super().__init__()
        self.path, self.repo, self.shas = make_repo()
        self.model: dict[str, RunModel] = {}
        self.clock = 0
        self.salt = 0
        FIGURES["machines"] += 1

    def teardown(self) -> None:
        subprocess.run(["rm", "-rf", str(self.path)], check=False)
        report("state machine (test_state_machine.py)", **FIGURES, undocumented_states=0)

    # ------------------------------------------------------------------ minting

    def tick(self, back: int = 0) -> tuple[str, datetime]:
        """A fresh event id and time; ``back`` ms in the past for a late event."""
        self.clock += 1
        self.salt += 1
        ms = max(self.clock - back, 0)
        return f"ev-{base36(T0_MS + ms, 9)}{base36(self.salt, 8)}", T0 + timedelta(
            milliseconds=ms)

    def head(self, run_id: str, back: int = 0) -> dict[str, Any]:
        eid, at = self.tick(back)
        return {"event_id": eid, "run_id": run_id, "at": at, "actor": ACTOR}

    def new_id(self, prefix: str) -> str:
        self.salt += 1
        return f"{prefix}-{base36(T0_MS + self.clock, 9)}{base36(self.salt, 8)}"

    # ------------------------------------------------------------------ the model

    def expect(self, event: Event) -> str:
        """``accept``, ``skip`` (already there, or changes nothing) or ``refuse``, by the
        documented rules, without looking at gitrunr."""
        run = self.model.get(event.run_id)
        if run is not None and event.event_id in run.events:
            return "skip"  # its file is there: a repeated record
        if isinstance(event, RunStarted):
            return "refuse" if run is not None else "accept"
        if run is None:
            return "refuse"
        if isinstance(event, CheckpointRecorded):
            if run.checkpoints.get(event.checkpoint_id) == event.sha:
                return "skip"
            return "accept" if run.state == "active" else "refuse"
        if isinstance(event, InterventionRecorded | RunFinished):
            return "accept" if run.state == "active" else "refuse"
        if isinstance(event, InterventionLinked):
            if event.intervention_id not in run.interventions:
                return "refuse"
            linked = run.interventions[event.intervention_id]
            if linked == event.sha:
                return "skip"
            return "accept" if linked is None else "refuse"
        if isinstance(event, CommitRewritten):
            moved = event.old_sha in run.checkpoints.values() or \
                event.old_sha in run.interventions.values()
            return "accept" if moved else "skip"
        raise AssertionError(event)

    def learn(self, event: Event) -> None:
        """Apply an accepted event to the model."""
        if isinstance(event, RunStarted):
            self.model[event.run_id] = RunModel()
        run = self.model[event.run_id]
        run.events.add(event.event_id)
        if isinstance(event, CheckpointRecorded):
            run.checkpoints[event.checkpoint_id] = event.sha
        elif isinstance(event, InterventionRecorded):
            run.interventions[event.intervention_id] = event.commit_sha
        elif isinstance(event, InterventionLinked):
            run.interventions[event.intervention_id] = event.sha
        elif isinstance(event, CommitRewritten):
            for cp, sha in run.checkpoints.items():
                if sha == event.old_sha:
                    run.checkpoints[cp] = event.new_sha
            for iv, sha in run.interventions.items():
                if sha == event.old_sha:
                    run.interventions[iv] = event.new_sha
        elif isinstance(event, RunFinished):
            run.state = f"finalized/{event.outcome}"

    def append(self, batch: list[Event], partial: bool = False) -> None:
        """Append ``batch`` through gitrunr and check it did what the model says."""
        FIGURES["steps"] += 1
        before = read_back(self.path, full_history=False, notes_backed=self.NOTES_BACKED)
        saved = copy.deepcopy(self.model)
        verdicts = []
        for event in sorted(batch, key=lambda e: e.event_id):
            verdict = self.expect(event)
            verdicts.append((event, verdict))
            if verdict == "accept":
                self.learn(event)  # later events of the batch see it, as append does
        refused = [e for e, v in verdicts if v == "refuse"]
        try:
            result = ledger.append(self.repo, batch, partial=partial)
        except (InvalidStateError, NotFoundError):
            assert refused and not partial, verdicts
            after = read_back(self.path, full_history=False, notes_backed=self.NOTES_BACKED)
            assert (after.ledger_tip, after.notes_tip) == (before.ledger_tip, before.notes_tip)
            self.model = saved  # a command's batch is all or nothing
            FIGURES["refused"] += len(batch)
            return
        assert not refused or partial, (verdicts, result)
        assert {e.event_id for e in result.applied} == {
            e.event_id for e, v in verdicts if v == "accept"}
        assert {e.event_id for e, _ in result.rejected} == {e.event_id for e in refused}
        for event, err in result.rejected:
            assert isinstance(err, InvalidStateError | NotFoundError), (event, err)
        if not result.applied:
            after = read_back(self.path, full_history=False, notes_backed=self.NOTES_BACKED)
            assert after.ledger_tip == before.ledger_tip  # nothing new, no new commit
        FIGURES["accepted"] += len(result.applied)
        FIGURES["refused"] += len(result.rejected)
        FIGURES["skipped"] += len(result.skipped)

    # ------------------------------------------------------------------ events

    def started(self, run_id: str | None = None) -> RunStarted:
        return RunStarted(tier="t", **self.head(run_id or self.new_id("run")))

    def checkpoint(self, run_id: str, sha: str, reuse: bool, back: int = 0
                   ) -> CheckpointRecorded:
        known = sorted(self.model[run_id].checkpoints) if run_id in self.model else []
        cp = known[0] if reuse and known else self.new_id("cp")
        return CheckpointRecorded(checkpoint_id=cp, sha=sha, subject="s",
                                  **self.head(run_id, back))

    def intervention(self, run_id: str, sha: str | None, back: int = 0
                     ) -> InterventionRecorded:
        return InterventionRecorded(intervention_id=self.new_id("iv"), note="by hand",
                                    commit_sha=sha, **self.head(run_id, back))

    def link(self, run_id: str, sha: str, back: int = 0) -> InterventionLinked | None:
        known = sorted(self.model[run_id].interventions) if run_id in self.model else []
        if not known:
            return None
        return InterventionLinked(intervention_id=known[-1], sha=sha, **self.head(run_id, back))

    def rewrite(self, run_id: str, new: str, back: int = 0) -> CommitRewritten:
        run = self.model.get(run_id)
        olds = sorted(run.checkpoints.values()) if run else []
        return CommitRewritten(old_sha=olds[0] if olds else self.shas[0], new_sha=new,
                               rewrite="amend", **self.head(run_id, back))

    def finished(self, run_id: str, outcome: str, back: int = 0) -> RunFinished:
        return RunFinished(outcome=outcome, **self.head(run_id, back))  # type: ignore[arg-type]

    # ------------------------------------------------------------------ rules

    @initialize(target=runs)
    def first_run(self) -> str:
        event = self.started()
        self.append([event])
        return event.run_id

    @rule(target=runs)
    def start(self) -> str:
        event = self.started()
        self.append([event])
        return event.run_id

    @rule(run=runs)
    def start_again(self, run: str) -> None:
        self.append([self.started(run)])

    @rule(run=runs, n=st.integers(0, 5), reuse=st.booleans())
    def record_checkpoint(self, run: str, n: int, reuse: bool) -> None:
        self.append([self.checkpoint(run, self.shas[n], reuse)])

    @rule(run=runs, n=st.one_of(st.none(), st.integers(0, 5)))
    def intervene(self, run: str, n: int | None) -> None:
        self.append([self.intervention(run, None if n is None else self.shas[n])])

    @rule(run=runs, n=st.integers(0, 5))
    def link_intervention(self, run: str, n: int) -> None:
        event = self.link(run, self.shas[n])
        if event is not None:
            self.append([event])

    @rule(run=runs, n=st.integers(0, 5))
    def rewrite_commit(self, run: str, n: int) -> None:
        self.append([self.rewrite(run, self.shas[n])])

    @rule(run=runs, outcome=st.sampled_from(OUTCOMES))
    def finish(self, run: str, outcome: str) -> None:
        self.append([self.finished(run, outcome)])

    @rule()
    def unknown_run(self) -> None:
        self.append([self.intervention(self.new_id("run"), None)])

    @rule(run=runs, again=st.booleans())
    def repeat_last_event(self, run: str, again: bool) -> None:
        """An event appended twice (a spool entry flushed twice) is skipped."""
        stored = ledger.read(self.repo).events(run)
        if stored and again:
            self.append([stored[-1]])

    @rule(runs_=st.lists(runs, min_size=1, max_size=3),
          kinds=st.lists(st.sampled_from(["cp", "iv", "finish", "rewrite", "link"]),
                         min_size=2, max_size=5),
          n=st.integers(0, 5), partial=st.booleans())
    def batch(self, runs_: list[str], kinds: list[str], n: int, partial: bool) -> None:
        """Several events at once: all or nothing for a command, each on its own for
        the spool (``partial``)."""
        made: list[Event] = []
        for i, kind in enumerate(kinds):
            run = runs_[i % len(runs_)]
            if kind == "cp":
                made.append(self.checkpoint(run, self.shas[(n + i) % 6], reuse=False))
            elif kind == "iv":
                made.append(self.intervention(run, None))
            elif kind == "finish":
                made.append(self.finished(run, OUTCOMES[i % 3]))
            elif kind == "rewrite":
                made.append(self.rewrite(run, self.shas[(n + i) % 6]))
            elif (event := self.link(run, self.shas[(n + i) % 6])) is not None:
                made.append(event)
        self.append(made, partial=partial)

    # ------------------------------------------------------------------ invariants

    @invariant()
    def snapshots_are_documented_replays(self) -> None:
        # read_back validates every document and checks run.json == replay(events).
        records = read_back(self.path, full_history=False, notes_backed=self.NOTES_BACKED)
        for run_id, snapshot in records.runs.items():
            assert snapshot.state in DOCUMENTED_STATES
            model = self.model[run_id]
            assert snapshot.state == model.state, run_id
            assert {e.event_id for e in records.events[run_id]} == model.events
            assert {c.checkpoint_id: c.sha for c in snapshot.checkpoints} == model.checkpoints
            assert {i.intervention_id: i.commit_sha
                    for i in snapshot.interventions} == model.interventions
        assert set(records.runs) == set(self.model)

    @invariant()
    def log_obeys_the_rules_in_id_order(self) -> None:
        """Replaying each run's log in id order with the documented checks at every
        step accepts every event: the stored history is one the machine allows."""
        view = ledger.read(self.repo)
        for run_id in view.run_ids():
            snapshot = None
            for event in view.events(run_id):
                if snapshot is not None and run_events.is_noop(snapshot, event):
                    continue
                run_events.check(snapshot, event)
                snapshot = run_events.apply(snapshot, event)


class LateEvents(LedgerMachine):
    """The same, with events that arrive late: minted up to 5 ms before the latest."""

    NOTES_BACKED = False  # see snapshots_are_documented_replays below

    @rule(run=LedgerMachine.runs, back=st.integers(1, 5), kind=st.sampled_from(
        ["cp", "iv", "finish", "rewrite", "link"]), n=st.integers(0, 5))
    def late_event(self, run: str, back: int, kind: str, n: int) -> None:
        """A late event: gitrunr refuses it or takes it, but never stores a snapshot in
        an undocumented state or other than the replay, and never crashes."""
        FIGURES["steps"] += 1
        made: Event | None
        if kind == "cp":
            made = self.checkpoint(run, self.shas[n], reuse=False, back=back)
        elif kind == "iv":
            made = self.intervention(run, None, back=back)
        elif kind == "finish":
            made = self.finished(run, OUTCOMES[n % 3], back=back)
        elif kind == "rewrite":
            made = self.rewrite(run, self.shas[n], back=back)
        else:
            made = self.link(run, self.shas[n], back=back)
        if made is None:
            return
        before = read_back(self.path, full_history=False, notes_backed=self.NOTES_BACKED)
        try:
            result = ledger.append(self.repo, [made])
        except RunrError:
            after = read_back(self.path, full_history=False, notes_backed=self.NOTES_BACKED)
            assert (after.ledger_tip, after.notes_tip) == (before.ledger_tip, before.notes_tip)
            FIGURES["refused"] += 1
            return
        FIGURES["accepted"] += len(result.applied)
        stored = ledger.read(self.repo).events(run)
        self.model[run] = rebuilt = RunModel()  # the model follows what was stored
        for event in stored:
            if not isinstance(event, RunStarted):
                self.learn(event)
            rebuilt.events.add(event.event_id)
        rebuilt.state = read_back(self.path, full_history=False,
                                  notes_backed=self.NOTES_BACKED).runs[run].state

    @invariant()
    def snapshots_are_documented_replays(self) -> None:
        """Every document validates and every run.json is the replay of its events, in
        a documented state. (Notes are not checked against the ledger here: a late
        link that the replay ignores leaves a note the ledger does not back, part of
        the bug test_late_events_keep_the_log_in_order reports.)"""
        records = read_back(self.path, full_history=False, notes_backed=self.NOTES_BACKED)
        for snapshot in records.runs.values():
            assert snapshot.state in DOCUMENTED_STATES

    def log_obeys_the_rules_in_id_order(self) -> None:  # pragma: no cover - not an invariant
        """Not promised for late events (the reported bug): no longer an invariant here."""


MACHINE = settings(max_examples=25, stateful_step_count=15, deadline=None, database=None,
                   suppress_health_check=[HealthCheck.too_slow,
                                          HealthCheck.function_scoped_fixture])
TestLedgerMachine = pytest.mark.slow(LedgerMachine.TestCase)
TestLedgerMachine.settings = MACHINE
TestLateEvents = pytest.mark.slow(LateEvents.TestCase)
TestLateEvents.settings = settings(MACHINE, max_examples=15)


def _event_head(run_id: str, ms: int, salt: int) -> dict[str, Any]:
    return {"event_id": f"ev-{base36(T0_MS + ms, 9)}{base36(salt, 8)}", "run_id": run_id,
            "at": T0 + timedelta(milliseconds=ms), "actor": ACTOR}


@pytest.mark.parametrize("scenario", ["finish overtaken by a checkpoint",
                                      "link overtaking its intervention"])
@pytest.mark.xfail(strict=True, raises=(InvalidStateError, NotFoundError),
                   reason="ledger._append_once checks an event against the run "
                   "as it is when the event arrives, then stores the replay in event-id "
                   "order: a late event the arrival order allows can break the rules in id "
                   "order (a checkpoint after run_finished), or have no effect at all (a link "
                   "replayed before its intervention). gitrunr/ledger.py: reported")
def test_late_events_keep_the_log_in_order(repo_with_commit: GitRepo, scenario: str) -> None:
    """An event that arrives after a newer one is either refused, or stored so that the
    id-ordered log still obeys the documented rules and the event has its effect.

    The first scenario happens without any clock trouble: ``git runr run finish`` mints
    its event, and before it lands, the spool flush of a commit made meanwhile (a newer
    id) lands first.
    """
    repo = open_repo(repo_with_commit.path)
    sha = repo_with_commit.head()
    run_id = "run-0000late0000aa"
    ledger.append(repo, [RunStarted(**_event_head(run_id, 1, 1))])
    if scenario == "finish overtaken by a checkpoint":
        ledger.append(repo, [CheckpointRecorded(checkpoint_id="cp-0000late0000aa", sha=sha,
                                                subject="s", **_event_head(run_id, 30, 3))])
        late: Event = RunFinished(outcome="passed", **_event_head(run_id, 20, 2))
    else:
        ledger.append(repo, [InterventionRecorded(intervention_id=f"iv-{'0' * 16}1",
                                                  note="n", **_event_head(run_id, 30, 3))])
        late = InterventionLinked(intervention_id=f"iv-{'0' * 16}1", sha=sha,
                                  **_event_head(run_id, 20, 2))
    try:
        ledger.append(repo, [late])
    except RunrError:
        return  # refused: the log is as it was
    snapshot = ledger.read(repo).run(run_id)
    assert snapshot is not None
    state = None
    for event in ledger.read(repo).events(run_id):  # the rules hold in id order
        run_events.check(state, event)
        state = run_events.apply(state, event)
    if isinstance(late, InterventionLinked):  # and the accepted link took effect
        assert [i.commit_sha for i in snapshot.interventions] == [sha]
