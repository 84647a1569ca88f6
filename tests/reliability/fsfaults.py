"""Full-disk and read-only scenarios, run inside a private mount namespace.

``test_disk.py`` starts ``python -m tests.reliability.fsfaults SCENARIO DIR [ARG]``
under ``unshare -m`` (root) or ``unshare -rm`` (a user namespace), so the scenario
may mount a small tmpfs or a read-only bind mount that nobody else sees and that
vanishes with the process. Each scenario builds a real repository under DIR, breaks
the file system under it, runs gitrunr's writers, checks what the reliability
promise says (a clear one-line error, a non-zero exit, no traceback, the refs
unchanged, nothing lost) with plain asserts, and prints its figures as one JSON
line. A failed assert exits non-zero with its traceback, which fails the test.

Without namespaces (``--chmod``), the read-only scenario takes write permission
away instead, which only binds a user who is not root.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import GitRepo
from tests.reliability.helpers import (
    assert_clean,
    assert_notes_complete,
    assert_one_line_error,
    read_back,
    refs_state,
    rejected,
    run_all,
    runr_dir,
    spooled,
)

#: Size of the tmpfs the full-disk scenarios run on.
FS_SIZE = "16m"
TIMEOUT = 90


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=TIMEOUT)


def mount_tmpfs(where: Path, size: str = FS_SIZE) -> None:
    where.mkdir(parents=True, exist_ok=True)
    sh("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where))


def bind_read_only(where: Path) -> None:
    sh("mount", "--bind", str(where), str(where))
    sh("mount", "-o", "remount,bind,ro", str(where))


def runr(g: GitRepo, *args: str, cwd: Path | None = None,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``git runr ARGS`` with a time limit: a writer that hangs fails the scenario."""
    return subprocess.run(["git", "runr", *args], cwd=cwd or g.path, capture_output=True,
                          text=True, timeout=TIMEOUT, env={**os.environ, **(env or {})})


def setup(base: Path) -> tuple[GitRepo, Path, str, list[str]]:
    """A repository at ``base/repo`` with hooks, an active run in the main worktree,
    a second worktree ``base/wt`` with no run, and two commits whose records are still
    in the spool. Returns the repository, the second worktree, the run, the commits."""
    path = base / "repo"
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    g = GitRepo(path)
    g.commit("initial commit", {"README": "hello\n"})
    g.runr("init")
    run_id = g.runr("run", "start").stdout.strip()
    g.commit("recorded checkpoint", {"a.txt": "a\n"})
    wt = base / "wt"
    g.git("worktree", "add", "-q", "-b", "wt", str(wt))
    spooled_commits = []
    for n in range(2):
        g.write(f"s{n}.txt", f"{n}\n")
        g.git("add", f"s{n}.txt")
        g.git("commit", "-q", "-m", f"spooled {n}", env={"GITRUNR_FLUSH": "none"})
        spooled_commits.append(g.head())
    assert len(spooled(g)) == 2
    return g, wt, run_id, spooled_commits


def writers(g: GitRepo, wt: Path, run_id: str) -> list[tuple[str, list[str], Path]]:
    """Every kind of write gitrunr does, as (label, argv, cwd)."""
    return [
        ("intervene", ["intervene", run_id, "--note", "while broken"], g.path),
        ("intervene --sha", ["intervene", run_id, "--note", "while broken", "--sha",
                             "HEAD"], g.path),
        ("run start", ["run", "start"], wt),
        ("run finish", ["run", "finish", "--outcome", "passed"], g.path),
        ("flush", ["flush"], g.path),
        ("notes rebuild", ["notes", "rebuild"], g.path),
    ]


def assert_refused_cleanly(g: GitRepo, wt: Path, run_id: str) -> list[str]:
    """Each writer fails with one clear line and changes nothing; the spool keeps its
    records (neither applied nor set aside as rejected); readers still work."""
    before = refs_state(g)
    held = spooled(g)
    active_main = (runr_dir(g.path) / "active-run.json").read_bytes()
    planned = writers(g, wt, run_id)
    results = run_all([(["git", "runr", *argv], cwd) for _, argv, cwd in planned])
    errors = [f"{label}: {assert_one_line_error(proc)}"
              for (label, _, _), proc in zip(planned, results, strict=True)]
    assert refs_state(g) == before
    assert spooled(g) == held and rejected(g) == []
    assert (runr_dir(g.path) / "active-run.json").read_bytes() == active_main
    assert not (runr_dir(wt) / "active-run.json").exists()
    assert not (runr_dir(g.path) / "pending-intervention.json").exists()
    # Readers do not need to write: the audit reports, and warns about the spool.
    audit = runr(g, "audit", "--json")
    assert_clean(audit)
    assert "warning: hook records stay in the spool" in audit.stderr
    assert_clean(runr(g, "run", "show", run_id))
    return errors


def assert_recovers(g: GitRepo, run_id: str, commits: list[str]) -> None:
    """Once the file system is writable again, the spool goes in and nothing is lost."""
    flushed = runr(g, "flush", "--json")
    assert_clean(flushed)
    assert json.loads(flushed.stdout)["applied"] == len(commits)
    assert spooled(g) == [] and rejected(g) == []
    records = read_back(g.path)
    recorded = {cp.sha for cp in records.runs[run_id].checkpoints}
    assert set(commits) <= recorded


def fill(where: Path, leave: int = 0) -> Path:
    """Fill the file system of ``where`` until only ``leave`` bytes are free."""
    filler = where / f"filler-{leave}"
    with open(filler, "wb") as f:
        chunk = b"\0" * (1 << 20)
        while True:
            st = os.statvfs(where)
            free = st.f_bavail * st.f_frsize - leave
            if free <= 0:
                break
            try:
                f.write(chunk[:min(len(chunk), free)])
                f.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
    return filler


# --------------------------------------------------------------------------- scenarios


def full_disk(base: Path) -> dict[str, object]:
    """Every writer on a full file system: refused cleanly; recovers once space is back."""
    fs = base / "fs"
    mount_tmpfs(fs)
    g, wt, run_id, commits = setup(fs)
    filler = fill(fs)
    errors = assert_refused_cleanly(g, wt, run_id)
    filler.unlink()
    assert_recovers(g, run_id, commits)
    return {"writers": len(errors), "errors": errors}


def filling_disk(base: Path) -> dict[str, object]:
    """The disk fills up part-way through a write: with 0 to 96 KiB left, in 8 KiB
    steps, ``intervene --sha`` (objects, then a two-ref transaction with reflogs)
    either succeeds and is recorded, or fails with one line and moves no ref."""
    fs = base / "fs"
    mount_tmpfs(fs)
    g, _, run_id, commits = setup(fs)
    assert_clean(runr(g, "flush"))  # an empty spool: only the write under test writes
    outcomes = {"ok": 0, "refused": 0}
    for n, leave in enumerate(range(0, 96 * 1024 + 1, 8192)):
        note = f"with {leave} bytes left"
        before = refs_state(g)
        filler = fill(fs, leave)
        proc = runr(g, "intervene", run_id, "--note", note, "--sha", "HEAD", "--json")
        filler.unlink()
        if proc.returncode == 0:
            assert_clean(proc)
            outcomes["ok"] += 1
            iv_id = json.loads(proc.stdout)["intervention_id"]
            assert len(read_back(g.path).interventions(iv_id)) == 1, n
        else:
            assert_one_line_error(proc)
            outcomes["refused"] += 1
            assert refs_state(g) == before, (leave, proc.stderr)
        records = read_back(g.path)
        assert_notes_complete(records)  # the ledger and the notes moved together, or not
        assert [e for e in records.of_type("intervention_recorded")
                if getattr(e, "note", None) == note] == [] or proc.returncode == 0
    return {"attempts": sum(outcomes.values()), **outcomes}


def read_only(base: Path, where: str, how: str) -> dict[str, object]:
    """``where`` (``.git``, ``.git/objects`` or ``.git/refs``) read-only: every writer
    is refused cleanly; recovers once it is writable again."""
    g, wt, run_id, commits = setup(base)
    target = g.path / where
    if how == "mount":
        bind_read_only(target)
    else:
        sh("chmod", "-R", "a-w", str(target))
    errors = assert_refused_cleanly(g, wt, run_id)
    if how == "mount":
        sh("umount", str(target))
    else:
        sh("chmod", "-R", "u+w", str(target))
    assert_recovers(g, run_id, commits)
    return {"writers": len(errors), "errors": errors}


def main(argv: list[str]) -> int:
    scenario, base = argv[0], Path(argv[1])
    if scenario == "full-disk":
        result = full_disk(base)
    elif scenario == "filling-disk":
        result = filling_disk(base)
    elif scenario == "read-only":
        result = read_only(base, argv[2], argv[3])
    else:
        raise SystemExit(f"unknown scenario {scenario!r}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
