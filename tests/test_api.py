"""``git runr serve``: the HTTP API and the timeline page (docs/api.md).

Every test talks HTTP (httpx) to a real uvicorn server on 127.0.0.1, started in a
thread on a free port, serving a repository built by real ``git runr`` commands and
hooked ``git commit``s: :func:`build_audit_repo` makes one commit of each audit
class, an accepted run with an intervention and evidence, and an aborted run. The
CLI is the oracle: what the API returns must equal what ``git runr … --json`` prints.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from gitrunr import api
from gitrunr.ledger import run_dir
from tests.conftest import BIN_DIR, GitRepo, run_all
from tests.fixtures.repos.plans import F1_03, F1_04, F1_10_01, F2_01, F2_03, build_plans

TOKEN = "t0ken-for-the-tests-0123456789abcdef"
UNKNOWN_RUN = "run-0000000000000"
#: The commits of :func:`build_audit_repo`, oldest first, with their audit class.
TIMELINE = [
    ("add plans and gitrunr config", "GAP"),
    ("feat: align the columns", "RUNR"),
    ("feat: colour the states", "RUNR"),
    ("fix: a type error, by hand", "MANUAL"),
    ("docs: summary of the accepted run", "GAP"),
    ("claims a run it never was", "UNVERIFIED"),
]


# --------------------------------------------------------------------------- fixtures


@dataclass(frozen=True)
class Built:
    """A repository of :func:`build_audit_repo` and the ids it made."""

    repo: GitRepo
    run_id: str
    aborted_run: str
    intervention_id: str


def build_audit_repo(repo: GitRepo) -> dict[str, str]:
    """Plans, one commit of each class, an accepted run of F1_10_01 (a plan with no
    tasks, so no subtask gates its acceptance) with an intervention,
    steps and an artifact, and an aborted run of F2_03; no run active at the end.
    Returns the ids made."""
    build_plans(repo)  # the first commit: a GAP
    run_id = repo.runr("run", "start", F1_10_01, "--tier", "tier2").stdout.strip()
    repo.runr("run", "step", run_id, "implement")
    repo.commit(TIMELINE[1][0], {"src/columns.py": "def align(): ...\n"})
    repo.commit(TIMELINE[2][0], {"src/colour.py": "def colour(): ...\n"})
    repo.write("src/columns.py", "def align() -> None: ...\n")
    repo.git("add", "src/columns.py")
    iv = json.loads(repo.runr("intervene", run_id, "--note", "Fixed the type error by hand",
                              "--cmd", "true", "--commit", "-m", TIMELINE[3][0],
                              "--json").stdout)
    repo.runr("run", "step", run_id, "verify")
    repo.runr("run", "transition", run_id, "verifying/testing", "--reason", "pytest -q")
    repo.write("junit.xml", "<testsuite tests='3' failures='0'/>\n")
    repo.runr("artifact", "add", run_id, "junit.xml")
    (repo.path / "junit.xml").unlink()
    repo.runr("run", "transition", run_id, "verifying/passed", "--reason", "3 passed")
    repo.runr("run", "accept", run_id)
    repo.commit(TIMELINE[4][0], {})  # the SUMMARY.md accept wrote; no run is active
    repo.git("commit", "-q", "--allow-empty", "-m",
             f"{TIMELINE[5][0]}\n\nRunr-Run-Id: run-0000made0up")
    aborted = repo.runr("run", "start", F2_03).stdout.strip()
    repo.runr("run", "finish", aborted, "--outcome", "aborted", "--reason", "wrong approach")
    return {"run_id": run_id, "aborted_run": aborted,
            "intervention_id": iv["intervention_id"]}


def copy_built(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """A copy of the repository of :func:`build_audit_repo`, built once per session
    (it takes a dozen `git runr` processes; nothing in it names its own path)."""
    template = tmp_path_factory.getbasetemp() / "audit-repo"
    ids_file = tmp_path_factory.getbasetemp() / "audit-repo.json"
    if not template.exists():
        work = tmp_path_factory.mktemp("audit-build") / "repo"
        work.mkdir()
        subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
        ids_file.write_text(json.dumps(build_audit_repo(GitRepo(work))))
        work.rename(template)
    path = tmp_path / "repo"
    shutil.copytree(template, path, symlinks=True)
    return Built(repo=GitRepo(path), **json.loads(ids_file.read_text()))


@pytest.fixture
def built(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Built:
    return copy_built(tmp_path, tmp_path_factory)


@contextmanager
def serving(path: Path, *, token: str | None = None,
            loopback_only: bool = True) -> Iterator[str]:
    """Serve ``path`` on 127.0.0.1, a free port, from a thread; yield the base URL."""
    app = api.create_app(path, token=token, loopback_only=loopback_only)
    sock = api.bind("127.0.0.1", 0)
    server = api.server(app, quiet=True)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield api.url_of(sock).rstrip("/")
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()


@pytest.fixture
def client(built: Built) -> Iterator[httpx.Client]:
    with serving(built.repo.path) as url, httpx.Client(base_url=url, timeout=60) as http:
        yield http


def cli_json(repo: GitRepo, *args: str) -> Any:
    return json.loads(repo.runr(*args, "--json").stdout)


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    """``response`` is an RFC 9457 problem of ``status`` and type ``slug``, and says
    nothing of a traceback."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == (slug if slug == "about:blank" else f"urn:gitrunr:problem:{slug}")
    assert body["status"] == status and body["title"] and body["detail"]
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body


# --------------------------------------------------------------------------- schema


def test_openapi_document_describes_every_route_and_problem(client: httpx.Client) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {"/", "/runs", "/runs/{run_id}",
                                 "/runs/{run_id}/artifacts/{name}", "/plans",
                                 "/plans/{plan_ref}", "/ready", "/audit"}
    assert set(doc["paths"]["/runs"]) == {"get", "post"}
    assert set(doc["paths"]["/runs/{run_id}"]) == {"get", "patch"}
    for path, item in doc["paths"].items():
        for operation in item.values():
            for code, response in operation["responses"].items():
                if int(code) >= 400:
                    expected = "text/html" if path == "/" else "application/problem+json"
                    assert list(response["content"]) == [expected], (path, code)
    schemas = doc["components"]["schemas"]
    assert {"Problem", "RunSnapshot", "RunPage", "RunView", "AuditReport", "StatusReport",
            "ReadyReport", "RunPatch", "RunCreate"} <= set(schemas)
    assert "HTTPValidationError" not in schemas
    assert "securitySchemes" not in doc.get("components", {})  # no token, none declared


# --------------------------------------------------------------------------- reading


def test_runs_list_is_the_cli_s_newest_first_with_paging(built: Built,
                                                          client: httpx.Client) -> None:
    cli = cli_json(built.repo, "runs")
    page = client.get("/runs").json()
    assert page == {**cli, "offset": 0, "limit": 50}
    assert [r["run_id"] for r in page["runs"]] == [built.aborted_run, built.run_id]

    first = client.get("/runs", params={"limit": 1}).json()
    second = client.get("/runs", params={"limit": 1, "offset": 1}).json()
    beyond = client.get("/runs", params={"limit": 1, "offset": 2}).json()
    assert [first["total"], second["total"], beyond["total"]] == [2, 2, 2]
    assert first["runs"] == cli["runs"][:1] and second["runs"] == cli["runs"][1:]
    assert beyond["runs"] == []
    of_plan = client.get("/runs", params={"plan": "phase-01.10/01"}).json()
    assert of_plan == {**cli_json(built.repo, "runs", F1_10_01), "offset": 0, "limit": 50}


def test_a_run_is_the_cli_s_show(built: Built, client: httpx.Client) -> None:
    response = client.get(f"/runs/{built.run_id}")
    assert response.status_code == 200
    assert response.json() == cli_json(built.repo, "show", built.run_id)
    run = response.json()["run"]
    assert response.json()["accepted"] is True
    assert [a["name"] for a in run["artifacts"]] == ["junit.xml"]
    assert list(run["step_timestamps"]) == ["implement", "verify"]
    artifact = client.get(f"/runs/{built.run_id}/artifacts/junit.xml")
    assert artifact.status_code == 200
    assert artifact.content == b"<testsuite tests='3' failures='0'/>\n"
    assert artifact.headers["content-type"].split(";")[0] in ("application/xml", "text/xml")
    assert artifact.headers["content-disposition"].startswith("attachment")
    assert_problem(client.get(f"/runs/{built.run_id}/artifacts/nope.txt"), 404, "not-found")


def test_plans_and_ready_are_the_cli_s_status_and_ready(built: Built,
                                                        client: httpx.Client) -> None:
    assert client.get("/plans").json() == cli_json(built.repo, "status")
    assert client.get("/ready").json() == cli_json(built.repo, "ready")
    assert client.get(f"/plans/{F1_03}").json() == cli_json(built.repo, "show", F1_03)
    assert client.get("/plans/phase-01.2/03").json()["plan"]["ref"] == F1_03
    assert_problem(client.get("/plans/03"), 400, "bad-request")  # ambiguous suffix
    assert_problem(client.get("/plans/feature-09/phase-01/01"), 404, "not-found")
    assert_problem(client.get(f"/plans/{built.run_id}"), 404, "not-found")


def test_audit_is_the_cli_s_audit_json(built: Built, client: httpx.Client) -> None:
    for params, args in [({}, []), ({"range": "HEAD~3..HEAD"}, ["HEAD~3..HEAD"]),
                         ({"since": "HEAD~2"}, ["--since", "HEAD~2"]),
                         ({"range": "HEAD", "first_parent": "true"}, ["--first-parent"])]:
        response = client.get("/audit", params=params)
        assert response.status_code == 200 and response.headers["content-type"] == \
            "application/json"
        assert response.json() == cli_json(built.repo, "audit", *args), params
    report = client.get("/audit").json()
    assert [(c["subject"], c["class"]) for c in report["commits"]] == TIMELINE
    assert report["summary"] == {"RUNR": 2, "MANUAL": 1, "UNVERIFIED": 1, "GAP": 2,
                                 "total": 6}


# --------------------------------------------------------------------------- writing


def test_post_starts_a_run_of_a_plan_as_the_cli_does(built: Built,
                                                     client: httpx.Client) -> None:
    response = client.post("/runs", json={"plan": "phase-01.2/03", "tier": "tier1"})
    assert response.status_code == 201, response.text
    run = response.json()
    assert response.headers["location"] == f"/runs/{run['run_id']}"
    assert run["state"] == "active" and run["plan_ref"] == F1_03
    assert run["tier"] == "tier1" and run["branch"] == "main"
    assert cli_json(built.repo, "run", "show", run["run_id"]) == run
    assert cli_json(built.repo, "runs")["runs"][0]["run_id"] == run["run_id"]
    # Documented: the run is the served worktree's active run, as `run start` makes it,
    # so commits made there are its checkpoints, and a second start is refused.
    sha = built.repo.commit("feat: polish", {"polish.txt": "shiny\n"})
    assert cli_json(built.repo, "audit", "HEAD~1..HEAD")["commits"][0]["class"] == "RUNR"
    again = assert_problem(client.post("/runs", json={}), 409, "invalid-state")
    assert run["run_id"] in again["detail"] and again["exit_code"] == 5
    finished = client.patch(f"/runs/{run['run_id']}", json={"status": "finalized/passed"})
    assert finished.status_code == 200 and finished.json()["checkpoints"][0]["sha"] == sha
    adhoc = client.post("/runs", json={})
    assert adhoc.status_code == 201 and adhoc.json()["plan_ref"] is None


def test_post_refuses_what_run_start_refuses(built: Built, client: httpx.Client) -> None:
    before = built.repo.git("for-each-ref").stdout
    drafted = assert_problem(client.post("/runs", json={"plan": F2_01}), 409, "invalid-state")
    assert "drafted" in drafted["detail"]
    waiting = assert_problem(client.post("/runs", json={"plan": F1_04}), 409, "invalid-state")
    assert F1_03 in waiting["detail"]
    assert_problem(client.post("/runs", json={"plan": "feature-09/phase-01/01"}), 404,
                   "not-found")
    assert_problem(client.post("/runs", json={"plan": "03"}), 400, "bad-request")
    for body in [{"plan": "a\nb"}, {"tier": "x\ny"}, {"tier": "nul\x00"}, {"extra": 1},
                 {"plan": 3}, [], "text"]:
        problem = assert_problem(client.post("/runs", json=body), 422, "invalid-request")
        assert problem["errors"], body
    bad_json = client.post("/runs", content=b"{not json",
                           headers={"content-type": "application/json"})
    assert_problem(bad_json, 422, "invalid-request")
    assert_problem(client.post("/runs", content=b'{"plan": null}',
                               headers={"content-type": "text/plain"}), 422,
                   "invalid-request")
    assert built.repo.git("for-each-ref").stdout == before  # nothing was written


def test_patch_sets_status_and_step_once_as_the_cli_does(built: Built,
                                                         client: httpx.Client) -> None:
    run_id = client.post("/runs", json={"plan": F1_03}).json()["run_id"]
    first = client.patch(f"/runs/{run_id}", json={"status": "verifying/testing",
                                                  "current_step": "test",
                                                  "reason": "pytest -q"})
    assert first.status_code == 200, first.text
    run = first.json()
    assert run["state"] == "verifying/testing" and run["current_step"] == "test"
    assert run["transitions"][-1]["reason"] == "pytest -q"
    tested_at = run["step_timestamps"]["test"]
    client.patch(f"/runs/{run_id}", json={"current_step": "fix"})
    again = client.patch(f"/runs/{run_id}", json={"current_step": "test"}).json()
    assert again["current_step"] == "test"
    assert again["step_timestamps"] == {"test": tested_at, "fix": again["step_timestamps"]["fix"]}
    assert cli_json(built.repo, "run", "show", run_id) == again
    # The CLI and the API write the same ledger: a CLI step is seen by the API.
    built.repo.runr("run", "step", run_id, "cli-step")
    assert client.get(f"/runs/{run_id}").json()["run"]["current_step"] == "cli-step"
    # Finishing with a step: the step lands first, then the run is finalized.
    done = client.patch(f"/runs/{run_id}", json={"status": "finalized/failed",
                                                 "current_step": "give up",
                                                 "reason": "flaky"}).json()
    assert done["state"] == "finalized/failed" and done["current_step"] == "give up"
    assert done["transitions"][-1]["reason"] == "flaky"


def test_the_actor_of_a_request_is_recorded(built: Built, client: httpx.Client) -> None:
    """An orchestrator names who acts; without a name the server's identity is kept."""
    run = client.post("/runs", json={"actor": "agent-7"}).json()
    assert (run["actor"], run["transitions"][0]["actor"]) == ("agent-7", "agent-7")
    url = f"/runs/{run['run_id']}"
    moved = client.patch(url, json={"status": "verifying/testing", "actor": "reviewer-2"})
    assert moved.json()["transitions"][-1]["actor"] == "reviewer-2"
    events = [json.loads(built.repo.git("show", f"refs/runr/ledger:{path}").stdout)
              for path in built.repo.git("ls-tree", "-r", "--name-only", "refs/runr/ledger",
                                         "--", f"{run_dir(run['run_id'])}/events/").stdout.split()]
    assert [e["actor"] for e in events] == ["agent-7", "reviewer-2"]
    client.patch(url, json={"status": "finalized/aborted"})
    assert client.get(url).json()["run"]["transitions"][-1]["actor"] != "reviewer-2"


def test_patch_refusals_write_nothing(built: Built, client: httpx.Client) -> None:
    run_id = client.post("/runs", json={}).json()["run_id"]
    url = f"/runs/{run_id}"
    assert client.patch(url, json={"status": "verifying/failed"}).status_code == 200
    before = built.repo.git("for-each-ref").stdout
    # A move the machine does not allow: nothing applied, the step neither.
    refused = assert_problem(client.patch(url, json={"status": "verifying/passed",
                                                     "current_step": "s"}), 409,
                             "invalid-state")
    assert "applied" not in refused and "verifying/testing" in refused["detail"]
    refused = assert_problem(client.patch(f"/runs/{built.run_id}",
                                          json={"current_step": "late"}), 409, "invalid-state")
    assert "finalized/passed" in refused["detail"]
    assert_problem(client.patch(url, json={"status": "verifying/done"}), 422, "invalid-request")
    assert_problem(client.patch(url, json={}), 422, "invalid-request")
    assert_problem(client.patch(url, json={"reason": "why"}), 422, "invalid-request")
    assert_problem(client.patch(url, json={"current_step": " "}), 422, "invalid-request")
    assert_problem(client.patch(url, json={"current_step": "x" * 101}), 422, "invalid-request")
    assert_problem(client.patch(url, json={"current_step": "a\nb"}), 422, "invalid-request")
    assert_problem(client.patch(url, content=b"[", headers={"content-type":
                                                            "application/json"}),
                   422, "invalid-request")
    assert_problem(client.patch(f"/runs/{UNKNOWN_RUN}", json={"current_step": "s"}), 404,
                   "not-found")
    assert_problem(client.patch("/runs/run-%20x;rm", json={"current_step": "s"}), 400,
                   "bad-request")
    assert_problem(client.get(f"/runs/{UNKNOWN_RUN}"), 404, "not-found")
    assert_problem(client.get("/runs/not-a-run"), 400, "bad-request")
    assert built.repo.git("for-each-ref").stdout == before


def test_a_patch_that_applied_in_part_says_so(built: Built, client: httpx.Client,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A conflicting request landing between the two writes of a PATCH: the problem
    lists what applied and carries the run as it is."""
    from gitrunr import runs

    run_id = client.post("/runs", json={}).json()["run_id"]
    real_transition = runs.transition

    def finished_meanwhile(repo: Any, rid: str, state: str, **kw: Any) -> Any:
        snapshot = real_transition(repo, rid, state, **kw)
        runs.finish(repo, rid, "aborted", reason="another client")
        return snapshot

    monkeypatch.setattr(runs, "transition", finished_meanwhile)
    body = assert_problem(client.patch(f"/runs/{run_id}", json={
        "status": "verifying/testing", "current_step": "test"}), 409, "invalid-state")
    assert body["applied"] == ["status"] and body["not_applied"] == ["current_step"]
    assert body["run"]["run_id"] == run_id and body["run"]["state"] == "verifying/testing"


# --------------------------------------------------------------------------- concurrency


def test_eight_concurrent_patches_lose_no_update(built: Built) -> None:
    """8 PATCHes of one run at once, each a different step, with two `git runr run
    step` processes at the same time: every step lands, once (the ledger's
    compare-and-swap and retry, shared by the API and the CLI)."""
    repo = built.repo
    with serving(repo.path) as url:
        run_id = httpx.post(f"{url}/runs", json={}).json()["run_id"]
        steps = [f"step-{i}" for i in range(8)]
        barrier = threading.Barrier(len(steps) + 1)
        results: dict[str, int] = {}

        def patch(step: str) -> None:
            with httpx.Client(base_url=url, timeout=120) as http:
                barrier.wait()
                results[step] = http.patch(f"/runs/{run_id}",
                                           json={"current_step": step}).status_code

        threads = [threading.Thread(target=patch, args=(s,)) for s in steps]
        for t in threads:
            t.start()
        barrier.wait()
        cli = run_all([(["git", "runr", "run", "step", run_id, f"cli-{i}"], repo.path)
                       for i in range(2)])
        for t in threads:
            t.join(120)
        assert results == {s: 200 for s in steps}
        assert [p.returncode for p in cli] == [0, 0], [p.stderr for p in cli]
        run = httpx.get(f"{url}/runs/{run_id}").json()["run"]
    assert sorted(run["step_timestamps"]) == sorted([*steps, "cli-0", "cli-1"])
    assert run["event_count"] == 1 + 10
    assert cli_json(repo, "run", "show", run_id)["step_timestamps"] == run["step_timestamps"]


def test_concurrent_state_changes_apply_once(built: Built) -> None:
    """8 PATCHes moving one run to the same state at once: exactly one transition is
    recorded; the others find it done (200) or lost the compare-and-swap (409)."""
    with serving(built.repo.path) as url:
        run_id = httpx.post(f"{url}/runs", json={}).json()["run_id"]
        barrier = threading.Barrier(8)
        codes: list[int] = []

        def patch() -> None:
            with httpx.Client(base_url=url, timeout=120) as http:
                barrier.wait()
                codes.append(http.patch(f"/runs/{run_id}",
                                        json={"status": "verifying/testing"}).status_code)

        threads = [threading.Thread(target=patch) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        run = httpx.get(f"{url}/runs/{run_id}").json()["run"]
    assert len(codes) == 8 and set(codes) <= {200, 409} and 200 in codes
    assert [t["to_state"] for t in run["transitions"]] == ["active", "verifying/testing"]


# --------------------------------------------------------------------------- errors


def test_bad_ranges_are_problems(built: Built, client: httpx.Client) -> None:
    assert_problem(client.get("/audit", params={"range": "nope..HEAD"}), 404, "not-found")
    assert_problem(client.get("/audit", params={"range": ""}), 400, "bad-request")
    assert_problem(client.get("/audit", params={"range": "--all"}), 400, "bad-request")
    assert_problem(client.get("/audit", params={"range": "HEAD\x00"}), 400, "bad-request")
    assert_problem(client.get("/audit", params={"range": "HEAD", "since": "HEAD~1"}), 400,
                   "bad-request")
    assert_problem(client.get("/audit", params={"first_parent": "maybe"}), 422,
                   "invalid-request")
    assert_problem(client.get("/runs", params={"limit": 0}), 422, "invalid-request")
    assert_problem(client.get("/runs", params={"offset": -1}), 422, "invalid-request")
    assert_problem(client.get("/nowhere"), 404, "about:blank")
    not_allowed = assert_problem(client.delete("/runs"), 405, "about:blank")
    assert not_allowed["instance"] == "/runs"
    page = client.get("/", params={"range": "nope..HEAD"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "nope..HEAD" in page.text and "Traceback" not in page.text


def test_empty_repository_is_a_conflict(repo: GitRepo) -> None:
    repo.runr("init")
    with serving(repo.path) as url:
        body = assert_problem(httpx.get(f"{url}/audit"), 409, "not-a-repository")
        assert body["exit_code"] == 3
        assert httpx.get(f"{url}/runs").json()["total"] == 0


def test_a_damaged_ledger_is_a_problem_not_a_traceback(built: Built,
                                                       client: httpx.Client) -> None:
    repo = built.repo
    blob = repo.git("hash-object", "-w", "--stdin", input="not a commit\n").stdout.strip()
    repo.git("update-ref", "refs/runr/ledger", blob)
    body = assert_problem(client.get("/runs"), 500, "corrupt-record")
    assert "refs/runr/ledger" in body["detail"] and body["exit_code"] == 6


def test_an_unexpected_error_says_nothing_of_its_cause(client: httpx.Client,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture
                                                       ) -> None:
    from gitrunr import views

    def boom(repo: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(views, "ready", boom)
    body = assert_problem(client.get("/ready"), 500, "internal-error")
    assert "secret" not in json.dumps(body)
    assert "secret internals" in caplog.text  # the server's log has it


# --------------------------------------------------------------------------- auth


def test_a_token_is_checked_on_every_request(built: Built) -> None:
    with serving(built.repo.path, token=TOKEN) as url:
        for path in ["/runs", "/openapi.json", "/", "/nowhere"]:
            denied = httpx.get(url + path)
            assert_problem(denied, 401, "unauthorized")
            assert "Basic" in denied.headers["www-authenticate"]
            assert "Bearer" in denied.headers["www-authenticate"]
            assert_problem(httpx.get(url + path, headers={"Authorization": "Bearer wrong"}),
                           401, "unauthorized")
            assert_problem(httpx.get(url + path, headers={"Authorization": TOKEN}), 401,
                           "unauthorized")
        assert_problem(httpx.post(f"{url}/runs", json={}), 401, "unauthorized")
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.get(f"{url}/runs", headers=bearer).status_code == 200
        basic = base64.b64encode(f"anyone:{TOKEN}".encode()).decode()
        assert httpx.get(f"{url}/", headers={"Authorization": f"Basic {basic}"}
                         ).status_code == 200
        doc = httpx.get(f"{url}/openapi.json", headers=bearer).json()
        assert doc["security"] == [{"token": []}]
        assert doc["components"]["securitySchemes"]["token"]["scheme"] == "bearer"
    assert built.repo.git("for-each-ref", "refs/runr/ledger").stdout  # unchanged, exists


def test_loopback_server_answers_only_loopback_host_names(client: httpx.Client) -> None:
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends that Host."""
    assert_problem(client.get("/runs", headers={"Host": "evil.example"}), 400, "bad-host")
    assert_problem(client.get("/runs", headers={"Host": "evil.example:8765"}), 400,
                   "bad-host")
    for host in ["localhost", "127.0.0.1:1", "[::1]:8765"]:
        assert client.get("/runs", headers={"Host": host}).status_code == 200


# --------------------------------------------------------------------------- the command


def test_serve_refuses_a_non_loopback_bind_without_a_token(built: Built) -> None:
    repo = built.repo
    for args, says in [(["--host", "0.0.0.0"], "needs a token"),
                       (["--host", "192.0.2.1"], "needs a token"),
                       (["--token", "short"], "at least 16"),
                       (["--host", "no-such-host.invalid", "--token", TOKEN], "resolve")]:
        proc = repo.runr("serve", "--port", "0", *args, check=False)
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.startswith("error: ") and says in proc.stderr
        assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr
    env_token = repo.runr("serve", "--host", "0.0.0.0", "--token", "x", check=False,
                          env={"RUNR_API_TOKEN": TOKEN})
    assert env_token.returncode == 2  # --token wins over the environment
    taken = api.bind("127.0.0.1", 0)
    try:
        port = str(taken.getsockname()[1])
        busy = repo.runr("serve", "--port", port, check=False)
    finally:
        taken.close()
    assert busy.returncode == 5 and f"cannot listen on 127.0.0.1:{port}" in busy.stderr
    assert len(busy.stderr.splitlines()) == 1


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_serve_serves_until_interrupted(built: Built, host: str) -> None:
    env = {**os.environ, "RUNR_API_TOKEN": TOKEN} if host != "127.0.0.1" else None
    # The console script itself, not `git runr`: git dies of the SIGINT it is sent, and
    # the status to check is the command's own.
    proc = subprocess.Popen([os.path.join(BIN_DIR, "git-runr"), "serve", "--host", host,
                             "--port", "0"], cwd=built.repo.path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        found = re.search(r"at (http://[0-9.]+:[0-9]+/)", line)
        assert found, line
        url = found.group(1).replace("0.0.0.0", "127.0.0.1")
        headers = {"Authorization": f"Bearer {TOKEN}"} if env else {}
        if env:
            assert httpx.get(url + "runs").status_code == 401
        assert httpx.get(url + "runs", headers=headers).json()["total"] == 2
        assert httpx.get(url, headers=headers).text.startswith("<!doctype html>")
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert out == ""  # the access log goes to stderr
    assert '"GET /runs HTTP/1.1" 200' in err
    assert "Traceback" not in err


def test_git_runr_does_not_import_the_web_stack(built: Built) -> None:
    code = ("import sys; from gitrunr.cli import cli; "
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'jinja2', 'starlette') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


# --------------------------------------------------------------------------- the page


def test_page_and_audit_html_show_the_same_timeline(built: Built,
                                                    client: httpx.Client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    rows = re.findall(r'<tr class="commit (\w+)" id="c-([0-9a-f]{40})"', page.text)
    assert [css for css, _ in rows] == [cls.lower() for _, cls in TIMELINE]
    out = built.repo.path.parent / "timeline.html"
    proc = built.repo.runr("audit", "--html", str(out), "--json")
    assert json.loads(proc.stdout)["summary"]["total"] == 6  # stdout is still the report
    assert proc.stderr == f"timeline written to {out}\n"
    static = out.read_text()
    assert re.findall(r'<tr class="commit (\w+)" id="c-([0-9a-f]{40})"', static) == rows
    for html in (page.text, static):
        assert f'href="#{built.run_id}"' in html and f'id="{built.run_id}"' in html
        assert f'href="#{built.intervention_id}"' in html
        assert f'id="{built.intervention_id}"' in html
        assert f'href="#evidence-{built.run_id}"' in html
        assert 'data-class="RUNR" data-count="2"' in html
        assert "Lane: not tracked yet" in html or "Lane: <b>" in html
    # Self-contained: no script, no external resource, nothing fetched.
    assert not re.search(r"<script|<link|<img|<iframe|src=|url\(|@import", static, re.I)
    assert not re.search(r'href="(?!#)', static)
    assert "/runs/" in page.text and "/runs/" not in static  # API links only when served
    partial = client.get("/", params={"range": "HEAD~2..HEAD"}).text
    assert len(re.findall(r'<tr class="commit ', partial)) == 2


def test_audit_html_is_written_when_strict_fails_and_escapes_text(built: Built) -> None:
    repo = built.repo
    repo.commit('<script>alert("x")</script> & <b>bold</b>', {"x.txt": "x\n"})
    out = repo.path.parent / "page.html"
    proc = repo.runr("audit", "--strict", "--html", str(out), "HEAD~2..HEAD", check=False)
    assert proc.returncode == 1 and "lack verified provenance" in proc.stderr
    html = out.read_text()
    assert "<script>" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" \
        in html
    bad = repo.runr("audit", "--html", str(out), "nope..HEAD", check=False)
    assert bad.returncode == 4 and out.read_text() == html  # a failed audit writes nothing


# --------------------------------------------------------------------------- schemathesis

#: Every operation of /openapi.json (the first test checks the paths are these).
OPERATIONS = [("GET", "/"), ("POST", "/runs"), ("GET", "/runs"), ("GET", "/runs/{run_id}"),
              ("PATCH", "/runs/{run_id}"), ("GET", "/runs/{run_id}/artifacts/{name}"),
              ("GET", "/plans"), ("GET", "/plans/{plan_ref}"), ("GET", "/ready"),
              ("GET", "/audit")]


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_openapi_no_server_errors(built: Built, method: str, path: str) -> None:
    """schemathesis generates requests from /openapi.json, valid ones and not, for each
    operation: never a 5xx, every answer conforms to the schema (status, content type,
    body), and what the schema forbids is refused with a 4xx.

    Driven through schemathesis' Python API rather than its pytest plugin (whose lazy
    fixture loader does not support this pytest yet)."""
    with serving(built.repo.path) as url:
        api_schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        assert sorted((o.ok().method.upper(), o.ok().path)
                      for o in api_schema.get_all_operations()) == sorted(OPERATIONS)
        operation = api_schema[path][method]
        checks = [not_a_server_error, status_code_conformance, content_type_conformance,
                  response_schema_conformance, negative_data_rejection]
        # Random ids rarely name anything: also send requests about records that exist
        # (an open run, to be moved and stepped at random; the accepted run's artifact).
        known = {"run_id": built.run_id if "artifacts" in path else
                 httpx.post(f"{url}/runs", json={}).json()["run_id"],
                 "name": "junit.xml", "plan_ref": F1_03}
        fixed = {k: v for k, v in known.items() if f"{{{k}}}" in path}
        passes = [(GenerationMode.POSITIVE, None), (GenerationMode.NEGATIVE, None),
                  *([(GenerationMode.POSITIVE, fixed)] if fixed else [])]
        for mode, parameters in passes:

            @given(case=operation.as_strategy(generation_mode=mode,
                                              path_parameters=parameters))
            @settings(max_examples=25, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            def check(case: Any) -> None:
                case.call_and_validate(base_url=url, checks=checks)

            try:
                check()
            except Unsatisfiable:
                # Every input this operation takes is valid (no parameter, or a free
                # string): there is no negative case to send.
                assert mode is GenerationMode.NEGATIVE
