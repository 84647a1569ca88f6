"""`git runr verify`: a ledger changed behind gitrunr's back is caught, and named.

Each test records real work through the CLI, then damages the ledger the way a
person or a buggy tool would (with plain git objects: a new commit that edits or
deletes an event file, a forced update of the ref, a commit with a stolen
signature, an approved plan edited and committed), and checks that `verify` exits 1
naming the check and the event, commit or file; an untouched ledger verifies clean.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pygit2
import pytest

from gitrunr.ledger import LEDGER_REF, run_dir
from tests.conftest import GitRepo

PLAN = "specs/feat/phase-01/01-PLAN.md"
PLAN_TEXT = "---\nstatus: ready\n---\n# Verify me\n\n## Tasks\n- one\n- two\n"


def verify(repo: GitRepo, *args: str, ok: bool) -> dict[str, Any]:
    proc = repo.runr("verify", "--json", *args, check=False)
    assert proc.returncode == (0 if ok else 1), proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is ok
    if not ok:
        assert proc.stderr.startswith("error: the ledger failed verification"), proc.stderr
    return report


def problems(report: dict[str, Any]) -> dict[str, list[str]]:
    return {c["name"]: c["problems"] for c in report["checks"] if c["problems"]}


@pytest.fixture
def worked(repo_with_commit: GitRepo) -> tuple[GitRepo, str]:
    """A repository with an approved plan and a run of it with progress and an artifact."""
    repo = repo_with_commit
    repo.runr("init")
    repo.commit("add a plan", {PLAN: PLAN_TEXT})
    repo.runr("plan", "approve", "01")
    run_id = repo.runr("run", "start", "01").stdout.strip()
    repo.commit("feat(task-01): one", {"one.txt": "1\n"})
    repo.runr("progress", run_id, "--task", "01", "--state", "done", "--persona", "p1")
    repo.runr("progress", run_id, "--task", "02", "--percent", "50", "--persona", "p2")
    repo.write("report.txt", "all good\n")
    repo.runr("artifact", "add", run_id, str(repo.path / "report.txt"))
    return repo, run_id


def rewrite_ledger(repo: GitRepo, changes: dict[str, bytes | None]) -> str:
    """Commit on top of the ledger a tree with ``changes`` (path -> new bytes, or None
    to delete), as a tool writing the ref directly would; returns the new commit."""
    git = pygit2.Repository(str(repo.path))
    tip = git.references[LEDGER_REF].target
    index = pygit2.Index()
    index.read_tree(git[tip].tree)
    for path, data in changes.items():
        if data is None:
            index.remove(path)
        else:
            index.add(pygit2.IndexEntry(path, git.create_blob(data), pygit2.enums.FileMode.BLOB))
    tree = index.write_tree(git)
    sig = pygit2.Signature("Mallory", "m@example.com")
    new = git.create_commit(None, sig, sig, "fix the record\n", tree, [tip])
    repo.git("update-ref", LEDGER_REF, str(new), str(tip))
    return str(new)


def ledger_files(repo: GitRepo, prefix: str) -> list[str]:
    return repo.git("ls-tree", "-r", "--name-only", LEDGER_REF, "--", prefix).stdout.split()


def event_of(repo: GitRepo, run_id: str, type_: str) -> str:
    """The path of the first event of ``type_`` of ``run_id`` in the ledger."""
    for path in ledger_files(repo, f"{run_dir(run_id)}/events/"):
        if json.loads(repo.git("show", f"{LEDGER_REF}:{path}").stdout)["type"] == type_:
            return path
    raise AssertionError(f"no {type_} event")


def test_an_untouched_ledger_verifies(worked: tuple[GitRepo, str]) -> None:
    repo, run_id = worked
    report = verify(repo, ok=True)
    assert [c["name"] for c in report["checks"]] == ["ref", "history", "snapshots", "chains",
                                                     "frozen", "plans"]
    counts = report["counts"]
    assert (counts["runs"], counts["plans"], counts["updates"]) == (1, 1, 2)
    assert counts["unsigned_commits"] == counts["commits"] > 0  # no key: unsigned, not bad
    assert verify(repo, run_id, ok=True)["scope"] == run_id
    text = repo.runr("verify").stdout
    assert "✓ chains" in text and "✗" not in text


def test_an_edited_event_is_caught(worked: tuple[GitRepo, str]) -> None:
    repo, run_id = worked
    path = event_of(repo, run_id, "progress_updated")
    event = json.loads(repo.git("show", f"{LEDGER_REF}:{path}").stdout)
    event["note"] = "all done"  # a note nobody wrote
    new = rewrite_ledger(repo, {path: json.dumps(event).encode()})
    found = problems(verify(repo, ok=False))
    assert found["history"] == [f"ledger commit {new[:12]} changed the event {path}: events "
                                "are never changed or removed"]
    assert any("follows" in p for p in found["chains"])  # the hash chain breaks too
    assert any("run.json differs from the replay" in p for p in found["snapshots"])


def test_a_deleted_event_is_caught(worked: tuple[GitRepo, str]) -> None:
    repo, run_id = worked
    path = event_of(repo, run_id, "progress_updated")
    new = rewrite_ledger(repo, {path: None})
    found = problems(verify(repo, run_id, ok=False))
    assert f"ledger commit {new[:12]} removed the event {path}: events are never changed or " \
        "removed" in found["history"]
    assert any("an update was removed, changed or inserted" in p for p in found["chains"])


def test_a_forced_update_of_the_ref_is_caught(worked: tuple[GitRepo, str]) -> None:
    repo, run_id = worked
    tip = repo.git("rev-parse", LEDGER_REF).stdout.strip()
    older = repo.git("rev-parse", f"{LEDGER_REF}~2").stdout.strip()
    repo.git("update-ref", "-m", "reset by hand", LEDGER_REF, older)
    found = problems(verify(repo, ok=False))
    assert found == {"ref": [f"{LEDGER_REF} moved from {tip[:12]} to {older[:12]}, which does not "
                             f"descend from it (a forced update: \"reset by hand\"); recover with "
                             f"`git reflog {LEDGER_REF}` and `git runr sync`"]}


def test_an_edited_snapshot_is_caught(worked: tuple[GitRepo, str]) -> None:
    repo, run_id = worked
    path = f"{run_dir(run_id)}/run.json"
    run = json.loads(repo.git("show", f"{LEDGER_REF}:{path}").stdout)
    run["state"] = "finalized/passed"
    rewrite_ledger(repo, {path: json.dumps(run).encode()})
    found = problems(verify(repo, ok=False))
    assert list(found) == ["snapshots"]
    assert found["snapshots"][0].startswith(f"{LEDGER_REF}:{run_dir(run_id)}/run.json differs "
                                            "from the replay of its")
    assert "finished_at" not in found["snapshots"][0] and "state" in found["snapshots"][0]


def test_a_swapped_artifact_is_caught(worked: tuple[GitRepo, str]) -> None:
    repo, run_id = worked
    path = f"{run_dir(run_id)}/artifacts/report.txt"
    rewrite_ledger(repo, {path: b"all bad\n"})
    assert problems(verify(repo, ok=False))["snapshots"] == [
        f"{LEDGER_REF}:{path} does not hold the bytes its manifest entry names (sha256)"]


def test_an_approved_plan_edited_later_is_caught(worked: tuple[GitRepo, str]) -> None:
    repo, _ = worked
    repo.commit("widen the plan", {PLAN: PLAN_TEXT + "- three\n"})
    found = problems(verify(repo, ok=False))
    assert list(found) == ["plans"]
    assert all(p.startswith(f"{PLAN} in ") and "changed since its approval" in p
               for p in found["plans"])
    assert any("branch main" in p for p in found["plans"])  # the plan's line, not a checkout
    repo.runr("plan", "approve", "01")
    verify(repo, ok=True)


def test_a_finalized_run_changed_afterwards_is_caught(worked: tuple[GitRepo, str]) -> None:
    """A progress event slipped in after the finish (by hand: the CLI refuses it)."""
    repo, run_id = worked
    repo.runr("run", "finish", run_id, "--outcome", "failed")
    assert "frozen" in repo.runr("progress", run_id, "--task", "02", "--state", "done",
                                 check=False).stderr
    finished = event_of(repo, run_id, "run_finished")
    update = json.loads(repo.git("show", f"{LEDGER_REF}:"
                                 f"{event_of(repo, run_id, 'progress_updated')}").stdout)
    finished_id = Path(finished).stem
    update["event_id"] = f"ev-{finished_id[3:12]}zzzzzzzz"  # the finish's ms, sorts after it
    assert update["event_id"] > finished_id
    path = f"{run_dir(run_id)}/events/{update['event_id']}.json"
    rewrite_ledger(repo, {path: json.dumps(update).encode()})
    found = problems(verify(repo, run_id, ok=False))
    assert found["frozen"] == [f"progress_updated {update['event_id']} changed run {run_id} "
                               f"after it was finalized ({finished_id})"]


# --------------------------------------------------------------------------- signatures


@pytest.fixture
def signed(repo_with_commit: GitRepo, tmp_path: Path) -> tuple[GitRepo, str]:
    """Work recorded with an SSH signing key configured (no allowed-signers file: the
    user's own key is trusted, docs/lifecycle.md)."""
    repo = repo_with_commit
    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-t", "ed25519", "-N", "", "-q", "-f", str(key)], check=True)
    repo.git("config", "gpg.format", "ssh")
    repo.git("config", "user.signingKey", str(key))
    repo.runr("init")
    run_id = repo.runr("run", "start").stdout.strip()
    repo.runr("progress", run_id, "--task", "build", "--state", "done", "--persona", "p1")
    return repo, run_id


def test_signed_commits_and_updates_verify(signed: tuple[GitRepo, str]) -> None:
    repo, run_id = signed
    report = verify(repo, ok=True)
    counts = report["counts"]
    assert counts["signed_commits"] == counts["commits"] > 0 and counts["unsigned_commits"] == 0
    assert (counts["signed_updates"], counts["unsigned_updates"]) == (1, 0)
    path = event_of(repo, run_id, "progress_updated")
    assert "BEGIN SSH SIGNATURE" in json.loads(repo.git("show", f"{LEDGER_REF}:{path}").stdout
                                               )["signature"]
    # git itself reads our signatures.
    assert "gpgsig -----BEGIN SSH SIGNATURE-----" in repo.git("cat-file", "commit",
                                                              LEDGER_REF).stdout


def test_a_bad_commit_signature_is_caught(signed: tuple[GitRepo, str]) -> None:
    repo, _ = signed
    git = pygit2.Repository(str(repo.path))
    tip = git.references[LEDGER_REF].target
    stolen, _ = git[tip].gpg_signature  # valid for another commit's bytes
    sig = pygit2.Signature("Mallory", "m@example.com")
    content = git.create_commit_string(sig, sig, "looks signed\n", git[tip].tree_id, [tip])
    forged = git.create_commit_with_signature(content, stolen.decode(), "gpgsig")
    repo.git("update-ref", LEDGER_REF, str(forged), str(tip))
    found = problems(verify(repo, ok=False))
    assert list(found) == ["history"]
    assert found["history"][0].startswith(f"ledger commit {str(forged)[:12]} has a bad "
                                          "signature")


def test_a_bad_update_signature_is_caught(signed: tuple[GitRepo, str]) -> None:
    repo, run_id = signed
    repo.runr("progress", run_id, "--task", "test", "--state", "failed", "--persona", "p2")
    first, second = [json.loads(repo.git("show", f"{LEDGER_REF}:{p}").stdout) for p in
                     ledger_files(repo, f"{run_dir(run_id)}/events/")
                     if "progress_updated" in repo.git("show", f"{LEDGER_REF}:{p}").stdout]
    second["signature"] = first["signature"]  # a real signature, of other bytes
    path = f"{run_dir(run_id)}/events/{second['event_id']}.json"
    rewrite_ledger(repo, {path: json.dumps(second).encode()})
    found = problems(verify(repo, run_id, ok=False))
    assert f"progress update {second['event_id']} of {run_id}: signature invalid" in \
        " ".join(found["chains"])
