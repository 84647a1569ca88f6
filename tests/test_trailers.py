"""gitrunr.trailers against git itself (git 2.39): parse, add, and what ``git log`` shows.

The property tests generate awkward commit messages and compare our answer with
``git interpret-trailers``. git keeps a CR that ends a continued line inside an
unfolded value (``b\\r cont``) where we, by design, do not; the generated
messages only hold CRs as part of line ends, so dropping CRs from git's values
is exactly our rule there (the bare-CR case has its own example test).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gitrunr.trailers import (
    CHECKPOINT,
    INTERVENTION,
    RUN_ID,
    TIER,
    Trailer,
    add_trailers,
    is_valid_key,
    parse_trailers,
    trailer_values,
)
from tests.conftest import GitRepo

RUN = "run-0mi8x2k3f7d9qz0a4"
CP = "cp-0mi8x2k3f7d9qz0a5"
SCISSORS = "------------------------ >8 ------------------------"

PROPERTY = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


# --- git as the oracle ----------------------------------------------------------------


def _git(args: Sequence[str], message: str, comment_char: str = "#") -> str:
    proc = subprocess.run(
        ["git", "-c", f"core.commentChar={comment_char}", "interpret-trailers", *args],
        input=message.encode(), capture_output=True, timeout=20, check=True,
    )
    return proc.stdout.decode()


def git_parse(message: str, *, divider: bool = True, comment_char: str = "#") -> list[Trailer]:
    """``git interpret-trailers --parse`` as Trailers, CRs dropped from the values."""
    out = _git(["--parse"] + ([] if divider else ["--no-divider"]), message, comment_char)
    found = []
    for line in out.split("\n"):
        if line:
            colon = line.index(":")
            assert line[colon:colon + 2] == ": ", line  # print_tok_val writes "tok: val"
            found.append(Trailer(line[:colon], line[colon + 2:].replace("\r", "")))
    return found


def git_add(message: str, new: Sequence[tuple[str, str]], *, divider: bool = True,
            comment_char: str = "#") -> str:
    args = ["--if-exists", "doNothing", "--if-missing", "add", "--where", "end"]
    for key, value in new:
        args += ["--trailer", f"{key}: {value}"]
    if not divider:
        args.append("--no-divider")
    return _git(args, message, comment_char)


def divider_at(message: str) -> int:
    """Where git 2.39 sees a ``---`` divider (trailer.c find_patch_start), or -1."""
    pos = 0
    while pos < len(message):
        # At the very end, message[pos + 3:pos + 4] is "": git's isspace('\0') is false.
        if message.startswith("---", pos) and message[pos + 3:pos + 4] in (" ", "\t", "\n", "\r"):
            return pos
        nl = message.find("\n", pos)
        pos = len(message) if nl < 0 else nl + 1
    return -1


def git_hangs_at(message: str, comment_char: str) -> int:
    """git 2.39 loops forever when a scissors line comes after the divider: return it."""
    div = divider_at(message)
    pattern = f"\n{comment_char} {SCISSORS}\n"
    if div < 0 or message.startswith(pattern[1:]):
        return -1
    found = message.find(pattern)
    return div if found >= 0 and found + 1 > div else -1


def git_expected(message: str, *, divider: bool, comment_char: str) -> list[Trailer]:
    hang = git_hangs_at(message, comment_char) if divider else -1
    if hang >= 0:
        # What later git (and we) answer: the scissors line beyond the divider is ignored.
        return git_parse(message[:hang], divider=divider, comment_char=comment_char)
    return git_parse(message, divider=divider, comment_char=comment_char)


def is_insertion(original: str, changed: str) -> bool:
    """``changed`` is ``original`` with one piece of text inserted somewhere."""
    p = 0
    while p < len(original) and p < len(changed) and original[p] == changed[p]:
        p += 1
    rest = original[p:]
    return changed.endswith(rest) and len(changed) - len(rest) >= p


def git_token_clash(existing: Sequence[str], new: Sequence[str]) -> bool:
    """True when git's prefix match (trailer.c same_token) differs from exact keys."""
    def norm(k: str) -> str:
        return k.lower().rstrip("-")
    for a in [*existing, *new]:
        for b in new:
            x, y = norm(a), norm(b)
            if x != y and (x.startswith(y) or y.startswith(x)):
                return True
    return False


# --- message strategies ---------------------------------------------------------------

POOL_KEYS = ["Runr-Run-Id", "runr-run-id", "RUNR-RUN-ID", "Runr-Checkpoint", "Runr-Tier",
             "Runr-Intervention", "Signed-off-by", "Acked-by", "Reviewed-by", "Bug",
             "Change-Id", "Closes"]
VALUES = [RUN, CP, "true", "2", "A U Thor <a@example.com>", "x: y", "", "  padded  ", "#42",
          "a\tb", "Ä ünïcode", "---", "run-evil"]
JUNK = ["Just a sentence.", "Key Word: not a trailer", "- bullet", "http://example.com/x",
        "Ä: b", ":starts with colon", "Conflicts:", "\tpath/file.c",
        "(cherry picked from commit 0123abc)", "Signed-off-by: A U Thor <a@example.com>",
        "Signed-off-by:nospace", "--- a/file", "---", "----", "---x", "--- ", "---\t",
        "# comment", "# Key: v", "#", "; semicolon comment", ";Key: v", f"# {SCISSORS}",
        f"; {SCISSORS}", " ", "\t", "  \t ", "Note:", "foo bar baz", "\x0c", "Key\x0b: v",
        "Key : spaced", "Key\t:\ttabbed"]

# Random keys never start with r/R, so git's prefix match cannot confuse them with
# the Runr keys (see git_token_clash).
keys = st.one_of(st.sampled_from(POOL_KEYS),
                 st.text("abcXYZ019-", min_size=0, max_size=5).map(lambda s: "Z" + s))
values = st.one_of(st.sampled_from(VALUES), st.text(" abc:#-\t", max_size=8))
trailer_lines = st.builds(lambda k, before, after, v: f"{k}{before}:{after}{v}", keys,
                          st.sampled_from(["", "", "", " ", "\t"]),
                          st.sampled_from([" ", " ", "", "  ", "\t"]), values)
continuations = st.builds(lambda ws, v: ws + v, st.sampled_from([" ", "  ", "\t", "   "]),
                          st.sampled_from(["continued", "more: text", "x", ""]))
lines = st.one_of(trailer_lines, trailer_lines, trailer_lines, st.sampled_from(JUNK),
                  continuations)
blank_lines = st.sampled_from(["", "", "", " ", "\t"])
titles = st.lists(st.one_of(st.sampled_from(["Subject line", "Fix: a bug", f"Runr-Run-Id: {RUN}"]),
                            lines), min_size=0, max_size=2)
tails = st.lists(st.sampled_from(["", "# Please enter the commit message.", "#", "---",
                                  "--- notes below", "notes", f"# {SCISSORS}", f"; {SCISSORS}",
                                  "diff --git a/x b/x", "; comment", "Conflicts:", "\tfile.c"]),
                 max_size=4)


@st.composite
def messages(draw: st.DrawFn, *, final_newline: bool = False) -> str:
    parts = list(draw(titles))
    for para in draw(st.lists(st.lists(lines, min_size=1, max_size=6), max_size=3)):
        parts.append(draw(blank_lines))
        parts.extend(para)
    parts.extend(draw(tails))
    eol = draw(st.sampled_from(["\n", "\n", "\r\n"]))
    mixed = draw(st.integers(0, 9)) == 0
    ends = [draw(st.sampled_from(["\n", "\r\n"])) if mixed else eol for _ in parts]
    text = "".join(p + e for p, e in zip(parts, ends, strict=True))
    if not final_newline and text:
        cut = draw(st.sampled_from(["keep", "keep", "drop", "cr"]))
        if cut == "drop":
            text = text[:-1]
        elif cut == "cr":
            text = text.rstrip("\n") + "\r"
    return text


comment_chars = st.sampled_from(["#", "#", ";"])
new_pairs = st.lists(st.tuples(st.sampled_from([RUN_ID, "runr-run-id", CHECKPOINT, TIER,
                                                INTERVENTION, "Signed-off-by"]),
                               st.sampled_from([RUN, CP, "true", "2", "x: y", "a\tb"])),
                     min_size=1, max_size=4)


# --- properties -----------------------------------------------------------------------


@PROPERTY
@given(message=messages(), comment_char=comment_chars)
def test_parse_matches_git_interpret_trailers(message: str, comment_char: str) -> None:
    for divider in (True, False):
        ours = parse_trailers(message, divider=divider, comment_char=comment_char)
        assert ours == git_expected(message, divider=divider, comment_char=comment_char), divider
        assert all("\n" not in t.value and "\r" not in t.value for t in ours)


@PROPERTY
@given(message=messages(final_newline=True), new=new_pairs, divider=st.booleans(),
       comment_char=comment_chars)
def test_add_matches_git_and_is_idempotent(message: str, new: list[tuple[str, str]],
                                           divider: bool, comment_char: str) -> None:
    if divider:
        assume(git_hangs_at(message, comment_char) < 0)
    before = parse_trailers(message, divider=divider, comment_char=comment_char)
    assume(not git_token_clash([t.key for t in before], [k for k, _ in new]))
    expected = list(before)  # the old trailers, then each new key not yet there
    for key, value in new:
        if not trailer_values(expected, key):
            expected.append(Trailer(key, value))

    ours = add_trailers(message, new, divider=divider, comment_char=comment_char)
    assert parse_trailers(ours, divider=divider, comment_char=comment_char) == expected
    assert git_parse(ours, divider=divider, comment_char=comment_char) == expected
    assert add_trailers(ours, new, divider=divider, comment_char=comment_char) == ours
    assert is_insertion(message, ours)  # existing lines kept byte for byte

    by_git = git_add(message, new, divider=divider, comment_char=comment_char)
    theirs = git_parse(by_git, divider=divider, comment_char=comment_char)
    # git rewrites the block it adds to: it drops comment lines and prints a
    # CRLF blank line as an item of its own, which can end the block before the
    # new trailers (see test_git_can_break_its_own_block). Where git's own
    # output keeps its trailers, it must say exactly what ours says.
    if theirs[:len(before)] == before:
        assert theirs == expected


# --- the four points where pygit2's message_trailers differs from git -----------------


def test_repeated_keys_are_all_kept_in_order() -> None:
    message = f"Subject\n\nBody.\n\n{CHECKPOINT}: cp-1\nAcked-by: x\n{CHECKPOINT}: cp-2\n"
    ours = parse_trailers(message)
    assert ours == git_parse(message)
    assert trailer_values(ours, CHECKPOINT) == ["cp-1", "cp-2"]  # pygit2 keeps only cp-2


def test_keys_match_without_regard_to_case() -> None:
    message = f"Subject\n\nRunr-Run-Id: {RUN}\nrunr-run-id: run-second\nRUNR-TIER: 2\n"
    ours = parse_trailers(message)
    assert ours == git_parse(message)
    assert [t.key for t in ours] == ["Runr-Run-Id", "runr-run-id", "RUNR-TIER"]  # as written
    assert trailer_values(ours, RUN_ID) == [RUN, "run-second"]
    assert trailer_values(ours, "RUNR-run-ID") == [RUN, "run-second"]
    assert trailer_values(ours, TIER) == ["2"]
    assert trailer_values(ours, "Runr-Run") == []  # whole keys only, not prefixes
    # ... and an existing key in another case is "already there" for add_trailers.
    assert add_trailers(message, [("RUNR-RUN-ID", "run-other")]) == message


def test_crlf_is_stripped() -> None:
    message = f"Subject\r\n\r\nBody\r\n\r\n{RUN_ID}: {RUN}\r\nNote: first\r\n  second\r\n"
    ours = parse_trailers(message)
    assert ours == [Trailer(RUN_ID, RUN), Trailer("Note", "first second")]
    # git finds the same trailers but keeps the CR of a continued line: "first\r second".
    raw = _git(["--parse"], message)
    assert "Note: first\r second\n" in raw
    assert ours == git_parse(message)


def test_continuation_lines_are_unfolded() -> None:
    message = "Subject\n\nCo-authored-by: A\n  <a@example.com>\n\tand more\nBug: 1\n"
    ours = parse_trailers(message)
    assert ours == [Trailer("Co-authored-by", "A <a@example.com> and more"), Trailer("Bug", "1")]
    assert ours == git_parse(message)


# --- other rules of trailer.c ---------------------------------------------------------


def test_divider_ends_the_message_unless_no_divider() -> None:
    message = "Subject\n\nBody\n\nA: b\n---\nnotes that are not\n\nB: c\n"
    assert parse_trailers(message) == [Trailer("A", "b")] == git_parse(message)
    assert parse_trailers(message, divider=False) == [Trailer("B", "c")]
    assert parse_trailers(message, divider=False) == git_parse(message, divider=False)


@pytest.mark.parametrize("line, expected", [
    ("---", [Trailer("A", "b")]),
    ("--- patch", [Trailer("A", "b")]),
    ("---\t", [Trailer("A", "b")]),
    ("---\r", [Trailer("A", "b")]),
    ("----", []),  # a junk line: 2 trailers, 1 other, no Signed-off-by -> no block
    ("---x", []),
    (" ---", [Trailer("A", "b ---"), Trailer("B", "c")]),  # a continuation line
])
def test_what_counts_as_a_divider(line: str, expected: list[Trailer]) -> None:
    message = f"Subject\n\nA: b\n{line}\nB: c\n"
    assert parse_trailers(message) == expected == git_parse(message)
    assert parse_trailers(message, divider=False) == git_parse(message, divider=False)


def test_divider_as_the_last_bytes_is_not_a_divider() -> None:
    message = "Subject\n\nA: b\n---"  # no line feed after: git's isspace('\0') is false
    assert parse_trailers(message) == [] == git_parse(message)
    assert parse_trailers(message + "\n") == [Trailer("A", "b")] == git_parse(message + "\n")


def test_trailing_comments_and_scissors_are_ignored() -> None:
    message = (f"Subject\n\nA: b\n# Key: not a trailer\nB: c\n\n# Please enter a message\n#\n"
               f"# {SCISSORS}\n# Do not modify\ndiff --git a/x b/x\nC: d\n")
    assert parse_trailers(message) == [Trailer("A", "b"), Trailer("B", "c")]
    assert parse_trailers(message) == git_parse(message)


def test_comment_char_is_configurable() -> None:
    message = "Subject\n\nA: b\n;x: y\n"
    assert parse_trailers(message) == [] == git_parse(message)  # ";x: y" is a junk line
    assert parse_trailers(message, comment_char=";") == [Trailer("A", "b")]
    assert parse_trailers(message, comment_char=";") == git_parse(message, comment_char=";")
    with pytest.raises(ValueError):
        parse_trailers(message, comment_char="##")


def test_last_paragraph_rules() -> None:
    only_trailers = "Subject\n\nA: 1\n\nB: 2\nC: 3\n"
    quarter = "Subject\n\nfoo\nbar\nbaz\nSigned-off-by: X <x@example.com>\n"
    too_few = "Subject\n\nfoo\nbar\nbaz\nqux\nSigned-off-by: X <x@example.com>\n"
    unrecognised = "Subject\n\nfoo\nB: 2\nC: 3\nD: 4\n"
    title_only = "Signed-off-by: X <x@example.com>\n"
    assert parse_trailers(only_trailers) == [Trailer("B", "2"), Trailer("C", "3")]
    assert parse_trailers(quarter) == [Trailer("Signed-off-by", "X <x@example.com>")]
    assert parse_trailers(too_few) == []
    assert parse_trailers(unrecognised) == []
    assert parse_trailers(title_only) == []
    for message in (only_trailers, quarter, too_few, unrecognised, title_only):
        assert parse_trailers(message) == git_parse(message), message


def test_separator_and_token_rules() -> None:
    message = ("Subject\n\nKey : spaced\nKey\t:tab\nKey:tight\nEmpty:\n-: dash\n"
               "(cherry picked from commit 0123abc)\nSigned-off-by: X\n")
    assert parse_trailers(message) == [
        Trailer("Key", "spaced"), Trailer("Key", "tab"), Trailer("Key", "tight"),
        Trailer("Empty", ""), Trailer("-", "dash"), Trailer("Signed-off-by", "X"),
    ] == git_parse(message)
    for junk in ("Key Word: v", "Ä: v", ":v", "Key\x0b: v", "\x0c"):
        assert parse_trailers(f"Subject\n\nA: b\n{junk}\n") == []  # one junk line, no block
        assert git_parse(f"Subject\n\nA: b\n{junk}\n") == []


def test_only_gits_whitespace_is_trimmed() -> None:
    # git's isspace is space, tab, LF, CR: VT, FF, NBSP and ideographic space stay.
    message = "Subject\n\nA: \x0bb\x0c\nB: \u00a0c\u3000\n"
    assert parse_trailers(message) == [Trailer("A", "\x0bb\x0c"), Trailer("B", "\u00a0c\u3000")]
    assert parse_trailers(message) == git_parse(message)


def test_conflicts_block_is_ignored_at_the_end_only() -> None:
    at_end = "Subject\n\nA: b\nConflicts:\n\tfile.c\n"
    inside = "Subject\n\nA: b\nConflicts:\n\tfile.c\nX: y\n"
    assert parse_trailers(at_end) == [Trailer("A", "b")] == git_parse(at_end)
    assert parse_trailers(inside) == [Trailer("A", "b"), Trailer("Conflicts", "file.c"),
                                      Trailer("X", "y")] == git_parse(inside)


def test_a_bare_cr_inside_a_value_reads_as_a_space() -> None:
    message = "Subject\n\nA: x\ry\n"
    assert parse_trailers(message) == [Trailer("A", "x y")]
    assert _git(["--parse"], message) == "A: x\ry\n"  # git keeps the CR; we never return one


def test_text_after_nul_is_ignored_like_git() -> None:
    message = "Subject\n\nA: b\n\0\nB: c\n"
    assert parse_trailers(message) == [Trailer("A", "b")] == git_parse(message)
    with pytest.raises(ValueError, match="NUL"):
        add_trailers(message, [(RUN_ID, RUN)])


def test_divider_before_scissors_does_not_hang() -> None:
    # git 2.39 loops forever on this message (wt_status_locate_end returns a cut-off
    # beyond the divider); we ignore the scissors line, as later git does.
    message = f"Subject\n\nA: b\n---\nnotes\n# {SCISSORS}\ndiff\n"
    assert git_hangs_at(message, "#") >= 0
    assert parse_trailers(message) == [Trailer("A", "b")]
    assert parse_trailers(message) == git_parse(message[:git_hangs_at(message, "#")])
    assert parse_trailers(message, divider=False) == git_parse(message, divider=False) == []


# --- add_trailers -----------------------------------------------------------------------


def test_add_to_existing_block_keeps_lines_byte_for_byte() -> None:
    message = "Subject\n\nBody\n\nBug : 7\nSigned-off-by:  X\n  continued\n"
    out = add_trailers(message, [(RUN_ID, RUN), (CHECKPOINT, CP)])
    assert out == message + f"{RUN_ID}: {RUN}\n{CHECKPOINT}: {CP}\n"
    assert trailer_values(parse_trailers(out), RUN_ID) == [RUN]


def test_add_makes_a_new_block_before_comments() -> None:
    message = f"Subject\n\nBody text.\n# Please enter a message\n# {SCISSORS}\ndiff\n"
    out = add_trailers(message, [(RUN_ID, RUN), (INTERVENTION, "true")])
    assert out == (f"Subject\n\nBody text.\n\n{RUN_ID}: {RUN}\n{INTERVENTION}: true\n"
                   f"# Please enter a message\n# {SCISSORS}\ndiff\n")
    assert parse_trailers(out) == git_parse(git_add(message, [(RUN_ID, RUN),
                                                              (INTERVENTION, "true")]))


@pytest.mark.parametrize("message", [
    "Subject\n\nBody\n\n# comment\n",
    # A CRLF blank line is not an empty line for ignore_non_trailer: it stays in
    # the message proper, so no second blank line is needed before the new block.
    "Subject\r\n\r\nBody\r\n\r\n# comment\r\n",
    # A run of comments from offset 0 starts at its second line (commit.c: boc == 0
    # means "no run yet").
    "# a\n# b\n",
    "Subject\n\nBody\nConflicts:\n\tfile.c\n",
    "Subject\n\n(cherry picked from commit 0123abc)\n",
])
def test_new_trailers_land_where_git_puts_them(message: str) -> None:
    eol = "\r\n" if "\r\n" in message else "\n"
    by_git = git_add(message, [(TIER, "2")])
    assert add_trailers(message, [(TIER, "2")]) == by_git.replace(f"{TIER}: 2\n", f"{TIER}: 2{eol}")


def test_comment_lines_inside_the_block_are_skipped() -> None:
    # Only visible with a comment character that can start a token.
    message = "Subject\n\nA: b\nCx: y\nB: c\n"
    assert parse_trailers(message, comment_char="C") == [Trailer("A", "b"), Trailer("B", "c")]
    assert parse_trailers(message, comment_char="C") == git_parse(message, comment_char="C")
    assert len(parse_trailers(message)) == 3
    with pytest.raises(ValueError):  # it would read back as a comment
        add_trailers(message, [("Cz", "z")], comment_char="C")
    assert add_trailers(message, [("Cz", "z")]) == message + "Cz: z\n"


def test_add_to_a_message_without_final_newline() -> None:
    assert add_trailers("Subject", [(RUN_ID, RUN)]) == f"Subject\n\n{RUN_ID}: {RUN}\n"
    # git would write "Subject\nRunr-Run-Id: ..." (no blank line: part of the title).
    assert git_parse(git_add("Subject", [(RUN_ID, RUN)])) == []
    out = add_trailers("Subject\n\nA: b\n---", [(RUN_ID, RUN)])
    assert out == f"Subject\n\nA: b\n{RUN_ID}: {RUN}\n---\n"
    assert parse_trailers(out) == git_parse(out) == [Trailer("A", "b"), Trailer(RUN_ID, RUN)]


def test_add_keeps_crlf() -> None:
    message = "Subject\r\n\r\nBody\r\n\r\nA: b\r\n\r\n"
    out = add_trailers(message, [(RUN_ID, RUN)])
    assert out == f"Subject\r\n\r\nBody\r\n\r\nA: b\r\n{RUN_ID}: {RUN}\r\n\r\n"
    assert parse_trailers(out) == [Trailer("A", "b"), Trailer(RUN_ID, RUN)] == git_parse(out)
    assert add_trailers("Subject\r\n", [(TIER, "2")]) == f"Subject\r\n\r\n{TIER}: 2\r\n"


def test_add_is_idempotent_like_an_amend() -> None:
    message = "Subject\n\nBody\n"
    first = add_trailers(message, [(RUN_ID, RUN), (CHECKPOINT, CP)], divider=False)
    # The amend sees the stamped message again, with a fresh checkpoint id.
    again = add_trailers(first, [(RUN_ID, RUN), (CHECKPOINT, "cp-0mi8x2k3f7d9qz0zz")],
                         divider=False)
    assert again == first
    assert trailer_values(parse_trailers(again, divider=False), CHECKPOINT) == [CP]
    # A pair repeated within one call is added once.
    assert add_trailers(message, [(TIER, "1"), ("runr-tier", "2")]) == f"{message}\n{TIER}: 1\n"


def test_add_goes_before_comments_that_git_counts_into_the_block() -> None:
    # Found by a stress run: a CRLF blank line is not "empty" for ignore_non_trailer,
    # so the comment above it stays in the block; find_trailer_start skips such
    # trailing comments and blank lines. New trailers must go above them.
    message = f"Subject\r\n\r\n{RUN_ID}: {RUN}\r\n\r\n; a comment\r\n\r\n"
    ours = add_trailers(message, [(CHECKPOINT, CP)], divider=False, comment_char=";")
    assert ours == (f"Subject\r\n\r\n{RUN_ID}: {RUN}\r\n{CHECKPOINT}: {CP}\r\n"
                    "\r\n; a comment\r\n\r\n")
    both = [Trailer(RUN_ID, RUN), Trailer(CHECKPOINT, CP)]
    assert parse_trailers(ours, divider=False, comment_char=";") == both
    assert git_parse(ours, divider=False, comment_char=";") == both


def test_git_can_break_its_own_block() -> None:
    # Found by the property test: the block ends in a comment and a CRLF blank line.
    message = f"Subject\r\n\r\n{RUN_ID}: {RUN}\r\n# Please enter the message.\r\n\r\n"
    ours = add_trailers(message, [(CHECKPOINT, CP)], divider=False)
    assert ours == (f"Subject\r\n\r\n{RUN_ID}: {RUN}\r\n{CHECKPOINT}: {CP}\r\n"
                    f"# Please enter the message.\r\n\r\n")
    both = [Trailer(RUN_ID, RUN), Trailer(CHECKPOINT, CP)]
    assert parse_trailers(ours, divider=False) == git_parse(ours, divider=False) == both
    # git drops the comment and prints "\r\n" as an item before the new trailer,
    # so its own result has lost the run id from the trailer block.
    by_git = git_add(message, [(CHECKPOINT, CP)], divider=False)
    assert by_git == f"Subject\r\n\r\n{RUN_ID}: {RUN}\n\r\n{CHECKPOINT}: {CP}\n"
    assert git_parse(by_git, divider=False) == [Trailer(CHECKPOINT, CP)]


def test_add_compares_whole_keys_unlike_git_prefix_match() -> None:
    message = "Subject\n\nRunr: something\n"
    out = add_trailers(message, [(RUN_ID, RUN)])
    assert trailer_values(parse_trailers(out), RUN_ID) == [RUN] == \
        trailer_values(git_parse(out), RUN_ID)
    # git's own --if-exists doNothing takes "Runr" as the same token (same_token
    # compares only the shorter length) and would never add the run id.
    assert trailer_values(git_parse(git_add(message, [(RUN_ID, RUN)])), RUN_ID) == []


@pytest.mark.parametrize("key, value", [
    (RUN_ID, "run-1\nRunr-Run-Id: run-evil"),
    (RUN_ID, "run-1\r"),
    (RUN_ID, "run-1\rRunr-Run-Id: run-evil"),
    (RUN_ID, "run-1\u2028Runr-Run-Id: run-evil"),
    (RUN_ID, "run\0"),
    (RUN_ID, ""),
    (RUN_ID, " \t "),
    ("Runr Run Id", RUN),
    ("Runr-Run-Id:", RUN),
    ("-Runr", RUN),
    ("Runr-", RUN),
    ("", RUN),
    ("Rünr", RUN),
    ("#Runr", RUN),
])
def test_add_refuses_bad_keys_and_values(key: str, value: str) -> None:
    message = "Subject\n\nBody\n"
    with pytest.raises(ValueError):
        add_trailers(message, [(TIER, "1"), (key, value)])


def test_a_note_cannot_inject_a_trailer() -> None:
    note = "fixed the flaky test by hand\nRunr-Run-Id: run-evil"
    message = "Subject\n\nBody\n"
    with pytest.raises(ValueError):
        add_trailers(message, [(RUN_ID, RUN), ("Runr-Note", note)])
    # Flattened to one line, the text is a value, never a second run id.
    flat = " ".join(note.split("\n"))
    out = add_trailers(message, [(RUN_ID, RUN), ("Runr-Note", flat)])
    for found in (parse_trailers(out), git_parse(out), parse_trailers(out, divider=False)):
        assert trailer_values(found, RUN_ID) == [RUN]
        assert trailer_values(found, "Runr-Note") == [flat]


def test_values_are_stripped_of_spaces_and_tabs() -> None:
    out = add_trailers("Subject\n", [(TIER, " \t2  ")])
    assert out == f"Subject\n\n{TIER}: 2\n"


def test_is_valid_key() -> None:
    for good in ("Runr-Run-Id", "A", "a1", "X-2-y", "Signed-off-by"):
        assert is_valid_key(good), good
    for bad in ("", "-", "-a", "a-", "a b", "a:b", "a_b", "ä", "a\n", "a.b"):
        assert not is_valid_key(bad), bad


# --- a real commit, read back by git log ----------------------------------------------


def _git_bytes(repo: GitRepo, *args: str) -> str:
    # Not GitRepo.git: its text mode would turn CRs into line feeds.
    proc = subprocess.run(["git", *args], cwd=repo.path, capture_output=True, check=True)
    return proc.stdout.decode()


def _commit(repo: GitRepo, tmp_path: Path, message: str, *extra: str) -> str:
    """Commit ``message`` from a file (as the hook leaves it); return the stored message."""
    path = tmp_path / "message.txt"
    path.write_bytes(message.encode())
    repo.git("commit", "-q", "--allow-empty", "-F", str(path), *extra)
    return _git_bytes(repo, "log", "-1", "--format=%B")[:-1]  # drop the format's newline


def _log_trailers(repo: GitRepo) -> list[Trailer]:
    out = _git_bytes(repo, "log", "-1", "--format=%(trailers:unfold,only)")
    return [Trailer(line[:line.index(":")], line[line.index(":") + 2:].replace("\r", ""))
            for line in out.split("\n") if line]


def test_divider_false_matches_git_log_on_a_real_commit(repo: GitRepo, tmp_path: Path) -> None:
    message = (f"Subject\n\nBody\n---\nnot a divider for git log\n\nAcked-by: A\n"
               f"{RUN_ID}: {RUN}\nrunr-checkpoint: {CP}\nNote: long\n  folded\n")
    stored = _commit(repo, tmp_path, message)
    ours = parse_trailers(stored, divider=False)
    assert ours == _log_trailers(repo)
    assert trailer_values(ours, CHECKPOINT) == [CP]
    assert parse_trailers(stored) == []  # with the divider, "---" hides the block

    crlf = f"Subject\r\n\r\n{RUN_ID}: {RUN}\r\nNote: a\r\n  b\r\n# kept by verbatim\r\n"
    stored = _commit(repo, tmp_path, crlf, "--cleanup=verbatim")
    assert stored == crlf
    assert parse_trailers(stored, divider=False) == _log_trailers(repo) == \
        [Trailer(RUN_ID, RUN), Trailer("Note", "a b")]

    # git log starts at the subject: blank lines above it are skipped first.
    leading = f"\n\n{RUN_ID}: {RUN}\n"
    stored = _commit(repo, tmp_path, leading, "--cleanup=verbatim")
    assert parse_trailers(stored, divider=False) == [Trailer(RUN_ID, RUN)]
    assert _log_trailers(repo) == [] == parse_trailers(stored.lstrip("\n"), divider=False)


def test_hook_must_add_with_divider_false(repo: GitRepo, tmp_path: Path) -> None:
    message = "Subject\n\nBody\n--- a quoted diff line\nmore body\n"
    key_format = f"--format=%(trailers:key={RUN_ID},valueonly,separator=%x2C)"

    _commit(repo, tmp_path, add_trailers(message, [(RUN_ID, RUN)], divider=False))
    assert repo.git("log", "-1", key_format).stdout == f"{RUN}\n"

    _commit(repo, tmp_path, add_trailers(message, [(RUN_ID, RUN)], divider=True))
    assert repo.git("log", "-1", key_format).stdout == "\n"  # written above "---": unseen


def test_docs_recipes_work(repo: GitRepo, tmp_path: Path) -> None:
    _commit(repo, tmp_path, "Plain commit\n")
    _commit(repo, tmp_path, f"Agent commit\n\n{RUN_ID}: {RUN}\n{CHECKPOINT}: {CP}\n{TIER}: 2\n")
    _commit(repo, tmp_path, f"Human fix\n\n{RUN_ID}: {RUN}\n{INTERVENTION}: true\n")
    log = repo.git("log", "--format=%h %s%n  run: %(trailers:key=Runr-Run-Id,valueonly,"
                          "separator=%x2C)").stdout.splitlines()
    assert [line for line in log if line.startswith("  run:")] == \
        [f"  run: {RUN}", f"  run: {RUN}", "  run: "]
    shown = repo.git("log", "-1", "--skip=1", "--format=%(trailers:key=Runr-Run-Id,"
                     "key=Runr-Checkpoint,key=Runr-Tier,key=Runr-Intervention)").stdout
    assert shown == f"{RUN_ID}: {RUN}\n{CHECKPOINT}: {CP}\n{TIER}: 2\n\n"
    table = repo.git("log", "--format=%h%x09%(trailers:key=Runr-Run-Id,valueonly,"
                            "separator=%x2C)%x09%(trailers:key=Runr-Intervention,"
                            "valueonly,separator=%x2C)").stdout.splitlines()
    assert [row.split("\t")[1:] for row in table] == [[RUN, "true"], [RUN, ""], ["", ""]]
    grep = repo.git("log", "-i", "--format=%s", f"--grep=^{RUN_ID}: {RUN}$").stdout
    assert grep == "Human fix\nAgent commit\n"
    unclaimed = subprocess.run(
        "git log --format='%h %(trailers:key=Runr-Run-Id,valueonly,separator=%x2C)'"
        " | awk 'NF == 1'", shell=True, cwd=repo.path, capture_output=True, text=True,
        check=True).stdout.split()
    assert unclaimed == [repo.git("rev-parse", "--short", "HEAD~2").stdout.strip()]
    colon = repo.git("log", "-1", "--skip=1", "--format=%(trailers:key=runr-checkpoint:,"
                     "valueonly)").stdout
    assert colon == f"{CP}\n\n"
