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
Outcome = Literal["passed", "failed", "aborted"]
#: The states of a run (docs/storage.md): active, then finalized with its outcome.
RunState = Literal["active", "finalized/passed", "finalized/failed", "finalized/aborted"]
#: The state a run's outcome finalizes it in.
FINAL_STATE: dict[str, RunState] = {"passed": "finalized/passed", "failed": "finalized/failed",
                                    "aborted": "finalized/aborted"}


def utcnow() -> datetime:
    """The current time, UTC, to the millisecond (the precision stored)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


class RunStarted(_Event):
    """A run began (seed 000: a run is one attempt; it exists only once started)."""

    type: Literal["run_started"] = "run_started"
    tier: Line | None = None
    #: HEAD when the run started; None in a repository with no commits yet.
    base_sha: Sha | None = None
    branch: Line | None = None
    plan_ref: Line | None = None


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


Event = Annotated[
    RunStarted | CheckpointRecorded | InterventionRecorded | InterventionLinked
    | CommitRewritten | RunFinished,
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


class RunSnapshot(Document):
    """``run.json``: the state of a run, rebuilt from its events (seed 004: event log +
    snapshot). It must always equal the replay of the run's events."""

    run_id: RunId
    #: ``active`` or ``finalized/<outcome>``: a state the documented machine does not
    #: have fails validation, so a damaged run.json is never trusted.
    state: RunState
    outcome: Outcome | None = None
    tier: str | None = None
    plan_ref: str | None = None
    base_sha: Sha | None = None
    branch: str | None = None
    actor: str
    created_at: AwareDatetime
    updated_at: AwareDatetime
    finished_at: AwareDatetime | None = None
    checkpoints: list[CheckpointRecord] = []
    interventions: list[InterventionRecord] = []
    event_count: int
    last_event_id: EventId

    @property
    def is_active(self) -> bool:
        return self.state == "active"


class LedgerFormat(Document):
    """``ledger.json`` at the root of the ledger tree: what kind of tree this is."""

    format: Literal["gitrunr-ledger"] = "gitrunr-ledger"
    #: How run directories are sharded: ``sha1-2`` = the first two hex digits of the
    #: SHA-1 of the run id.
    shard: Literal["sha1-2"] = "sha1-2"


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


class PendingIntervention(Document):
    """``…/runr/pending-intervention.json``: the next commit here is this intervention."""

    run_id: RunId
    intervention_id: InterventionId
    recorded_at: AwareDatetime


# --------------------------------------------------------------------------- config


class WorkflowConfig(_Doc):
    mode: Literal["flow", "ledger"] = "flow"


class RunrConfig(Document):
    """``.runr/runr.toml``: the team's shared settings, committed with the code."""

    workflow: WorkflowConfig = WorkflowConfig()


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
    run_id: RunId
    state: str
    outcome: Outcome | None
    tier: str | None
    created_at: AwareDatetime
    finished_at: AwareDatetime | None
    checkpoints: int
    interventions: int


class RunList(Document):
    """``git runr run list --json``: runs newest first."""

    total: int
    runs: list[RunListItem]
