"""Synthetic repositories for the gitrunr benchmarks, built with ``git fast-import``.

    python bench/generate.py --commits 10000 --out /tmp/gitrunr-bench/commits-10000 --check
    python bench/generate.py --commits 200 --run-span 200 --runs 100000 --out DIR

Two fast-import passes, one stream each (never a git process per commit), then a
repack:

1. ``refs/heads/main``: ``--commits`` commits touching 1-3 files each. 10% are agent
   checkpoints whose message carries the trailers exactly as the ``commit-msg`` hook
   writes them (``gitrunr.trailers.add_trailers``: ``Runr-Run-Id``,
   ``Runr-Checkpoint`` and, for runs with a tier, ``Runr-Tier``); 5% are
   interventions (``Runr-Run-Id`` + ``Runr-Intervention: true``, as ``git runr
   intervene --commit`` and the hook stamp them). The rest are plain commits, a fifth
   of them signed off. Commit shas come back through ``--export-marks``; patch-ids
   from one ``git diff-tree --stdin -p | git patch-id --stable`` pipeline.
2. ``refs/runr/ledger`` and ``refs/notes/runr``: the ledger starts from
   :func:`gitrunr.ledger.root_commit` (written with pygit2, so it is the real fixed
   root), then one commit per batch of whole runs, each adding
   ``runs/<sha1(run)[:2]>/<run>/events/<event>.json`` and ``run.json``. Events are
   gitrunr's pydantic models (validated on construction), ``run.json`` is
   :func:`gitrunr.events.replay` of them, both serialised as ``json_blob`` does. The
   notes commit holds one JSON Lines note per recorded commit at ``ab/cdef...``
   (``notes.new_path``), encoded by ``notes.encode``.
3. ``git repack -a -d``, ``pack-refs`` and ``commit-graph write``: the layout ``git gc``
   leaves and a clone receives (commits first in the pack).

Runs: commits are cut into windows of ``--run-span`` commits; each window is one run
holding the window's checkpoints and interventions (the newest run is left active).
``--runs N`` adds older "filler" runs (``run_started`` + ``run_finished``) until the
ledger holds N runs. Everything is derived from ``--seed``, so one spec always gives
the same ids and contents (commit shas differ only if gitrunr's formats change).

The spec, counts and ids the runner needs (the active run, a run to show) are in
``<git-dir>/gitrunr-bench.json``. ``--reuse`` keeps an existing repository whose
recorded spec and generator fingerprint match. ``--check`` validates the result:
``git runr audit --json`` must classify every checkpoint RUNR, every intervention
MANUAL and every other commit GAP, and a sample of runs must replay to their stored
``run.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pygit2

from gitrunr import events as run_events
from gitrunr import ledger, notes, trailers
from gitrunr.ids import base36
from gitrunr.models import (
    CheckpointRecorded,
    CommandResult,
    Event,
    InterventionLinked,
    InterventionRecorded,
    LedgerFormat,
    NoteLink,
    RunFinished,
    RunSnapshot,
    RunStarted,
)

META_FILE = "gitrunr-bench.json"
GENERATOR_VERSION = 1
AGENT = ("Runr Agent", "agent@example.com")
HUMAN = ("Pat Human", "pat@example.com")
DEVELOPERS = (("Ada Lovelace", "ada@example.com"), ("Alan Turing", "alan@example.com"),
              ("Grace Hopper", "grace@example.com"))
#: Seconds between commits on main, and from a filler run's start to its finish.
COMMIT_GAP_S = 60
FILLER_GAP_S = 10
#: 2025-01-01T00:00:00Z, the root commit's time (seconds since the epoch).
T_ROOT = 1_735_689_600
TIERS = ("tier2", "tier1", None)
OUTCOMES = ("passed", "passed", "failed", "aborted")
#: Roughly how many events go into one ledger commit (whole runs per commit).
EVENTS_PER_LEDGER_COMMIT = 4000


@dataclass(frozen=True)
class Spec:
    """What to generate. ``runs`` None: one run per ``run_span`` commits, no filler."""

    commits: int
    runs: int | None
    run_span: int
    files: int
    seed: int


@dataclass
class CommitPlan:
    """One commit of main: its kind (``plain``/``checkpoint``/``intervention``), time in
    seconds since the epoch, identity, message, the files it writes (path -> content),
    and for recorded commits the run (index) and record id it belongs to."""

    index: int
    kind: str
    when: int
    who: tuple[str, str]
    message: str
    files: dict[str, bytes]
    run: int | None = None
    record_id: str | None = None
    linked_by_hook: bool = False
    sha: str = ""
    patch_id: str | None = None
    tree: str | None = None


@dataclass
class RunPlan:
    """One run: id, tier, start/finish time (ms), outcome (None: left active), the
    commit indices it recorded (oldest first) and the first commit of its window."""

    run_id: str
    tier: str | None
    start_ms: int
    finish_ms: int
    outcome: str | None
    commits: list[int] = field(default_factory=list)
    window_start: int = 0
    plan_ref: str | None = None


# --------------------------------------------------------------------------- ids


class IdMint:
    """Ids in gitrunr's format (``gitrunr.ids.new_id``: prefix, 9 base-36 digits of
    milliseconds, 8 base-36 random digits) from a seeded RNG, so runs are repeatable."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def __call__(self, prefix: str, ms: int) -> str:
        """A fresh ``<prefix>-<time><random>`` id for the time ``ms`` (epoch ms)."""
        return f"{prefix}-{base36(ms, 9)}{base36(self.rng.randrange(36 ** 8), 8)}"


def _at(ms: int) -> datetime:
    """An aware UTC datetime for epoch milliseconds (the precision gitrunr stores)."""
    return datetime.fromtimestamp(ms / 1000, UTC)


def _actor(who: tuple[str, str]) -> str:
    return f"{who[0]} <{who[1]}>"


# --------------------------------------------------------------------------- planning


def plan(spec: Spec) -> tuple[list[CommitPlan], list[RunPlan]]:
    """Every commit of main and every run, before anything is written.

    Shapes: ``commits[i]`` is commit ``i`` (``i`` = 0 is the root, a plain commit
    adding all ``spec.files`` files); ``runs`` are oldest first: filler runs, then one
    run per window of ``run_span`` commits (the last one active).
    """
    rng = random.Random(spec.seed)
    mint = IdMint(random.Random(spec.seed + 1))
    kinds = _kinds(spec.commits, rng)
    windows = math.ceil(spec.commits / spec.run_span) if spec.commits else 0
    total_runs = spec.runs if spec.runs is not None else windows
    if total_runs < windows:
        raise SystemExit(f"--runs {total_runs} is fewer than the {windows} runs the commits "
                         f"need (--commits {spec.commits} / --run-span {spec.run_span})")
    fillers = total_runs - windows
    first_commit_s = T_ROOT + COMMIT_GAP_S + fillers * FILLER_GAP_S * 2
    runs = [_filler_run(j, mint) for j in range(fillers)]
    for w in range(windows):
        start = first_commit_s + (w * spec.run_span) * COMMIT_GAP_S
        end = first_commit_s + (min(spec.commits, (w + 1) * spec.run_span) - 1) * COMMIT_GAP_S
        start_ms = max(start - COMMIT_GAP_S // 3, T_ROOT + 1) * 1000
        last = w == windows - 1
        runs.append(RunPlan(
            run_id=mint("run", start_ms), tier=TIERS[w % len(TIERS)], start_ms=start_ms,
            finish_ms=(end + COMMIT_GAP_S // 2) * 1000,
            outcome=None if last else OUTCOMES[w % len(OUTCOMES)],
            window_start=w * spec.run_span,
            plan_ref=f"bench/phase-01/{w:05d}" if w % 2 == 0 else None))
    tree = _initial_tree(spec.files)
    paths = sorted(tree)
    commits = []
    for i, kind in enumerate(kinds):
        when = T_ROOT if i == 0 else first_commit_s + i * COMMIT_GAP_S
        run_index = fillers + i // spec.run_span
        commits.append(_plan_commit(i, kind, when, runs[run_index] if kind != "plain" else None,
                                    run_index, tree, paths, rng, mint))
        if kind != "plain":
            runs[run_index].commits.append(i)
    return commits, runs


def _kinds(n: int, rng: random.Random) -> list[str]:
    """Commit kinds: exactly 10% ``checkpoint``, 5% ``intervention`` (rounded), the rest
    ``plain``, shuffled; commit 0 (the root) is always plain."""
    n_cp, n_iv = round(n * 0.10), round(n * 0.05)
    rest = ["checkpoint"] * n_cp + ["intervention"] * n_iv
    rest += ["plain"] * (n - 1 - len(rest))
    rng.shuffle(rest)
    return ["plain", *rest] if n else []


def _filler_run(j: int, mint: IdMint) -> RunPlan:
    """Filler run ``j``: started and finished between the root commit and commit 1."""
    start_ms = (T_ROOT + COMMIT_GAP_S + j * FILLER_GAP_S * 2) * 1000
    return RunPlan(run_id=mint("run", start_ms), tier=TIERS[j % len(TIERS)],
                   start_ms=start_ms, finish_ms=start_ms + FILLER_GAP_S * 1000,
                   outcome=OUTCOMES[j % len(OUTCOMES)])


def _initial_tree(n_files: int) -> dict[str, list[str]]:
    """``n_files`` Python-looking files of 40 lines, 40 files per directory."""
    return {f"src/pkg{f // 40:03d}/mod{f % 40:02d}.py":
            [f"value_{k} = {k}  # initial" for k in range(40)] for f in range(n_files)}


def _plan_commit(i: int, kind: str, when: int, run: RunPlan | None, run_index: int,
                 tree: dict[str, list[str]], all_paths: Sequence[str], rng: random.Random,
                 mint: IdMint) -> CommitPlan:
    """Commit ``i``: edit 1-3 of ``all_paths`` in ``tree`` (in place) and write its message
    with the trailers its kind carries."""
    paths = list(all_paths) if i == 0 else rng.sample(all_paths, k=rng.randint(1, 3))
    if i > 0:
        for path in paths:
            tree[path][rng.randrange(40)] = f"value_{i} = {rng.randrange(10 ** 6)}  # c{i}"
    files = {p: ("\n".join(tree[p]) + "\n").encode() for p in paths}
    module = paths[0].rsplit("/", 1)[-1]
    if kind == "plain":
        who = DEVELOPERS[i % len(DEVELOPERS)]
        message = f"refactor: tidy {module} ({i})\n" if i else "Initial import\n"
        if i % 3 == 0:
            message += f"\nKeeps {module} readable; no behaviour change.\n"
        if i % 5 == 0 and i:
            message += f"\nSigned-off-by: {_actor(who)}\n"
        return CommitPlan(i, kind, when, who, message, files)
    assert run is not None
    if kind == "checkpoint":
        record_id = mint("cp", when * 1000 - 500)
        body = f"feat(task-{run_index}): update {module} ({i})\n"
        if i % 2 == 0:
            body += f"\nStep {i} of the plan: {module} now handles the new case.\n"
        wanted = [(trailers.RUN_ID, run.run_id), (trailers.CHECKPOINT, record_id)]
        if run.tier:
            wanted.append((trailers.TIER, run.tier))
        message = trailers.add_trailers(body, wanted, divider=False)
        return CommitPlan(i, kind, when, AGENT, message, files, run_index, record_id)
    linked_by_hook = i % 2 == 1
    record_id = mint("iv", when * 1000 - (10_000 if linked_by_hook else 500))
    message = trailers.add_trailers(
        f"fix: {module} by hand ({i})\n",
        [(trailers.RUN_ID, run.run_id), (trailers.INTERVENTION, "true")], divider=False)
    return CommitPlan(i, kind, when, HUMAN, message, files, run_index, record_id,
                      linked_by_hook=linked_by_hook)


# --------------------------------------------------------------------------- fast-import


class FastImport:
    """One ``git fast-import`` process fed through a pipe (git-fast-import(1))."""

    def __init__(self, repo: Path, *extra: str) -> None:
        self.proc = subprocess.Popen(["git", "fast-import", "--quiet", *extra], cwd=repo,
                                     stdin=subprocess.PIPE)
        assert self.proc.stdin is not None
        self.out: IO[bytes] = self.proc.stdin

    def data(self, payload: bytes) -> None:
        """A ``data`` command: exact byte count, then the bytes, then LF."""
        self.out.write(b"data %d\n" % len(payload))
        self.out.write(payload)
        self.out.write(b"\n")

    def commit(self, ref: str, who: tuple[str, str], when: int, message: str, *,
               mark: int | None = None, parent: str | None = None) -> None:
        """Open a commit on ``ref`` at ``when`` (epoch seconds, UTC); file commands follow.
        ``parent`` (a sha or ``:mark``) only for the first commit of a ref."""
        ident = f"{who[0]} <{who[1]}> {when} +0000\n".encode()
        self.out.write(f"commit {ref}\n".encode())
        if mark is not None:
            self.out.write(b"mark :%d\n" % mark)
        self.out.write(b"author " + ident + b"committer " + ident)
        self.data(message.encode())
        if parent is not None:
            self.out.write(f"from {parent}\n".encode())

    def file(self, path: str, content: bytes) -> None:
        """``M 100644 inline <path>`` with ``content``."""
        self.out.write(f"M 100644 inline {path}\n".encode())
        self.data(content)

    def close(self) -> None:
        """Finish the stream; raise if fast-import failed."""
        self.out.write(b"done\n")
        self.out.close()
        if self.proc.wait() != 0:
            raise SystemExit(f"git fast-import exited {self.proc.returncode}")


def import_main(repo: Path, commits: Sequence[CommitPlan]) -> None:
    """Pass 1: every commit of ``refs/heads/main``; fills in each plan's ``sha``."""
    marks = repo / ".git" / "bench-main.marks"
    fi = FastImport(repo, "--done", f"--export-marks={marks}")
    for c in commits:
        fi.commit("refs/heads/main", c.who, c.when, c.message, mark=c.index + 1)
        for path, content in c.files.items():
            fi.file(path, content)
    fi.close()
    for line in marks.read_text().splitlines():
        mark, sha = line.split()
        commits[int(mark[1:]) - 1].sha = sha
    marks.unlink()


def fill_patch_ids(repo: Path, commits: Sequence[CommitPlan]) -> None:
    """``git patch-id --stable`` of every recorded commit (what the flusher stores:
    libgit2's patch-id, checked equal in ``--check``), in one pipeline; and its tree."""
    wanted = [c for c in commits if c.kind != "plain"]
    if not wanted:
        return
    shas = repo / ".git" / "bench-recorded.txt"
    shas.write_text("".join(f"{c.sha}\n" for c in wanted))
    with shas.open("rb") as stdin:  # a file, not a pipe we write: no pipeline deadlock
        diff = subprocess.Popen(["git", "diff-tree", "--stdin", "-p", "--no-color"], cwd=repo,
                                stdin=stdin, stdout=subprocess.PIPE)
    pid = subprocess.Popen(["git", "patch-id", "--stable"], cwd=repo, stdin=diff.stdout,
                           stdout=subprocess.PIPE)
    assert diff.stdout is not None
    diff.stdout.close()
    out, _ = pid.communicate()
    shas.unlink()
    if diff.wait() != 0 or pid.returncode != 0:
        raise SystemExit("git diff-tree | git patch-id failed")
    by_sha = {}
    for line in out.decode().splitlines():
        patch, sha = line.split()
        by_sha[sha] = patch
    git = pygit2.Repository(str(repo))
    for c in wanted:
        c.patch_id = by_sha.get(c.sha)
        c.tree = str(_commit(git, c.sha).tree_id)


# --------------------------------------------------------------------------- ledger


def run_events_of(run: RunPlan, commits: Sequence[CommitPlan], base_sha: str | None,
                  mint: IdMint) -> list[Event]:
    """The events ``git runr`` and the hooks would have written for ``run``, oldest first.

    ``run_started``; per checkpoint a ``checkpoint_recorded`` 400 ms after the commit
    (the detached flush); per intervention either ``intervention_recorded`` with the
    commit (``intervene --commit``) or, for every other one, ``intervention_recorded``
    10 s before the commit then ``intervention_linked`` (``intervene`` + the hook);
    ``run_finished`` unless the run is left active.
    """
    made: list[Event] = [RunStarted(
        event_id=mint("ev", run.start_ms), run_id=run.run_id, at=_at(run.start_ms),
        actor=_actor(AGENT), tier=run.tier, base_sha=base_sha, branch="main",
        plan_ref=run.plan_ref)]
    for i in run.commits:
        c = commits[i]
        ms = c.when * 1000
        if c.kind == "checkpoint":
            assert c.record_id is not None
            made.append(CheckpointRecorded(
                event_id=mint("ev", ms + 400), run_id=run.run_id, at=_at(ms + 400),
                actor=_actor(c.who), checkpoint_id=c.record_id, sha=c.sha,
                patch_id=c.patch_id, subject=c.message.split("\n", 1)[0],
                **_tree_field(CheckpointRecorded, c.tree)))
            continue
        assert c.record_id is not None
        files = sorted(c.files)
        at_ms = ms - 10_000 if c.linked_by_hook else ms + 200
        made.append(InterventionRecorded(
            event_id=mint("ev", at_ms), run_id=run.run_id, at=_at(at_ms),
            actor=_actor(HUMAN), intervention_id=c.record_id,
            note=f"Fixed {files[0]} by hand\nThe agent kept reverting the change.",
            commands=[CommandResult(cmd="make test", exit_code=0, duration_ms=1834,
                                    output_tail="42 passed\n")],
            files_changed=[] if c.linked_by_hook else files,
            commit_sha=None if c.linked_by_hook else c.sha,
            patch_id=None if c.linked_by_hook else c.patch_id,
            **_tree_field(InterventionRecorded, None if c.linked_by_hook else c.tree)))
        if c.linked_by_hook:
            made.append(InterventionLinked(
                event_id=mint("ev", ms + 400), run_id=run.run_id, at=_at(ms + 400),
                actor=_actor(HUMAN), intervention_id=c.record_id, sha=c.sha,
                patch_id=c.patch_id, files_changed=files,
                **_tree_field(InterventionLinked, c.tree)))
    if run.outcome is not None:
        made.append(RunFinished(
            event_id=mint("ev", run.finish_ms), run_id=run.run_id, at=_at(run.finish_ms),
            actor=_actor(AGENT), outcome=run.outcome))  # type: ignore[arg-type]
    return made


def _tree_field(model: type[Event], tree: str | None) -> dict[str, Any]:
    """``{"tree": tree}`` when gitrunr's ``model`` records the commit's tree (newer
    versions do, for squash verification), else nothing: the generator follows the
    installed models."""
    return {"tree": tree} if "tree" in model.model_fields else {}


def doc_bytes(doc: LedgerFormat | Event | RunSnapshot) -> bytes:
    """A ledger document as ``gitrunr.objects.json_blob`` stores it: 2-space indented
    JSON by alias, final newline."""
    return (doc.model_dump_json(indent=2, by_alias=True) + "\n").encode()


def note_links(run: RunPlan, commits: Sequence[CommitPlan]) -> Iterator[tuple[str, NoteLink]]:
    """``(sha, link)`` for every commit ``run`` recorded, as ``ledger._note_links``
    derives them from the events."""
    for i in run.commits:
        c = commits[i]
        if c.kind == "checkpoint":
            yield c.sha, NoteLink(run_id=run.run_id, kind="checkpoint",
                                  checkpoint_id=c.record_id, patch_id=c.patch_id)
        else:
            yield c.sha, NoteLink(run_id=run.run_id, kind="intervention",
                                  intervention_id=c.record_id, patch_id=c.patch_id)


def import_records(repo: Path, commits: Sequence[CommitPlan], runs: Sequence[RunPlan],
                   seed: int) -> dict[str, int]:
    """Pass 2: ``refs/runr/ledger`` from the fixed root, and ``refs/notes/runr``.

    Returns counts: ``{"events": n, "ledger_commits": n, "notes": n}``.
    """
    git = pygit2.Repository(str(repo))
    root = str(ledger.root_commit(git))
    mint = IdMint(random.Random(seed + 2))
    writer = (AGENT[0], AGENT[1])
    fi = FastImport(repo, "--done")
    parent: str | None = root
    batch: list[tuple[RunPlan, list[Event], RunSnapshot]] = []
    counts = {"events": 0, "ledger_commits": 0, "notes": 0}

    def flush_batch() -> None:
        nonlocal parent
        applied = [e for _, evs, _ in batch for e in evs]
        when = int(max(e.at for e in applied).timestamp()) + 1
        fi.commit(ledger.LEDGER_REF, writer, when, _ledger_message(applied), parent=parent)
        parent = None
        for run, evs, snapshot in batch:
            base = ledger.run_dir(run.run_id)
            for event in evs:
                fi.file(f"{base}/events/{event.event_id}.json", doc_bytes(event))
            fi.file(f"{base}/run.json", doc_bytes(snapshot))
        counts["events"] += len(applied)
        counts["ledger_commits"] += 1
        batch.clear()

    pending = 0
    for run in runs:
        base_sha = commits[max(run.window_start - 1, 0)].sha if commits else None
        evs = run_events_of(run, commits, base_sha, mint)
        batch.append((run, evs, run_events.replay(evs)))
        pending += len(evs)
        if pending >= EVENTS_PER_LEDGER_COMMIT:
            flush_batch()
            pending = 0
    if batch:
        flush_batch()
    links = [pair for run in runs for pair in note_links(run, commits)]
    if links:
        last = max(c.when for c in commits) + 1
        fi.commit(notes.NOTES_REF, writer, last, "Notes added by 'git runr'\n")
        by_sha: dict[str, list[NoteLink]] = {}
        for sha, link in links:
            by_sha.setdefault(sha, []).append(link)
        for sha, found in by_sha.items():
            fi.file(notes.new_path(sha), notes.encode(notes.merge(None, found)))
        counts["notes"] = len(by_sha)
    fi.close()
    return counts


def _ledger_message(applied: Sequence[Event]) -> str:
    """The ledger commit message ``ledger.append`` writes for a batch (docs/storage.md):
    ``runr: <type> <run> (+N more)``, a blank line, one ``<event> <type> <run>`` line per
    event."""
    first = applied[0]
    head = f"runr: {first.type} {first.run_id}"
    if len(applied) > 1:
        head += f" (+{len(applied) - 1} more)"
    return f"{head}\n\n" + "".join(f"{e.event_id} {e.type} {e.run_id}\n" for e in applied)


# --------------------------------------------------------------------------- the repository


def fingerprint(spec: Spec) -> str:
    """Identifies what a repository was generated from: the spec, this file and
    gitrunr's document models (12 hex digits). Other format drift shows in ``--check``."""
    h = hashlib.sha1(json.dumps(asdict(spec), sort_keys=True).encode())
    h.update(Path(__file__).read_bytes())
    h.update((Path(ledger.__file__).parent / "models.py").read_bytes())
    return h.hexdigest()[:12]


def read_meta(repo: Path) -> dict[str, Any] | None:
    """The metadata the generator left in ``repo``, or None."""
    try:
        meta: dict[str, Any] = json.loads((repo / ".git" / META_FILE).read_text())
        return meta
    except (FileNotFoundError, ValueError):
        return None


def init_repo(repo: Path) -> None:
    """An empty non-bare repository on ``main`` with a bench identity, no auto-gc."""
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    for key, value in (("user.name", AGENT[0]), ("user.email", AGENT[1]), ("gc.auto", "0"),
                       ("core.logAllRefUpdates", "true")):
        subprocess.run(["git", "config", key, value], cwd=repo, check=True)


def pack(repo: Path) -> None:
    """Leave ``repo`` as ``git gc`` would: one pack (``git repack -a -d``: commits first,
    as a clone receives them; fast-import's packs interleave commits with their trees
    and blobs, so reading every commit touches the whole pack), packed refs and a
    commit-graph."""
    for argv in (["repack", "-a", "-d", "-q"], ["pack-refs", "--all"],
                 ["commit-graph", "write", "--reachable"]):
        subprocess.run(["git", *argv], cwd=repo, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


def generate(spec: Spec, repo: Path) -> dict[str, Any]:
    """Build the repository ``repo`` for ``spec``; return the metadata written to it."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    commits, runs = plan(spec)
    timings["plan_s"] = time.perf_counter() - t0
    init_repo(repo)
    t0 = time.perf_counter()
    import_main(repo, commits)
    fill_patch_ids(repo, commits)
    timings["main_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    counts = import_records(repo, commits, runs, spec.seed)
    timings["records_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if commits:
        subprocess.run(["git", "reset", "-q", "--hard", "main"], cwd=repo, check=True)
    pack(repo)
    timings["pack_checkout_s"] = time.perf_counter() - t0
    kinds = [c.kind for c in commits]
    active = runs[-1] if runs and runs[-1].outcome is None else None
    meta: dict[str, Any] = {
        "spec": asdict(spec), "fingerprint": fingerprint(spec),
        "generator_version": GENERATOR_VERSION,
        "commits": len(commits), "checkpoints": kinds.count("checkpoint"),
        "interventions": kinds.count("intervention"), "runs": len(runs), **counts,
        "active_run": active.run_id if active else None,
        "show_run": max(runs, key=lambda r: (len(r.commits), r.start_ms)).run_id
        if runs else None,
        "expected": {c.sha: [c.kind, runs[c.run].run_id if c.run is not None else None,
                             c.record_id] for c in commits if c.kind != "plain"},
        "timings": {k: round(v, 2) for k, v in timings.items()},
    }
    (repo / ".git" / META_FILE).write_text(json.dumps(meta) + "\n")
    return meta


# --------------------------------------------------------------------------- checking


def _commit(git: pygit2.Repository, sha: str) -> pygit2.Commit:
    """The commit ``sha`` of ``git`` (asserts it is one)."""
    obj = git[sha]
    assert isinstance(obj, pygit2.Commit)
    return obj


def _blob(git: pygit2.Repository, oid: pygit2.Oid) -> bytes:
    """The bytes of blob ``oid`` (asserts it is one)."""
    obj = git[oid]
    assert isinstance(obj, pygit2.Blob)
    return obj.data


def check(repo: Path, meta: dict[str, Any], sample: int = 50) -> list[str]:
    """Problems found in a generated repository (empty: it is what gitrunr writes).

    - ``git runr audit --json``: every checkpoint RUNR (its run and checkpoint id,
      linked by sha), every intervention MANUAL (its run and intervention id), every
      other commit GAP, nothing skipped;
    - the ledger chain starts at ``ledger.root_commit``;
    - for ``sample`` runs: every event file validates and sits at its path, and
      ``run.json`` equals ``events.replay`` of them byte for byte;
    - every note parses, and ``sample`` recorded commits' stored patch-ids equal
      libgit2's (``ledger.patch_id``), which is what the flusher stores;
    - ``git runr run list --json`` counts every run.
    """
    problems: list[str] = []
    expected: dict[str, list[str | None]] = meta["expected"]
    problems += _check_audit(repo, expected, int(meta["commits"]))
    git = pygit2.Repository(str(repo))
    tip = git.references[ledger.LEDGER_REF].target
    assert isinstance(tip, pygit2.Oid)
    *_, first = git.walk(tip)
    if first.id != ledger.root_commit(git):
        problems.append(f"ledger chain starts at {first.id}, not gitrunr's fixed root")
    view = ledger.LedgerView(git, tip)
    assert view.tree is not None
    ids = view.run_ids()
    if len(ids) != meta["runs"]:
        problems.append(f"ledger has {len(ids)} runs, expected {meta['runs']}")
    rng = random.Random(0)
    for run_id in rng.sample(ids, min(sample, len(ids))) + [str(meta["show_run"])]:
        stored = _blob(git, view.tree[f"{ledger.run_dir(run_id)}/run.json"].id)
        replayed = doc_bytes(run_events.replay(view.events(run_id)))
        if stored != replayed:
            problems.append(f"{run_id}: run.json differs from the replay of its events")
    notes_tip = git.references[notes.NOTES_REF].target
    assert isinstance(notes_tip, pygit2.Oid)
    index = notes.index(git, _commit(git, str(notes_tip)).tree)
    if len(index) != len(expected):
        problems.append(f"{len(index)} notes for {len(expected)} recorded commits")
    for sha in rng.sample(sorted(index), min(sample, len(index))):
        note = notes.parse(_blob(git, index[sha]), sha)
        commit = _commit(git, sha)
        libgit2 = str(git.diff(commit.parents[0], commit).patchid)
        if any(link.patch_id != libgit2 for link in note.links):
            problems.append(f"{sha}: stored patch-id differs from libgit2's ({libgit2})")
    listed = _runr(repo, "run", "list", "--json", "--limit", "3")
    if json.loads(listed)["total"] != meta["runs"]:
        problems.append("`git runr run list --json` total differs from the runs generated")
    return problems


def _runr(repo: Path, *args: str) -> str:
    """stdout of ``git runr ARGS`` in ``repo`` with this interpreter's ``git-runr``."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
           f"{os.environ.get('PATH', '')}"}
    proc = subprocess.run(["git", "runr", *args], cwd=repo, env=env, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise SystemExit(f"git runr {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def _check_audit(repo: Path, expected: dict[str, list[str | None]], n: int) -> list[str]:
    """Compare ``git runr audit --json`` with what was generated."""
    report = json.loads(_runr(repo, "audit", "--json"))
    problems = [f"audit skipped {s}" for s in report["skipped"]]
    if len(report["commits"]) != n:
        problems.append(f"audit saw {len(report['commits'])} commits, generated {n}")
    for entry in report["commits"]:
        kind, run_id, record_id = expected.get(entry["sha"], ["plain", None, None])
        want = {"checkpoint": "RUNR", "intervention": "MANUAL", "plain": "GAP"}[str(kind)]
        got = (entry["class"], entry["run_id"], entry["checkpoint_id"] or entry["intervention_id"],
               entry["linked"])
        wanted = (want, run_id, record_id, None if kind == "plain" else "sha")
        if got != wanted:
            problems.append(f"{entry['sha'][:12]}: audit says {got}, expected {wanted}")
    return problems[:20]


# --------------------------------------------------------------------------- command line


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--commits", type=int, default=1000, help="commits on main (default 1000)")
    p.add_argument("--runs", type=int, default=None,
                   help="runs in the ledger: filler runs are added to the commits' runs")
    p.add_argument("--run-span", type=int, default=100,
                   help="commits per run window (default 100: ~10 checkpoints, 5 interventions)")
    p.add_argument("--files", type=int, default=2000, help="files in the tree (default 2000)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, required=True, help="the repository to create")
    p.add_argument("--reuse", action="store_true",
                   help="keep an existing repository generated from the same spec and code")
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    p.add_argument("--check", action="store_true",
                   help="validate the result with git runr audit --json and the models")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Generate (or reuse) one repository, optionally check it; exit 1 on problems."""
    args = parse_args(argv)
    if args.commits < 1 or args.run_span < 1 or args.files < 1:
        raise SystemExit("--commits, --run-span and --files must be at least 1")
    spec = Spec(commits=args.commits, runs=args.runs, run_span=args.run_span,
                files=args.files, seed=args.seed)
    out: Path = args.out.resolve()
    meta = read_meta(out) if out.exists() else None
    if meta is not None and args.reuse and meta.get("fingerprint") == fingerprint(spec):
        print(f"reusing {out} ({meta['commits']} commits, {meta['runs']} runs)")
    else:
        if out.exists():
            if not (args.force or args.reuse):
                raise SystemExit(f"{out} exists: pass --force to replace it or --reuse")
            shutil.rmtree(out)
        started = time.perf_counter()
        meta = generate(spec, out)
        print(f"generated {out} in {time.perf_counter() - started:.1f}s: "
              f"{meta['commits']} commits ({meta['checkpoints']} checkpoints, "
              f"{meta['interventions']} interventions), {meta['runs']} runs, "
              f"{meta['events']} events, {meta['notes']} notes; {meta['timings']}")
    if args.check:
        started = time.perf_counter()
        problems = check(out, meta)
        for problem in problems:
            print(f"check: {problem}", file=sys.stderr)
        if problems:
            return 1
        print(f"check passed in {time.perf_counter() - started:.1f}s: audit classes, ledger "
              "root, replayed snapshots, notes and patch-ids agree with gitrunr")
    return 0


if __name__ == "__main__":
    sys.exit(main())
