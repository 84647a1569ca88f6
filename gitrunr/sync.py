"""``git runr sync``: share records with a remote through ordinary git refs.

DESIGN.md section 2: "fetch the remote's ledger and notes into a private namespace
(``refs/runr/remotes/<remote>/…``), merge by union, push. Never a blanket forced
refspec that overwrites local records."

1. Fetch ``refs/runr/ledger`` and ``refs/notes/runr`` of the remote into
   ``refs/runr/remotes/<remote>/{ledger,notes}`` (forced: they mirror the remote).
2. Merge with the local refs by union (:func:`merge_ledgers`, :func:`merge_notes`):
   event files are immutable and uniquely named, so the union of two ledgers is
   well defined; a run with events from both sides gets its snapshot replayed.
3. Push the merged commits to the remote without force: they descend from the
   remote's tips, so the push is a fast-forward unless the remote moved meanwhile,
   in which case everything starts again from a fresh fetch.
4. Only then move the local refs (compare-and-swap). A push the remote rejects
   leaves the local records exactly as they were.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pygit2

from gitrunr import events as run_events
from gitrunr import ledger, notes
from gitrunr.errors import GitError, NotFoundError, RefRaceError, UsageError
from gitrunr.git import first_line, run_git
from gitrunr.models import EVENT_ADAPTER, PLAN_EVENT_ADAPTER
from gitrunr.objects import cas_update_refs, json_blob, ref_target, signature, update_tree
from gitrunr.repo import RunrRepo

#: How many times a sync starts over when the remote or the local refs moved.
ATTEMPTS = 8
#: What git says when a push lost a race with another push to the same refs: the
#: ref moved (non-fast-forward, fetch first, stale info) or was being updated
#: (the remote's ref lock, "is at X but expected Y", created meanwhile).
_REMOTE_MOVED = ("non-fast-forward", "fetch first", "stale info", "cannot lock ref",
                 "but expected", "reference already exists")


def remote_refs(remote: str) -> tuple[str, str]:
    """The private refs holding the remote's ledger and notes after a fetch."""
    return f"refs/runr/remotes/{remote}/ledger", f"refs/runr/remotes/{remote}/notes"


def fetch_refspecs(remote: str) -> list[str]:
    """The fetch refspecs that let a plain ``git fetch REMOTE`` bring the remote's
    records into the private namespace sync reads (docs/sync.md).

    Each is a pattern (``+refs/runr/ledger*:…/ledger*``, git-fetch(1) "a pattern
    refspec"), because an exact one makes every ``git fetch`` fail with "couldn't find
    remote ref" until the remote has records. The ``+`` is safe: the destination only
    mirrors the remote, and never is ``refs/runr/ledger`` or ``refs/notes/runr``.
    """
    ledger_ref, notes_ref = remote_refs(remote)
    return [f"+{ledger.LEDGER_REF}*:{ledger_ref}*", f"+{notes.NOTES_REF}*:{notes_ref}*"]


def add_fetch_refspecs(repo: RunrRepo, remote: str) -> list[str]:
    """Add :func:`fetch_refspecs` to ``remote.<remote>.fetch``; return those added
    (none when they are there already). Raises :class:`NotFoundError` for a remote
    that does not exist and :class:`GitError` when git cannot write its config."""
    require_remote(repo, remote)
    key = f"remote.{remote}.fetch"
    present = run_git(["config", "--get-all", key], cwd=repo.cwd, check=False)
    have = set(present.stdout.decode().splitlines())
    added = [spec for spec in fetch_refspecs(remote) if spec not in have]
    for spec in added:
        run_git(["config", "--add", key, spec], cwd=repo.cwd)
    return added


def require_remote(repo: RunrRepo, remote: str) -> None:
    """Raise :class:`NotFoundError` unless ``remote`` is a configured remote."""
    if run_git(["remote", "get-url", "--", remote], cwd=repo.cwd, check=False).returncode:
        raise NotFoundError(f"no remote named {remote!r}: `git remote -v` lists them")


@dataclass
class MergeOutcome:
    """The union of two ledgers: its tree (None when both are empty), how many events
    only ``theirs`` had (``fetched``), only ``ours`` had (``pushed``), and how many
    runs had events that only ours had *and* events that only theirs had
    (``merged_runs``: replayed from both sides; symmetric in ours and theirs)."""

    tree: pygit2.Oid | None
    fetched: int = 0
    pushed: int = 0
    merged_runs: int = 0
    conflicts: list[str] = field(default_factory=list)


def _tree_of(git: pygit2.Repository, commit_id: pygit2.Oid | None) -> pygit2.Tree | None:
    if commit_id is None:
        return None
    commit = git.get(commit_id)
    if not isinstance(commit, pygit2.Commit):
        raise GitError(f"{commit_id} is not a commit; cannot merge it as a ledger")
    return commit.tree


def _entries(git: pygit2.Repository, tree: pygit2.Tree | None) -> dict[str, pygit2.Object]:
    if tree is None:
        return {}
    return {entry.name: entry for entry in tree if entry.name}


def _count_events(git: pygit2.Repository, obj_id: pygit2.Oid, depth: int) -> int:
    """Event files below a tree: depth 2 = a shard, 1 = a run directory."""
    tree = git[obj_id]
    if not isinstance(tree, pygit2.Tree):
        return 0
    if depth == 1:
        if "events" not in tree:
            return 0
        sub = git[tree["events"].id]
        return len(sub) if isinstance(sub, pygit2.Tree) else 0
    return sum(_count_events(git, e.id, depth - 1) for e in tree)


def merge_ledgers(git: pygit2.Repository, ours: pygit2.Oid | None,
                  theirs: pygit2.Oid | None) -> MergeOutcome:
    """The union of the ledger trees at commits ``ours`` and ``theirs``.

    Subtrees with the same id are taken as they are, so the cost follows what
    differs. A run on both sides with different events gets the union of its event
    files and a ``run.json`` replayed from them (validated). An event id present on
    both sides with different bytes should never happen (events are immutable); ours
    is kept and the path is listed in ``conflicts``. Commutative up to those
    conflicts, and idempotent.
    """
    our_tree, their_tree = _tree_of(git, ours), _tree_of(git, theirs)
    if our_tree is None or their_tree is None or our_tree.id == their_tree.id:
        only = our_tree or their_tree
        outcome = MergeOutcome(tree=only.id if only is not None else None)
        runs = git[only["runs"].id] if only is not None and "runs" in only else None
        if our_tree is None and their_tree is not None and isinstance(runs, pygit2.Tree):
            outcome.fetched = _count_events(git, runs.id, 3)
        if their_tree is None and our_tree is not None and isinstance(runs, pygit2.Tree):
            outcome.pushed = _count_events(git, runs.id, 3)
        return outcome

    outcome = MergeOutcome(tree=None)
    changes: dict[str, pygit2.Oid | None] = {}
    for top, depth in _LOGS.items():
        mine = git[our_tree[top].id] if top in our_tree else None
        other = git[their_tree[top].id] if top in their_tree else None
        _union(git, top, mine if isinstance(mine, pygit2.Tree) else None,
               other if isinstance(other, pygit2.Tree) else None, depth, outcome, changes)
    outcome.tree = update_tree(git, our_tree, changes) if changes else our_tree.id
    return outcome


#: The directories of the ledger that hold event logs, and how deep the logs sit:
#: ``runs/<shard>/<run-id>``, ``plans/<initiative>/<phase>/<NN>``.
_LOGS = {"runs": 2, "plans": 3}


def _union(git: pygit2.Repository, path: str, ours: pygit2.Tree | None,
           theirs: pygit2.Tree | None, depth: int, outcome: MergeOutcome,
           changes: dict[str, pygit2.Oid | None]) -> None:
    """Merge directory ``path`` into ``changes``: its entries are directories
    (``depth`` above 1) or event logs (``depth`` 1: a run or a plan). Equal subtrees are
    skipped, one-sided ones grafted whole, and a log on both sides merged event by
    event."""
    mine, other = _entries(git, ours), _entries(git, theirs)
    for name in sorted(set(mine) | set(other)):
        a, b = mine.get(name), other.get(name)
        sub = f"{path}/{name}"
        if a is not None and b is not None and a.id == b.id:
            continue
        if b is None:
            outcome.pushed += _count_events(git, a.id, depth)  # type: ignore[union-attr]
        elif a is None:
            outcome.fetched += _count_events(git, b.id, depth)
            changes[sub] = b.id
        elif depth == 1:
            changes.update(_merge_log(git, sub, a.id, b.id, outcome))
        else:
            tree_a, tree_b = git[a.id], git[b.id]
            if not isinstance(tree_a, pygit2.Tree) or not isinstance(tree_b, pygit2.Tree):
                raise GitError(f"{sub} is not a directory in one of the ledgers")
            _union(git, sub, tree_a, tree_b, depth - 1, outcome, changes)


def _merge_log(git: pygit2.Repository, base: str, ours: pygit2.Oid, theirs: pygit2.Oid,
               outcome: MergeOutcome) -> dict[str, pygit2.Oid | None]:
    """Changes that give the log directory ``ours`` (a run's or a plan's) the events of
    ``theirs`` too, with its derived files (``run.json`` and the artifact manifest, or
    ``plan.json``) replayed from the union."""
    def events_of(log_tree_id: pygit2.Oid) -> dict[str, pygit2.Oid]:
        log_tree = git[log_tree_id]
        if not isinstance(log_tree, pygit2.Tree) or "events" not in log_tree:
            return {}
        sub = git[log_tree["events"].id]
        return {e.name: e.id for e in sub if e.name} if isinstance(sub, pygit2.Tree) else {}

    mine, other = events_of(ours), events_of(theirs)
    changes: dict[str, pygit2.Oid | None] = {}
    only_ours = 0
    for name in sorted(set(mine) | set(other)):
        if name not in other:
            only_ours += 1
        elif name not in mine:
            outcome.fetched += 1
            changes[f"{base}/events/{name}"] = other[name]
        elif mine[name] != other[name]:
            outcome.conflicts.append(f"{base}/events/{name}")
    outcome.pushed += only_ours
    if not changes:
        return changes
    blobs: list[bytes] = []
    for name, oid in sorted({**other, **mine}.items()):
        blob = git[oid]
        if not isinstance(blob, pygit2.Blob):
            raise GitError(f"{ledger.LEDGER_REF}:{base}/events/{name} is not a file")
        blobs.append(blob.data)
    if base.startswith("plans/"):
        record = run_events.replay_plan(PLAN_EVENT_ADAPTER.validate_json(b) for b in blobs)
        if ledger.plan_dir(record.plan_ref) != base:
            raise GitError(f"{base} holds events of {record.plan_ref}")
        changes[f"{base}/plan.json"] = json_blob(git, record)
    else:
        snapshot = run_events.replay(EVENT_ADAPTER.validate_json(b) for b in blobs)
        if ledger.run_dir(snapshot.run_id) != base:
            raise GitError(f"{base} holds events of {snapshot.run_id}")
        changes.update(ledger.run_files(git, snapshot))
    if only_ours:
        outcome.merged_runs += 1  # new events on both sides, not a fast-forward
    return changes


def merge_notes(git: pygit2.Repository, ours: pygit2.Oid | None,
                theirs: pygit2.Oid | None) -> pygit2.Oid | None:
    """The union of two notes trees: per commit, the union of its links."""
    our_tree, their_tree = _tree_of(git, ours), _tree_of(git, theirs)
    if our_tree is None or their_tree is None or our_tree.id == their_tree.id:
        only = our_tree or their_tree
        return only.id if only is not None else None
    mine, other = notes.index(git, our_tree), notes.index(git, their_tree)
    changes: dict[str, pygit2.Oid | None] = {}
    for sha, blob_id in other.items():
        if mine.get(sha) == blob_id:
            continue
        theirs_note = notes.parse(git[blob_id].data, sha)  # type: ignore[attr-defined]
        if sha not in mine:
            changes[notes.new_path(sha)] = blob_id
            continue
        ours_note = notes.parse(git[mine[sha]].data, sha)  # type: ignore[attr-defined]
        path = notes.locate(our_tree, sha) or notes.new_path(sha)
        changes[path] = git.create_blob(notes.encode(notes.merge(ours_note, theirs_note.links)))
    return update_tree(git, our_tree, changes) if changes else our_tree.id


@dataclass
class SyncResult:
    """What :func:`sync` did, in numbers (``--json`` prints these fields)."""

    remote: str
    fetched: int
    pushed: int
    merged_runs: int
    ledger: str | None
    notes: str | None
    pushed_refs: bool
    conflicts: list[str]


def default_remote(repo: RunrRepo) -> str:
    """The remote of the current branch's upstream, else the only remote.

    Raises :class:`UsageError` when there is no way to choose.
    """
    proc = run_git(["rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}"],
                   cwd=repo.cwd, check=False)
    upstream = proc.stdout.decode().strip()
    remotes = run_git(["remote"], cwd=repo.cwd).stdout.decode().split()
    if proc.returncode == 0 and upstream:
        for name in sorted(remotes, key=len, reverse=True):
            if upstream.startswith(name + "/"):
                return name
    if len(remotes) == 1:
        return remotes[0]
    if not remotes:
        raise UsageError("this repository has no remote: add one with `git remote add`")
    raise UsageError(f"name the remote to sync with: `git runr sync {remotes[0]}` "
                     f"(remotes: {', '.join(remotes)})")


def _fetch(repo: RunrRepo, remote: str) -> tuple[pygit2.Oid | None, pygit2.Oid | None]:
    """Fetch the remote's records into the private namespace; return their tips."""
    listed = run_git(["ls-remote", "--", remote, ledger.LEDGER_REF, notes.NOTES_REF],
                     cwd=repo.cwd, check=False)
    if listed.returncode != 0:
        raise GitError(f"cannot read remote {remote!r}: {first_line(listed.stderr)}")
    present = {line.split("\t")[1] for line in listed.stdout.decode().splitlines()
               if "\t" in line}
    ledger_ref, notes_ref = remote_refs(remote)
    specs = [f"+{src}:{dst}" for src, dst in ((ledger.LEDGER_REF, ledger_ref),
                                              (notes.NOTES_REF, notes_ref)) if src in present]
    if specs:
        proc = run_git(["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", remote,
                        *specs], cwd=repo.cwd, check=False)
        if proc.returncode != 0:
            raise GitError(f"cannot fetch gitrunr records from {remote!r}: "
                           f"{first_line(proc.stderr)}")
    tips = []
    for src, dst in ((ledger.LEDGER_REF, ledger_ref), (notes.NOTES_REF, notes_ref)):
        tips.append(ref_target(repo.git, dst) if src in present else None)
    return tips[0], tips[1]


def _merge_commit(git: pygit2.Repository, tree: pygit2.Oid | None, ours: pygit2.Oid | None,
                  theirs: pygit2.Oid | None, message: str) -> pygit2.Oid | None:
    """The commit to move a ref to: a side that already has ``tree`` (fast-forward or
    nothing to do), else a merge commit with both as parents."""
    if tree is None:
        return None
    for side, other in ((ours, theirs), (theirs, ours)):
        side_tree = _tree_of(git, side)
        if side is not None and side_tree is not None and side_tree.id == tree and (
                other is None or other == side or git.descendant_of(side, other)):
            return side
    sig = signature(*ledger.identity(git), datetime.now(UTC))
    parents = [p for p in (ours, theirs) if p is not None]
    oid: pygit2.Oid = git.create_commit(None, sig, sig, message, tree, parents)
    return oid


def sync(repo: RunrRepo, remote: str | None = None, *, push: bool = True) -> SyncResult:
    """Fetch, merge and push the records of ``remote``; see the module docstring.

    Raises :class:`NotFoundError` for a remote that does not exist,
    :class:`UsageError` when none is named and none can be chosen, and
    :class:`GitError` when fetching or pushing fails (the local refs are then as
    they were) or the refs keep moving for :data:`ATTEMPTS` rounds.
    """
    repo.require_worktree()
    name = remote or default_remote(repo)
    require_remote(repo, name)
    ledger.flush(repo)
    git = repo.git
    pushed_events = 0  # across attempts: a push may succeed and the local update race
    pushed = False
    for _ in range(ATTEMPTS):
        their_ledger, their_notes = _fetch(repo, name)
        our_ledger = ref_target(git, ledger.LEDGER_REF)
        our_notes = ref_target(git, notes.NOTES_REF)
        merged = merge_ledgers(git, our_ledger, their_ledger)
        new_ledger = _merge_commit(git, merged.tree, our_ledger, their_ledger,
                                   f"runr: merge the ledger of {name}\n\n"
                                   f"{merged.fetched} event(s) fetched, "
                                   f"{merged.merged_runs} run(s) merged\n")
        new_notes = _merge_commit(git, merge_notes(git, our_notes, their_notes), our_notes,
                                  their_notes, f"Notes merged from {name} by 'git runr'\n")
        if push:
            refspecs = [f"{new}:{ref}" for new, theirs, ref in (
                (new_ledger, their_ledger, ledger.LEDGER_REF),
                (new_notes, their_notes, notes.NOTES_REF)) if new is not None and new != theirs]
            if refspecs:
                # --atomic: both refs or neither, so a lost race never leaves half
                # of a sync on the remote (git-push(1)).
                # --no-verify: this push carries records, not code, so the user's
                # pre-push hooks (and our own sync-on-push hook) do not run again.
                proc = run_git(["push", "--atomic", "--no-verify", "--quiet", "--porcelain",
                                "--", name, *refspecs], cwd=repo.cwd, check=False)
                if proc.returncode != 0:
                    text = (proc.stdout + proc.stderr).decode("utf-8", "replace")
                    if any(sign in text for sign in _REMOTE_MOVED):
                        continue  # the remote moved: start again from a fresh fetch
                    raise GitError(f"the remote {name!r} refused the records, nothing local "
                                   f"changed: {first_line(proc.stderr or proc.stdout)}")
                pushed = True
                pushed_events += merged.pushed
        updates = [(ref, new, old) for ref, new, old in (
            (ledger.LEDGER_REF, new_ledger, our_ledger),
            (notes.NOTES_REF, new_notes, our_notes)) if new is not None and new != old]
        if updates:
            try:
                cas_update_refs(git, str(repo.cwd), updates, f"runr: sync with {name}")
            except RefRaceError:
                continue  # a local writer appended meanwhile: merge again
        return SyncResult(remote=name, fetched=merged.fetched, pushed=pushed_events,
                          merged_runs=merged.merged_runs,
                          ledger=str(new_ledger) if new_ledger else None,
                          notes=str(new_notes) if new_notes else None, pushed_refs=pushed,
                          conflicts=merged.conflicts)
    raise GitError(f"the records kept changing while syncing with {name!r} "
                   f"({ATTEMPTS} attempts); try again")
