"""Nothing is lost under concurrent writers (DESIGN.md section 2: objects first, then
a compare-and-swap ref update; on a lost race, re-read, re-validate, retry).

Each test starts many ``git runr`` processes at once (all spawned before any is
waited for) and then checks that every write is in the ledger, the notes and the
per-worktree state exactly once.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from gitrunr.events import replay
from gitrunr.ledger import LEDGER_REF, read, run_dir
from gitrunr.repo import open_repo
from tests.conftest import GitRepo, run_all

pytestmark = pytest.mark.slow



def assert_all_ok(results: list[subprocess.CompletedProcess[str]]) -> None:
    failed = [(r.args, r.returncode, r.stderr) for r in results if r.returncode != 0]
    assert not failed, failed
    for r in results:
        assert "Traceback" not in r.stderr, r.stderr


def start_run(g: GitRepo, cwd: Path | None = None) -> str:
    run_id = g.runr("run", "start", cwd=cwd).stdout.strip()
    assert run_id.startswith("run-")
    return run_id


def runr_path(cwd: Path) -> Path:
    out = subprocess.run(["git", "rev-parse", "--path-format=absolute", "--git-path", "runr"],
                         cwd=cwd, capture_output=True, text=True, check=True).stdout
    return Path(out.strip())


def assert_snapshot_is_replay(path: Path, run_id: str) -> None:
    view = read(open_repo(path))
    stored = view.run(run_id)
    assert stored is not None
    assert replay(view.events(run_id)).model_dump() == stored.model_dump()


def test_concurrent_interventions_are_all_recorded(repo_with_commit: GitRepo) -> None:
    g = repo_with_commit
    run_id = start_run(g)
    ledger_before = int(g.git("rev-list", "--count", LEDGER_REF).stdout)

    n = 16
    results = run_all([(["git", "runr", "intervene", run_id, "--note", f"worker {i}", "--json"],
                        g.path) for i in range(n)])
    assert_all_ok(results)
    printed = [json.loads(r.stdout) for r in results]
    assert sorted(p["note"] for p in printed) == sorted(f"worker {i}" for i in range(n))
    assert all(p["run_id"] == run_id and p["pending"] for p in printed)

    shown = json.loads(g.runr("run", "show", run_id, "--json").stdout)
    notes = [iv["note"] for iv in shown["interventions"]]
    assert sorted(notes) == sorted(f"worker {i}" for i in range(n))  # each exactly once
    ids = [iv["intervention_id"] for iv in shown["interventions"]]
    assert len(set(ids)) == n
    assert sorted(ids) == sorted(p["intervention_id"] for p in printed)
    assert shown["event_count"] == 1 + n
    assert shown["state"] == "active"

    events = g.git("ls-tree", "--name-only", f"{LEDGER_REF}:{run_dir(run_id)}/events")
    names = events.stdout.split()
    assert len(names) == 1 + n
    assert all(name.startswith("ev-") and name.endswith(".json") for name in names)
    # one ledger commit per applied write, none lost or doubled
    assert int(g.git("rev-list", "--count", LEDGER_REF).stdout) == ledger_before + n

    assert_snapshot_is_replay(g.path, run_id)

    # the last writer's pending intervention survives whole, naming one of the 16
    pending = json.loads((runr_path(g.path) / "pending-intervention.json").read_text())
    assert pending["run_id"] == run_id
    assert pending["intervention_id"] in ids


def test_concurrent_sha_links_write_every_note(repo_with_commit: GitRepo) -> None:
    g = repo_with_commit
    base = g.head()
    n = 16
    shas = [g.commit(f"plain {i}", {f"f{i}.txt": f"{i}\n"}) for i in range(n)]
    assert len(set(shas)) == n
    run_id = start_run(g)

    results = run_all([(["git", "runr", "intervene", run_id, "--note", f"link {i}",
                         "--sha", sha], g.path) for i, sha in enumerate(shas)])
    assert_all_ok(results)

    listed = g.git("notes", "--ref=runr", "list").stdout.split("\n")
    annotated = {line.split()[1] for line in listed if line.strip()}
    assert annotated == set(shas)
    for sha in shas:
        doc = json.loads(g.git("notes", "--ref=runr", "show", sha).stdout)
        links = doc["links"]
        assert [link["run_id"] for link in links] == [run_id], doc
        assert links[0]["kind"] == "intervention"

    shown = json.loads(g.runr("run", "show", run_id, "--json").stdout)
    by_sha = {iv["commit_sha"]: iv["note"] for iv in shown["interventions"]}
    assert by_sha == {sha: f"link {i}" for i, sha in enumerate(shas)}

    report = json.loads(g.runr("audit", f"{base}..HEAD", "--json").stdout)
    assert [c["sha"] for c in report["commits"]] == shas
    assert [c["class"] for c in report["commits"]] == ["MANUAL"] * n
    assert all(c["run_id"] == run_id for c in report["commits"])
    assert report["summary"]["MANUAL"] == n
    assert report["summary"]["total"] == n

    assert_snapshot_is_replay(g.path, run_id)


def test_runs_started_at_once_in_separate_worktrees(repo_with_commit: GitRepo,
                                                   tmp_path: Path) -> None:
    g = repo_with_commit
    n = 8
    trees = [tmp_path / f"wt{i}" for i in range(n)]
    for i, path in enumerate(trees):
        g.git("worktree", "add", "-q", "-b", f"wt{i}", str(path))

    results = run_all([(["git", "runr", "run", "start"], path) for path in trees])
    assert_all_ok(results)
    started = [r.stdout.strip() for r in results]
    assert len(set(started)) == n

    listed = json.loads(g.runr("run", "list", "--json").stdout)
    assert listed["total"] == n
    assert sorted(r["run_id"] for r in listed["runs"]) == sorted(started)
    assert all(r["state"] == "active" for r in listed["runs"])

    state_dirs = set()
    view = read(open_repo(g.path))
    for i, (path, run_id) in enumerate(zip(trees, started, strict=True)):
        state = runr_path(path)
        state_dirs.add(state)
        active = json.loads((state / "active-run.json").read_text())
        assert active["run_id"] == run_id, (path, active)
        snapshot = view.run(run_id)
        assert snapshot is not None
        assert snapshot.branch == f"wt{i}"
        assert snapshot.event_count == 1
    assert len(state_dirs) == n
    # the main worktree started nothing
    assert not (runr_path(g.path) / "active-run.json").exists()
