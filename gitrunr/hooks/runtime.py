"""What the hooks do on each commit. Standard library only: this is the commit path.

- ``commit-msg`` stamps the message with the trailers of this worktree's pending
  intervention (``Runr-Run-Id``, ``Runr-Intervention: true``) or active run
  (``Runr-Run-Id``, ``Runr-Checkpoint``, ``Runr-Tier``) (seed 002 section 4).
- ``post-commit`` spools the record of the new commit: a checkpoint of the active
  run, or the link of the pending intervention to this commit.
- ``post-merge`` does the same for a merge commit (git runs no post-commit there).
- ``post-rewrite`` spools the old -> new mapping of an amend or rebase, so the
  records follow the rewritten commits.

The spool is moved into the ledger by a detached ``flush`` (see
:mod:`gitrunr.ledger`), so the commit does not wait for pygit2 and pydantic to load.
A hook never fails a commit because gitrunr could not record it: it says so on
stderr, and the records it could not make are in the spool for the next flush.
"""

from __future__ import annotations

import os
import sys
import time

from gitrunr import trailers
from gitrunr.ids import is_id, new_id
from gitrunr.state import (
    ACTIVE_RUN,
    PENDING_INTERVENTION,
    SPOOL,
    read_json,
    remove,
    spawn_flush,
    spool_entry,
    write_json_atomic,
)

# Type checkers treat any TYPE_CHECKING name as true; importing typing costs ~2 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: commit-msg's marker: "I stamped the next commit as this intervention".
STAMPED = "stamped-intervention.json"
#: The shared settings, relative to the top of the work tree (where git runs hooks).
CONFIG = os.path.join(".runr", "runr.toml")
#: Set by ``git runr submit`` for the merges and picks it makes (docs/workflow.md).
SUBMIT_ENV = "GITRUNR_SUBMIT"


def _now() -> str:
    """UTC now as ISO 8601 with milliseconds (``2026-01-06T12:00:00.000Z``)."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


def _git(*args: str, input: bytes | None = None) -> bytes:
    """Run git (only when the shim did not hand us the answer: subprocess costs ~10 ms
    to import)."""
    import subprocess

    return subprocess.run(["git", *args], input=input, capture_output=True,
                          check=True).stdout


def state_dir() -> str:
    """This worktree's ``runr`` directory: from the shim's ``GITRUNR_STATE_DIR`` when
    it exported one, else ``git rev-parse --git-path runr``."""
    given = os.environ.get("GITRUNR_STATE_DIR")
    raw = given if given else _git("rev-parse", "--git-path", "runr").decode().strip()
    return os.path.abspath(raw)


def common_dir(state: str) -> str:
    """The git directory shared by all worktrees, found as git does: the ``commondir``
    file of a linked worktree's git directory (gitrepository-layout(5))."""
    git_dir = os.path.dirname(state)
    try:
        with open(os.path.join(git_dir, "commondir"), encoding="utf-8") as f:
            pointer = f.read().strip()
    except FileNotFoundError:
        return git_dir
    return os.path.normpath(os.path.join(git_dir, pointer))


def _load_state(state: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The pending intervention and the active run of this worktree (None if absent
    or unusable; an unusable file is reported, not trusted)."""
    found: list[dict[str, Any] | None] = []
    for name in (PENDING_INTERVENTION, ACTIVE_RUN):
        try:
            doc = read_json(os.path.join(state, name))
        except (ValueError, OSError) as exc:
            _warn(f"ignoring {os.path.join(state, name)}: {exc}")
            doc = None
        if doc is not None and not (isinstance(doc.get("run_id"), str)
                                    and is_id(doc["run_id"], "run")):
            _warn(f"ignoring {os.path.join(state, name)}: no valid run_id")
            doc = None
        found.append(doc)
    return found[0], found[1]


def _warn(message: str) -> None:
    print(f"gitrunr: {message}", file=sys.stderr)


def _comment_char() -> str:
    """git's comment character: from the shim's ``GITRUNR_COMMENT_CHAR`` (it ran
    ``git config core.commentChar``) or from git itself."""
    if "GITRUNR_COMMENT_CHAR" in os.environ:
        value = os.environ["GITRUNR_COMMENT_CHAR"].strip()
    else:
        import subprocess

        value = subprocess.run(["git", "config", "--get", "core.commentChar"],
                               capture_output=True, check=False).stdout.decode().strip()
    # "auto" picks a character git does not find in the message; "#" is its first choice.
    return value if len(value) == 1 else "#"


def mode(active: dict[str, Any] | None) -> str:
    """The workflow mode that applies (docs/workflow.md): the active run's own, else
    ``[workflow] mode`` of ``.runr/runr.toml``, else flow.

    A file with no line that names ``mode`` and ``ledger`` outside a comment cannot
    set ledger mode, so only such a file is parsed (``tomllib`` costs a few
    milliseconds to import, and the file's header comment mentions ledger).
    """
    own = active.get("mode") if active is not None else None
    if own in ("flow", "ledger"):
        return str(own)
    try:
        with open(CONFIG, "rb") as f:
            raw = f.read()
    except OSError:
        return "flow"
    if not any(b"mode" in line and b"ledger" in line and not line.lstrip().startswith(b"#")
               for line in raw.splitlines()):
        return "flow"
    import tomllib

    try:
        workflow = tomllib.loads(raw.decode("utf-8")).get("workflow", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        _warn(f"{CONFIG} is not valid TOML ({exc}); taking flow mode")
        return "flow"
    return "ledger" if isinstance(workflow, dict) and workflow.get("mode") == "ledger" \
        else "flow"


def _refuse(why: str, fix: str) -> int:
    print(f"gitrunr (ledger mode): {why}.\n  {fix}\n  (mode: .runr/runr.toml [workflow]; "
          "docs/workflow.md)", file=sys.stderr)
    return 1


def _merging(state: str) -> bool:
    """True when this commit concludes a merge (``MERGE_HEAD`` in the git directory)."""
    return os.path.exists(os.path.join(os.path.dirname(state), "MERGE_HEAD"))


def _on_branch(state: str) -> str | None:
    """The branch checked out in this worktree, from its ``HEAD`` file."""
    try:
        with open(os.path.join(os.path.dirname(state), "HEAD"), encoding="utf-8") as f:
            head = f.read().strip()
    except OSError:
        return None
    return head[len("ref: refs/heads/"):] if head.startswith("ref: refs/heads/") else None


def commit_msg(args: list[str]) -> int:
    """``commit-msg <message-file>``: add our trailers to the message, once; in ledger
    mode, refuse a commit that would have no provenance (docs/workflow.md)."""
    if not args:
        _warn("commit-msg hook called without a message file")
        return 0
    state = state_dir()
    pending, active = _load_state(state)
    stopped = active is not None and active.get("stopped") is True
    if pending is None and os.environ.get(SUBMIT_ENV) is None and mode(active) == "ledger":
        if active is None:
            return _refuse("this commit is neither a checkpoint of an active run nor a "
                           "recorded intervention",
                           "start a run (`git runr run start PLAN`) or record the work first "
                           "(`git runr intervene RUN --note … --commit`)")
        if stopped:
            run = active["run_id"]
            return _refuse(f"run {run} is stopped: only resume, bundle, submit and escalate "
                           "are allowed",
                           f"`git runr diagnose {run}` says why; `git runr resume {run}` "
                           "goes on")
        if _merging(state) and active.get("target") and _on_branch(state) == active["target"]:
            return _refuse(f"a merge into {active['target']}, run {active['run_id']}'s target, "
                           "comes only through submit",
                           f"`git runr submit {active['run_id']} --integrate`")
    if pending is not None:
        wanted = [(trailers.RUN_ID, pending["run_id"]), (trailers.INTERVENTION, "true")]
    elif active is not None and not stopped:
        wanted = [(trailers.RUN_ID, active["run_id"]),
                  (trailers.CHECKPOINT, new_id("cp"))]
        tier = active.get("tier")
        if isinstance(tier, str) and tier and "\n" not in tier and "\r" not in tier:
            wanted.append((trailers.TIER, tier))
    else:
        return 0
    path = args[0]
    with open(path, "rb") as f:
        raw = f.read()
    text = raw.decode("utf-8", "surrogateescape")
    comment = _comment_char()
    if not _has_content(text, comment):
        return 0  # git aborts an empty message; a trailer must not rescue it
    # divider=False: git log's %(trailers) ignores `---` (pretty.c sets no_divider),
    # so the trailers must go where git log reads them, even below a `---` line.
    present = trailers.parse_trailers(text, divider=False, comment_char=comment)
    if trailers.trailer_values(present, trailers.RUN_ID):
        return 0  # amend, cherry-pick -e, or a hand-written claim: leave it as it is
    stamped = trailers.add_trailers(text, wanted, divider=False, comment_char=comment)
    with open(path, "wb") as f:
        f.write(stamped.encode("utf-8", "surrogateescape"))
    if pending is not None:
        marker = {"run_id": pending["run_id"], "intervention_id": pending["intervention_id"]}
        write_json_atomic(os.path.join(state, STAMPED), marker, durable=False)
    return 0


def _has_content(text: str, comment: str) -> bool:
    for line in text.splitlines():
        if line.startswith(f"{comment} ------------------------ >8"):
            break
        if line.strip() and not line.startswith(comment):
            return True
    return False


def _read_head() -> tuple[str, str, str]:
    """(sha, committer ``Name <email>``, message) of HEAD: ``git cat-file --batch``'s
    answer for ``HEAD``, which the shim pipes to stdin (``GITRUNR_HEAD_ON_STDIN=1``),
    or which we ask git for."""
    if os.environ.get("GITRUNR_HEAD_ON_STDIN") == "1":
        out = sys.stdin.buffer.read()
    else:
        out = _git("cat-file", "--batch", input=b"HEAD\n")
    header, _, body = out.partition(b"\n")
    sha = header.split()[0].decode()
    headers, _, message = body.partition(b"\n\n")
    committer = "unknown"
    for line in headers.split(b"\n"):
        if line.startswith(b"committer "):
            ident = line[len(b"committer "):].decode("utf-8", "replace")
            committer = ident[: ident.rfind(">") + 1] or ident
    if message.endswith(b"\n"):
        message = message[:-1]  # cat-file --batch adds one newline after the object
    return sha, committer, message.decode("utf-8", "replace")


def post_commit(args: list[str]) -> int:
    """``post-commit``: spool the record of HEAD, as its trailers claim it.

    Only what the trailers claim is recorded, and only for this worktree's own run:
    a checkpoint when they name the active run (its ``Runr-Checkpoint`` id, so a
    commit replayed by amend, rebase or cherry-pick moves the same checkpoint); an
    intervention link when they name the pending intervention's run and say
    ``Runr-Intervention: true`` and commit-msg stamped this commit (its marker), so
    an old intervention commit replayed by a rebase is not mistaken for the new one.
    A commit without trailers (``--no-verify``, a replayed plain commit) is not
    recorded: nothing is claimed for it.
    """
    state = state_dir()
    pending, active = _load_state(state)
    if pending is None and active is None:
        return 0
    sha, committer, message = _read_head()
    found = trailers.parse_trailers(message, divider=False)
    claimed = trailers.trailer_values(found, trailers.RUN_ID)
    if not claimed:
        if active is not None and pending is None and os.environ.get(SUBMIT_ENV) is None:
            # Flow mode leaves a trail (seed 002): one line, with the command that records it.
            what = "stopped" if active.get("stopped") is True else "active"
            _warn(f"{sha[:12]} has no provenance while run {active['run_id']} is {what}; "
                  f"record it: git runr intervene {active['run_id']} --sha {sha[:12]} "
                  "--note \"…\"")
        return 0
    is_intervention = any(v.lower() == "true"
                          for v in trailers.trailer_values(found, trailers.INTERVENTION))
    base = {"schema_version": 1, "event_id": new_id("ev"), "at": _now(), "actor": committer}
    event: dict[str, Any]
    stamped = _take_stamp(state)
    if is_intervention:
        if (pending is None or claimed[0] != pending["run_id"] or stamped is None
                or stamped.get("intervention_id") != pending.get("intervention_id")):
            return 0
        event = {**base, "type": "intervention_linked", "run_id": pending["run_id"],
                 "intervention_id": pending["intervention_id"], "sha": sha,
                 "patch_id": None, "files_changed": []}
    else:
        checkpoints = [v for v in trailers.trailer_values(found, trailers.CHECKPOINT)
                       if is_id(v, "cp")]
        if active is None or claimed[0] != active["run_id"] or not checkpoints:
            return 0
        event = {**base, "type": "checkpoint_recorded", "run_id": active["run_id"],
                 "checkpoint_id": checkpoints[0], "sha": sha, "patch_id": None,
                 "subject": message.split("\n", 1)[0]}
    spool = os.path.join(common_dir(state), "runr", SPOOL)
    try:
        spool_entry(spool, event["event_id"], {"schema_version": 1, "kind": "event",
                                               "event": event})
    except OSError as exc:
        _warn(f"could not record {sha[:12]} for run {event['run_id']}: {exc}; record it "
              "with `git runr intervene --sha` once the problem is fixed")
        return 0
    if event["type"] == "intervention_linked":
        remove(os.path.join(state, PENDING_INTERVENTION))
    spawn_flush()
    return 0


def post_merge(args: list[str]) -> int:
    """``post-merge <squash>``: a merge commit is recorded like any commit (git runs
    commit-msg for a merge, but not post-commit). A squash merge made no commit."""
    if args and args[0] == "1":
        return 0
    return post_commit([])


def _take_stamp(state: str) -> dict[str, Any] | None:
    """Read and remove commit-msg's marker of the intervention it stamped, if any."""
    path = os.path.join(state, STAMPED)
    try:
        doc = read_json(path)
    except (ValueError, OSError):
        doc = None
    remove(path)
    return doc


def post_rewrite(args: list[str]) -> int:
    """``post-rewrite amend|rebase``: spool the ``<old> <new>`` pairs read from stdin."""
    kind = args[0] if args else "rebase"
    pairs = []
    for line in sys.stdin.read().splitlines():
        parts = line.split()
        if len(parts) >= 2:
            pairs.append([parts[0], parts[1]])
    if not pairs:
        return 0
    state = state_dir()
    spool = os.path.join(common_dir(state), "runr", SPOOL)
    entry = new_id("ev")
    try:
        spool_entry(spool, entry, {"schema_version": 1, "kind": "rewrite", "rewrite": kind,
                                   "at": _now(), "actor": None, "pairs": pairs})
    except OSError as exc:
        _warn(f"could not record the {kind} of {len(pairs)} commit(s): {exc}")
        return 0
    spawn_flush()
    return 0


def pre_push(args: list[str]) -> int:
    """``pre-push <remote> <url>`` (installed by ``git runr init --sync-on-push``):
    sync the records with the remote being pushed to, before the push.

    It never blocks the push: a failed sync is reported and the records go with the
    next sync. A push to a URL rather than a named remote is not synced (the records
    of a remote are kept under its name). Sync's own push skips the pre-push hooks
    (``--no-verify``), so this does not recurse.
    """
    sys.stdin.buffer.read()  # the refs being pushed: the records go whatever they are
    remote = args[0] if args else ""
    if not remote or (len(args) > 1 and remote == args[1]):
        _warn("pushing to a URL, not a named remote: records not synced; run "
              "`git runr sync REMOTE` with a named remote")
        return 0
    import subprocess

    # With site this time (the shim started us with -S): sync needs pygit2.
    code = subprocess.run([sys.executable, "-P", "-m", "gitrunr", "sync", "--", remote],
                          check=False).returncode
    if code != 0:
        _warn(f"could not sync the records with {remote} (exit {code}); the push goes on, "
              f"and `git runr sync {remote}` shares them later")
    return 0


def flush(args: list[str]) -> int:
    """``flush``: move the spool into the ledger (the detached part of post-commit).

    One flusher works at a time (an ``flock`` on ``runr/flush.lock``); a second one
    exits at once, because the holder checks the spool again after it lets go of the
    lock and flushes whatever arrived meanwhile. The spool is looked at with the
    standard library first: pygit2 and pydantic are imported only when there is work.
    """
    import fcntl

    spool = os.path.join(common_dir(state_dir()), "runr", SPOOL)
    while _has_entries(spool):
        fd = os.open(os.path.join(os.path.dirname(spool), "flush.lock"),
                     os.O_CREAT | os.O_RDWR, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0  # the holder re-checks the spool after releasing the lock
            code = _flush_now()
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        if code != 0:
            return code
    return 0


def _has_entries(spool: str) -> bool:
    try:
        return any(entry.name.endswith(".json") for entry in os.scandir(spool)
                   if entry.is_file())
    except FileNotFoundError:
        return False


def _flush_now() -> int:
    from gitrunr.errors import RunrError
    from gitrunr.ledger import flush as flush_spool
    from gitrunr.repo import open_repo

    try:
        result = flush_spool(open_repo())
    except RunrError as exc:
        _warn(f"could not move hook records into the ledger: {exc.message}")
        return 1
    return 1 if result.rejected else 0


HOOKS = {
    "commit-msg": commit_msg,
    "post-commit": post_commit,
    "post-merge": post_merge,
    "post-rewrite": post_rewrite,
    "pre-push": pre_push,
    "flush": flush,
}
