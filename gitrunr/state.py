"""Per-worktree state files and the hook spool: small JSON files written atomically.

Layout (``docs/storage.md``):

- ``$(git rev-parse --git-path runr)/active-run.json``: this worktree's active run.
- ``$(git rev-parse --git-path runr)/pending-intervention.json``: the next commit in
  this worktree belongs to this intervention.
- ``$(git rev-parse --git-common-dir)/runr/spool/<id>.json``: a record a hook wrote
  and the ledger has not taken in yet (a write-ahead log; see :mod:`gitrunr.ledger`).

None of this is in the work tree, so it never shows in ``git status``. Standard
library only: the hooks read and write these files on every commit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ACTIVE_RUN = "active-run.json"
PENDING_INTERVENTION = "pending-intervention.json"
SPOOL = "spool"
REJECTED = "rejected"


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when the file does not exist.

    Raises ``ValueError`` when the file is not a JSON object.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return doc


def write_json_atomic(path: Path, doc: dict[str, Any], *, durable: bool = True) -> None:
    """Write ``doc`` to ``path`` so a reader sees the old file or the new one, never half.

    The bytes go to a temporary file in the same directory, are flushed to disk when
    ``durable``, and the file is renamed over ``path`` (rename(2) is atomic).
    Raises ``OSError`` (for example a full disk or a read-only ``.git``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove(path: Path) -> bool:
    """Delete ``path``; True if it existed."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def spool_entry(spool_dir: Path, entry_id: str, doc: dict[str, Any]) -> Path:
    """Append one record to the spool, durably. ``entry_id`` is a fresh event id."""
    path = spool_dir / f"{entry_id}.json"
    write_json_atomic(path, doc, durable=True)
    return path


def spawn_flush(cwd: Path) -> None:
    """Start a detached ``python -m gitrunr.hooks flush`` that moves the spool into the ledger.

    The hook returns at once; the flusher outlives it and the commit. With
    ``GITRUNR_FLUSH=sync`` in the environment the flush runs here instead, before the
    hook returns (useful in scripts that read the ledger's refs directly).
    """
    cmd = [sys.executable, "-P", "-m", "gitrunr.hooks", "flush"]
    if os.environ.get("GITRUNR_FLUSH") == "sync":
        subprocess.run(cmd, cwd=cwd, check=False)
        return
    subprocess.Popen(
        cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True,
    )
