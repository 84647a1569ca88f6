"""``git runr audit``: classify every commit of a revision range (DESIGN.md section 3).

===========  ===============================================================
RUNR         a checkpoint whose run is in the ledger and records this change
             (by sha, by patch-id after a rebase or cherry-pick, or by tree or
             combined patch-id for a squash: docs/rewrites.md)
MANUAL       linked to an intervention the ledger records (by trailer or note)
UNVERIFIED   trailers or a note claim a run, but the ledger does not back it
GAP          no provenance at all
===========  ===============================================================

Trailers and notes are claims; only the ledger verifies them, so a hand-typed
``Runr-Run-Id`` is never counted as RUNR. The range is walked once, by one streamed
``git log``; the notes tree is read once, each run's snapshot and its sha/patch-id
index at most once, and a pygit2 object or patch-id is looked up only for a claimed
commit its run does not know by sha. Cost: linear in the range, memory flat
(bench/README.md has the figures).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pygit2

from gitrunr import ledger, notes, trailers
from gitrunr.errors import CorruptRecordError, GitError, NotFoundError, UsageError
from gitrunr.git import first_line, run_git
from gitrunr.ids import is_run_id
from gitrunr.models import (
    AuditClass,
    AuditCommit,
    AuditLink,
    AuditReport,
    AuditSummary,
    CommitNote,
    RunSnapshot,
)
from gitrunr.objects import ref_target
from gitrunr.repo import RunrRepo


def resolve_range(repo: RunrRepo, spec: str | None, since: str | None
                  ) -> tuple[str, list[str], list[str]]:
    """``(label, include, exclude)`` object ids for a revision range, as git parses it.

    ``spec`` is any range ``git rev-list`` takes as one argument (``A..B``, ``A...B``,
    ``B``); ``since`` REV means ``REV..HEAD``; neither means ``HEAD``.
    Raises :class:`UsageError` for both at once or an option-like spec,
    :class:`NotFoundError` when git cannot resolve it.
    """
    if spec is not None and since is not None:
        raise UsageError("give a range or --since, not both")
    if (spec is not None and not spec.strip()) or (since is not None and not since.strip()):
        raise UsageError("the revision range is empty: name one (main~50..main), or leave it "
                         "out to audit all of HEAD")
    label = spec if spec is not None else f"{since}..HEAD" if since is not None else "HEAD"
    if label.startswith("-") or any(ord(c) < 32 or c == "\x7f" for c in label):
        raise UsageError(f"{label!r} is not a revision range")
    repo.require_commits()
    proc = run_git(["rev-parse", "--revs-only", label, "--"], cwd=repo.cwd, check=False)
    lines = proc.stdout.decode().split()
    if proc.returncode != 0 or not lines:
        raise NotFoundError(f"revision range {label!r} does not resolve: "
                            f"{first_line(proc.stderr) if proc.stderr else 'no revisions'}")
    include = [_commit_id(repo, line, label) for line in lines if not line.startswith("^")]
    exclude = [_commit_id(repo, line[1:], label) for line in lines if line.startswith("^")]
    return label, include, exclude


def _commit_id(repo: RunrRepo, oid: str, label: str) -> str:
    """The commit an object id names (peeling tags); NotFoundError for a tree or blob."""
    obj = repo.git.get(oid)
    try:
        commit = obj.peel(pygit2.Commit) if obj is not None else None
    except (pygit2.InvalidSpecError, ValueError, pygit2.GitError):
        commit = None
    if commit is None:
        raise NotFoundError(f"revision range {label!r} names {oid[:12]}, which is not a "
                            "commit")
    return str(commit.id)


@dataclass
class _Ledger:
    """The ledger and notes read once for the whole audit."""

    repo: RunrRepo
    view: ledger.LedgerView
    notes_index: dict[str, pygit2.Oid]
    skipped: list[str] = field(default_factory=list)
    bad_runs: set[str] = field(default_factory=set)
    _indexes: dict[tuple[str, str], _RunIndex] = field(default_factory=dict)

    def run(self, run_id: str) -> RunSnapshot | None:
        if run_id in self.bad_runs or not is_run_id(run_id):
            return None
        try:
            return self.view.run(run_id)
        except CorruptRecordError as exc:
            self.bad_runs.add(run_id)
            self.skipped.append(exc.message)
            return None

    def match(self, snapshot: RunSnapshot, kind: str, sha: str,
              commit_patch_id: Callable[[], str | None]) -> AuditLink | None:
        """The run's record of this commit, of ``kind`` (``checkpoint``/``intervention``):
        by sha (its own, or one it had before an amend or rebase), then by patch-id
        (computed only when the run recorded any)."""
        key = (snapshot.run_id, kind)
        index = self._indexes.get(key)
        if index is None:
            index = self._indexes[key] = _RunIndex.of(snapshot, kind)
        record_id = index.by_sha.get(sha)
        if record_id is not None:
            return _link(snapshot.run_id, kind, record_id, "sha")
        if index.by_patch_id:
            pid = commit_patch_id()
            record_id = index.by_patch_id.get(pid) if pid is not None else None
            if record_id is not None:
                return _link(snapshot.run_id, kind, record_id, "patch-id")
        return None

    def note(self, sha: str) -> CommitNote | None:
        blob_id = self.notes_index.get(sha)
        if blob_id is None:
            return None
        blob = self.repo.git.get(blob_id)
        if not isinstance(blob, pygit2.Blob):
            self.skipped.append(f"{notes.NOTES_REF}:{sha} is not a file")
            return None
        try:
            return notes.parse(blob.data, sha)
        except CorruptRecordError as exc:
            self.skipped.append(exc.message)
            return None


def _read_records(repo: RunrRepo) -> _Ledger:
    """The ledger (a ledger ref at a non-commit raises: nothing could be verified) and
    the notes index. Notes are only an index, so a notes ref at a non-commit is
    reported in ``skipped`` and the audit goes on with the trailers."""
    view = ledger.read(repo)
    tip = ref_target(repo.git, notes.NOTES_REF)
    commit = repo.git.get(tip) if tip is not None else None
    if tip is not None and not isinstance(commit, pygit2.Commit):
        return _Ledger(repo, view, {}, skipped=[
            f"{notes.NOTES_REF} points at {tip}, which is not a commit; `git runr notes "
            "rebuild` writes it afresh from the ledger"])
    tree = commit.tree if isinstance(commit, pygit2.Commit) else None
    return _Ledger(repo, view, notes.index(repo.git, tree))


@dataclass(frozen=True, slots=True)
class Walked:
    """One commit of the range as ``git log`` printed it."""

    sha: str
    parents: tuple[str, ...]
    #: ``Name <email>`` of the author.
    author: str
    #: Committer time, seconds since the epoch.
    committed: int
    message: str


#: The pipe from ``git log``: large, so git is not held up by each read.
_PIPE_BYTES = 1 << 20
#: One field per ``%x00``; ``-z`` ends each commit with one more NUL.
_LOG_FORMAT = "%H%x00%P%x00%an <%ae>%x00%ct%x00%B"
_LOG_FIELDS = 5


def walk(repo: RunrRepo, include: list[str], exclude: list[str], *,
         first_parent: bool = False, no_merges: bool = False) -> Iterator[Walked]:
    """The commits of the range, oldest first (topological order, as the timeline
    reads), streamed from one ``git log`` process: git walks history in C several
    times faster than a walk through pygit2 objects, and the messages it prints are
    already in UTF-8 (git-log(1), ``i18n.logOutputEncoding``).

    Raises :class:`GitError` when git fails, or prints a commit this parser cannot
    split (a message holding a NUL byte).
    """
    args = ["log", "--topo-order", "--reverse", "-z", f"--format={_LOG_FORMAT}",
            "--no-color", "--encoding=UTF-8"]
    if first_parent:
        args.append("--first-parent")
    if no_merges:
        args.append("--no-merges")
    args += [*include, *(f"^{oid}" for oid in exclude), "--"]
    # Started now, so git walks while the caller reads the ledger and the notes.
    # GIT_FLUSH=0: git would otherwise flush the pipe after every commit (git(1)).
    proc = subprocess.Popen(["git", *args], cwd=repo.cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "GIT_FLUSH": "0"})
    assert proc.stdout is not None
    with contextlib.suppress(OSError, AttributeError):  # Linux: let git run ahead of us
        fcntl.fcntl(proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
    return _read_log(proc)


def _read_log(proc: subprocess.Popen[bytes]) -> Iterator[Walked]:
    assert proc.stdout is not None and proc.stderr is not None
    try:
        pending = b""
        fields: list[bytes] = []
        fd = proc.stdout.fileno()
        while chunk := os.read(fd, _PIPE_BYTES):  # what is there, not a full MiB
            parts = (pending + chunk).split(b"\0")
            pending = parts.pop()
            for part in parts:
                fields.append(part)
                if len(fields) == _LOG_FIELDS:
                    yield _walked(fields)
                    fields = []
        if len(fields) == _LOG_FIELDS - 1:  # no NUL after the last commit
            yield _walked([*fields, pending])
        elif fields or pending:
            raise GitError("git log printed a commit gitrunr cannot split (a NUL byte in "
                           "a message?)")
    finally:
        proc.stdout.close()
        error = proc.stderr.read()
        proc.stderr.close()
        code = proc.wait()
    if code != 0:
        raise GitError(f"git log failed: {first_line(error)}")


def _walked(fields: list[bytes]) -> Walked:
    sha, parents, author, committed, message = fields
    if len(sha) not in (40, 64) or not committed.isdigit():
        raise GitError("git log printed a commit gitrunr cannot split (a NUL byte in a "
                       f"message?) near {sha[:40]!r}")
    return Walked(sha.decode(), tuple(parents.decode().split()),
                  author.decode("utf-8", "replace"), int(committed),
                  message.decode("utf-8", "replace"))


_KIND_WORDS = {"checkpoint": "a checkpoint", "intervention": "an intervention"}
_CLAIM_KEYS = {trailers.RUN_ID.lower(), trailers.CHECKPOINT.lower(),
               trailers.INTERVENTION.lower()}


@dataclass(frozen=True)
class _Claim:
    run_id: str
    kind: str  # "checkpoint" | "intervention"
    source: str  # "trailer" | "note" | "message"
    record_id: str | None = None


def _claims(records: _Ledger, sha: str, message: str) -> list[_Claim]:
    """What the commit claims, strongest first: its trailers, its note, then any
    paragraph of its message that reads like our trailer block (a squash lists the
    messages it combines), each claim once."""
    # Every claim in the text names a run: a message without that key claims nothing,
    # and most commits of a long history are read no further than this.
    in_text = "runr-run-id" in message.lower()
    claims: list[_Claim] = []
    if in_text:
        found = trailers.parse_trailers(message, divider=False)
        claims.extend(_block_claims([(t.key.lower(), t.value) for t in found
                                     if t.key.lower() in _CLAIM_KEYS], "trailer"))
    note = records.note(sha)
    for link in note.links if note else []:
        claims.append(_Claim(link.run_id, link.kind, "note",
                             link.checkpoint_id or link.intervention_id))
    if in_text:
        for paragraph in message.split("\n\n"):
            claims.extend(_block_claims(_paragraph_pairs(paragraph), "message"))
    return list(dict.fromkeys(claims))


def _block_claims(pairs: list[tuple[str, str]], source: str) -> Iterator[_Claim]:
    """Claims of one trailer block, as ``(lowercased key, value)`` pairs: each run it
    names, as an intervention when it says ``Runr-Intervention: true``, else as the
    checkpoint its ``Runr-Checkpoint`` names (seed 002 section 4)."""
    keys = [k for k, _ in pairs]
    if trailers.RUN_ID.lower() not in keys:
        return
    is_intervention = any(k == trailers.INTERVENTION.lower() and v.lower() == "true"
                          for k, v in pairs)
    checkpoint = next((v for k, v in pairs if k == trailers.CHECKPOINT.lower()), None)
    for key, run_id in pairs:
        if key == trailers.RUN_ID.lower():
            yield _Claim(run_id, "intervention" if is_intervention else "checkpoint", source,
                         None if is_intervention else checkpoint)


def _paragraph_pairs(paragraph: str) -> list[tuple[str, str]]:
    """Our trailer lines in one paragraph of a message, wherever they stand: indented
    by ``git merge --squash`` (``SQUASH_MSG`` indents each message by four spaces),
    or below a forge's ``* subject`` line. Keys compare case-insensitively and may
    have blanks before the colon, as git-interpret-trailers(1) allows."""
    pairs = []
    for line in paragraph.splitlines():
        key, colon, value = line.partition(":")
        key = key.strip().lower()
        if colon and key in _CLAIM_KEYS:
            pairs.append((key, value.strip()))
    return pairs


@dataclass(slots=True)
class Entry:
    """One commit's line of the audit: :class:`AuditCommit` without pydantic, because
    building 100,000 models costs more than the rest of the audit (the values come
    from git and from ledger documents validated on read). :meth:`to_json` gives
    exactly the documented JSON (docs/json.md, ``schemas/audit-report.schema.json``).
    """

    sha: str
    subject: str
    author: str
    #: Committer time, seconds since the epoch.
    committed: int
    class_: AuditClass
    run_id: str | None = None
    checkpoint_id: str | None = None
    intervention_id: str | None = None
    tier: str | None = None
    linked: str | None = None
    links: list[AuditLink] = field(default_factory=list)
    reason: str | None = None
    note: str | None = None
    #: For RUNR: ``passed`` or ``failed`` when evidence was recorded at this commit
    #: (the last one counts), else None (docs/workflow.md).
    evidence: str | None = None

    @property
    def short_sha(self) -> str:
        return self.sha[:7]

    def json_text(self) -> str:
        """:meth:`to_json` as one line of JSON; a GAP (most commits of a long history)
        is filled into a template instead of going through ``json.dumps``."""
        if self.class_ != "GAP":
            return json.dumps(self.to_json(), ensure_ascii=False)
        return _GAP_JSON.format(
            sha=self.sha, short_sha=self.sha[:7], subject=_json_str(self.subject),
            author=_json_str(self.author),
            committed_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.committed)),
            reason=_json_str(self.reason or ""))

    def to_json(self) -> dict[str, object]:
        """The entry as JSON-ready data, keys in the documented order."""
        return {
            "sha": self.sha, "short_sha": self.sha[:7], "subject": self.subject,
            "author": self.author,
            "committed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.committed)),
            "class": self.class_, "run_id": self.run_id, "checkpoint_id": self.checkpoint_id,
            "intervention_id": self.intervention_id, "tier": self.tier,
            "linked": self.linked,
            "links": [{"run_id": link.run_id, "kind": link.kind,
                       "checkpoint_id": link.checkpoint_id,
                       "intervention_id": link.intervention_id, "linked": link.linked}
                      for link in self.links],
            "reason": self.reason, "note": self.note, "evidence": self.evidence,
        }


#: A GAP entry's JSON; every field not filled in is null or empty.
_GAP_JSON = ('{{"sha": "{sha}", "short_sha": "{short_sha}", "subject": {subject}, '
             '"author": {author}, "committed_at": "{committed_at}", "class": "GAP", '
             '"run_id": null, "checkpoint_id": null, "intervention_id": null, "tier": null, '
             '"linked": null, "links": [], "reason": {reason}, "note": null, '
             '"evidence": null}}')
#: A str as a JSON string, non-ASCII kept (the C encoder behind ``json.dumps``).
_json_str = json.JSONEncoder(ensure_ascii=False).encode


def classify(records: _Ledger, commit: Walked) -> Entry:
    """The audit entry of one commit; see the module docstring for the classes."""
    sha = commit.sha
    message = commit.message
    claims = _claims(records, sha, message)
    subject = message.split("\n", 1)[0].strip()
    if not claims:
        return Entry(sha, subject, commit.author, commit.committed, "GAP",
                     reason="no run trailer, no note, no record")

    git_commit: list[pygit2.Commit] = []  # looked up only for a patch-id or a squash

    def as_object() -> pygit2.Commit:
        if not git_commit:
            obj = records.repo.git[sha]
            assert isinstance(obj, pygit2.Commit)
            git_commit.append(obj)
        return git_commit[0]

    pid: list[str | None] = []  # computed at most once

    def commit_patch_id() -> str | None:
        if not pid:
            pid.append(ledger.patch_id(as_object()) if len(commit.parents) < 2 else None)
        return pid[0]

    verified: dict[tuple[str, str], AuditLink] = {}
    unmatched: list[tuple[_Claim, RunSnapshot]] = []
    problems: dict[tuple[str, str], str] = {}
    for claim in claims:
        key = (claim.run_id, claim.kind)
        if key in verified or key in problems:
            continue
        snapshot = records.run(claim.run_id)
        if snapshot is None:
            known = ("whose ledger record is unreadable" if claim.run_id in records.bad_runs
                     else "which the ledger does not know")
            problems[key] = f"{claim.source} claims run {claim.run_id}, {known}"
            continue
        match = records.match(snapshot, claim.kind, sha, commit_patch_id)
        if match is None:
            unmatched.append((claim, snapshot))
        else:
            verified[key] = match
    if unmatched and len(commit.parents) < 2:
        for link in _squash_links(records.repo.git, as_object(), commit_patch_id, unmatched):
            verified.setdefault((link.run_id, link.kind), link)
    for claim, _ in unmatched:
        key = (claim.run_id, claim.kind)
        if key not in verified:
            problems.setdefault(key, f"{claim.source} claims run {claim.run_id}, which never "
                                     f"recorded this commit as {_KIND_WORDS[claim.kind]}")

    links = list(verified.values())
    cls: AuditClass
    if any(v.kind == "checkpoint" for v in links):
        cls = "RUNR"
    elif links:
        cls = "MANUAL"
    else:
        cls = "UNVERIFIED"
    first = next((v for v in links if (v.kind == "checkpoint") == (cls == "RUNR")), None)
    run_id = first.run_id if first else claims[0].run_id
    snapshot = records.run(run_id) if first else None
    note_text = None
    if first is not None and first.intervention_id and snapshot is not None:
        note_text = next((i.note.split("\n", 1)[0] for i in snapshot.interventions
                          if i.intervention_id == first.intervention_id), None)
    evidence = None
    if cls == "RUNR" and snapshot is not None and snapshot.evidence and first is not None:
        shas = {sha}
        for cp in snapshot.checkpoints:
            if cp.checkpoint_id == first.checkpoint_id:
                shas.update((cp.sha, *cp.previous_shas))
        for ev in snapshot.evidence:  # in the order recorded: the last one counts
            if ev.head in shas:
                evidence = "passed" if ev.exit_code == 0 else "failed"
    return Entry(
        sha, subject, commit.author, commit.committed, cls, run_id=run_id,
        checkpoint_id=first.checkpoint_id if first else None,
        intervention_id=first.intervention_id if first else None,
        tier=snapshot.tier if snapshot else None,
        linked=first.linked if first else None, links=links,
        reason="; ".join(problems.values()) if cls == "UNVERIFIED" else None, note=note_text,
        evidence=evidence,
    )


def _records(snapshot: RunSnapshot, kind: str
             ) -> list[tuple[str, str | None, list[str], str | None, str | None]]:
    """``(record id, sha, previous shas, patch-id, tree)`` of the run's records of
    ``kind`` (``checkpoint``/``intervention``)."""
    if kind == "checkpoint":
        return [(c.checkpoint_id, c.sha, c.previous_shas, c.patch_id, c.tree)
                for c in snapshot.checkpoints]
    return [(i.intervention_id, i.commit_sha, i.previous_shas, i.patch_id, i.tree)
            for i in snapshot.interventions]


def _link(run_id: str, kind: str, record_id: str, how: str) -> AuditLink:
    return AuditLink.model_validate({"run_id": run_id, "kind": kind,
                                     f"{kind}_id": record_id, "linked": how})


@dataclass
class _RunIndex:
    """One run's records of one kind, by the shas (now and before a rewrite) and the
    patch-ids they were recorded with: each lookup is a dict access, however many
    checkpoints the run has."""

    by_sha: dict[str, str]
    by_patch_id: dict[str, str]

    @classmethod
    def of(cls, snapshot: RunSnapshot, kind: str) -> _RunIndex:
        by_sha: dict[str, str] = {}
        by_patch_id: dict[str, str] = {}
        for record_id, now, before, pid, _ in _records(snapshot, kind):
            if now is None:
                continue
            by_sha.setdefault(now, record_id)
            for sha in before:
                by_sha.setdefault(sha, record_id)
            if pid is not None:
                by_patch_id.setdefault(pid, record_id)
        return cls(by_sha, by_patch_id)


@dataclass(frozen=True)
class _Recorded:
    """A recorded commit a squash may have combined."""

    run_id: str
    kind: str
    record_id: str
    sha: str
    tree: str | None


#: How many of the newest claimed commits are tried as the tip of a squashed branch.
_TIPS_TRIED = 3


def _squash_links(git: pygit2.Repository, commit: pygit2.Commit,
                  commit_patch_id: Callable[[], str | None],
                  unmatched: list[tuple[_Claim, RunSnapshot]]) -> list[AuditLink]:
    """Links for the claims of a squash: one commit whose change is a whole branch of
    recorded commits (``git merge --squash``, a forge's squash merge, ``rebase -i``
    without our hooks).

    The branch's tip ``T`` is a claimed record whose tree is this commit's tree
    (``tree``), or one whose combined patch-id from ``merge-base(T, parent)`` equals
    this commit's patch-id (``patch-id``). Every claimed record on that branch, from
    the merge base to ``T``, is then linked. A commit that changes nothing, or whose
    parent already contains ``T``, is no squash of it: that is how a hand-made empty
    commit claiming a run is kept from matching the run's last tree.
    """
    if len(commit.parents) > 1:
        return []
    parent = commit.parents[0] if commit.parents else None
    if parent is not None and parent.tree_id == commit.tree_id:
        return []
    found: list[_Recorded] = []
    for claim, snapshot in unmatched:
        for record_id, sha, _, _, tree in _records(snapshot, claim.kind):
            if sha is not None and claim.record_id in (None, record_id):
                found.append(_Recorded(claim.run_id, claim.kind, record_id, sha, tree))

    def tree_of(rec: _Recorded) -> str | None:
        if rec.tree is not None:
            return rec.tree
        obj = git.get(rec.sha)
        return str(obj.tree_id) if isinstance(obj, pygit2.Commit) else None

    bases: dict[str, pygit2.Oid | None] = {}

    def merge_base(tip: _Recorded) -> pygit2.Oid | None:
        """``merge-base(tip, parent)``, computed once per tip (it walks history)."""
        if tip.sha not in bases:
            bases[tip.sha] = git.merge_base(tip.sha, parent.id) if parent is not None else None
        return bases[tip.sha]

    def branch(tip: _Recorded) -> Callable[[_Recorded], bool] | None:
        """Whether a record is on the branch ending at ``tip``; None when ``tip`` is
        already in this commit's history."""
        if not isinstance(git.get(tip.sha), pygit2.Commit):
            return lambda rec: rec.sha == tip.sha  # the tip is all we can know
        base = merge_base(tip)
        if base is not None and str(base) == tip.sha:
            return None

        def on(rec: _Recorded) -> bool:
            if rec.sha == tip.sha:
                return True
            try:
                return (git.descendant_of(tip.sha, rec.sha) and not (
                    base is not None and (str(base) == rec.sha
                                          or git.descendant_of(base, rec.sha))))
            except (pygit2.GitError, KeyError, ValueError):
                return False  # the record's commit is not here
        return on

    tree = str(commit.tree_id)
    for tip in (rec for rec in found if tree_of(rec) == tree):
        on = branch(tip)
        if on is not None:
            return [_link(r.run_id, r.kind, r.record_id, "tree") for r in found if on(r)]

    pid = commit_patch_id()
    present: list[tuple[_Recorded, pygit2.Commit]] = []
    for rec in found:
        obj = git.get(rec.sha)
        if isinstance(obj, pygit2.Commit):
            present.append((rec, obj))
    present.sort(key=lambda pair: pair[1].commit_time, reverse=True)
    for tip, tip_commit in present[:_TIPS_TRIED]:
        on = branch(tip)
        if on is None or pid is None:
            continue
        base = merge_base(tip)
        base_tree = git[base].peel(pygit2.Tree) if base is not None else None
        if ledger.tree_patch_id(base_tree, tip_commit.tree) == pid:
            return [_link(r.run_id, r.kind, r.record_id, "patch-id") for r in found if on(r)]
    return []


class Audit:
    """A running audit: iterate :attr:`entries` (oldest first, one :class:`Entry` per
    commit, computed as git prints them, so memory does not grow with the range);
    :attr:`summary` and :attr:`skipped` are complete once the iteration ends."""

    def __init__(self, repo: RunrRepo, spec: str | None = None, *,
                 since: str | None = None, first_parent: bool = False,
                 no_merges: bool = False) -> None:
        """Resolve the range and read the records. Raises :class:`UsageError` or
        :class:`NotFoundError` for a bad range, :class:`NotARepositoryError` for an empty
        repository, :class:`CorruptRecordError` when the ledger or notes ref points at
        a non-commit."""
        self.range, include, exclude = resolve_range(repo, spec, since)
        self._commits = walk(repo, include, exclude, first_parent=first_parent,
                             no_merges=no_merges)
        self._records = _read_records(repo)
        self.counts: dict[str, int] = {"RUNR": 0, "MANUAL": 0, "UNVERIFIED": 0, "GAP": 0}

    @property
    def entries(self) -> Iterator[Entry]:
        for commit in self._commits:
            entry = classify(self._records, commit)
            self.counts[entry.class_] += 1
            yield entry

    @property
    def summary(self) -> AuditSummary:
        return AuditSummary(**self.counts, total=sum(self.counts.values()))

    @property
    def skipped(self) -> list[str]:
        """Records that could not be read (ref and path, and why), sorted, each once."""
        return sorted(set(self._records.skipped))


def audit(repo: RunrRepo, spec: str | None = None, *, since: str | None = None,
          first_parent: bool = False, no_merges: bool = False) -> AuditReport:
    """Audit a revision range and return the whole report (see :class:`AuditReport`);
    :class:`Audit` streams it instead.

    Raises :class:`UsageError`/:class:`NotFoundError` for a bad range,
    :class:`NotARepositoryError` for an empty repository, and
    :class:`CorruptRecordError` when a ledger or notes ref points at a non-commit.
    Unreadable individual documents do not raise: they are listed in ``skipped``
    and the commits they concern are never counted as verified.
    """
    run = Audit(repo, spec, since=since, first_parent=first_parent, no_merges=no_merges)
    commits = [AuditCommit.model_validate(entry.to_json()) for entry in run.entries]
    return AuditReport(range=run.range, commits=commits, summary=run.summary,
                       skipped=run.skipped)
