"""Per-worktree state files and the hook spool: small JSON files written atomically.

Layout (``docs/storage.md``):

- ``$(git rev-parse --git-path runr)/active-run.json``: this worktree's active run.
- ``$(git rev-parse --git-path runr)/pending-intervention.json``: the next commit in
  this worktree belongs to this intervention.
- ``$(git rev-parse --git-common-dir)/runr/spool/<id>.json``: a record a hook wrote
  and the ledger has not taken in yet (a write-ahead log; see :mod:`gitrunr.ledger`).

None of this is in the work tree, so it never shows in ``git status``.

The hooks read and write these files on every commit, so this module imports only
``os`` and ``json``: ``tempfile``, ``pathlib``, ``subprocess`` and ``typing`` would
together add ~15 ms to each hook (``python -X importtime``).
"""

from __future__ import annotations

import json
import os
import sys

# Type checkers treat any TYPE_CHECKING name as true; importing typing costs ~2 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    StrPath = str | os.PathLike[str]

ACTIVE_RUN = "active-run.json"
PENDING_INTERVENTION = "pending-intervention.json"
SPOOL = "spool"
REJECTED = "rejected"


def read_json(path: StrPath) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when the file does not exist.

    Raises ``ValueError`` when the file is not a JSON object.
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError(f"{os.fspath(path)} does not hold a JSON object")
    return doc


def write_json_atomic(path: StrPath, doc: dict[str, Any], *, durable: bool = True) -> None:
    """Write ``doc`` to ``path`` so a reader sees the old file or the new one, never half.

    The bytes go to a temporary file in the same directory (created exclusively,
    named after the process), are flushed to disk when ``durable``, and the file is
    renamed over ``path`` (rename(2) is atomic). Raises ``OSError`` (for example a
    full disk or a read-only ``.git``), leaving ``path`` as it was.
    """
    target = os.fspath(path)
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    data = (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    tmp = f"{os.path.join(os.path.dirname(target), '.' + os.path.basename(target))}." \
          f"{os.getpid()}.{os.urandom(4).hex()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        try:
            os.write(fd, data)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        remove(tmp)
        raise


def remove(path: StrPath) -> bool:
    """Delete ``path``; True if it existed."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def spool_entry(spool_dir: StrPath, entry_id: str, doc: dict[str, Any]) -> str:
    """Append one record to the spool, durably; returns its path. ``entry_id`` is a
    fresh event id."""
    path = os.path.join(os.fspath(spool_dir), f"{entry_id}.json")
    write_json_atomic(path, doc, durable=True)
    return path


def spawn_flush() -> None:
    """Start a detached ``python -m gitrunr.hooks flush`` that moves the spool into the ledger.

    The hook returns at once; the flusher, started in the hook's directory (the top of
    the work tree) in a session of its own with its standard streams on ``/dev/null``
    (so git does not wait for it), outlives the commit. It runs with ``site``, since it
    needs pygit2 and pydantic. With ``GITRUNR_FLUSH=sync`` the flush runs before this
    returns (for scripts that read the refs right after a commit);
    ``GITRUNR_FLUSH=none`` leaves the spool for the next command.
    """
    mode = os.environ.get("GITRUNR_FLUSH")
    if mode == "none":
        return
    argv = [sys.executable, "-P", "-m", "gitrunr.hooks", "flush"]
    devnull = os.devnull
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, devnull, os.O_WRONLY, 0),
    ]
    env = {k: v for k, v in os.environ.items() if k != "GITRUNR_HEAD_ON_STDIN"}
    if mode == "sync":
        pid = os.posix_spawn(sys.executable, argv, env, file_actions=actions[:1])
        os.waitpid(pid, 0)
    else:
        os.posix_spawn(sys.executable, argv, env, file_actions=actions, setsid=True)
