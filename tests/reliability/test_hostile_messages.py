"""Bad input, part 1: hostile commit messages, committed through the hooks during a run.

Every message goes through ``commit-msg`` (stamping), ``post-commit`` (recording, the
commit piped on stdin) and the flush, and is then audited. The promise: no hook
fails and no traceback appears anywhere; a message that claims nothing is stamped
and recorded as a checkpoint of the active run, its own bytes kept; a message that
already claims a run (in any spelling git accepts as our trailer) is left alone,
not recorded, and audited as UNVERIFIED, never as RUNR or MANUAL.

Whether our trailer parser agrees with git's on *generated* messages is a property
test of its own: tests/test_trailers.py::test_parse_matches_git_interpret_trailers.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from gitrunr.trailers import CHECKPOINT, RUN_ID, parse_trailers, trailer_values
from tests.conftest import GitRepo
from tests.reliability.helpers import (
    assert_clean,
    assert_notes_complete,
    audit_json,
    read_back,
    refs_state,
    rejected,
    report,
    spooled,
)

FAKE_RUN = "run-0000fake0000zz"
FAKE_CP = "cp-0000fake0000zz"
MEGABYTES = 3

#: name -> (message bytes, what the audit must say: RUNR when the hook stamps it,
#: UNVERIFIED when the message makes its own claim).
MESSAGES: dict[str, tuple[bytes, str]] = {
    "megabytes long": (b"big: %d MB of body\n\n" % MEGABYTES
                       + b"".join(b"line %07d of a very long body, no trailers here\n" % i
                                  for i in range(MEGABYTES * 2**20 // 48)), "RUNR"),
    "one 200 KB line": (b"x" * 200_000, "RUNR"),
    "CRLF line endings": (b"crlf: subject\r\n\r\nbody line\r\n\r\n"
                          b"Signed-off-by: A U Thor <a@example.com>\r\n", "RUNR"),
    "bare CRs": (b"cr: subject\rnot a line\r\n\r\nbody\r\r\n", "RUNR"),
    "invalid UTF-8": (b"caf\xe9 \xff\xfe subject\n\nbody \xc3\x28 \xed\xa0\x80\n", "RUNR"),
    "Latin-1 trailer value": (b"latin1\n\nReviewed-by: Jos\xe9 <j@example.com>\n", "RUNR"),
    "trailer-like line in the body": (b"body claim\n\nRunr-Run-Id: " + FAKE_RUN.encode()
                                      + b"\nthis paragraph goes on\n\nlast words.\n", "RUNR"),
    "claim above a --- divider": (b"divider\n\nRunr-Run-Id: " + FAKE_RUN.encode()
                                  + b"\n---\ndiff --git a/x b/x\n", "RUNR"),
    "claim below a --- divider": (b"divider below\n\n---\n\nRunr-Run-Id: "
                                  + FAKE_RUN.encode() + b"\n", "UNVERIFIED"),
    "claim in lower case": (b"lower\n\nrunr-run-id: " + FAKE_RUN.encode()
                            + b"\nrunr-checkpoint: " + FAKE_CP.encode() + b"\n", "UNVERIFIED"),
    "claim in upper case, no space": (b"upper\n\nRUNR-RUN-ID:" + FAKE_RUN.encode() + b"\n",
                                      "UNVERIFIED"),
    "space before the colon": (b"spaced\n\nRunr-Run-Id : " + FAKE_RUN.encode() + b"\n",
                               "UNVERIFIED"),
    "tab around the colon": (b"tabbed\n\nRunr-Run-Id\t:\t" + FAKE_RUN.encode() + b"\n",
                             "UNVERIFIED"),
    "claim folded over two lines": (b"folded\n\nRunr-Run-Id:\n " + FAKE_RUN.encode() + b"\n",
                                    "UNVERIFIED"),
    "claim of a value that is no run id": (b"junk value\n\nRunr-Run-Id: ../../etc/passwd\n",
                                           "UNVERIFIED"),
    "claim as the subject line": (b"Runr-Run-Id: " + FAKE_RUN.encode() + b"\n", "RUNR"),
    "claim in a comment line": (b"commented\n\n# Runr-Run-Id: " + FAKE_RUN.encode() + b"\n",
                                "RUNR"),
    "claim with an intervention flag": (b"fake manual\n\nRunr-Run-Id: " + FAKE_RUN.encode()
                                        + b"\nRunr-Intervention: true\n", "UNVERIFIED"),
    "similar keys that are not ours": (b"near misses\n\nRunr-Run-Ids: " + FAKE_RUN.encode()
                                       + b"\nRunr_Run_Id: " + FAKE_RUN.encode()
                                       + b"\nX-Runr-Run-Id: " + FAKE_RUN.encode() + b"\n",
                                       "RUNR"),
    "control characters": (b"ctrl \x1b[31mred\x1b[0m \x07\x08\x0b\x0c\n\nbody\x7f\n", "RUNR"),
    # Only comments, kept by --cleanup=verbatim: commit-msg stamps no message it
    # considers empty (docs/hooks.md), so the commit is an honest GAP.
    "only comment lines": (b"# nothing but\n# comments\n", "GAP"),
}


def commit_bytes(g: GitRepo, n: int, name: str,
                 message: bytes) -> subprocess.CompletedProcess[str]:
    """Commit a file with ``message`` exactly as given (``--cleanup=verbatim``)."""
    path = g.path.parent / f"msg-{n}.bin"
    path.write_bytes(message)
    g.write(f"hostile-{n}.txt", name + "\n")
    g.git("add", "-A")
    # GITRUNR_FLUSH=none: the hooks stamp and spool as usual; the test flushes once.
    return g.git("commit", "-q", "--cleanup=verbatim", "-F", str(path), check=False,
                 env={"GITRUNR_FLUSH": "none"})


def as_git_stores(g: GitRepo, message: bytes) -> bytes:
    """``message`` as git stores it without our hooks: ``git commit-tree`` applies the
    same rules as ``git commit`` (invalid UTF-8 is read as Latin-1 and converted)."""
    tree = g.git("rev-parse", "HEAD^{tree}").stdout.strip()
    sha = subprocess.run(["git", "commit-tree", tree], cwd=g.path, input=message,
                         capture_output=True, check=True).stdout.decode().strip()
    return raw_message(g, sha)


def insertion(original: bytes, changed: bytes) -> bytes | None:
    """The one piece of bytes inserted into ``original`` to make ``changed``, or None
    when ``changed`` is not ``original`` with a single insertion."""
    p = 0
    while p < min(len(original), len(changed)) and original[p] == changed[p]:
        p += 1
    rest = original[p:]
    if not changed.endswith(rest) or len(changed) - len(rest) < p:
        return None
    return changed[p:len(changed) - len(rest)]


def raw_message(g: GitRepo, sha: str) -> bytes:
    """The commit's message, byte for byte (``git cat-file``)."""
    raw = subprocess.run(["git", "cat-file", "commit", sha], cwd=g.path, capture_output=True,
                         check=True).stdout
    return raw.split(b"\n\n", 1)[1]


@pytest.mark.slow
def test_hostile_messages_are_committed_stamped_and_audited(repo_with_commit: GitRepo) -> None:
    """Each hostile message: the commit goes through, no hook fails, the record is what
    the trailers claim, and the audit classifies it without a traceback."""
    g = repo_with_commit
    g.runr("init")
    base = g.head()
    run_id = g.runr("run", "start").stdout.strip()
    shas: dict[str, str] = {}
    for n, (name, (message, _)) in enumerate(MESSAGES.items()):
        proc = commit_bytes(g, n, name, message)
        assert_clean(proc)  # git exited 0, no traceback, no "hook failed"
        # The one thing a hook may say: a commit the run will not hold (its message
        # had no room for trailers) has no provenance, and how to record it.
        said = [line for line in proc.stderr.splitlines() if "gitrunr:" in line]
        warning = (f"gitrunr: {g.head()[:12]} has no provenance while run {run_id} is "
                   f"active; record it: git runr intervene {run_id} --sha {g.head()[:12]} "
                   "--note \"…\"")
        assert said in ([], [warning]), (name, proc.stderr)
        assert (said == [warning]) == (MESSAGES[name][1] == "GAP"), (name, proc.stderr)
        shas[name] = g.head()

    assert len(spooled(g)) == sum(1 for _, e in MESSAGES.values() if e == "RUNR")
    flushed = g.runr("flush", "--json", check=False)
    assert_clean(flushed)
    assert spooled(g) == [] and rejected(g) == []
    records = read_back(g.path)
    assert_notes_complete(records)
    recorded = {cp.sha: cp for cp in records.runs[run_id].checkpoints}

    report_ = audit_json(g, f"{base}..HEAD")
    assert report_["skipped"] == []
    classes = {c["sha"]: c for c in report_["commits"]}  # type: ignore[union-attr]
    assert set(classes) == set(shas.values())
    for name, (message, expected) in MESSAGES.items():
        sha = shas[name]
        stored, plain = raw_message(g, sha), as_git_stores(g, message)
        text = stored.decode("utf-8", "surrogateescape")
        found = parse_trailers(text, divider=False)
        entry = classes[sha]
        assert entry["class"] == expected, (name, entry)
        if expected == "RUNR":
            # Stamped: the message is kept byte for byte; all the hook inserted is our
            # trailers (where git would put them: before trailing comments).
            assert trailer_values(found, RUN_ID) == [run_id], name
            checkpoint = trailer_values(found, CHECKPOINT)[0]
            added = insertion(plain, stored)
            assert added is not None, name
            assert [line.strip(b"\r") for line in added.split(b"\n") if line.strip()] == [
                f"Runr-Run-Id: {run_id}".encode(), f"Runr-Checkpoint: {checkpoint}".encode()]
            assert sha in recorded, name
            assert recorded[sha].checkpoint_id == checkpoint
            assert entry["run_id"] == run_id and entry["linked"] == "sha"
        else:
            # A claim of its own (or nothing to stamp): left alone, recorded nowhere,
            # verified by no one.
            assert stored == plain, name
            assert sha not in records.notes, name
            assert all(sha not in (cp.sha, *cp.previous_shas)
                       for snap in records.runs.values() for cp in snap.checkpoints), name
            assert entry["reason"], name
    # The text timeline copes with the same bytes.
    text_audit = g.runr("audit", f"{base}..HEAD", check=False)
    assert_clean(text_audit)
    strict = g.runr("audit", "--strict", f"{base}..HEAD", check=False)
    assert_clean(strict, codes=(1,))
    report("hostile messages (test_hostile_messages.py)", messages=len(MESSAGES),
           largest_bytes=max(len(m) for m, _ in MESSAGES.values()),
           stamped=sum(1 for _, e in MESSAGES.values() if e == "RUNR"),
           claims_left_alone=sum(1 for _, e in MESSAGES.values() if e == "UNVERIFIED"),
           tracebacks=0)


def test_empty_message_is_refused_by_git_and_records_nothing(
        repo_with_commit: GitRepo) -> None:
    """A message of only comments and blank lines (``--cleanup=strip``): commit-msg adds
    no trailer to rescue it, so git refuses the commit; no record, no ref moves."""
    g = repo_with_commit
    g.runr("init")
    g.runr("run", "start")
    head, before = g.head(), refs_state(g)
    msg = g.path.parent / "empty-msg"
    msg.write_bytes(b"\n# only a comment\n\n   \n# Runr-Run-Id: run-0000fake0000zz\n")
    g.write("e.txt", "e\n")
    g.git("add", "e.txt")
    proc = g.git("commit", "-q", "--cleanup=strip", "-F", str(msg), check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert g.head() == head
    assert refs_state(g) == before and spooled(g) == []


def test_hand_made_commit_objects_are_audited(repo_with_commit: GitRepo) -> None:
    """Commits git would not make with ``git commit`` (a NUL byte in the message, an
    ``encoding`` header, no newline at the end), written with ``git hash-object``:
    the audit reads them without a traceback and believes none of their claims."""
    g = repo_with_commit
    g.runr("init")
    run_id = g.runr("run", "start").stdout.strip()
    g.commit("a real checkpoint", {"real.txt": "r\n"})
    base = g.git("rev-parse", "HEAD~1").stdout.strip()
    tree = g.git("rev-parse", "HEAD^{tree}").stdout.strip()
    parent = g.head()
    ident = b"A U Thor <a@example.com> 1767700800 +0000"
    bodies = [
        b"nul\n\nRunr-Run-Id: " + run_id.encode() + b"\0hidden\nRunr-Checkpoint: cp-0000x0000\n",
        b"encoding header \xe9\n\nRunr-Run-Id: " + run_id.encode() + b"\n",
        b"no final newline\n\nRunr-Run-Id: " + run_id.encode(),
        b"",
    ]
    for n, body in enumerate(bodies):
        header = b"tree %s\nparent %s\nauthor %s\ncommitter %s\n" % (
            tree.encode(), parent.encode(), ident, ident)
        if n == 1:
            header += b"encoding ISO-8859-1\n"
        obj = subprocess.run(["git", "hash-object", "-t", "commit", "-w", "--stdin",
                              "--literally"], cwd=g.path, input=header + b"\n" + body,
                             capture_output=True, check=True).stdout.decode().strip()
        parent = obj
    g.git("update-ref", "refs/heads/main", parent)
    report_ = audit_json(g, f"{base}..main")
    commits = report_["commits"]
    assert isinstance(commits, list) and len(commits) == 1 + len(bodies)
    assert commits[0]["class"] == "RUNR"
    assert [c["class"] for c in commits[1:]] == ["UNVERIFIED", "UNVERIFIED", "UNVERIFIED",
                                                 "GAP"]
    assert_clean(g.runr("audit", f"{base}..main", check=False))
    assert json.loads(g.runr("run", "show", run_id, "--json").stdout)["state"] == "active"
