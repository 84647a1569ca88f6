"""Commit-message trailers, read and written by git's own rules (git 2.39).

gitrunr stamps ``Runr-Run-Id``, ``Runr-Checkpoint``, ``Runr-Tier`` and
``Runr-Intervention: true`` into commit messages from the commit-msg hook and reads
them back when auditing history. This module is a line-for-line port of the parts
of git that decide what a trailer is, so that what we read is exactly what
``git interpret-trailers --parse`` and ``git log --format=%(trailers)`` read:

* ``trailer.c``: ``trailer_info_get`` (the pipeline), ``find_patch_start`` (the
  ``---`` divider), ``find_trailer_start`` (which paragraph is the trailer block),
  ``find_separator`` (what a ``Key: value`` line is), ``parse_trailer`` and
  ``unfold_value`` (the key and value), ``last_line``/``is_blank_line``/
  ``ends_with_blank_line``, ``git_generated_prefixes``;
* ``commit.c``: ``ignore_non_trailer`` (trailing comments, blank lines and an old
  ``Conflicts:`` block are not part of the message proper);
* ``wt-status.c``: ``wt_status_locate_end`` (the ``>8`` scissors line);
* ``git-compat-util.h``/``ctype.c``: git's own ``isspace`` is exactly space, tab,
  LF and CR (not VT or FF), and ``isalnum`` is ASCII only.

Unlike ``pygit2.Commit.message_trailers`` (libgit2) we keep repeated keys in order,
match keys without regard to case, strip CRLF and unfold continuation lines; and
``divider=False`` reproduces ``%(trailers)`` of ``git log``, which ignores ``---``
(``pretty.c`` sets ``opts.no_divider = 1``) where libgit2 does not.

Deliberate differences from git, all documented in ``docs/trailers.md``: a value
never contains CR (a CR that ends a line is part of the line break, any other CR
reads as a space); a ``---`` divider followed later by a scissors line does not
hang (git 2.39 loops forever there; we behave like later git and ignore the
scissors line); and ``add_trailers`` compares keys exactly, not by git's prefix
match (``same_token``), under which an existing ``Runr: x`` would stop
``Runr-Run-Id`` from ever being added. ``trailer.*`` configuration (custom
separators, ``trailer.<token>.key``) is not read: gitrunr uses git's defaults.

Standard library only and cheap to import: the commit-msg hook imports it.
"""

from __future__ import annotations

# Not typing.TYPE_CHECKING: importing typing would cost the hook 2-3 ms. Type
# checkers treat any TYPE_CHECKING name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = [
    "CHECKPOINT",
    "INTERVENTION",
    "RUN_ID",
    "TIER",
    "Trailer",
    "add_trailers",
    "is_valid_key",
    "parse_trailers",
    "trailer_values",
]

RUN_ID = "Runr-Run-Id"
CHECKPOINT = "Runr-Checkpoint"
TIER = "Runr-Tier"
INTERVENTION = "Runr-Intervention"

#: git's ``isspace`` (``ctype.c``: the GIT_SPACE class is exactly these four).
_SPACE = " \t\n\r"
#: Characters of a trailer token before the separator (``find_separator``).
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-")
#: ``git_generated_prefixes`` in trailer.c: one such line lowers the bar to 25%.
_GIT_GENERATED = ("Signed-off-by: ", "(cherry picked from commit ")
#: ``cut_line`` in wt-status.c, matched after "<comment char> ".
_CUT_LINE = "------------------------ >8 ------------------------\n"
#: What a value written by :func:`add_trailers` must not contain: LF and CR (a new
#: line for git), NUL (git refuses it in a message) and the other characters
#: Python's ``str.splitlines`` breaks on, so no Python reader can be fooled either.
_FORBIDDEN_IN_VALUE = frozenset("\n\r\0\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


class Trailer:
    """One trailer of a commit message; immutable, compared by value.

    ``key`` is the token as written (case kept), without the whitespace git allows
    before the separator; it always matches ``[A-Za-z0-9-]+``. ``value`` is
    unfolded (continuation lines joined by one space) and stripped of git's
    whitespace; it never contains LF or CR.

    A plain slotted class rather than a dataclass: importing :mod:`dataclasses`
    costs 6-7 ms, paid on every commit by the hooks.
    """

    __slots__ = ("key", "value")
    key: str
    value: str

    def __init__(self, key: str, value: str) -> None:
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "value", value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Trailer is immutable: cannot set {name}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Trailer):
            return NotImplemented
        return self.key == other.key and self.value == other.value

    def __hash__(self) -> int:
        return hash((self.key, self.value))

    def __repr__(self) -> str:
        return f"Trailer(key={self.key!r}, value={self.value!r})"


def is_valid_key(key: str) -> bool:
    """True when ``key`` may be written as a trailer key by :func:`add_trailers`.

    A valid key is ASCII letters, digits and ``-``, starting and ending with a
    letter or digit (``[A-Za-z0-9]`` or ``[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]``).
    Such a key is a token for git's ``find_separator`` (alphanumerics and ``-``),
    cannot start a ``---`` divider or a ``#`` comment, and survives git's
    ``token_len_without_separator``, which drops trailing non-alphanumerics when
    git compares tokens. Never raises.
    """
    return (
        key.isascii()
        and key[:1].isalnum()
        and key[-1:].isalnum()
        and key.replace("-", "").isalnum()
    )


def trailer_values(trailers: Iterable[Trailer], key: str) -> list[str]:
    """Values of every trailer whose key is ``key``, in message order.

    Keys compare ASCII case-insensitively, as git's ``%(trailers:key=...)`` does
    (``format_trailer_match_cb``: same length, ``strncasecmp``); ``Runr-Run-Id``
    and ``runr-run-id`` are one key, ``Runr-Run-Id-2`` is another. Returns
    ``[]`` when there is none. Never raises.
    """
    wanted = key.translate(_ASCII_LOWER)
    return [t.value for t in trailers if t.key.translate(_ASCII_LOWER) == wanted]


def parse_trailers(message: str, *, divider: bool = True,
                   comment_char: str = "#") -> list[Trailer]:
    """The trailers of ``message``, in order, repeated keys kept.

    With ``divider=True`` this is what ``git interpret-trailers --parse`` prints
    for ``message``; with ``divider=False`` what ``git interpret-trailers --parse
    --no-divider`` prints, which is also what ``git log --format=%(trailers:unfold,only)``
    shows for a commit with this message (``pretty.c`` sets ``no_divider``), except
    that ``git log`` first skips blank lines at the top of the message
    (``parse_commit_message``: ``skip_blank_lines``). Read stored commits with
    ``divider=False``. ``comment_char`` is ``core.commentChar``.

    The rules (trailer.c unless noted):

    * Only text before the first NUL counts (git works on C strings).
    * ``divider=True``: the message ends at the first line that starts with ``---``
      followed by space, tab, CR or LF (``find_patch_start``); ``---`` as the very
      last bytes, without a line feed, is not a divider.
    * Everything from a line ``<comment_char> ------------------------ >8
      ------------------------`` (with its line feed) on is ignored
      (wt-status.c ``wt_status_locate_end``), then a trailing run of comment lines,
      empty lines and an old ``Conflicts:`` block with its tab-indented paths is
      ignored (commit.c ``ignore_non_trailer``).
    * The first paragraph is the title and never holds trailers. The trailer block
      is the last paragraph (after a line of only spaces, tabs and CRs), where
      every non-comment line is a trailer or a continuation, or at least one line
      starts with ``Signed-off-by: `` or ``(cherry picked from commit `` and
      trailers are at least a quarter of its lines (``find_trailer_start``).
    * A trailer line is ``<token><spaces or tabs><:>value`` where the token is
      ASCII alphanumerics and ``-`` and does not start with whitespace
      (``find_separator``); so ``Key : value`` is a trailer, ``Key Word: v`` is not.
    * A line starting with whitespace continues the trailer before it
      (``trailer_info_get``); the value is unfolded: each line break and the
      whitespace after it become one space (``unfold_value``). Comment lines inside
      the block are skipped (``process_input_file``).

    CRLF: a CR that ends a line is part of the line break and never reaches a value
    (git keeps such a CR inside an unfolded value); any other CR reads as a space.
    Block detection itself sees the CRs exactly as git does.

    Raises ``ValueError`` when ``comment_char`` is not a single ASCII character.
    """
    _check_comment_char(comment_char)
    nul = message.find("\0")
    text = message if nul < 0 else message[:nul]
    start, end = _trailer_block(text, divider, comment_char)
    return _parse_block(text, start, end, comment_char)


def add_trailers(message: str, new: Sequence[tuple[str, str]], *, divider: bool = True,
                 comment_char: str = "#") -> str:
    """``message`` with each ``(key, value)`` of ``new`` added unless its key is there.

    The semantics of ``git interpret-trailers --if-exists doNothing --if-missing add
    --where end --trailer 'key: value' ...``: a pair is skipped when the trailer
    block (as :func:`parse_trailers` with the same ``divider`` and ``comment_char``
    finds it) already has a trailer with the same key, compared case-insensitively,
    whatever its value, or when an earlier pair of ``new`` added that key. Unlike
    git (trailer.c ``same_token``), keys must match exactly, not by prefix.

    Each added trailer is one ``key: value`` line. Lines already in the message are
    kept byte for byte. New lines go right after the last line of the existing
    trailer block that is neither blank nor a comment (comment lines and
    blank-looking lines that git counts into the block stay after them). Without a
    block they start a new one, after a blank line unless one is there
    (``ends_with_blank_line``), at the end of the message proper: before trailing
    comment lines, a scissors section, an old ``Conflicts:`` block and
    (``divider=True``) a ``---`` divider. A message that does not end with a line
    feed first gets one, as ``git commit`` would add; a message whose first line
    ends in CRLF gets CRLF line ends. If nothing is added, ``message`` is returned
    unchanged, so ``add_trailers(add_trailers(m, t), t) == add_trailers(m, t)``.

    The commit-msg hook should pass ``divider=False``: ``git log`` reads trailers
    with ``no_divider``, so a trailer written above a ``---`` line in the message
    would be invisible to it.

    Raises ``ValueError``, before changing anything, when a key is not
    :func:`is_valid_key` or starts with ``comment_char`` (it would read back as a
    comment), when a value is empty or blank, or contains LF, CR, NUL
    or another line-breaking character (so a note can never smuggle in a trailer
    line), when ``message`` contains NUL (git refuses such a message), or when
    ``comment_char`` is not a single ASCII character. Spaces and tabs around a
    value are dropped, as git does.
    """
    _check_comment_char(comment_char)
    if "\0" in message:
        raise ValueError("the commit message contains a NUL byte, which git refuses")
    pending: list[tuple[str, str]] = []
    for key, value in new:
        if not is_valid_key(key) or key.startswith(comment_char):
            raise ValueError(f"not a valid trailer key: {key!r}")
        if not _FORBIDDEN_IN_VALUE.isdisjoint(value):
            raise ValueError(f"the value of trailer {key} contains a line break or NUL")
        value = value.strip(" \t")
        if not value:
            raise ValueError(f"the value of trailer {key} is empty")
        pending.append((key, value))

    first_nl = message.find("\n")
    eol = "\r\n" if first_nl > 0 and message[first_nl - 1] == "\r" else "\n"
    text = message
    if text and not text.endswith("\n"):
        text += "\n" if text.endswith("\r") else eol

    start, end = _trailer_block(text, divider, comment_char)
    present = {t.key.translate(_ASCII_LOWER)
               for t in _parse_block(text, start, end, comment_char)}
    lines: list[str] = []
    for key, value in pending:
        folded = key.translate(_ASCII_LOWER)
        if folded not in present:
            present.add(folded)
            lines.append(f"{key}: {value}{eol}")
    if not lines:
        return message

    if start < end:
        # Right after the last line of the block that is neither blank nor a
        # comment. The block may end in blank-looking lines ("  \n", "\r\n": not
        # empty for ignore_non_trailer) with comment lines among them, which
        # find_trailer_start skips while it has seen nothing else; put after them,
        # our lines would end up in a paragraph of their own.
        pos = end
        while pos > start:
            bol = _last_line(text, pos)
            if text[bol] != comment_char and not _is_blank_line(text, bol):
                break
            pos = bol
        return text[:pos] + "".join(lines) + text[pos:]
    blank = "" if _ends_with_blank_line(text, start) else eol
    return text[:start] + blank + "".join(lines) + text[start:]


# --- the port of git ------------------------------------------------------------------


def _check_comment_char(comment_char: str) -> None:
    # config.c (git 2.39): core.commentChar must be exactly one (byte-sized) character.
    if len(comment_char) != 1 or not comment_char.isascii() or comment_char == "\0":
        raise ValueError(f"comment_char must be one ASCII character, not {comment_char!r}")


def _next_line(buf: str, pos: int) -> int:
    """trailer.c ``next_line``: start of the line after the one at ``pos``."""
    nl = buf.find("\n", pos)
    return len(buf) if nl < 0 else nl + 1


def _last_line(buf: str, length: int) -> int:
    """trailer.c ``last_line``: start of the last line of ``buf[:length]``, -1 if empty.

    A final LF belongs to the last line, so the character at ``length - 1`` is
    not looked at.
    """
    if length == 0:
        return -1
    if length == 1:
        return 0
    return buf.rfind("\n", 0, length - 1) + 1


def _is_blank_line(buf: str, pos: int) -> bool:
    """trailer.c ``is_blank_line``: the line at ``pos`` holds only spaces, tabs, CRs."""
    end = buf.find("\n", pos)
    line = buf[pos:] if end < 0 else buf[pos:end]
    return not line.strip(" \t\r")


def _ends_with_blank_line(buf: str, length: int) -> bool:
    """trailer.c ``ends_with_blank_line``."""
    bol = _last_line(buf, length)
    return bol >= 0 and _is_blank_line(buf, bol)


def _find_separator(buf: str, pos: int) -> int:
    """trailer.c ``find_separator`` for the line at ``pos``, separators ``":"``.

    Returns the offset of the ``:`` from ``pos`` for ``<token><blanks>:`` (token:
    ASCII alphanumerics and ``-``; blanks: spaces and tabs, not at the start), 0
    when the line starts with ``:``, -1 otherwise.
    """
    whitespace_found = False
    c = pos
    n = len(buf)
    while c < n:
        ch = buf[c]
        if ch == ":":
            return c - pos
        if not whitespace_found and ch in _TOKEN_CHARS:
            c += 1
            continue
        if c != pos and (ch == " " or ch == "\t"):
            whitespace_found = True
            c += 1
            continue
        break
    return -1


def _find_patch_start(buf: str) -> int:
    """trailer.c ``find_patch_start``: first line starting with ``---`` + whitespace."""
    if "---" not in buf:
        return len(buf)
    n = len(buf)
    pos = 0
    while pos < n:
        if buf.startswith("---", pos) and pos + 3 < n and buf[pos + 3] in _SPACE:
            return pos
        pos = _next_line(buf, pos)
    return n


def _locate_end(buf: str, length: int, comment_char: str) -> int:
    """wt-status.c ``wt_status_locate_end``: where a scissors line cuts ``buf[:length]``.

    git 2.39 takes the first scissors line anywhere in the message, even after
    ``length`` (after a ``---`` divider), and then loops forever in
    ``ignore_non_trailer``; like later git, a scissors line at or after ``length``
    is ignored here.
    """
    pattern = "\n" + comment_char + " " + _CUT_LINE
    if buf.startswith(pattern[1:]):
        return 0
    found = buf.find(pattern)
    if found >= 0 and found + 1 < length:
        return found + 1
    return length


def _ignored_bytes(buf: str, length: int, comment_char: str) -> int:
    """commit.c ``ignore_non_trailer``: how much of the end of ``buf[:length]`` to skip.

    Skipped: the scissors section, then the trailing run of comment lines, empty
    lines (exactly ``\\n``: a CRLF or blank-with-spaces line ends the run) and an
    old ``Conflicts:`` line with the tab-indented paths after it. ``boc == 0``
    means "no run yet", so a run that starts at offset 0 starts at its second line
    (faithful to git).
    """
    boc = 0
    bol = 0
    in_old_conflicts_block = False
    cutoff = _locate_end(buf, length, comment_char)
    while bol < cutoff:
        nl = buf.find("\n", bol, length)
        next_bol = length if nl < 0 else nl + 1
        ch = buf[bol]
        if ch == comment_char or ch == "\n":
            if not boc:
                boc = bol
        elif buf.startswith("Conflicts:\n", bol):
            in_old_conflicts_block = True
            if not boc:
                boc = bol
        elif in_old_conflicts_block and ch == "\t":
            pass
        elif boc:
            boc = 0
            in_old_conflicts_block = False
        bol = next_bol
    return length - boc if boc else length - cutoff


def _find_trailer_start(buf: str, length: int, comment_char: str) -> int:
    """trailer.c ``find_trailer_start``: start of the trailer block, ``length`` if none."""
    # The first paragraph is the title and cannot be trailers.
    s = 0
    while s < length:
        if buf[s] != comment_char and _is_blank_line(buf, s):
            break
        s = _next_line(buf, s)
    end_of_title = s

    only_spaces = True
    recognized_prefix = False
    trailer_lines = 0
    non_trailer_lines = 0
    possible_continuation_lines = 0
    bol = _last_line(buf, length)
    while bol >= end_of_title:
        first = buf[bol]
        if first == comment_char:
            non_trailer_lines += possible_continuation_lines
            possible_continuation_lines = 0
        elif _is_blank_line(buf, bol):
            if not only_spaces:
                non_trailer_lines += possible_continuation_lines
                if (recognized_prefix and trailer_lines * 3 >= non_trailer_lines) or (
                        trailer_lines and not non_trailer_lines):
                    return _next_line(buf, bol)
                return length
        else:
            only_spaces = False
            if buf.startswith(_GIT_GENERATED, bol):
                trailer_lines += 1
                possible_continuation_lines = 0
                recognized_prefix = True
            elif first not in _SPACE and _find_separator(buf, bol) >= 1:
                trailer_lines += 1
                possible_continuation_lines = 0
            elif first in _SPACE:
                possible_continuation_lines += 1
            else:
                non_trailer_lines += 1 + possible_continuation_lines
                possible_continuation_lines = 0
        bol = _last_line(buf, bol)
    return length


def _trailer_block(text: str, divider: bool, comment_char: str) -> tuple[int, int]:
    """trailer.c ``trailer_info_get``: ``(trailer_start, trailer_end)`` in ``text``.

    ``start == end`` when there is no trailer block; a new block would go there.
    """
    patch_start = _find_patch_start(text) if divider else len(text)
    end = patch_start - _ignored_bytes(text, patch_start, comment_char)
    return _find_trailer_start(text, end, comment_char), end


def _parse_block(text: str, start: int, end: int, comment_char: str) -> list[Trailer]:
    """trailer.c ``trailer_info_get`` + ``process_input_file`` with ``--parse``."""
    # Split into entries: a line starting with whitespace continues the entry
    # before it when that entry is a trailer.
    entries: list[str] = []
    last_is_trailer = False
    pos = start
    while pos < end:
        nl = text.find("\n", pos, end)
        nxt = end if nl < 0 else nl + 1
        line = text[pos:nxt]
        if last_is_trailer and line[0] in _SPACE:
            entries[-1] += line
        else:
            entries.append(line)
            last_is_trailer = _find_separator(line, 0) >= 1
        pos = nxt

    found: list[Trailer] = []
    for entry in entries:
        if entry[0] == comment_char:
            continue
        sep = _find_separator(entry, 0)
        if sep >= 1:
            found.append(Trailer(entry[:sep].strip(_SPACE), _value(entry[sep + 1:])))
    return found


def _value(raw: str) -> str:
    """trailer.c ``parse_trailer`` (trim) then ``unfold_value``, CRs made line breaks.

    A CR right before LF is dropped (it ends the line), any other CR becomes a space;
    then, as git: trim, replace each LF and the whitespace after it by one space, trim.
    """
    if "\r" in raw:
        while "\r\n" in raw:
            raw = raw.replace("\r\n", "\n")
        raw = raw.replace("\r", " ")
    raw = raw.strip(_SPACE)
    if "\n" not in raw:
        return raw
    parts = raw.split("\n")
    out = [parts[0]]
    for part in parts[1:]:
        # git skips every whitespace character after a LF, further LFs included:
        # a run of line breaks and blank lines becomes a single space.
        rest = part.lstrip(_SPACE)
        if rest:
            out.append(rest)
    return " ".join(out).strip(_SPACE)
