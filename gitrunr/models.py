"""The documents gitrunr stores and prints, as pydantic models.

Every stored JSON document carries ``schema_version`` and is validated by these models
when read and when written (seed ``001_d14feb30ab4d8841.txt``: "every read/write is
validated ... so corrupted/invalid files don't silently poison state"). The storage
layout is described in ``docs/storage.md``; the JSON Schemas generated from these
models are in ``docs/schemas/``.

Models are strict about their shape (``extra="forbid"``): a document with a field we
do not know is reported, not silently half-read. A later schema version adds a new
``Literal`` value to ``schema_version`` and a migration on read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
)

SCHEMA_VERSION: Literal[1] = 1

RunId = Annotated[str, StringConstraints(pattern=r"^run-[0-9a-z]{4,40}$")]
EventId = Annotated[str, StringConstraints(pattern=r"^ev-[0-9a-z]{17}$")]
CheckpointId = Annotated[str, StringConstraints(pattern=r"^cp-[0-9a-z]{4,40}$")]
InterventionId = Annotated[str, StringConstraints(pattern=r"^iv-[0-9a-z]{17}$")]
#: A full object id: 40 hex digits (SHA-1) or 64 (SHA-256).
Sha = Annotated[str, StringConstraints(pattern=r"^([0-9a-f]{40}|[0-9a-f]{64})$")]
#: A single line of text: trailers and table cells must never receive a newline.
Line = Annotated[str, StringConstraints(pattern=r"^[^\r\n]*$")]
#: A plan's ref: ``initiative/phase-NN.D/NN`` (seed 000; docs/plans.md).
PlanRef = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*/phase-[0-9]+(\.[0-9]+)?/[0-9]+$")]
#: A SHA-256 digest in hex (plan content hashes, artifact contents).
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Outcome = Literal["passed", "failed", "aborted"]
#: The states of a run (docs/runs.md): active, verifying, finalized, each finer after a
#: slash (seed 000: ``verifying/testing``, ``verifying/passed``, ``finalized/failed``).
RunState = Literal["active", "verifying/testing", "verifying/passed", "verifying/failed",
                   "stopped", "finalized/passed", "finalized/failed", "finalized/aborted"]
#: The states a run is open in (not finalized). ``stopped`` is reached only by a stop
#: (seed 002: review loops, timeouts), with its reason, and left by ``resume``.
OpenState = Literal["active", "verifying/testing", "verifying/passed", "verifying/failed",
                    "stopped"]
#: The workflow modes (seed 002 section 5): flow (default) and ledger (strict).
Mode = Literal["flow", "ledger"]
#: The state a run's outcome finalizes it in.
FINAL_STATE: dict[str, RunState] = {"passed": "finalized/passed", "failed": "finalized/failed",
                                    "aborted": "finalized/aborted"}
#: The run state machine (docs/runs.md): from each open state, the open states a
#: transition may reach. Every open state may also finish into any ``finalized/*``; a
#: finalized run is terminal.
RUN_TRANSITIONS: dict[str, tuple[OpenState, ...]] = {
    "active": ("verifying/testing", "verifying/passed", "verifying/failed"),
    "verifying/testing": ("verifying/passed", "verifying/failed", "active"),
    "verifying/passed": ("verifying/testing", "active"),
    "verifying/failed": ("verifying/testing", "active"),
    "stopped": ("active",),
}


def utcnow() -> datetime:
    """The current time, UTC, to the millisecond (the precision stored)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Document(_Doc):
    """A top-level stored document: it names its schema version."""

    schema_version: Literal[1] = SCHEMA_VERSION


# --------------------------------------------------------------------------- events


class CommandResult(_Doc):
    """One command run for an intervention (seed 002, ``runr intervene --cmd``)."""

    cmd: str
    exit_code: int
    duration_ms: int = Field(ge=0)
    #: The last lines of combined stdout and stderr, at most ``OUTPUT_TAIL_BYTES``.
    output_tail: str = ""
    #: True when ``output_tail`` is not the whole output.
    output_truncated: bool = False


class _Event(Document):
    event_id: EventId
    run_id: RunId
    #: When the event happened (UTC).
    at: AwareDatetime
    #: Who caused it: ``Name <email>`` from git's committer identity.
    actor: str


#: A task's state in a run's exec status (seed 003).
TaskState = Literal["pending", "in_progress", "done", "failed", "blocked"]
TaskId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")]


class TaskSeed(_Doc):
    """A plan task as the run found it at start: its exec status starts from these."""

    id: TaskId
    title: str = ""
    done: bool = False


class RunStarted(_Event):
    """A run began (seed 000: a run is one attempt; it exists only once started)."""

    type: Literal["run_started"] = "run_started"
    tier: Line | None = None
    #: HEAD when the run started; None in a repository with no commits yet.
    base_sha: Sha | None = None
    branch: Line | None = None
    plan_ref: PlanRef | None = None
    #: The plan file's content hash when the run started (docs/plans.md).
    plan_hash: Sha256 | None = None
    #: The plan's tasks: the run's exec status starts with each at 0% (seed 003).
    tasks: list[TaskSeed] = []
    #: The run's own workflow mode (seed 002 section 5: per orchestration); None: the
    #: repository's (.runr/runr.toml). The more specific one wins.
    mode: Mode | None = None


class CheckpointRecorded(_Event):
    """A commit made during the run (seed 002: a Runr checkpoint).

    Recording the same ``checkpoint_id`` again (``commit --amend`` of a checkpoint)
    moves the checkpoint to the new commit and keeps the old sha in its history.
    """

    type: Literal["checkpoint_recorded"] = "checkpoint_recorded"
    checkpoint_id: CheckpointId
    sha: Sha
    #: ``git patch-id --stable`` of the commit against its first parent, None for a
    #: commit with no change of its own (a merge, an empty commit).
    patch_id: Sha | None = None
    #: The commit's tree, so a squash of it can be verified where the commit is gone.
    tree: Sha | None = None
    subject: str = ""


class InterventionRecorded(_Event):
    """Manual work recorded against a run (seed 002, ``runr intervene``)."""

    type: Literal["intervention_recorded"] = "intervention_recorded"
    intervention_id: InterventionId
    note: str
    commands: list[CommandResult] = []
    files_changed: list[str] = []
    #: The commit holding the work, when it was committed or named at record time.
    commit_sha: Sha | None = None
    patch_id: Sha | None = None
    tree: Sha | None = None


class InterventionLinked(_Event):
    """A commit was linked to an intervention recorded earlier (the next commit)."""

    type: Literal["intervention_linked"] = "intervention_linked"
    intervention_id: InterventionId
    sha: Sha
    patch_id: Sha | None = None
    tree: Sha | None = None
    files_changed: list[str] = []


class CommitRewritten(_Event):
    """A recorded commit was rewritten (amend, rebase): the record follows it."""

    type: Literal["commit_rewritten"] = "commit_rewritten"
    old_sha: Sha
    new_sha: Sha
    patch_id: Sha | None = None
    tree: Sha | None = None
    #: What rewrote it, as git's post-rewrite hook names it: ``amend`` or ``rebase``.
    rewrite: Line


class RunFinished(_Event):
    """The run ended with an outcome; its state becomes ``finalized/<outcome>``."""

    type: Literal["run_finished"] = "run_finished"
    outcome: Outcome
    reason: str | None = None


class RunTransitioned(_Event):
    """The run moved between open states (docs/runs.md), e.g. active to
    ``verifying/testing``. ``from_state`` is the state the writer saw."""

    type: Literal["run_transitioned"] = "run_transitioned"
    from_state: OpenState
    to_state: OpenState
    reason: str | None = None


class StepReached(_Event):
    """The run reached a step (seed 001: ``current_step``, and ``step_timestamps``
    recorded the first time a step is reached)."""

    type: Literal["step_reached"] = "step_reached"
    step: Annotated[str, StringConstraints(pattern=r"^[^\r\n]{1,100}$")]


#: An artifact's file name: no directories, no leading dot, not the manifest's name.
def _not_manifest(name: str) -> str:
    if name == "index.json":
        raise ValueError("index.json is the manifest's name; give the file another name")
    return name


ArtifactName = Annotated[str, StringConstraints(
    pattern=r"^[A-Za-z0-9_][A-Za-z0-9._+@=-]{0,199}$"), AfterValidator(_not_manifest)]


class ArtifactAdded(_Event):
    """A file stored with the run (seed 001: ``artifacts/`` and its manifest)."""

    type: Literal["artifact_added"] = "artifact_added"
    name: ArtifactName
    #: Size in bytes.
    size: int = Field(ge=0)
    sha256: Sha256
    #: The git blob holding the bytes, at ``runs/<shard>/<run-id>/artifacts/<name>``.
    blob: Sha
    media_type: str


class ProgressUpdated(_Event):
    """One task's progress in the run's exec status (seed 003): only that task's
    sub-object changes. ``prev_hash`` is the hash of the run's previous update (the
    run's genesis hash for the first), so the updates form a chain per run; with a
    signing key configured, ``signature`` signs the update (docs/lifecycle.md)."""

    type: Literal["progress_updated"] = "progress_updated"
    task: TaskId
    percent: int | None = Field(default=None, ge=0, le=100)
    state: TaskState | None = None
    note: str | None = None
    #: The persona (agent) that wrote the update (seed 003: "signed with the
    #: persona_id of the writing agent").
    persona: Line | None = None
    prev_hash: Sha256
    #: Armored SSH or OpenPGP signature of the update without this field; None when
    #: the writer had no signing key (marked unsigned).
    signature: str | None = None


class Diagnosis(_Doc):
    """Why a run stopped, in the structure of seed 002 section 3."""

    stop_reason: Line
    loop_count: int = Field(ge=0)
    last_review_requests: list[str]
    unmet_checks: list[str]
    suggestion: str


class RunStopped(_Event):
    """The run stopped (seed 002: STOPPED after a review loop, a timeout, by hand)."""

    type: Literal["run_stopped"] = "run_stopped"
    from_state: OpenState
    stop_reason: Line
    diagnosis: Diagnosis | None = None


class ReviewRequested(_Event):
    """A reviewer asked for a change (seed 002 section 3: review-loop diagnostics)."""

    type: Literal["review_requested"] = "review_requested"
    request: str
    #: The request lowercased, punctuation dropped, spaces collapsed: two requests
    #: are "the same" when these are equal.
    normalized: str


class EvidenceRecorded(_Event):
    """Verification output attached to a run (``git runr evidence``): a command, its
    exit code, duration and output, secrets redacted."""

    type: Literal["evidence_recorded"] = "evidence_recorded"
    task: TaskId | None = None
    cmd: str
    exit_code: int
    duration_ms: int = Field(ge=0)
    #: The last lines of the (redacted) output, at most the configured tail.
    output_tail: str = ""
    output_truncated: bool = False
    #: Size in bytes of the whole (redacted) output, kept as ``log_blob``.
    output_bytes: int = Field(ge=0)
    log_blob: Sha | None = None
    log_sha256: Sha256 | None = None
    #: How many secrets were replaced by ``[REDACTED]``.
    redactions: int = Field(default=0, ge=0)
    #: HEAD when the command ran: the checkpoint this evidence is for.
    head: Sha | None = None


class ReceiptRecorded(_Event):
    """The receipt of a run that ended (seed 002, flow mode rule 2): the diffstat and
    the patch of its commits against its base."""

    type: Literal["receipt_recorded"] = "receipt_recorded"
    base: Sha | None
    tip: Sha | None
    files_changed: int = Field(ge=0)
    insertions: int = Field(ge=0)
    deletions: int = Field(ge=0)
    #: ``git diff --stat base tip``, as git prints it.
    stat: str
    patch_blob: Sha | None = None
    patch_bytes: int = Field(default=0, ge=0)


class RunSubmitted(_Event):
    """The run's commits were integrated into its target branch (``git runr submit``;
    seed 002 ledger mode: all changes land via checkpoints + submit)."""

    type: Literal["run_submitted"] = "run_submitted"
    target: Line
    method: Literal["fast-forward", "rebase", "up-to-date"]
    old: Sha | None
    new: Sha
    commits: list[Sha] = []


class RunEscalated(_Event):
    """A stopped run was handed to a person (seed 002: escalate)."""

    type: Literal["run_escalated"] = "run_escalated"
    reason: str


Event = Annotated[
    RunStarted | CheckpointRecorded | InterventionRecorded | InterventionLinked
    | CommitRewritten | RunFinished | RunTransitioned | StepReached | ArtifactAdded
    | ProgressUpdated | RunStopped | ReviewRequested | EvidenceRecorded | ReceiptRecorded
    | RunSubmitted | RunEscalated,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

# --------------------------------------------------------------------------- snapshot


class CheckpointRecord(_Doc):
    checkpoint_id: CheckpointId
    sha: Sha
    patch_id: Sha | None
    subject: str
    recorded_at: AwareDatetime
    #: The tree of ``sha`` (None in records made before gitrunr recorded trees).
    tree: Sha | None = None
    #: Earlier shas of this checkpoint, oldest first (before an amend or rebase).
    previous_shas: list[Sha] = []


class InterventionRecord(_Doc):
    intervention_id: InterventionId
    note: str
    commands: list[CommandResult]
    files_changed: list[str]
    commit_sha: Sha | None
    patch_id: Sha | None
    recorded_at: AwareDatetime
    actor: str
    tree: Sha | None = None
    previous_shas: list[Sha] = []


class Transition(_Doc):
    """One state change of a run: who, when, from what, to what, and why."""

    event_id: EventId
    at: AwareDatetime
    actor: str
    #: None for the run's start.
    from_state: RunState | None
    to_state: RunState
    reason: str | None = None


class ArtifactEntry(_Doc):
    """One file of a run's artifact manifest (``artifacts/index.json``)."""

    name: ArtifactName
    size: int = Field(ge=0)
    sha256: Sha256
    blob: Sha
    media_type: str
    added_at: AwareDatetime
    actor: str


class ArtifactIndex(Document):
    """``runs/<shard>/<run-id>/artifacts/index.json``: the manifest of a run's files,
    derived from its ``artifact_added`` events, in name order."""

    run_id: RunId
    artifacts: list[ArtifactEntry]


class TaskProgress(_Doc):
    """One task of a run's exec status."""

    task: TaskId
    title: str = ""
    percent: int = Field(ge=0, le=100)
    state: TaskState
    note: str | None = None
    persona: str | None = None
    updated_at: AwareDatetime | None = None
    updated_by: str | None = None


class ExecStatus(_Doc):
    """A run's live progress, apart from its plan (seed 003). ``tasks`` change only
    through ``progress_updated`` events; the rest is derived from them."""

    tasks: list[TaskProgress] = []
    #: Overall completion in percent: the mean of the tasks' (0 with no tasks).
    completion: int = 0
    passed: int = 0
    failed: int = 0
    #: Tasks in state ``blocked``, as ``<task>: <note>``.
    blockers: list[str] = []
    updates: int = 0
    #: The hash of the last update (the head of the run's chain), or the genesis.
    chain_head: Sha256 | None = None


class Review(_Doc):
    event_id: EventId
    at: AwareDatetime
    actor: str
    request: str
    normalized: str


class EvidenceRecord(_Doc):
    """One piece of evidence, as ``run.json`` keeps it (the event minus its type)."""

    event_id: EventId
    at: AwareDatetime
    actor: str
    task: str | None = None
    cmd: str
    exit_code: int
    duration_ms: int
    output_tail: str = ""
    output_truncated: bool = False
    output_bytes: int
    log_blob: Sha | None = None
    log_sha256: Sha256 | None = None
    redactions: int = 0
    head: Sha | None = None


class Receipt(_Doc):
    event_id: EventId
    at: AwareDatetime
    base: Sha | None
    tip: Sha | None
    files_changed: int
    insertions: int
    deletions: int
    stat: str
    patch_blob: Sha | None = None
    patch_bytes: int = 0


class Submission(_Doc):
    event_id: EventId
    at: AwareDatetime
    actor: str
    target: str
    method: str
    old: Sha | None
    new: Sha
    commits: list[Sha] = []


class RunSnapshot(Document):
    """``run.json``: the state of a run, rebuilt from its events (seed 004: event log +
    snapshot). It must always equal the replay of the run's events."""

    run_id: RunId
    #: One of the states of docs/runs.md: a state the documented machine does not
    #: have fails validation, so a damaged run.json is never trusted.
    state: RunState
    outcome: Outcome | None = None
    tier: str | None = None
    plan_ref: PlanRef | None = None
    plan_hash: Sha256 | None = None
    base_sha: Sha | None = None
    branch: str | None = None
    actor: str
    created_at: AwareDatetime
    updated_at: AwareDatetime
    finished_at: AwareDatetime | None = None
    checkpoints: list[CheckpointRecord] = []
    interventions: list[InterventionRecord] = []
    #: The step reached last, and when each step was first reached (seed 001).
    current_step: str | None = None
    step_timestamps: dict[str, AwareDatetime] = {}
    #: Every state change, oldest first, starting with the start (None to active).
    transitions: list[Transition] = []
    artifacts: list[ArtifactEntry] = []
    #: Live per-task progress (seed 003), frozen once the run is finalized.
    exec_status: ExecStatus = ExecStatus()
    #: The run's own mode, when it has one (docs/workflow.md).
    mode: Mode | None = None
    #: Why the run is (or last was) stopped, with seed 002's diagnosis.
    stop_reason: str | None = None
    diagnosis: Diagnosis | None = None
    reviews: list[Review] = []
    evidence: list[EvidenceRecord] = []
    receipt: Receipt | None = None
    submissions: list[Submission] = []
    escalations: list[str] = []
    event_count: int
    last_event_id: EventId

    @property
    def is_open(self) -> bool:
        """True until the run is finalized: it still takes checkpoints and work."""
        return not self.state.startswith("finalized/")


class LedgerFormat(Document):
    """``ledger.json`` at the root of the ledger tree: what kind of tree this is."""

    format: Literal["gitrunr-ledger"] = "gitrunr-ledger"
    #: How run directories are sharded: ``sha1-2`` = the first two hex digits of the
    #: SHA-1 of the run id.
    shard: Literal["sha1-2"] = "sha1-2"


# --------------------------------------------------------------------------- lanes

#: The lanes of a work package (seed 004's canonical lifecycle): a plan's lane.
Lane = Literal["planned", "claimed", "in_progress", "for_review", "done", "blocked",
               "canceled"]
#: The verbs that move a lane (seed 004's transition labels), plus ``steal``: a claim
#: whose lease expired taken over by another actor (the lane stays claimed).
LaneVerb = Literal["claim", "steal", "start", "ready_for_review", "approve",
                   "changes_requested", "replan", "reassign", "block", "unblock", "cancel"]
#: Seed 004's transitions, exactly: ``(from, verb) -> to``. No other move exists.
LANE_EDGES: dict[tuple[str, str], Lane] = {
    ("planned", "claim"): "claimed",
    ("claimed", "steal"): "claimed",
    ("claimed", "start"): "in_progress",
    ("in_progress", "ready_for_review"): "for_review",
    ("for_review", "approve"): "done",
    ("for_review", "changes_requested"): "in_progress",
    ("for_review", "replan"): "planned",
    ("in_progress", "reassign"): "planned",
    **{(lane, "block"): "blocked"
       for lane in ("planned", "claimed", "in_progress", "for_review")},
    ("blocked", "unblock"): "in_progress",
    **{(lane, "cancel"): "canceled"
       for lane in ("planned", "claimed", "in_progress", "for_review", "blocked")},
}
#: Where each verb leads; with ``--force`` it leads there from a terminal lane too.
VERB_TARGET: dict[str, Lane] = {verb: to for (_, verb), to in LANE_EDGES.items()}
#: Lanes that end a work package: no verb moves them without ``--force``.
TERMINAL_LANES: tuple[Lane, ...] = ("done", "canceled")


class WorkspaceContext(_Doc):
    """Where work started (seed 004: ``start (workspace_context)``)."""

    worktree: str
    branch: str | None


# --------------------------------------------------------------------------- plans


class _PlanEvent(Document):
    event_id: EventId
    plan_ref: PlanRef
    at: AwareDatetime
    actor: str


class PlanApproved(_PlanEvent):
    """A plan was approved as it stood: its content hash (docs/plans.md) is recorded,
    so a later edit shows as "changed since approval"."""

    type: Literal["plan_approved"] = "plan_approved"
    content_hash: Sha256
    #: The plan file, relative to the work tree.
    path: str
    reason: str | None = None


class PlanRunStarted(_PlanEvent):
    """A run of the plan started (written with the run's ``run_started``)."""

    type: Literal["plan_run_started"] = "plan_run_started"
    run_id: RunId


class RunAccepted(_PlanEvent):
    """A run of the plan was accepted: it is the one ``NN-SUMMARY.md`` describes
    (seed 000: "SUMMARY.md corresponds to the accepted run")."""

    type: Literal["run_accepted"] = "run_accepted"
    run_id: RunId
    reason: str | None = None


class LaneChanged(_PlanEvent):
    """The plan's lane moved (seed 004): one transition with its guard data.

    ``from_lane`` is the lane the writer saw: the write is refused when the lane has
    moved since (this is what makes a claim a compare-and-swap)."""

    type: Literal["lane_changed"] = "lane_changed"
    verb: LaneVerb
    from_lane: Lane
    to_lane: Lane
    reason: str | None = None
    evidence: list[str] = []
    review_ref: str | None = None
    workspace: WorkspaceContext | None = None
    #: The run the move concerns (the one started, submitted, approved).
    run_id: RunId | None = None
    #: For claim and steal: when the claim lapses (None: it never does).
    lease_until: AwareDatetime | None = None
    #: A move out of a terminal lane, allowed by ``--force`` (actor and reason given).
    forced: bool = False
    #: The line (branch) the plan's lifecycle belongs to: its ``target_branch``, or
    #: the default branch (seed 004: branch target routing).
    line: str | None = None


PlanEvent = Annotated[PlanApproved | PlanRunStarted | RunAccepted | LaneChanged,
                      Field(discriminator="type")]
PLAN_EVENT_ADAPTER: TypeAdapter[PlanEvent] = TypeAdapter(PlanEvent)


class Approval(_Doc):
    event_id: EventId
    content_hash: Sha256
    at: AwareDatetime
    actor: str
    reason: str | None = None


class LaneTransition(_Doc):
    """One move of a plan's lane, as kept in ``plan.json``."""

    event_id: EventId
    at: AwareDatetime
    actor: str
    verb: LaneVerb
    from_lane: Lane
    to_lane: Lane
    reason: str | None = None
    evidence: list[str] = []
    review_ref: str | None = None
    workspace: WorkspaceContext | None = None
    run_id: RunId | None = None
    forced: bool = False


class PlanRecord(Document):
    """``plans/<initiative>/<phase>/<NN>/plan.json``: what the ledger knows of a plan,
    rebuilt from its events. The plan's intent stays in its file in the work tree."""

    plan_ref: PlanRef
    #: Approvals, oldest first; the last one is the one that counts.
    approvals: list[Approval] = []
    #: Its runs, oldest first (run ids sort by start time).
    runs: list[RunId] = []
    accepted_run_id: RunId | None = None
    accepted_at: AwareDatetime | None = None
    accepted_by: str | None = None
    #: The lane (docs/lifecycle.md), its holder and lease, and every move.
    lane: Lane = "planned"
    holder: str | None = None
    lease_until: AwareDatetime | None = None
    line: str | None = None
    lane_history: list[LaneTransition] = []
    created_at: AwareDatetime
    updated_at: AwareDatetime
    event_count: int
    last_event_id: EventId

    @property
    def approval(self) -> Approval | None:
        return self.approvals[-1] if self.approvals else None


# --------------------------------------------------------------------------- notes


class NoteLink(_Doc):
    run_id: RunId
    kind: Literal["checkpoint", "intervention"]
    checkpoint_id: CheckpointId | None = None
    intervention_id: InterventionId | None = None
    patch_id: Sha | None = None


class CommitNote(Document):
    """The note on ``refs/notes/runr`` for one commit: which runs it belongs to.

    A per-commit index of the ledger: every link here is derived from a ledger event,
    and the audit checks each one against the ledger before believing it.
    """

    links: list[NoteLink]


# --------------------------------------------------------------------------- work tree state


class ActiveRun(Document):
    """``$(git rev-parse --git-path runr)/active-run.json``: this worktree's active run."""

    run_id: RunId
    tier: Line | None = None
    started_at: AwareDatetime
    #: The run's own mode, for the hooks (they never read the ledger).
    mode: Mode | None = None
    #: True while the run is stopped: the hooks stamp no checkpoint then.
    stopped: bool = False
    #: The branch the run lands on (ledger mode refuses other merges into it).
    target: Line | None = None


class PendingIntervention(Document):
    """``…/runr/pending-intervention.json``: the next commit here is this intervention."""

    run_id: RunId
    intervention_id: InterventionId
    recorded_at: AwareDatetime


# --------------------------------------------------------------------------- config


class WorkflowConfig(_Doc):
    """``[workflow]``: seed 002's mode switch and review-loop threshold."""

    mode: Mode = "flow"
    #: How many times the same review request may come back before the run stops
    #: with ``review_loop_detected`` (seed 002 section 3).
    review_loop_threshold: int = Field(default=3, ge=2, le=100)


def _regex(pattern: str) -> str:
    import re

    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    return pattern


class EvidenceConfig(_Doc):
    """``[evidence]``: what ``git runr evidence`` keeps of a command's output."""

    #: Python regular expressions of secrets to replace with ``[REDACTED]``, on top of
    #: the built-in ones (docs/workflow.md).
    redact: list[Annotated[str, AfterValidator(_regex)]] = []
    #: Bytes of output kept inline in the record (the whole log goes in a blob).
    tail_bytes: int = Field(default=8192, ge=0, le=1 << 20)
    #: The most output kept in the log blob; beyond it the log is cut.
    max_log_bytes: int = Field(default=10 << 20, ge=1024, le=1 << 30)


class PlansConfig(_Doc):
    #: Where plan files live, relative to the top of the work tree (docs/plans.md).
    root: Annotated[str, StringConstraints(pattern=r"^[^/\r\n][^\r\n]*$")] = "specs"


class RunrConfig(Document):
    """``.runr/runr.toml``: the team's shared settings, committed with the code."""

    workflow: WorkflowConfig = WorkflowConfig()
    plans: PlansConfig = PlansConfig()
    evidence: EvidenceConfig = EvidenceConfig()


# --------------------------------------------------------------------------- output

AuditClass = Literal["RUNR", "MANUAL", "UNVERIFIED", "GAP"]
#: How the audit matched a commit to a record (docs/json.md).
Linked = Literal["sha", "patch-id", "tree"]


class AuditLink(_Doc):
    """One run that a commit is verified against."""

    run_id: RunId
    kind: Literal["checkpoint", "intervention"]
    checkpoint_id: CheckpointId | None = None
    intervention_id: InterventionId | None = None
    #: How the ledger matched the commit: by its sha, by patch-id after a rewrite, or
    #: by tree (a squash whose content is the recorded commit's).
    linked: Linked


class AuditCommit(_Doc):
    sha: Sha
    short_sha: str
    subject: str
    author: str
    #: Committer date (UTC).
    committed_at: AwareDatetime
    #: One of RUNR, MANUAL, UNVERIFIED, GAP (DESIGN.md section 3).
    class_: AuditClass = Field(alias="class")
    #: The run of the first verified link, or for UNVERIFIED the run claimed.
    run_id: str | None = None
    checkpoint_id: str | None = None
    intervention_id: str | None = None
    tier: str | None = None
    #: ``sha``, ``patch-id`` or ``tree`` for RUNR and MANUAL; None otherwise.
    linked: Linked | None = None
    links: list[AuditLink] = []
    #: Why the commit is UNVERIFIED or GAP, in words.
    reason: str | None = None
    #: For MANUAL: the intervention's note (first line).
    note: str | None = None
    #: For RUNR: ``passed``/``failed`` when evidence was recorded at this commit (the
    #: last one counts), None when none was (docs/workflow.md).
    evidence: Literal["passed", "failed"] | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class AuditSummary(_Doc):
    RUNR: int = 0
    MANUAL: int = 0
    UNVERIFIED: int = 0
    GAP: int = 0
    total: int = 0


class AuditReport(Document):
    """``git runr audit --json``: documented in docs/json.md, schema in docs/schemas/."""

    range: str
    commits: list[AuditCommit]
    summary: AuditSummary
    #: Records that could not be read and were left out (ref and path, and why).
    skipped: list[str] = []


class RunListItem(_Doc):
    """A run in one line: ``runs``, ``status`` and ``show`` list these."""

    run_id: RunId
    state: RunState
    outcome: Outcome | None
    tier: str | None
    #: The plan the run executes; None for an ad hoc run.
    plan_ref: PlanRef | None = None
    current_step: str | None = None
    #: True for the accepted run of its plan (the one its SUMMARY.md describes).
    accepted: bool = False
    created_at: AwareDatetime
    finished_at: AwareDatetime | None
    checkpoints: int
    interventions: int


class RunList(Document):
    """``git runr runs --json`` (and ``run list``): runs newest first."""

    #: The plan whose runs these are; None when listing every run.
    plan_ref: PlanRef | None = None
    total: int
    runs: list[RunListItem]
