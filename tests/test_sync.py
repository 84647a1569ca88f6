"""`git runr sync`: records travel through ordinary remotes (DESIGN.md section 2).

Real clones of a real bare remote, never a mocked git. The remote's ledger and notes
are fetched into ``refs/runr/remotes/<remote>/…``, merged with ours by the union of
event files (ledger) and of links per commit (notes), and pushed without force; the
local refs move only after the push went through.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pygit2
import pytest

from gitrunr import notes
from gitrunr.events import replay
from gitrunr.ledger import LEDGER_REF, read
from gitrunr.models import EVENT_ADAPTER, RunSnapshot
from gitrunr.repo import open_repo
from tests.conftest import GitRepo, run_all

NOTES_REF = "refs/notes/runr"
PRIVATE_LEDGER = "refs/runr/remotes/{}/ledger"
JSON_KEYS = {"remote", "fetched", "pushed", "merged_runs", "ledger", "notes", "pushed_refs"}


# --------------------------------------------------------------------------- helpers


def bare_remote(tmp_path: Path, name: str = "remote.git") -> GitRepo:
    path = tmp_path / name
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
    return GitRepo(path)


def seeded_remote(tmp_path: Path) -> GitRepo:
    """A bare remote whose ``main`` holds a README and the committed gitrunr config."""
    remote = bare_remote(tmp_path)
    seed_path = tmp_path / "seed"
    subprocess.run(["git", "init", "-q", "-b", "main", str(seed_path)], check=True)
    seed = GitRepo(seed_path)
    seed.commit("initial commit", {"README": "hello\n"})
    seed.runr("init")
    seed.commit("add gitrunr config", {".gitignore": "*.log\n"})
    seed.git("push", "-q", str(remote.path), "main")
    return remote


def clone(remote: GitRepo, dest: Path) -> GitRepo:
    subprocess.run(["git", "clone", "-q", str(remote.path), str(dest)], check=True)
    g = GitRepo(dest)
    g.runr("init")
    return g


def tip(g: GitRepo, ref: str) -> str | None:
    proc = g.git("rev-parse", "--verify", "-q", f"{ref}^{{commit}}", check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def events(g: GitRepo, ref: str = LEDGER_REF) -> set[str]:
    """The event files (``runs/<shard>/<run>/events/<id>.json``) of a ledger ref."""
    if tip(g, ref) is None:
        return set()
    names = g.git("ls-tree", "-r", "--name-only", ref).stdout.split()
    found = {n for n in names if re.fullmatch(r"runs/[0-9a-f]{2}/run-[^/]+/events/ev-[^/]+\.json",
                                              n)}
    assert found, f"{ref} in {g.path} holds no event files"
    return found


def runs_of(paths: set[str]) -> set[str]:
    return {p.split("/")[2] for p in paths}


def note_links(g: GitRepo) -> dict[str, set[str]]:
    """commit sha -> the set of links its note on refs/notes/runr holds (any fanout)."""
    oid = tip(g, NOTES_REF)
    if oid is None:
        return {}
    git = pygit2.Repository(str(g.path))
    commit = git[oid]
    assert isinstance(commit, pygit2.Commit)
    found: dict[str, set[str]] = {}
    for sha, blob_id in notes.index(git, commit.tree).items():
        note = notes.parse(git[blob_id].data, sha)
        found[sha] = {link.model_dump_json() for link in note.links}
    return found


def union_links(*maps: dict[str, set[str]]) -> dict[str, set[str]]:
    merged: dict[str, set[str]] = {}
    for m in maps:
        for sha, links in m.items():
            merged.setdefault(sha, set()).update(links)
    return merged


def sync(g: GitRepo, *args: str) -> dict:
    out = json.loads(g.runr("sync", "--json", *args).stdout)
    assert set(out) >= JSON_KEYS, out
    # What it reports is what the refs say now.
    assert out["ledger"] == tip(g, LEDGER_REF)
    assert out["notes"] == tip(g, NOTES_REF)
    return out


def start(g: GitRepo) -> str:
    return json.loads(g.runr("run", "start", "--json").stdout)["run_id"]


def record_work(g: GitRepo, branch: str, tag: str, *, finish: bool = True) -> str:
    """On a new branch: a run with two checkpoints and an intervention committed by
    `intervene --commit`; the branch is pushed to origin. Returns the run id."""
    g.git("checkout", "-q", "-b", branch)
    run_id = start(g)
    g.commit(f"{tag}: task 1", {f"{tag}-1.txt": f"{tag} one\n"})
    g.commit(f"{tag}: task 2", {f"{tag}-2.txt": f"{tag} two\n"})
    g.write(f"{tag}-fix.txt", f"{tag} fixed\n")
    g.git("add", f"{tag}-fix.txt")
    g.runr("intervene", run_id, "--note", f"{tag}: fixed by hand", "--cmd", "true",
           "--commit", "-m", f"{tag}: fix by hand")
    if finish:
        g.runr("run", "finish", "--outcome", "passed")
    g.git("push", "-q", "origin", branch)
    return run_id


def parents(g: GitRepo, rev: str) -> set[str]:
    return set(g.git("rev-list", "--parents", "-n", "1", rev).stdout.split()[1:])


def is_ancestor(g: GitRepo, older: str, newer: str) -> bool:
    return g.git("merge-base", "--is-ancestor", older, newer, check=False).returncode == 0


def assert_snapshots_are_replays(g: GitRepo) -> None:
    """Every run.json equals the replay of its events; no event is counted twice."""
    view = read(open_repo(g.path))
    for run_id in view.run_ids():
        stored = view.run(run_id)
        evs = view.events(run_id)
        assert stored is not None
        assert len({e.event_id for e in evs}) == len(evs) == stored.event_count, run_id
        assert replay(evs).model_dump() == stored.model_dump(), run_id


def run_ids(g: GitRepo) -> list[str]:
    listed = json.loads(g.runr("run", "list", "--json").stdout)
    ids = [r["run_id"] for r in listed["runs"]]
    assert listed["total"] == len(ids)
    return ids


def assert_no_forced_refspec_on_records(g: GitRepo) -> None:
    """Sync never configures a fetch refspec that would overwrite the local records."""
    specs = g.git("config", "--get-regexp", r"^remote\..*\.fetch$", check=False).stdout
    for line in specs.splitlines():
        spec = line.split(" ", 1)[1]
        dst = spec.split(":", 1)[1] if ":" in spec else ""
        assert dst not in (LEDGER_REF, NOTES_REF), f"dangerous refspec configured: {line}"


def refs_snapshot(g: GitRepo) -> str:
    return g.git("for-each-ref", "--format=%(refname) %(objectname)").stdout


def reject_pushes(remote: GitRepo) -> None:
    hooks = remote.path / "hooks"
    hooks.mkdir(exist_ok=True)
    hook = hooks / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'push refused by policy' >&2\nexit 1\n")
    hook.chmod(0o755)


@pytest.fixture
def two_clones(tmp_path: Path) -> tuple[GitRepo, GitRepo, GitRepo]:
    remote = seeded_remote(tmp_path)
    return remote, clone(remote, tmp_path / "a"), clone(remote, tmp_path / "b")


# --------------------------------------------------------------------------- 1. turns


def check_sync(g: GitRepo, remote: GitRepo, *, merged_runs: int) -> dict:
    """Sync ``g`` with ``remote`` and check the counts, the refs and the union."""
    local_before, remote_before = events(g), events(remote)
    local_tip, remote_tip = tip(g, LEDGER_REF), tip(remote, LEDGER_REF)
    local_notes, remote_notes = tip(g, NOTES_REF), tip(remote, NOTES_REF)
    links_before = union_links(note_links(g), note_links(remote))
    out = sync(g)
    assert out["remote"] == "origin"
    assert out["fetched"] == len(remote_before - local_before), out
    assert out["pushed"] == len(local_before - remote_before), out
    assert out["merged_runs"] == merged_runs, out
    assert isinstance(out["pushed_refs"], bool)
    if out["pushed"]:
        assert out["pushed_refs"] is True
    union = local_before | remote_before
    assert events(g) == union
    assert events(remote) == union  # pushed
    assert tip(remote, LEDGER_REF) == out["ledger"]
    assert tip(remote, NOTES_REF) == out["notes"]
    new_tip = out["ledger"]
    assert local_tip is not None
    if remote_tip is None or is_ancestor(g, remote_tip, local_tip):
        assert new_tip == local_tip  # nothing new from the remote: nothing to merge
    elif local_before <= remote_before:
        assert new_tip == remote_tip  # fast-forward
    else:
        assert parents(g, new_tip) == {local_tip, remote_tip}  # a merge of both tips
    # Notes: the union of links per commit, descending from both sides.
    assert note_links(g) == links_before == note_links(remote)
    for old in (local_notes, remote_notes):
        if old is not None:
            assert is_ancestor(g, old, out["notes"])
    return out


@pytest.mark.slow
def test_two_clones_taking_turns_end_with_one_ledger(
        two_clones: tuple[GitRepo, GitRepo, GitRepo]) -> None:
    remote, a, b = two_clones
    ra = record_work(a, "a-work", "A", finish=False)  # left active: B will add to it
    rb = record_work(b, "b-work", "B")
    # The fixed root: two clones' ledgers are never unrelated histories.
    root = a.git("rev-list", "--max-parents=0", LEDGER_REF).stdout
    assert root == b.git("rev-list", "--max-parents=0", LEDGER_REF).stdout
    a_own, b_own = events(a), events(b)
    assert runs_of(a_own) == {ra} and runs_of(b_own) == {rb}
    everything = a_own | b_own

    first = check_sync(a, remote, merged_runs=0)
    assert (first["fetched"], first["pushed"]) == (0, len(a_own))
    b_tip = tip(b, LEDGER_REF)
    second = check_sync(b, remote, merged_runs=0)
    assert (second["fetched"], second["pushed"]) == (len(a_own), len(b_own))
    assert parents(b, second["ledger"]) == {b_tip, first["ledger"]}
    private = tip(b, PRIVATE_LEDGER.format("origin"))
    assert private is not None and is_ancestor(b, private, second["ledger"])
    assert b.git("merge-base", LEDGER_REF, private).stdout.strip()
    assert set(run_ids(b)) == {ra, rb}

    # Both sides add to run A: B records an intervention for it, A a checkpoint and
    # its finish. B's second sync merges that run from both sides.
    b.write("B-helps-A.txt", "help\n")
    b.git("add", "B-helps-A.txt")
    b.runr("intervene", ra, "--note", "B: fixed A's build", "--commit", "-m", "B: help A")
    b.git("push", "-q", "origin", "b-work")
    a.commit("A: task 3", {"A-3.txt": "A three\n"})
    a.runr("run", "finish", "--outcome", "passed")
    a.git("push", "-q", "origin", "a-work")
    a_new, b_new = events(a) - a_own, events(b) - b_own - a_own
    assert runs_of(a_new) == runs_of(b_new) == {ra}
    everything |= a_new | b_new

    third = check_sync(a, remote, merged_runs=0)  # run A: only A's side has new events
    assert (third["fetched"], third["pushed"]) == (len(b_own), len(a_new))
    fourth = check_sync(b, remote, merged_runs=1)  # run A: new events on both sides
    assert (fourth["fetched"], fourth["pushed"]) == (len(a_new), len(b_new))
    shown = json.loads(b.runr("run", "show", ra, "--json").stdout)
    assert shown["state"] == "finalized/passed"
    assert len(shown["checkpoints"]) == 3
    assert sorted(i["note"] for i in shown["interventions"]) == ["A: fixed by hand",
                                                                "B: fixed A's build"]
    # A picks up B's part of run A: a fast-forward, nothing merged from A's side.
    fifth = check_sync(a, remote, merged_runs=0)
    assert (fifth["fetched"], fifth["pushed"]) == (len(b_new), 0)
    assert fifth["ledger"] == fourth["ledger"]

    assert (a.git("rev-parse", f"{LEDGER_REF}^{{tree}}").stdout
            == b.git("rev-parse", f"{LEDGER_REF}^{{tree}}").stdout)
    assert events(a) == events(b) == events(remote) == everything
    assert note_links(a) == note_links(b)
    for g in (a, b):
        assert sorted(run_ids(g)) == sorted([ra, rb])
        assert_snapshots_are_replays(g)
        assert_no_forced_refspec_on_records(g)
    for run_id in (ra, rb):
        assert (a.runr("run", "show", run_id, "--json").stdout
                == b.runr("run", "show", run_id, "--json").stdout)
    # B's intervention for A's run is MANUAL in A's audit of B's branch.
    a.git("fetch", "-q", "origin")
    helped = json.loads(a.runr("audit", "--json", "origin/b-work~1..origin/b-work").stdout)
    assert [(c["class"], c["run_id"]) for c in helped["commits"]] == [("MANUAL", ra)]


# --------------------------------------------------------------------------- 2. fresh clone


@pytest.mark.slow
def test_a_fresh_clone_audits_like_the_clones_that_recorded(
        tmp_path: Path, two_clones: tuple[GitRepo, GitRepo, GitRepo]) -> None:
    remote, a, b = two_clones
    base = a.head()
    ra = record_work(a, "a-work", "A")
    rb = record_work(b, "b-work", "B")
    sync(a)
    sync(b)
    sync(a)
    ranges = {a: f"{base}..{a.head()}", b: f"{base}..{b.head()}"}
    expected = {g: json.loads(g.runr("audit", "--json", spec).stdout)
                for g, spec in ranges.items()}
    assert [c["class"] for c in expected[a]["commits"]] == ["RUNR", "RUNR", "MANUAL"]
    assert {c["run_id"] for c in expected[a]["commits"]} == {ra}
    assert {c["run_id"] for c in expected[b]["commits"]} == {rb}

    c = clone(remote, tmp_path / "c")
    assert tip(c, LEDGER_REF) is None  # git clone brings branches, not records
    before = json.loads(c.runr("audit", "--json", ranges[a]).stdout)
    assert not {x["class"] for x in before["commits"]} & {"RUNR", "MANUAL"}
    out = sync(c)
    assert out["remote"] == "origin"
    assert (out["fetched"], out["pushed"], out["merged_runs"]) == (len(events(remote)), 0, 0)
    assert out["ledger"] == tip(remote, LEDGER_REF) and out["notes"] == tip(remote, NOTES_REF)
    for g, spec in ranges.items():
        got = json.loads(c.runr("audit", "--json", spec).stdout)
        want = expected[g]
        assert [(x["sha"], x["class"], x["run_id"]) for x in got["commits"]] == \
            [(x["sha"], x["class"], x["run_id"]) for x in want["commits"]]
        assert got["summary"] == want["summary"]
        assert got == want
    assert sorted(run_ids(c)) == sorted([ra, rb])


# --------------------------------------------------------------------------- 3. concurrent


@pytest.mark.slow
def test_concurrent_syncs_lose_and_duplicate_nothing(
        two_clones: tuple[GitRepo, GitRepo, GitRepo]) -> None:
    remote, a, b = two_clones
    everything: set[str] = set()
    for n in range(2):
        record_work(a, f"a-{n}", f"A{n}")
        record_work(b, f"b-{n}", f"B{n}")
        new_a, new_b = events(a) - events(remote), events(b) - events(remote)
        everything |= events(a) | events(b)
        results = run_all([(["git", "runr", "sync", "--json"], g.path) for g in (a, b)])
        failed = [(r.args, r.returncode, r.stderr) for r in results if r.returncode != 0]
        assert not failed, failed
        out_a, out_b = (json.loads(r.stdout) for r in results)
        assert out_a["pushed_refs"] and out_b["pushed_refs"]
        # Whoever pushed second merged the first one's events before pushing.
        assert events(remote) == everything
        assert out_a["pushed"] + out_b["pushed"] == len(new_a) + len(new_b)
        assert (out_a["fetched"], out_b["fetched"]) in {(0, len(new_a)), (len(new_b), 0)}
        sync(a)
        sync(b)
        assert (a.git("rev-parse", f"{LEDGER_REF}^{{tree}}").stdout
                == b.git("rev-parse", f"{LEDGER_REF}^{{tree}}").stdout)
        assert events(a) == events(b) == events(remote) == everything
        assert note_links(a) == note_links(b) == note_links(remote)
    for g in (a, b):
        assert_snapshots_are_replays(g)
        ids = run_ids(g)
        assert len(ids) == len(set(ids)) == 4


# --------------------------------------------------------------------------- 4. idempotent


def test_second_sync_changes_nothing(tmp_path: Path) -> None:
    remote = seeded_remote(tmp_path)
    g = clone(remote, tmp_path / "a")
    record_work(g, "work", "W")
    mine = events(g)
    text = g.runr("sync")
    # The text output says the same numbers on one line: none fetched, all pushed.
    numbers = [set(re.findall(r"\d+", line)) for line in text.stdout.splitlines()]
    assert any({"0", str(len(mine))} <= found for found in numbers), text.stdout
    ledger, notes_tip = tip(g, LEDGER_REF), tip(g, NOTES_REF)
    assert tip(remote, LEDGER_REF) == ledger and tip(remote, NOTES_REF) == notes_tip
    assert events(remote) == mine
    for _ in range(2):
        out = sync(g)
        assert (out["fetched"], out["pushed"], out["merged_runs"]) == (0, 0, 0)
        assert out["ledger"] == ledger and out["notes"] == notes_tip
        assert tip(remote, LEDGER_REF) == ledger and tip(remote, NOTES_REF) == notes_tip
    assert_no_forced_refspec_on_records(g)


# --------------------------------------------------------------------------- choosing a remote


def test_the_only_remote_is_the_default(repo_with_commit: GitRepo, tmp_path: Path) -> None:
    g = repo_with_commit
    g.runr("init")
    backup = bare_remote(tmp_path, "backup.git")
    g.git("remote", "add", "backup", str(backup.path))  # no upstream anywhere
    start(g)
    g.commit("Task: one", {"one.txt": "1\n"})
    out = sync(g)
    assert out["remote"] == "backup" and out["pushed"] == len(events(g))
    assert tip(backup, LEDGER_REF) == out["ledger"]


def test_the_upstream_remote_is_the_default(repo_with_commit: GitRepo, tmp_path: Path) -> None:
    g = repo_with_commit
    g.runr("init")
    one, two = bare_remote(tmp_path, "one.git"), bare_remote(tmp_path, "two.git")
    g.git("remote", "add", "one", str(one.path))
    g.git("remote", "add", "two", str(two.path))
    g.git("push", "-q", "-u", "two", "main")
    start(g)
    g.commit("Task: one", {"one.txt": "1\n"})
    out = sync(g)
    assert out["remote"] == "two"
    assert tip(two, LEDGER_REF) == out["ledger"]
    assert tip(one, LEDGER_REF) is None


# --------------------------------------------------------------------------- 5. errors


def test_unknown_remote_is_not_found(tmp_path: Path) -> None:
    remote = seeded_remote(tmp_path)
    g = clone(remote, tmp_path / "a")
    record_work(g, "work", "W")
    before, remote_before = refs_snapshot(g), refs_snapshot(remote)
    proc = g.runr("sync", "nosuch", check=False)
    assert proc.returncode == 4, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), lines
    assert refs_snapshot(g) == before
    assert refs_snapshot(remote) == remote_before


def test_two_remotes_and_no_upstream_need_a_name(repo_with_commit: GitRepo,
                                                 tmp_path: Path) -> None:
    g = repo_with_commit
    g.runr("init")
    one, two = bare_remote(tmp_path, "one.git"), bare_remote(tmp_path, "two.git")
    g.git("remote", "add", "one", str(one.path))
    g.git("remote", "add", "two", str(two.path))
    start(g)
    g.commit("Task: one", {"one.txt": "1\n"})
    before = refs_snapshot(g)
    proc = g.runr("sync", "--json", check=False)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "remote" in proc.stderr.lower() and "Traceback" not in proc.stderr
    assert refs_snapshot(g) == before
    assert tip(one, LEDGER_REF) is None and tip(two, LEDGER_REF) is None
    # Named, it works.
    assert sync(g, "one")["remote"] == "one"
    assert tip(one, LEDGER_REF) == tip(g, LEDGER_REF) and tip(two, LEDGER_REF) is None


@pytest.mark.slow
def test_a_rejected_push_moves_no_local_ref(two_clones: tuple[GitRepo, GitRepo, GitRepo]
                                            ) -> None:
    remote, a, b = two_clones
    record_work(a, "a-work", "A")
    record_work(b, "b-work", "B")
    sync(a)  # the remote has A's records, which B lacks: a merge would move B's refs
    theirs, mine = events(remote), events(b)
    reject_pushes(remote)
    ledger, notes_tip = tip(b, LEDGER_REF), tip(b, NOTES_REF)
    remote_refs = refs_snapshot(remote)

    proc = b.runr("sync", check=False)
    assert proc.returncode == 7, (proc.stdout, proc.stderr)
    assert len([x for x in proc.stderr.splitlines() if x.startswith("error:")]) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert tip(b, LEDGER_REF) == ledger and tip(b, NOTES_REF) == notes_tip
    assert events(b) == mine
    assert refs_snapshot(remote) == remote_refs

    out = sync(b, "--no-push")
    assert out["pushed_refs"] is False
    assert out["fetched"] == len(theirs - mine) and out["merged_runs"] == 0
    assert events(b) == mine | theirs
    assert parents(b, out["ledger"]) == {ledger, tip(remote, LEDGER_REF)}
    assert refs_snapshot(remote) == remote_refs
    assert_snapshots_are_replays(b)
    assert len(run_ids(b)) == 2


# --------------------------------------------------------------------------- 6. plain fetch


@pytest.mark.slow
def test_plain_fetch_never_overwrites_unpushed_records(
        two_clones: tuple[GitRepo, GitRepo, GitRepo]) -> None:
    remote, a, b = two_clones
    record_work(a, "a-work", "A")
    sync(a)
    record_work(a, "a-more", "A2")  # recorded, not pushed
    unpushed = events(a) - events(remote)
    assert unpushed
    record_work(b, "b-work", "B")
    sync(b)  # the remote moves on without A's new records
    from_b = events(remote) - events(a)
    assert from_b

    a.runr("init", "--fetch-refspecs")  # the documented refspecs
    ledger, notes_tip, mine = tip(a, LEDGER_REF), tip(a, NOTES_REF), events(a)
    a.git("fetch", "-q", "origin")
    assert tip(a, LEDGER_REF) == ledger and tip(a, NOTES_REF) == notes_tip
    assert events(a) == mine
    assert tip(a, PRIVATE_LEDGER.format("origin")) == tip(remote, LEDGER_REF)
    assert tip(a, "refs/runr/remotes/origin/notes") == tip(remote, NOTES_REF)

    # Sync counts against our ledger, not against what the fetch already brought.
    out = sync(a)
    assert (out["fetched"], out["pushed"], out["merged_runs"]) == (len(from_b),
                                                                   len(unpushed), 0)
    assert events(a) == events(remote) == mine | from_b
    assert tip(remote, LEDGER_REF) == out["ledger"]


def test_fetch_refspecs_work_before_the_remote_has_records(tmp_path: Path) -> None:
    remote = seeded_remote(tmp_path)
    a = clone(remote, tmp_path / "a")
    out = json.loads(a.runr("init", "--fetch-refspecs", "--json").stdout)
    assert out["fetch_refspecs"] == {"remote": "origin", "added": [
        "+refs/runr/ledger*:refs/runr/remotes/origin/ledger*",
        "+refs/notes/runr*:refs/runr/remotes/origin/notes*"]}
    again = json.loads(a.runr("init", "--fetch-refspecs", "--json").stdout)
    assert again["fetch_refspecs"]["added"] == []  # idempotent
    assert len(a.git("config", "--get-all", "remote.origin.fetch").stdout.split()) == 3
    a.git("fetch", "-q", "origin")  # an exact refspec fails here: no such remote ref
    assert tip(a, PRIVATE_LEDGER.format("origin")) is None

    b = clone(remote, tmp_path / "b")
    record_work(b, "b-work", "B")
    sync(b)
    a.git("fetch", "-q", "origin")
    assert tip(a, PRIVATE_LEDGER.format("origin")) == tip(remote, LEDGER_REF)


def test_init_with_an_unknown_remote_writes_nothing(repo_with_commit: GitRepo) -> None:
    g = repo_with_commit
    proc = g.runr("init", "--fetch-refspecs", "--remote", "nope", check=False)
    assert proc.returncode == 4 and "no remote named 'nope'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (g.path / ".runr").exists()
    assert not (g.path / ".git" / "hooks" / "commit-msg").exists()
    proc = g.runr("init", "--remote", "origin", check=False)
    assert proc.returncode == 2 and "--fetch-refspecs" in proc.stderr


def test_sync_on_push_shares_records_with_every_push(tmp_path: Path) -> None:
    remote = seeded_remote(tmp_path)
    a = clone(remote, tmp_path / "a")
    a.runr("init", "--sync-on-push")
    assert (a.path / ".git" / "hooks" / "pre-push").exists()
    record_work(a, "a-work", "A")  # ends with `git push origin a-work`
    assert events(remote) == events(a)

    # Pushing to a URL has no remote name to keep records under: said, not blocked.
    record_work_url = a.git("push", str(remote.path), "HEAD:refs/heads/by-url")
    assert "records not synced" in record_work_url.stderr

    statuses = json.loads(a.runr("hooks", "uninstall", "--json").stdout)["hooks"]
    assert [h["name"] for h in statuses][-1] == "pre-push"
    assert not (a.path / ".git" / "hooks" / "pre-push").exists()


# --------------------------------------------------------------------------- 7. merge_ledgers


def tree_files(git: pygit2.Repository, tree_id: pygit2.Oid, prefix: str = "") -> dict[str, bytes]:
    tree = git[tree_id]
    assert isinstance(tree, pygit2.Tree)
    found: dict[str, bytes] = {}
    for entry in tree:
        path = f"{prefix}{entry.name}"
        obj = git[entry.id]
        if isinstance(obj, pygit2.Tree):
            found.update(tree_files(git, entry.id, path + "/"))
        else:
            assert isinstance(obj, pygit2.Blob)
            found[path] = obj.data
    return found


def event_files(files: dict[str, bytes]) -> set[str]:
    return {p for p in files if "/events/" in p}


@pytest.mark.slow
def test_merge_ledgers_is_commutative_and_idempotent(repo_with_commit: GitRepo,
                                                     tmp_path: Path) -> None:
    a = repo_with_commit
    a.runr("init")
    shared = start(a)
    a.commit("Task: a1", {"a1.txt": "a1\n"})
    b_path = tmp_path / "b"
    subprocess.run(["git", "clone", "-q", str(a.path), str(b_path)], check=True)
    b = GitRepo(b_path)
    b.runr("init")
    b.git("fetch", "-q", str(a.path), f"{LEDGER_REF}:{LEDGER_REF}", f"{NOTES_REF}:{NOTES_REF}")
    base = tip(a, LEDGER_REF)
    # Both sides add to the shared run; B also starts its own.
    b.runr("intervene", shared, "--note", "B looked at it", "--sha", "HEAD")
    b.git("checkout", "-q", "-b", "b-work")
    start(b)
    b.commit("Task: b1", {"b1.txt": "b1\n"})
    b.runr("run", "finish", "--outcome", "failed")
    a.commit("Task: a2", {"a2.txt": "a2\n"})
    a.runr("run", "finish", "--outcome", "passed")
    a.git("fetch", "-q", str(b_path), f"{LEDGER_REF}:refs/test/theirs")

    from gitrunr.sync import merge_ledgers

    git = pygit2.Repository(str(a.path))
    ours = pygit2.Oid(hex=tip(a, LEDGER_REF))
    theirs = pygit2.Oid(hex=tip(a, "refs/test/theirs"))
    base_oid = pygit2.Oid(hex=base)

    def tree_of(oid: pygit2.Oid) -> pygit2.Oid:
        commit = git[oid]
        assert isinstance(commit, pygit2.Commit)
        return commit.tree_id

    ev_ours = event_files(tree_files(git, tree_of(ours)))
    ev_theirs = event_files(tree_files(git, tree_of(theirs)))
    assert ev_ours - ev_theirs and ev_theirs - ev_ours

    ab = merge_ledgers(git, ours, theirs)
    ba = merge_ledgers(git, theirs, ours)
    assert ab.tree is not None and ab.tree == ba.tree
    assert (ab.fetched, ab.pushed, ab.merged_runs) == (len(ev_theirs - ev_ours),
                                                       len(ev_ours - ev_theirs), 1)
    assert (ba.fetched, ba.pushed, ba.merged_runs) == (ab.pushed, ab.fetched, 1)
    merged = tree_files(git, ab.tree)
    assert event_files(merged) == ev_ours | ev_theirs
    assert "ledger.json" in merged
    # The shared run's snapshot is the replay of the union of its events.
    prefix = next(p for p in merged if f"/{shared}/" in p).split(f"/{shared}/")[0]
    run_dir = f"{prefix}/{shared}"
    evs = [EVENT_ADAPTER.validate_json(data) for path, data in merged.items()
           if path.startswith(f"{run_dir}/events/")]
    snapshot = RunSnapshot.model_validate_json(merged[f"{run_dir}/run.json"])
    assert snapshot.model_dump() == replay(evs).model_dump()
    assert snapshot.state == "finalized/passed" and len(snapshot.checkpoints) == 2
    assert [i.note for i in snapshot.interventions] == ["B looked at it"]
    # Every other run's snapshot is one side's, untouched.
    for path, data in merged.items():
        if path.endswith("/run.json") and f"/{shared}/" not in path:
            assert RunSnapshot.model_validate_json(data).event_count == len(
                [p for p in merged if p.startswith(path[:-len("run.json")] + "events/")])

    same = merge_ledgers(git, ours, ours)
    assert same.tree == tree_of(ours)
    assert (same.fetched, same.pushed, same.merged_runs) == (0, 0, 0)
    # One side contains the other: the shared run's new events all come from one
    # side, so no run is merged from both sides, whichever side is ours.
    ev_base = event_files(tree_files(git, tree_of(base_oid)))
    ff = merge_ledgers(git, base_oid, theirs)
    back = merge_ledgers(git, theirs, base_oid)
    assert ff.tree == back.tree == tree_of(theirs)
    assert (ff.fetched, ff.pushed) == (back.pushed, back.fetched) == (len(ev_theirs - ev_base), 0)
    assert (ff.merged_runs, back.merged_runs) == (0, 0)
    assert merge_ledgers(git, ours, None).tree == tree_of(ours)
    assert merge_ledgers(git, ours, None).pushed == len(ev_ours)
    assert merge_ledgers(git, None, theirs).tree == tree_of(theirs)
    assert merge_ledgers(git, None, theirs).fetched == len(ev_theirs)

    # Merging the merge again, with either side, changes nothing.
    sig = pygit2.Signature("t", "t@example.com", 0, 0)
    m = git.create_commit(None, sig, sig, "merged\n", ab.tree, [ours, theirs])
    for other in (ours, theirs):
        assert merge_ledgers(git, m, other).tree == ab.tree
        assert merge_ledgers(git, other, m).tree == ab.tree
        again = merge_ledgers(git, m, other)
        assert (again.fetched, again.merged_runs) == (0, 0)


# --------------------------------------------------------------------------- plans, artifacts

PLAN = "specs/feature-01/phase-01.1/01-PLAN.md"
PLAN_TEXT = "---\nstatus: drafted\n---\n# Shared plan\n\n## Tasks\n- one\n"


def ledger_files(g: GitRepo, prefix: str) -> dict[str, str]:
    """Path -> blob id of every file of the ledger under ``prefix``."""
    out = g.git("ls-tree", "-r", LEDGER_REF, "--", prefix).stdout
    return {line.split("\t")[1]: line.split()[2] for line in out.splitlines()}


def test_plans_and_artifacts_from_two_clones_merge_by_union(tmp_path: Path) -> None:
    """Plan logs merge like run logs (union of events, plan.json replayed), and a run
    given artifacts on both sides ends with both files and one manifest listing both."""
    from gitrunr.events import replay_plan

    remote = seeded_remote(tmp_path)
    a = clone(remote, tmp_path / "a")
    a.commit("add a plan", {PLAN: PLAN_TEXT})
    a.git("push", "-q", "origin", "main")
    b = clone(remote, tmp_path / "b")
    a.runr("plan", "approve", "01", "--reason", "A read it")
    run_id = a.runr("run", "start", "01").stdout.strip()
    sync(a)
    sync(b)
    # Both sides now add to the same run and the same plan's log.
    (tmp_path / "a.bin").write_bytes(bytes(range(256)))
    (tmp_path / "b.txt").write_text("from B\n")
    a.runr("artifact", "add", run_id, str(tmp_path / "a.bin"))
    b.runr("artifact", "add", run_id, str(tmp_path / "b.txt"))
    b.runr("run", "step", run_id, "review")
    b.commit("edit the plan", {PLAN: PLAN_TEXT + "- two\n"})
    b.runr("plan", "approve", "01", "--reason", "B re-approved the edit")
    sync(a)
    out = sync(b)
    assert out["merged_runs"] == 1  # the run got events on both sides
    sync(a)
    assert tip(a, LEDGER_REF) == tip(b, LEDGER_REF)
    for g in (a, b):
        assert_snapshots_are_replays(g)
        view = read(open_repo(g.path))
        record = view.plan("feature-01/phase-01.1/01")
        assert record is not None
        assert record.model_dump() == replay_plan(
            view.plan_events("feature-01/phase-01.1/01")).model_dump()
        assert [x.reason for x in record.approvals] == ["A read it", "B re-approved the edit"]
        assert record.runs == [run_id]
        files = ledger_files(g, "runs/")
        names = sorted(p.rsplit("/", 1)[1] for p in files if "/artifacts/" in p)
        assert names == ["a.bin", "b.txt", "index.json"]
        index = json.loads(g.git("show", f"{LEDGER_REF}:" + next(
            p for p in files if p.endswith("artifacts/index.json"))).stdout)
        assert [x["name"] for x in index["artifacts"]] == ["a.bin", "b.txt"]
        got = subprocess.run(["git", "runr", "artifact", "get", run_id, "a.bin"], cwd=g.path,
                             capture_output=True, check=True).stdout
        assert got == bytes(range(256))
        shown = json.loads(g.runr("show", run_id, "--json").stdout)["run"]
        assert shown["current_step"] == "review"
