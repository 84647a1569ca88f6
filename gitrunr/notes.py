"""The per-commit index on ``refs/notes/runr``.

A notes ref is a commit whose tree maps an annotated object's hex id to a blob; git
splits the hex id into two-character directories ("fanout") as the tree grows, and a
reader must accept any split (git-notes(1), notes.c). gitrunr writes new notes with
one level of fanout (``ab/cdef…``) and keeps an existing note where it is.

Notes are written only by :func:`gitrunr.ledger.append`, in the same compare-and-swap
transaction as the ledger: ``git notes add`` and pygit2's ``create_note`` lose notes
when several processes write at once. Each note is derived from ledger events, so
the whole ref can be rebuilt from the ledger.
"""

from __future__ import annotations

from collections.abc import Iterable

import pygit2
from pydantic import ValidationError

from gitrunr.errors import CorruptRecordError
from gitrunr.models import CommitNote, NoteLink
from gitrunr.objects import load_json, validate_json

NOTES_REF = "refs/notes/runr"
_HEX = frozenset("0123456789abcdef")


def index(repo: pygit2.Repository, tree: pygit2.Tree | None) -> dict[str, pygit2.Oid]:
    """Every note in ``tree``: full hex commit id -> note blob id, any fanout.

    Reads each tree of the notes ref once; entries that are not notes (names that
    are not hex) are ignored, as git ignores them.
    """
    found: dict[str, pygit2.Oid] = {}
    if tree is None:
        return found
    stack: list[tuple[str, pygit2.Tree]] = [("", tree)]
    while stack:
        prefix, current = stack.pop()
        for entry in current:
            name = entry.name or ""
            if not _HEX.issuperset(name):
                continue
            full = prefix + name
            if entry.type_str == "tree":
                sub = repo[entry.id]
                if isinstance(sub, pygit2.Tree):
                    stack.append((full, sub))
            elif entry.type_str == "blob" and len(full) in (40, 64):
                found[full] = entry.id
    return found


def locate(tree: pygit2.Tree | None, sha: str) -> str | None:
    """The path of ``sha``'s note in ``tree`` (at any fanout), or None."""
    if tree is None:
        return None
    for split in range(0, len(sha) // 2):
        parts = [sha[2 * i: 2 * i + 2] for i in range(split)]
        path = "/".join([*parts, sha[2 * split:]])
        try:
            tree[path]
        except KeyError:
            continue
        return path
    return None


def new_path(sha: str) -> str:
    """Where gitrunr writes a note that does not exist yet: ``ab/cdef…``."""
    return f"{sha[:2]}/{sha[2:]}"


def parse(data: bytes, sha: str) -> CommitNote:
    """Validate a note blob; raises CorruptRecordError naming the ref and commit.

    A note is JSON Lines: one ``CommitNote`` document per line, their links merged.
    gitrunr writes one line; more appear when git copies a note onto a commit that
    already has one during a rewrite (``notes.rewriteMode`` ``concatenate`` joins
    them, ``cat_sort_uniq`` sorts their lines; git-notes(1)), and both stay readable.
    """
    where = f"{NOTES_REF}:{sha}"
    docs: list[CommitNote] = []
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            docs.append(CommitNote.model_validate_json(line))
        except ValidationError:
            load_json(line, where)  # "is not valid JSON" when that is the trouble
            docs.append(validate_json(line, CommitNote, where))  # raises, naming the field
    if not docs:
        raise CorruptRecordError(f"{where} is empty")
    if len(docs) == 1:  # as gitrunr writes them
        return docs[0]
    return merge(None, [link for doc in docs for link in doc.links])


def encode(note: CommitNote) -> bytes:
    """The blob of a note: the document as one line of compact JSON."""
    return note.model_dump_json().encode() + b"\n"


def merge(note: CommitNote | None, links: Iterable[NoteLink]) -> CommitNote:
    """``note`` with ``links`` added; a link to the same record replaces the old one."""
    merged: dict[tuple[str, str, str | None, str | None], NoteLink] = {}
    for link in [*(note.links if note else []), *links]:
        merged[(link.run_id, link.kind, link.checkpoint_id, link.intervention_id)] = link
    return CommitNote(links=list(merged.values()))
