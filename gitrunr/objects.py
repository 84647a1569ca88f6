"""Building git objects and moving refs safely.

Writes follow one order (STYLE.md, "Writing to git"): blobs, trees and the commit
first, with the old tip as parent; then a compare-and-swap update of the ref, which
fails if the ref moved since it was read. The update goes through
``git update-ref --stdin``, which applies several ref updates as one transaction
(git-update-ref(1): "all modifications are performed atomically"), because pygit2's
``Reference.set_target`` does not check the old value.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import pygit2
from pydantic import BaseModel, ValidationError

from gitrunr.errors import CorruptRecordError, GitError, MissingObjectError, RefRaceError
from gitrunr.git import first_line, run_git
from gitrunr.repo import object_write_error

M = TypeVar("M", bound=BaseModel)

#: A ref lock older than this is taken for one a killed git process left behind, not
#: one a live writer holds (gitrunr's writers hold theirs for milliseconds).
STALE_LOCK_SECONDS = 10.0
_LOCK_FILE = re.compile(r"Unable to create '(.+?\.lock)': File exists")

#: A path in a tree mapped to a blob id (set) or None (remove).
TreeChanges = Mapping[str, pygit2.Oid | None]


def update_tree(repo: pygit2.Repository, base: pygit2.Tree | None,
                changes: TreeChanges) -> pygit2.Oid:
    """Write the tree ``base`` with ``changes`` applied, and return its id.

    ``changes`` maps a path to a blob or tree id (a tree is grafted whole), or to
    None to remove the path.

    Only the trees on the changed paths are rewritten; everything else is shared
    with ``base``, so the cost grows with the depth and width of the changed
    directories, not with the size of the whole tree. Directories left empty are
    dropped, as git cannot store an empty tree in a tree.
    """
    builder = repo.TreeBuilder(base) if base is not None else repo.TreeBuilder()
    nested: dict[str, dict[str, pygit2.Oid | None]] = {}
    for path, oid in changes.items():
        head, _, rest = path.partition("/")
        if rest:
            nested.setdefault(head, {})[rest] = oid
        elif oid is None:
            if builder.get(head) is not None:
                builder.remove(head)
        else:
            # A leaf is usually a blob; a merge also grafts whole subtrees.
            mode = (pygit2.enums.FileMode.TREE if isinstance(repo.get(oid), pygit2.Tree)
                    else pygit2.enums.FileMode.BLOB)
            builder.insert(head, oid, mode)
    for head, sub in nested.items():
        subtree = None
        if base is not None and head in base:
            obj = repo[base[head].id]
            if isinstance(obj, pygit2.Tree):
                subtree = obj
        new = update_tree(repo, subtree, sub)
        if len(repo[new]) == 0:  # type: ignore[arg-type]
            if builder.get(head) is not None:
                builder.remove(head)
        else:
            builder.insert(head, new, pygit2.enums.FileMode.TREE)
    try:
        written: pygit2.Oid = builder.write()
    except OSError as exc:  # a full or read-only file system: one line, not a traceback
        raise object_write_error(exc) from None
    return written


def tree_entry(repo: pygit2.Repository, tree: pygit2.Tree | None,
               path: str) -> pygit2.Object | None:
    """The object at ``path`` (``a/b/c``) in ``tree``, or None if there is none.

    Raises :class:`MissingObjectError` when the tree names an object the repository
    does not have.
    """
    if tree is None:
        return None
    try:
        entry = tree[path]
    except KeyError:
        return None
    except pygit2.GitError as exc:  # a tree on the way is not in the object store
        raise MissingObjectError(
            f"{path} cannot be read: {exc} (a shallow or partial clone, or a damaged "
            "object store; `git fsck` lists what is missing)") from None
    obj = repo.get(entry.id)
    if obj is None:
        raise MissingObjectError(
            f"{path} ({entry.id}) is missing from the repository (a shallow or partial "
            "clone, or a damaged object store; `git fsck` lists what is missing)")
    return obj


def json_blob(repo: pygit2.Repository, doc: BaseModel) -> pygit2.Oid:
    """Store ``doc`` as a canonical JSON blob (2-space indent, final newline)."""
    data = doc.model_dump_json(indent=2, by_alias=True) + "\n"
    oid: pygit2.Oid = repo.create_blob(data.encode())
    return oid


def read_model(repo: pygit2.Repository, obj: pygit2.Object | None,
                             model: type[M], where: str) -> M:
    """Parse and validate the JSON blob ``obj`` as ``model``.

    ``where`` names the document for errors (``refs/runr/ledger:runs/ab/run-x/run.json``).
    Raises :class:`CorruptRecordError` when the object is missing, not a blob, not
    JSON, or fails validation.
    """
    if not isinstance(obj, pygit2.Blob):
        raise CorruptRecordError(f"{where} is missing or not a file")
    return validate_json(obj.data, model, where)


def validate_json(data: bytes, model: type[M], where: str) -> M:
    """Validate JSON bytes as ``model``; :class:`CorruptRecordError` names ``where``."""
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        raise CorruptRecordError(f"{where} fails validation: {_brief(exc)}") from None


def _brief(exc: ValidationError) -> str:
    errors = exc.errors()
    first = errors[0]
    loc = ".".join(str(p) for p in first["loc"]) or "document"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{loc}: {first['msg']}{more}"


def load_json(data: bytes, where: str) -> Any:
    """Parse JSON bytes; :class:`CorruptRecordError` names ``where`` on failure."""
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptRecordError(f"{where} is not valid JSON: {exc}") from None


def signature(name: str, email: str, when: datetime) -> pygit2.Signature:
    """A git signature at ``when`` (an aware datetime)."""
    offset = when.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    return pygit2.Signature(name, email, int(when.timestamp()), minutes)


def ref_target(repo: pygit2.Repository, name: str) -> pygit2.Oid | None:
    """The object id ``name`` points at, or None when the ref does not exist."""
    try:
        ref = repo.references.get(name)
    except pygit2.GitError as exc:
        raise GitError(f"cannot read {name}: {exc}") from None
    if ref is None:
        return None
    target = ref.resolve().target
    assert isinstance(target, pygit2.Oid)
    return target


def cas_update_refs(repo: pygit2.Repository, cwd: str,
                    updates: Sequence[tuple[str, pygit2.Oid, pygit2.Oid | None]],
                    message: str) -> None:
    """Move every ``(ref, new, old)`` at once, only if each ref still points at ``old``.

    ``old`` None means the ref must not exist yet. All updates apply or none does.
    Raises :class:`RefRaceError` when a ref moved or is locked by another writer (the
    caller retries from a fresh read), :class:`GitError` for any other failure.
    """
    zero = "0" * len(str(updates[0][1]))
    lines = "".join(f"update {ref} {new} {old if old is not None else zero}\n"
                    for ref, new, old in updates)
    proc = run_git(["update-ref", "--create-reflog", "-m", message, "--stdin"],
                   cwd=cwd, input=lines.encode(), check=False)
    if proc.returncode == 0:
        return
    err = proc.stderr.decode("utf-8", "replace")
    # Only a lost race is worth retrying: the ref moved ("is at X but expected Y"), was
    # created or deleted meanwhile, or another writer holds its lock ("File exists").
    # "cannot lock ref" alone also covers a lock git cannot create at all (a read-only
    # or full file system), which no retry fixes.
    stale = _stale_lock(err)
    if stale is not None:
        raise GitError(stale)
    if ("but expected" in err or "File exists" in err
            or "reference already exists" in err or "unable to resolve reference" in err):
        raise RefRaceError(f"a ref moved while gitrunr was writing: {first_line(proc.stderr)}")
    raise GitError(f"`git update-ref --stdin` exited {proc.returncode}: "
                   f"{first_line(proc.stderr)}")


def _stale_lock(err: str) -> str | None:
    """The error for a ref lock no live writer holds, or None.

    git never waits for a ref lock; gitrunr retries (:class:`RefRaceError`), since
    another gitrunr writer holds one for milliseconds. A lock file older than
    :data:`STALE_LOCK_SECONDS` was left by a git process that was killed while
    writing: no retry removes it, so say which file it is and what to do.
    """
    found = _LOCK_FILE.search(err)
    if found is None:
        return None
    lock = found.group(1)
    try:
        age = time.time() - os.stat(lock).st_mtime
    except OSError:
        return None  # gone already: the writer that held it has finished
    if age < STALE_LOCK_SECONDS:
        return None
    return (f"{lock} has been there for {age:.0f}s: a git process was stopped while "
            "updating the ref; if no git command is running in this repository, delete "
            "that file and try again")
