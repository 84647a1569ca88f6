"""Plans: the files in the work tree that say what a run is meant to do.

A PLAN is the unit of intent (seed ``000_78460206fc1b2322.txt``: "PLAN is the unit of
intent ... RUN is the unit of execution"). It is a Markdown file
``<root>/<initiative>/phase-<NN.D>/<NN>-PLAN.md`` in the work tree, ``root`` being
``specs`` unless ``.runr/runr.toml`` says otherwise (``[plans] root``). Its ref is the
path below the root without the suffix: ``specs/feature-01/phase-01.2/03-PLAN.md`` is
``feature-01/phase-01.2/03``. ``NN-SUMMARY.md`` beside it is written once a run of the
plan is accepted, by another module.

A plan may open with YAML front matter (``status``, ``depends_on``, ``target_branch``,
``title``); its body holds the objective, the tasks and the success criteria, found by
their headings. The body is read with markdown-it-py (CommonMark); only the front
matter is split off by hand. The format is described in ``docs/plans.md``.

This module reads files and nothing else: no git, no ledger. A plan that cannot be
read is reported by :func:`parse` as a :class:`~gitrunr.errors.CorruptRecordError`
whose one-line message names the file, the problem and the fix.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal, get_args

# Without types-PyYAML, mypy sees ``yaml`` as untyped; with it, the ignore is unused.
import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token
from pydantic import BaseModel, ConfigDict

from gitrunr.errors import CorruptRecordError, NotFoundError, UsageError

__all__ = [
    "PLAN_FILE_SUFFIX",
    "Plan",
    "PlanStatus",
    "PlanTask",
    "content_hash",
    "discover",
    "is_plan_ref",
    "parse",
    "resolve",
]

PLAN_FILE_SUFFIX = "-PLAN.md"
SUMMARY_FILE_SUFFIX = "-SUMMARY.md"
#: A plan's planning status (seed 000: "PLAN (proposal): drafted, approved, ready").
PlanStatus = Literal["drafted", "approved", "ready"]
_STATUSES: tuple[str, ...] = get_args(PlanStatus)
DEFAULT_STATUS: PlanStatus = "drafted"

# The three parts of a ref, ASCII digits only (``\d`` would take any Unicode digit).
# The same pattern as ``gitrunr.models.PlanRef``.
_INITIATIVE = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_PHASE_DIR = r"phase-([0-9]+(?:\.[0-9]+)?)"
_NUMBER = r"[0-9]+"
_INITIATIVE_RE = re.compile(_INITIATIVE)
_PHASE_DIR_RE = re.compile(_PHASE_DIR)
_PLAN_FILE_RE = re.compile(rf"({_NUMBER}){re.escape(PLAN_FILE_SUFFIX)}")
_REF_RE = re.compile(rf"{_INITIATIVE}/{_PHASE_DIR}/{_NUMBER}")

_FRONT_MATTER_OPEN = "---"
_FRONT_MATTER_CLOSE = ("---", "...")
_FIX_FRONT_MATTER = "fix the front matter"

# Section headings, compared lower-cased with spaces collapsed and a trailing colon
# dropped. Only headings of level 2 and below name sections: level 1 is the title.
_OBJECTIVE = frozenset({"objective", "goal"})
_TASKS = frozenset({"tasks"})
_CRITERIA = frozenset({"success criteria", "acceptance criteria", "criteria"})

_CHECKBOX_RE = re.compile(r"\[([ xX])\](?:[ \t]+|$)")
_TASK_PREFIX_RE = re.compile(r"task[ \t]+[0-9]+(?:\.[0-9]+)*[ \t]*:[ \t]*", re.IGNORECASE)

# CommonMark, as the spec says: no tables, no task-list plugin. Checkboxes are read
# from the item's source text instead (GFM's ``[ ]``/``[x]`` item prefix).
_MD = MarkdownIt("commonmark")


class PlanTask(BaseModel):
    """One task of a plan: an item of its Tasks section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Position among the section's tasks, from 1, two digits or more: "01", "02", ...
    id: str
    #: The first line of the item (or the sub-heading), Markdown markers, the checkbox
    #: and a leading "Task N:" removed.
    title: str
    #: True for an item that starts with ``[x]`` or ``[X]``.
    done: bool = False


@dataclass(frozen=True)
class Plan:
    """A plan file, parsed. Paths are POSIX and relative to the top of the work tree."""

    #: ``initiative/phase-NN.D/NN``, e.g. ``feature-01/phase-01.2/03``.
    ref: str
    #: ``feature-01``.
    initiative: str
    #: ``01.2``: the phase directory's name without ``phase-``.
    phase: str
    #: ``03``: as written in the file name.
    number: str
    #: ``specs/feature-01/phase-01.2/03-PLAN.md``.
    path: str
    status: PlanStatus
    #: Refs (or suffixes of refs, see :func:`resolve`) as written in the front matter.
    depends_on: tuple[str, ...]
    target_branch: str | None
    #: The front matter's ``title``, else the first level-1 heading, else the ref.
    title: str
    #: The paragraphs of the Objective section, "" when there is none.
    objective: str
    tasks: tuple[PlanTask, ...]
    criteria: tuple[str, ...]
    #: :func:`content_hash` of the front matter and body.
    content_hash: str
    #: ``specs/feature-01/phase-01.2/03-SUMMARY.md``, whether or not it exists yet.
    summary_path: str


# --------------------------------------------------------------------------- refs


def is_plan_ref(text: str) -> bool:
    """True for a well-formed full ref, ``<initiative>/phase-<NN.D>/<NN>``."""
    return _REF_RE.fullmatch(text) is not None


def _split_plan_path(path: str) -> tuple[str, str, str] | None:
    """``(initiative, phase, number)`` of a plan path, or None if it is not one.

    Only the last three parts count: the root in front of them may be anything.
    """
    parts = PurePosixPath(path).parts
    if len(parts) < 3:
        return None
    initiative, phase_dir, name = parts[-3:]
    phase = _PHASE_DIR_RE.fullmatch(phase_dir)
    number = _PLAN_FILE_RE.fullmatch(name)
    if not _INITIATIVE_RE.fullmatch(initiative) or phase is None or number is None:
        return None
    return initiative, phase.group(1), number.group(1)


def _normalise_query(query: str) -> str:
    text = query.strip()
    while text.startswith("./"):
        text = text[2:]
    return text.rstrip("/")


def resolve(plans: Sequence[Plan], query: str) -> Plan:
    """The plan ``query`` names.

    ``query`` is a full ref (``feature-01/phase-01.2/03``), a suffix of one on ``/``
    boundaries (``03``, ``phase-01.2/03``), or the plan file's path relative to the
    work tree (``specs/feature-01/phase-01.2/03-PLAN.md``, also ``./specs/...`` or a
    suffix of the path on ``/`` boundaries). An exact match of the whole ref (or
    path) wins over suffix matches, so a full ref is never ambiguous.

    Raises :class:`NotFoundError` when nothing matches and :class:`UsageError`
    listing the candidates when several do.
    """
    text = _normalise_query(query)
    by_path = text.endswith(PLAN_FILE_SUFFIX)

    def key(plan: Plan) -> str:
        return plan.path if by_path else plan.ref

    exact = [plan for plan in plans if key(plan) == text]
    matches = exact or [plan for plan in plans if key(plan).endswith("/" + text)]
    if not matches:
        raise NotFoundError(f"no plan matches {query!r}: `git runr status` lists the plans")
    if len(matches) > 1:
        refs = ", ".join(plan.ref for plan in matches)
        raise UsageError(f"plan ref {query!r} is ambiguous: {refs}; give more of it")
    return matches[0]


# --------------------------------------------------------------------------- hash


def content_hash(front_matter: Mapping[str, Any], body: str) -> str:
    """SHA-256 (64 hex digits) of a plan's content, the status left out.

    The digest is of the canonical JSON (keys sorted, separators ``,`` and ``:``,
    UTF-8 kept as is) of ``{"front_matter": ..., "body": ...}``: the front matter as
    parsed, without ``status``, every value made JSON-safe (dates and other YAML
    types become ``str()``, mapping keys strings); the body with CRLF and CR turned
    into LF and the whitespace at its end removed.

    Why ``status`` is left out: moving a plan from approved to ready is not an edit
    of the plan, so an approval recorded in the ledger (``plan_approved`` keeps this
    hash) still holds after it. Any other change to the front matter (title,
    depends_on, target_branch, an unknown key) or to the body is an edit. Because
    the front matter is hashed as data, reformatting the YAML (key order, quoting,
    comments) is not.
    """
    data = {
        "front_matter": {str(k): _json_safe(v) for k, v in front_matter.items()
                         if k != "status"},
        "body": _normalise_newlines(body).rstrip(),
    }
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, set | frozenset):  # YAML ``!!set``: order is not content
        return sorted(str(v) for v in value)
    return str(value)  # dates, datetimes, ``!!binary`` bytes


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --------------------------------------------------------------------------- parse


def parse(path: str, text: str) -> Plan:
    """The plan in ``text``, the content of the file at ``path``.

    ``path`` is POSIX and relative to the work tree; it gives the ref and names the
    file in errors. ``text`` may start with a UTF-8 BOM and use CRLF line ends.

    Raises :class:`CorruptRecordError` with a one-line message naming the file, the
    problem and the fix when ``path`` is not a plan path, the front matter is not
    closed, is not valid YAML or not a mapping, or a known key has the wrong type or
    value (``status`` not one of drafted, approved, ready; ``depends_on`` not a
    string or a list of strings; ``title`` or ``target_branch`` not a string).
    Unknown keys are allowed and ignored, but they are part of the content hash.
    """
    path = PurePosixPath(path).as_posix()
    parts = _split_plan_path(path)
    if parts is None:
        raise CorruptRecordError(
            f"{path}: not a plan path: expected <root>/<initiative>/phase-<NN.D>/<NN>"
            f"{PLAN_FILE_SUFFIX}; rename the file")
    initiative, phase, number = parts
    ref = f"{initiative}/phase-{phase}/{number}"
    front_matter, body = _split_front_matter(path, text)

    status = front_matter.get("status")
    if status is None:
        status = DEFAULT_STATUS
    elif status not in _STATUSES:
        raise CorruptRecordError(f"{path}: front matter: status {_show(status)} is not one of "
                                 f"{', '.join(_STATUSES)}; {_FIX_FRONT_MATTER}")
    depends_on = _depends_on(path, front_matter.get("depends_on"))
    target_branch = _optional_string(path, front_matter, "target_branch")
    fm_title = _optional_string(path, front_matter, "title")

    tokens = _MD.parse(body)
    title = fm_title or _first_title(tokens) or ref
    parent = str(PurePosixPath(path).parent)
    return Plan(
        ref=ref, initiative=initiative, phase=phase, number=number, path=path,
        status=status, depends_on=depends_on, target_branch=target_branch, title=title,
        objective=_objective(tokens), tasks=_tasks(tokens), criteria=_criteria(tokens),
        content_hash=content_hash(front_matter, body),
        summary_path=f"{parent}/{number}{SUMMARY_FILE_SUFFIX}",
    )


def _split_front_matter(path: str, text: str) -> tuple[dict[str, Any], str]:
    """``(front matter, body)``. The front matter is ``{}`` when the file does not
    start with a ``---`` line; it ends at the next ``---`` or ``...`` line (Jekyll's
    rule; trailing spaces on either line are allowed)."""
    text = _normalise_newlines(text.removeprefix("\ufeff"))
    lines = text.split("\n")
    if lines[0].rstrip(" \t") != _FRONT_MATTER_OPEN:
        return {}, text
    for end in range(1, len(lines)):
        if lines[end].rstrip(" \t") in _FRONT_MATTER_CLOSE:
            break
    else:
        raise CorruptRecordError(f"{path}: the front matter opened by '---' on line 1 is "
                                 "never closed; add a '---' line after it")
    try:
        data = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as exc:
        raise CorruptRecordError(f"{path}: front matter is not valid YAML: {_yaml_problem(exc)}; "
                                 f"{_FIX_FRONT_MATTER}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise CorruptRecordError(f"{path}: front matter is {_kind(data)}, not a mapping of "
                                 f"keys to values; {_FIX_FRONT_MATTER}")
    return data, "\n".join(lines[end + 1:])


def _yaml_problem(exc: Exception) -> str:
    """PyYAML's error in one line, with the file's line number (front matter starts
    on line 2). Its ``str()`` spans several lines and quotes the source."""
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or type(exc).__name__
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f" at line {mark.line + 2}" if mark is not None else ""
    return f"{problem}{where}"


def _depends_on(path: str, value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if isinstance(items, list) and all(isinstance(v, str) and v.strip() for v in items):
        return tuple(v.strip() for v in items)
    # YAML reads an unquoted ``02`` as the number 2: say so, the zero would be lost.
    raise CorruptRecordError(f"{path}: front matter: depends_on {_show(value)} is not a plan "
                             "ref or a list of plan refs; write refs as strings (quote "
                             f"numbers: '02'); {_FIX_FRONT_MATTER}")


def _optional_string(path: str, front_matter: Mapping[str, Any], key: str) -> str | None:
    """The string at ``key`` stripped, None when absent, null or blank."""
    value = front_matter.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise CorruptRecordError(f"{path}: front matter: {key} {_show(value)} is not a string; "
                                 f"{_FIX_FRONT_MATTER}")
    return value.strip() or None


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    return f"a {type(value).__name__}"


def _show(value: object, limit: int = 60) -> str:
    """``repr`` of a front matter value, short and on one line."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


# --------------------------------------------------------------------------- body


def _inline_text(token: Token, first_line: bool = False) -> str:
    """The plain text of an ``inline`` token: Markdown markers, links' targets and
    inline HTML dropped, code spans and images' alt text kept. A soft break reads as
    a space, or ends the text when ``first_line``."""
    out: list[str] = []
    for child in token.children or []:
        if child.type in ("softbreak", "hardbreak"):
            if first_line:
                break
            out.append(" " if child.type == "softbreak" else "\n")
        elif child.type in ("text", "text_special", "code_inline"):
            out.append(child.content)
        elif child.type == "image":
            out.append(_inline_text(child))
    return "".join(out).strip()


def _heading_level(token: Token) -> int:
    return int(token.tag[1:])


def _top_headings(tokens: Sequence[Token]) -> list[int]:
    """Indexes of the ``heading_open`` tokens not nested in a list or a quote."""
    return [i for i, t in enumerate(tokens) if t.type == "heading_open" and t.level == 0]


def _first_title(tokens: Sequence[Token]) -> str:
    for i in _top_headings(tokens):
        if tokens[i].tag == "h1":
            return _inline_text(tokens[i + 1])
    return ""


def _section(tokens: Sequence[Token], names: frozenset[str]) -> Sequence[Token]:
    """The tokens of the first section whose heading (level 2 or more) is one of
    ``names``, up to the next heading of the same or a higher level; [] if none."""
    headings = _top_headings(tokens)
    for n, i in enumerate(headings):
        level = _heading_level(tokens[i])
        if level < 2 or _heading_key(tokens[i + 1]) not in names:
            continue
        end = next((j for j in headings[n + 1:] if _heading_level(tokens[j]) <= level),
                   len(tokens))
        return tokens[i + 3:end]  # after heading_open, inline, heading_close
    return []


def _heading_key(inline: Token) -> str:
    return " ".join(_inline_text(inline).lower().split()).rstrip(":").rstrip()


def _items(tokens: Sequence[Token]) -> list[Sequence[Token]]:
    """The tokens of each top-level list item in ``tokens`` (a section's tokens, whose
    blocks are at level 0: a top-level item is at level 1)."""
    items: list[Sequence[Token]] = []
    start = -1
    for i, token in enumerate(tokens):
        if token.level != 1:
            continue
        if token.type == "list_item_open":
            start = i
        elif token.type == "list_item_close":
            items.append(tokens[start + 1:i])
    return items


def _first_inline(item: Sequence[Token]) -> Token | None:
    """An item's first ``inline`` token: its first paragraph or heading, if any."""
    return next((t for t in item if t.type == "inline"), None)


def _checked_text(inline: Token, first_line: bool) -> tuple[bool, str]:
    """``(done, text)`` of an item or heading. The checkbox is read from the source,
    so an escaped ``\\[x]`` is not one, and is removed from the text."""
    text = _inline_text(inline, first_line)
    box = _CHECKBOX_RE.match(inline.content)
    if box is None:
        return False, text
    shown = _CHECKBOX_RE.match(text)
    return box.group(1) in "xX", text[shown.end():].strip() if shown else text


def _task_id(n: int) -> str:
    return f"{n:02d}"


def _tasks(tokens: Sequence[Token]) -> tuple[PlanTask, ...]:
    """The Tasks section's top-level list items before its first sub-heading; if there
    are none, its sub-headings of the highest level present (``### Task 1: ...``)."""
    section = _section(tokens, _TASKS)
    subheadings = _top_headings(section)
    items = _items(section[:subheadings[0]] if subheadings else section)
    entries: list[tuple[bool, str]] = []
    if items:
        for item in items:
            inline = _first_inline(item)
            entries.append((False, "") if inline is None else _checked_text(inline, True))
    elif subheadings:
        top = min(_heading_level(section[i]) for i in subheadings)
        for i in subheadings:
            if _heading_level(section[i]) == top:
                done, title = _checked_text(section[i + 1], True)
                prefix = _TASK_PREFIX_RE.match(title)
                entries.append((done, title[prefix.end():] if prefix else title))
    return tuple(PlanTask(id=_task_id(n), title=title, done=done)
                 for n, (done, title) in enumerate(entries, start=1))


def _criteria(tokens: Sequence[Token]) -> tuple[str, ...]:
    """The text of each top-level list item of the criteria section (its first
    paragraph, lines joined by spaces, checkbox removed)."""
    section = _section(tokens, _CRITERIA)
    texts = []
    for item in _items(section):
        inline = _first_inline(item)
        texts.append("" if inline is None else _checked_text(inline, False)[1])
    return tuple(texts)


def _objective(tokens: Sequence[Token]) -> str:
    """The paragraphs of the Objective section, at any depth, joined by blank lines."""
    section = _section(tokens, _OBJECTIVE)
    paragraphs = [_inline_text(section[i + 1]) for i, t in enumerate(section)
                  if t.type == "paragraph_open"]
    return "\n\n".join(p for p in paragraphs if p)


# --------------------------------------------------------------------------- discover


def _sort_key(plan: Plan) -> tuple[str, tuple[int, ...], int, str, str]:
    # Numbers compare as numbers (phase 2 before phase 10, 01.2 before 01.10); the
    # strings break ties between spellings of one number ("3" and "03").
    phase = tuple(int(p) for p in plan.phase.split("."))
    return plan.initiative, phase, int(plan.number), plan.phase, plan.number


def discover(workdir: Path, root: str = "specs") -> tuple[list[Plan], list[str]]:
    """Every plan under ``workdir/root``, and the problems of those that failed.

    Looks exactly at ``<root>/<initiative>/phase-<NN.D>/<NN>-PLAN.md``; other files
    and directories are ignored and only plan files are opened. Returns
    ``(plans, problems)``: plans sorted by initiative, then phase and number as
    numbers; problems are one-line messages for plan files that could not be read
    or parsed (they are left out of ``plans``) and for directories on the way that
    could not be listed. Never raises for a plan file. A missing root gives
    ``([], [])``.

    Symlinks are followed only while they stay inside the work tree; one that
    leaves it is a problem, and nothing behind it is read. Refs are unique: each
    comes from one path under one root.
    """
    top = workdir.resolve()
    plans: list[Plan] = []
    problems: list[str] = []
    base = PurePosixPath(root)
    root_dir = _directory(top, workdir / root, base.as_posix(), problems)
    if root_dir is None:
        return plans, problems
    for initiative in _entries(root_dir, _INITIATIVE_RE, base.as_posix(), problems):
        rel_init = base / initiative
        init_dir = _directory(top, root_dir / initiative, rel_init.as_posix(), problems)
        if init_dir is None:
            continue
        for phase_dir in _entries(init_dir, _PHASE_DIR_RE, rel_init.as_posix(), problems):
            rel_phase = rel_init / phase_dir
            phase_path = _directory(top, init_dir / phase_dir, rel_phase.as_posix(), problems)
            if phase_path is None:
                continue
            for name in _entries(phase_path, _PLAN_FILE_RE, rel_phase.as_posix(), problems):
                plan = _read(top, phase_path / name, (rel_phase / name).as_posix(), problems)
                if plan is not None:
                    plans.append(plan)
    plans.sort(key=_sort_key)
    return plans, problems


def _entries(directory: Path, pattern: re.Pattern[str], rel: str,
             problems: list[str]) -> list[str]:
    """Names in ``directory`` matching ``pattern``, sorted."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:  # removed while we looked
        return []
    except OSError as exc:
        problems.append(f"{rel}: cannot be listed: {exc.strerror or exc}; check its "
                        "permissions")
        return []
    return sorted(name for name in names if pattern.fullmatch(name))


def _real(top: Path, path: Path, rel: str, problems: list[str]) -> Path | None:
    """``path`` with symlinks resolved, or None (with a problem) when that leads out
    of the work tree ``top`` or into a symlink loop."""
    try:
        real = path.resolve()
    except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
        problems.append(f"{rel}: a symlink loop; not read (fix the symlink)")
        return None
    if real.is_relative_to(top):
        return real
    if path.is_symlink() or path.exists():
        problems.append(f"{rel}: leads outside the work tree; not read (keep plans inside "
                        "the work tree)")
    return None


def _directory(top: Path, path: Path, rel: str, problems: list[str]) -> Path | None:
    """The real path of ``path`` if it is a directory inside the work tree, else None."""
    real = _real(top, path, rel, problems)
    return real if real is not None and real.is_dir() else None


def _read(top: Path, path: Path, rel: str, problems: list[str]) -> Plan | None:
    """The plan in the file ``path`` (``rel`` from the work tree), or None with a
    problem noted. Anything but a regular file is skipped."""
    real = _real(top, path, rel, problems)
    if real is None:
        return None
    try:
        # stat before open: opening a FIFO named like a plan would block.
        if not stat.S_ISREG(real.stat().st_mode):
            return None
        text = real.read_bytes().decode("utf-8")
    except FileNotFoundError:  # removed while we looked, or a dangling symlink
        return None
    except OSError as exc:
        problems.append(f"{rel}: cannot be read: {exc.strerror or exc}; check its permissions")
        return None
    except UnicodeDecodeError as exc:
        problems.append(f"{rel}: not valid UTF-8 (byte {exc.start}); save it as UTF-8")
        return None
    try:
        return parse(rel, text)
    except CorruptRecordError as exc:
        problems.append(exc.message)
        return None
