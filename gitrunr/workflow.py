"""Workflow policy (seed ``002_840b2e5c18ad6aa1.txt``): modes, stops, review loops.

**Modes** (section 5): ``flow`` (default: manual commits and merges allowed, but
they leave a trail) and ``ledger`` (strict: everything through runs). The mode is
``[workflow] mode`` in ``.runr/runr.toml``, shared by the team; a run may carry its
own (``git runr run start --mode``), and the more specific one wins.

**Stopped runs** (sections 1, 3): a run stops on a review loop or by hand
(``git runr run stop``). In ledger mode only these are allowed while it is stopped:
resume, bundle, submit, escalate (rule 2). In flow mode work may go on by hand, and
the hooks leave a trail.

**Review-loop diagnostics** (section 3): each ``git runr review RUN --request`` is
recorded; when the same request (normalised) comes back ``review_loop_threshold``
times, the run stops with ``stop_reason: review_loop_detected`` and the structured
diagnosis of the seed.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

from gitrunr import config, ledger
from gitrunr.errors import InvalidStateError, UsageError
from gitrunr.git import run_git
from gitrunr.ids import new_id
from gitrunr.models import (
    ActiveRun,
    Diagnosis,
    Mode,
    ReviewRequested,
    RunEscalated,
    RunSnapshot,
    RunStopped,
    RunTransitioned,
    utcnow,
)
from gitrunr.repo import RunrRepo
from gitrunr.runs import active_run, get
from gitrunr.state import ACTIVE_RUN, write_json_atomic

#: What a stopped run allows in ledger mode (seed 002, ledger rule 2).
STOPPED_ALLOWS = ("resume", "bundle", "submit", "escalate")
#: How many review requests the diagnosis lists.
LAST_REQUESTS = 5


def repo_mode(repo: RunrRepo) -> Mode:
    """``[workflow] mode`` of this work tree's ``.runr/runr.toml`` (flow without one)."""
    return config.load(repo.require_worktree()).workflow.mode


def mode_of(repo: RunrRepo, snapshot: RunSnapshot | None) -> Mode:
    """The mode that applies to ``snapshot``: its own, else the repository's."""
    if snapshot is not None and snapshot.mode is not None:
        return snapshot.mode
    return repo_mode(repo)


def require_open(repo: RunrRepo, snapshot: RunSnapshot, action: str) -> None:
    """Refuse ``action`` on a finalized run, or on a stopped run in ledger mode (seed
    002: while STOPPED only resume, bundle, submit, escalate). Raises
    :class:`InvalidStateError` saying what is allowed."""
    if not snapshot.is_open:
        raise InvalidStateError(f"run {snapshot.run_id} is already {snapshot.state}; cannot "
                                f"{action}")
    if snapshot.state == "stopped" and mode_of(repo, snapshot) == "ledger":
        raise InvalidStateError(
            f"run {snapshot.run_id} is stopped ({snapshot.stop_reason}) in ledger mode: only "
            f"{', '.join(STOPPED_ALLOWS)} are allowed; `git runr diagnose {snapshot.run_id}` "
            "says why it stopped")


def normalise(request: str) -> str:
    """A review request reduced to what makes two requests "the same": Unicode NFKC,
    lowercase, punctuation dropped, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", request).casefold()
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())


def review(repo: RunrRepo, run_id: str, request: str) -> tuple[RunSnapshot, bool]:
    """Record a review request; stop the run when it is a loop.

    The request and, when the same normalised request has now come
    ``review_loop_threshold`` times, a ``run_stopped`` event with the diagnosis are
    written together. Returns the run and whether it stopped. Raises
    :class:`UsageError` for an empty request, :class:`InvalidStateError` for a run
    that is not open or is stopped in ledger mode.
    """
    if not request.strip():
        raise UsageError("--request is empty: say what the reviewer asked for")
    snapshot = get(repo, run_id)
    require_open(repo, snapshot, "take a review request")
    threshold = config.load(repo.require_worktree()).workflow.review_loop_threshold
    who, at = ledger.actor(repo.git), utcnow()
    event = ReviewRequested(event_id=new_id("ev"), run_id=run_id, at=at, actor=who,
                            request=request.strip(), normalized=normalise(request))
    requests = [*(r.request for r in snapshot.reviews), event.request]
    counts = Counter([*(r.normalized for r in snapshot.reviews), event.normalized])
    events: list[ReviewRequested | RunStopped] = [event]
    stopped = counts[event.normalized] >= threshold and snapshot.state != "stopped"
    if stopped:
        events.append(RunStopped(
            event_id=new_id("ev"), run_id=run_id, at=at, actor=who,
            from_state=snapshot.state,  # type: ignore[arg-type]  # open, checked above
            stop_reason="review_loop_detected",
            diagnosis=diagnose_loop(snapshot, requests, counts, event.normalized)))
    result = ledger.append(repo, events)
    if stopped:
        _mark_active(repo, run_id, stopped=True)
    return result.snapshots[run_id], stopped


def diagnose_loop(snapshot: RunSnapshot, requests: list[str], counts: Counter[str],
                  looping: str) -> Diagnosis:
    """Seed 002's structured diagnosis of a review loop.

    ``unmet_checks``: each request that came back (two times or more), as a check
    name (its words joined by ``_``), then each verification command whose last
    evidence failed, as ``evidence_failed:<cmd>``. ``suggestion``: what a person can
    act on.
    """
    unmet = [_check_name(n) for n, c in counts.most_common() if c >= 2]
    last: dict[str, int] = {}
    for ev in snapshot.evidence:
        last[ev.cmd] = ev.exit_code
    failing = sorted(cmd for cmd, code in last.items() if code != 0)
    unmet += [f"evidence_failed:{cmd}" for cmd in failing]
    if failing:
        suggestion = (f"Fix what `{failing[0]}` reports and record passing evidence "
                      f"(`git runr evidence {snapshot.run_id} --cmd \"{failing[0]}\"`) before "
                      "asking for review again")
    elif not snapshot.evidence:
        suggestion = ("No evidence is attached: the reviewer keeps asking for the same "
                      "thing; attach the output it asks for with `git runr evidence "
                      f"{snapshot.run_id} --cmd …`, or make the task's acceptance criteria "
                      "clearer")
    else:
        suggestion = "Task may need clearer acceptance criteria"
    return Diagnosis(stop_reason="review_loop_detected", loop_count=counts[looping],
                     last_review_requests=requests[-LAST_REQUESTS:], unmet_checks=unmet,
                     suggestion=suggestion)


def _check_name(normalized: str) -> str:
    words = [w for w in normalized.split() if w not in _STOP_WORDS][:6]
    return "_".join(words) or "review_request"


_STOP_WORDS = frozenset(["a", "an", "the", "please", "include", "add", "and", "or", "of",
                         "for", "to", "in", "on", "with"])


def stop(repo: RunrRepo, run_id: str, reason: str) -> RunSnapshot:
    """Stop an open run by hand (a timeout, a person's call). Raises
    :class:`UsageError` for an empty reason, :class:`InvalidStateError` for a run that
    is not open or already stopped."""
    if not reason.strip() or "\n" in reason:
        raise UsageError("--reason must be one non-empty line")
    snapshot = get(repo, run_id)
    if not snapshot.is_open or snapshot.state == "stopped":
        raise InvalidStateError(f"run {run_id} is {snapshot.state}: only an active or "
                                "verifying run can stop")
    event = RunStopped(event_id=new_id("ev"), run_id=run_id, at=utcnow(),
                       actor=ledger.actor(repo.git),
                       from_state=snapshot.state,  # type: ignore[arg-type]
                       stop_reason=reason.strip())
    result = ledger.append(repo, [event])
    _mark_active(repo, run_id, stopped=True)
    return result.snapshots[run_id]


def resume(repo: RunrRepo, run_id: str, reason: str | None = None) -> RunSnapshot:
    """A stopped run goes back to active (seed 002: "edit task → resume")."""
    snapshot = get(repo, run_id)
    if snapshot.state != "stopped":
        raise InvalidStateError(f"run {run_id} is {snapshot.state}, not stopped: nothing to "
                                "resume")
    event = RunTransitioned(event_id=new_id("ev"), run_id=run_id, at=utcnow(),
                            actor=ledger.actor(repo.git), from_state="stopped",
                            to_state="active", reason=reason or "resumed")
    result = ledger.append(repo, [event])
    _mark_active(repo, run_id, stopped=False)
    return result.snapshots[run_id]


def escalate(repo: RunrRepo, run_id: str, reason: str) -> RunSnapshot:
    """Hand a stopped run to a person: recorded with the reason; the run stays stopped."""
    if not reason.strip():
        raise UsageError("--reason is empty: say what the person should look at")
    snapshot = get(repo, run_id)
    if snapshot.state != "stopped":
        raise InvalidStateError(f"run {run_id} is {snapshot.state}: escalate is for a stopped "
                                "run (`git runr run stop` first)")
    event = RunEscalated(event_id=new_id("ev"), run_id=run_id, at=utcnow(),
                         actor=ledger.actor(repo.git), reason=reason.strip())
    return ledger.append(repo, [event]).snapshots[run_id]


def bundle(repo: RunrRepo, run_id: str, path: str) -> list[str]:
    """Write the run's commits (its base to its newest commit) to a git bundle at
    ``path`` (git-bundle(1)), for someone else to pick up. Returns the commits.
    Raises :class:`InvalidStateError` for a run with no commits."""
    from gitrunr.receipts import run_range

    snapshot = get(repo, run_id)
    base, tip, commits = run_range(repo, snapshot)
    if tip is None:
        raise InvalidStateError(f"run {run_id} has no commits to bundle")
    ref = f"refs/runr/bundles/{run_id}"
    cwd = repo.require_worktree()
    run_git(["update-ref", ref, tip], cwd=cwd)
    try:
        spec = [ref] if base is None else [ref, f"^{base}"]
        run_git(["bundle", "create", path, *spec], cwd=cwd)
    finally:
        run_git(["update-ref", "-d", ref], cwd=cwd, check=False)
    return commits


def _mark_active(repo: RunrRepo, run_id: str, *, stopped: bool) -> None:
    """Tell this worktree's hooks (which never read the ledger) that its active run
    is stopped or running again."""
    current = active_run(repo)
    if current is not None and current.run_id == run_id and current.stopped != stopped:
        doc = ActiveRun.model_validate({**current.model_dump(), "stopped": stopped})
        write_json_atomic(repo.state_dir / ACTIVE_RUN, doc.model_dump(mode="json"))
