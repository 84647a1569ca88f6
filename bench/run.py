"""Run every gitrunr benchmark with hyperfine and print a markdown table of the results.

    /tmp/venv/bin/python bench/run.py             # 100k commits; 100 vs 100k runs
    /tmp/venv/bin/python bench/run.py --quick     # 10k commits; 100 vs 10k runs
    /tmp/venv/bin/python bench/run.py --only audit,memory --profile

Run it with the Python of the environment gitrunr is installed in: its ``bin``
directory goes first on ``PATH``, so ``git runr`` is that ``git-runr``. The
repositories are made by ``bench/generate.py`` under ``--root`` (default
``/tmp/gitrunr-bench``) and reused while their spec and the generator are unchanged;
the ones a benchmark writes to are put back (refs and state files) afterwards, and
the commit benchmark's two small repositories are made afresh each time.

Every pair that is compared is measured in the same hyperfine invocation
(``-N``: no shell; output to /dev/null; ``--export-json`` into ``--results``,
default ``bench/out``). Medians are reported. git and gitrunr run with the system
and global git configuration switched off, ``HOME`` under ``--root``, and no
``GITRUNR_*`` variable set, so the hooks flush in the background as they do by
default.

Benchmarks (``--only`` names):

- ``audit``: ``git runr audit HEAD`` (and ``--json``) over the big repository vs
  ``git log --notes=refs/notes/runr --format='%H %s%n%(trailers)%N'``; target 1.2x.
  Also, for reference, the audit with ``GIT_FLUSH=0`` (git then buffers its output
  to the pipe instead of writing each commit separately).
- ``memory``: peak RSS of that audit (``/usr/bin/time -v``); target < 150 MB.
- ``commit``: ``git commit --allow-empty`` with gitrunr's hooks vs the same repository
  with ``-c core.hooksPath=/dev/null``, with no run and with a run active; targets:
  +10 ms and +50 ms. Before each timed commit, ``wait_flush.sh`` waits for the
  previous commit's detached flusher, so flushers never pile up on the two cores;
  afterwards every hooked commit must be in the ledger.
- ``append``: ``git runr intervene RUN --note x`` and ``git runr run start`` with
  100k runs vs 100; target 1.5x.
- ``show``: ``git runr run show RUN`` (text and ``--json``), 100k runs vs 100; 1.5x.
- ``list``: ``git runr run list --json``: 100 runs listed from each ledger (1.5x), and
  a series of ``--limit`` over the big ledger: the cost per listed run between
  consecutive points must stay within 1.5x (linear in runs listed).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
GENERATE = BENCH / "generate.py"
PROFILE = BENCH / "profile.py"
WAIT_FLUSH = BENCH / "wait_flush.sh"
GIT_LOG_FORMAT = "--format=%H %s%n%(trailers)%N"
ALL = ("audit", "memory", "commit", "append", "show", "list")


@dataclass(frozen=True)
class Scale:
    """Sizes and repetition counts of one mode (full or ``--quick``)."""

    name: str
    audit_commits: int
    runs_small: int
    runs_large: int
    list_limits: tuple[int, ...]
    audit_runs: int
    list_runs: int


FULL = Scale("full", 100_000, 100, 100_000, (1_000, 10_000), audit_runs=5, list_runs=3)
QUICK = Scale("quick", 10_000, 100, 10_000, (1_000, 3_000), audit_runs=5, list_runs=3)


@dataclass(frozen=True)
class Timing:
    """hyperfine's summary of one command, in seconds."""

    name: str
    median: float
    mean: float
    stddev: float
    min: float
    max: float
    runs: int


@dataclass
class Row:
    """One line of the results table. ``value``/``baseline`` are display strings;
    ``met`` None when the row has no target; ``load`` the share of the CPUs other
    processes used just before the benchmark started."""

    benchmark: str
    value: str
    baseline: str
    comparison: str
    target: str
    met: bool | None
    load: str = ""


@dataclass
class Context:
    """Everything the benchmarks share: paths, the environment and the scale."""

    root: Path
    results: Path
    scale: Scale
    env: dict[str, str]
    check: bool
    metas: dict[str, dict[str, object]] = field(default_factory=dict)

    def run(self, argv: Sequence[str | Path], *, cwd: Path | None = None,
            capture: bool = True) -> str:
        """Run a command in the bench environment; its stdout (raises on failure)."""
        proc = subprocess.run([str(a) for a in argv], cwd=cwd, env=self.env, text=True,
                              stdout=subprocess.PIPE if capture else None)
        if proc.returncode != 0:
            raise SystemExit(f"failed ({proc.returncode}): {shlex.join(map(str, argv))}")
        return proc.stdout or ""

    def repo(self, name: str, *spec: str, check: bool | None = None) -> Path:
        """Generate (or reuse) ``root/name`` from generator arguments ``spec``."""
        path = self.root / name
        if name not in self.metas:
            want_check = self.check if check is None else check
            self.run([sys.executable, GENERATE, *spec, "--out", path, "--reuse",
                      *(["--check"] if want_check else [])], capture=False)
            self.metas[name] = json.loads((path / ".git" / "gitrunr-bench.json").read_text())
        return path

    def meta(self, name: str) -> dict[str, object]:
        return self.metas[name]

    def hyperfine(self, label: str, commands: Sequence[tuple[str, Sequence[str | Path]]], *,
                  runs: int, warmup: int, prepare: Sequence[str] = (),
                  cwd: Path | None = None) -> dict[str, Timing]:
        """Time ``commands`` (name, argv) in one hyperfine invocation; export
        ``results/<label>.json``; return each command's :class:`Timing` by name."""
        out = self.results / f"{label}.json"
        argv = ["hyperfine", "-N", "--style", "basic", "--runs", str(runs), "--warmup",
                str(warmup), "--export-json", str(out)]
        for p in prepare:
            argv += ["--prepare", p]
        for name, _ in commands:
            argv += ["-n", name]
        argv += [shlex.join(map(str, cmd)) for _, cmd in commands]
        print(f"\n## {label}", flush=True)
        self.run(argv, capture=False, cwd=cwd)
        return {r["command"]: Timing(r["command"], r["median"], r["mean"], r["stddev"],
                                     r["min"], r["max"], len(r["times"]))
                for r in json.loads(out.read_text())["results"]}


# --------------------------------------------------------------------------- formatting


def fmt_s(seconds: float) -> str:
    """A duration for the table: ``812 ms``, ``5.21 s``."""
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def ratio_row(benchmark: str, value: Timing, baseline: Timing, limit: float) -> Row:
    """A row comparing two medians as a ratio, met when ``value/baseline <= limit``."""
    ratio = value.median / baseline.median
    return Row(benchmark, fmt_s(value.median), fmt_s(baseline.median), f"{ratio:.2f}x",
               f"<= {limit:g}x", ratio <= limit)


def gain_row(benchmark: str, value: Timing, baseline: Timing, limit_ms: float) -> Row:
    """A row of the time ``value`` adds to ``baseline`` (medians), met when below
    ``limit_ms``."""
    gain_ms = (value.median - baseline.median) * 1000
    return Row(benchmark, fmt_s(value.median), fmt_s(baseline.median), f"+{gain_ms:.1f} ms",
               f"< +{limit_ms:g} ms", gain_ms < limit_ms)


def table(rows: Sequence[Row]) -> str:
    """The results as a markdown table."""
    out = ["| benchmark | median | baseline median | ratio / gain | target | met | busy |",
           "| --- | ---: | ---: | ---: | --- | :---: | ---: |"]
    for r in rows:
        met = "" if r.met is None else "yes" if r.met else "**no**"
        out.append(f"| {r.benchmark} | {r.value} | {r.baseline} | {r.comparison} | "
                   f"{r.target} | {met} | {r.load} |")
    return "\n".join(out)


# --------------------------------------------------------------------------- repositories


def audit_repo(ctx: Context) -> Path:
    """The big repository: ``audit_commits`` commits, one run per 100 commits."""
    return ctx.repo(f"audit-{ctx.scale.audit_commits}", "--commits",
                    str(ctx.scale.audit_commits))


def runs_repo(ctx: Context, runs: int) -> Path:
    """A ledger of ``runs`` runs; main has 200 commits, all in the newest (active) run,
    so the run shown and appended to is the same shape at every size."""
    return ctx.repo(f"runs-{runs}", "--commits", "200", "--run-span", "200",
                    "--runs", str(runs))


def hooks_repos(ctx: Context) -> tuple[Path, Path, str]:
    """Two fresh small repositories with ``git runr init`` done: ``idle`` (no run) and
    ``active`` (``git runr run start --tier tier2`` done); and the active run's id."""
    made = []
    for name in ("hooks-idle", "hooks-active"):
        path = ctx.root / name
        ctx.run([sys.executable, GENERATE, "--commits", "200", "--run-span", "200",
                 "--runs", "1", "--files", "200", "--out", path, "--force"])
        ctx.run(["git", "runr", "init"], cwd=path)
        made.append(path)
    run_id = ctx.run(["git", "runr", "run", "start", "--tier", "tier2"], cwd=made[1]).strip()
    return made[0], made[1], run_id


@contextlib.contextmanager
def restored(*repos: Path) -> Iterator[None]:
    """Put back every ``refs/runr/*`` and ``refs/notes/*`` ref and the worktree's runr
    state files of ``repos`` as they were, however the body ends."""
    saved = {}
    for repo in repos:
        out = subprocess.run(["git", "-C", str(repo), "for-each-ref",
                              "--format=%(refname) %(objectname)", "refs/runr", "refs/notes"],
                             check=True, capture_output=True, text=True).stdout
        state = repo / ".git" / "runr"
        files = {p: p.read_bytes() for p in state.glob("*.json")} if state.exists() else {}
        saved[repo] = (dict(line.split() for line in out.splitlines()), files)
    try:
        yield
    finally:
        for repo, (refs, files) in saved.items():
            _restore(repo, refs, files)


def _restore(repo: Path, refs: dict[str, str], files: dict[Path, bytes]) -> None:
    """Move ``repo``'s runr and notes refs back to ``refs``, drop new ones, and put the
    state files back to ``files``."""
    out = subprocess.run(["git", "-C", str(repo), "for-each-ref", "--format=%(refname)",
                          "refs/runr", "refs/notes"], check=True, capture_output=True,
                         text=True).stdout.split()
    lines = [f"update {ref} {sha}\n" for ref, sha in refs.items()]
    lines += [f"delete {ref}\n" for ref in out if ref not in refs]
    subprocess.run(["git", "-C", str(repo), "update-ref", "--stdin"], check=True,
                   input="".join(lines), text=True)
    for path in (repo / ".git" / "runr").glob("*.json"):
        if path not in files:
            path.unlink()
    for path, data in files.items():
        path.write_bytes(data)


# --------------------------------------------------------------------------- benchmarks


def bench_audit(ctx: Context) -> list[Row]:
    """``git runr audit`` (text, --json) vs ``git log`` printing the same trailers and notes."""
    repo = audit_repo(ctx)
    n = ctx.scale.audit_commits
    t = ctx.hyperfine(f"audit-{n}", [
        ("git runr audit", ["git", "-C", repo, "runr", "audit", "HEAD"]),
        ("git runr audit --json", ["git", "-C", repo, "runr", "audit", "--json", "HEAD"]),
        ("git log trailers+notes", ["git", "-C", repo, "log", "--notes=refs/notes/runr",
                                    GIT_LOG_FORMAT, "HEAD"]),
        ("GIT_FLUSH=0 git runr audit",
         ["env", "GIT_FLUSH=0", "git", "-C", repo, "runr", "audit", "HEAD"]),
    ], runs=ctx.scale.audit_runs, warmup=1)
    base = t["git log trailers+notes"]
    what_if = ratio_row(f"audit {n:,} commits vs git log, run with GIT_FLUSH=0",
                        t["GIT_FLUSH=0 git runr audit"], base, 1.2)
    what_if.target, what_if.met = "(for reference)", None
    return [ratio_row(f"audit {n:,} commits vs git log", t["git runr audit"], base, 1.2),
            ratio_row(f"audit --json {n:,} commits vs git log", t["git runr audit --json"],
                      base, 1.2), what_if]


@dataclass(frozen=True)
class Memory:
    """Peak memory of one command, in MiB: ``max_rss`` as ``/usr/bin/time -v`` reports
    it (the largest single process of the tree), ``tree`` the largest sum of RSS over
    the whole process tree at one sample (a ``git`` subprocess counts too), and at
    that sample the part that is file-backed (``shared``: mapped packs, libraries)."""

    max_rss: float
    tree: float
    tree_shared: float
    #: At the tree's peak sample: ``(command, rss MiB, file-backed MiB)`` per process.
    processes: tuple[tuple[str, float, float], ...] = ()


def peak_memory(ctx: Context, argv: Sequence[str | Path], repeat: int = 3,
                interval_s: float = 0.005) -> Memory:
    """Medians over ``repeat`` runs of :class:`Memory` for ``argv`` (output discarded;
    ``processes`` from the run with the median tree peak).

    ``max_rss`` comes from ``/usr/bin/time -v``; the tree figures from psutil samples of
    every process under it each ``interval_s`` seconds.
    """
    import psutil  # type: ignore[import-untyped]

    runs = []
    for _ in range(repeat):
        proc = psutil.Popen(["/usr/bin/time", "-v", *map(str, argv)], env=ctx.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        tree = shared = 0
        at_peak: tuple[tuple[str, float, float], ...] = ()
        while proc.poll() is None:
            sample = []
            for p in proc.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    info = p.memory_info()
                    sample.append((" ".join(p.cmdline()[:4]), info.rss / 2**20,
                                   info.shared / 2**20))
            rss = sum(x[1] for x in sample)
            if rss * 2**20 > tree:
                tree, shared = int(rss * 2**20), int(sum(x[2] for x in sample) * 2**20)
                at_peak = tuple(sample)
            time.sleep(interval_s)
        stderr = proc.stderr.read() if proc.stderr else ""
        match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
        if proc.returncode != 0 or match is None:
            raise SystemExit(f"/usr/bin/time -v {shlex.join(map(str, argv))} failed")
        runs.append(Memory(int(match.group(1)) / 1024, tree / 2**20, shared / 2**20, at_peak))
    middle = sorted(runs, key=lambda m: m.tree)[len(runs) // 2]
    return Memory(max_rss=statistics.median(m.max_rss for m in runs),
                  tree=statistics.median(m.tree for m in runs),
                  tree_shared=statistics.median(m.tree_shared for m in runs),
                  processes=middle.processes)


def bench_memory(ctx: Context) -> list[Row]:
    """Peak memory of the audit (text and --json), git log's for reference. The target
    is checked against the process tree's peak (it is at least the largest process)."""
    repo = audit_repo(ctx)
    n = ctx.scale.audit_commits
    log = peak_memory(ctx, ["git", "-C", repo, "log", "--notes=refs/notes/runr",
                            GIT_LOG_FORMAT, "HEAD"])
    rows = []
    found = {"git log": asdict(log)}
    for flag in ((), ("--json",)):
        m = peak_memory(ctx, ["git", "-C", repo, "runr", "audit", *flag, "HEAD"])
        found[f"audit {' '.join(flag)}".strip()] = asdict(m)
        rows.append(Row(f"audit {' '.join(flag) + ' ' if flag else ''}{n:,} commits, "
                        "peak memory (process tree; largest process; file-backed)",
                        f"{m.tree:.0f} MB; {m.max_rss:.0f} MB; {m.tree_shared:.0f} MB",
                        f"git log: {log.tree:.0f} MB", f"{m.tree / log.tree:.1f}x",
                        "< 150 MB", m.tree < 150))
    (ctx.results / f"memory-{n}.json").write_text(json.dumps(found, indent=2) + "\n")
    return rows


def bench_commit(ctx: Context, runs: int = 40, warmup: int = 3) -> list[Row]:
    """``git commit --allow-empty``: hooks on vs ``core.hooksPath=/dev/null``, with no run
    and with a run active; then check every hooked checkpoint reached the ledger."""
    idle, active, run_id = hooks_repos(ctx)
    commit = ["commit", "-q", "--allow-empty", "-m", "bench: empty commit"]
    off = ["-c", "core.hooksPath=/dev/null"]
    t = ctx.hyperfine("commit", [
        ("no run, hooks off", ["git", "-C", idle, *off, *commit]),
        ("no run, hooks on", ["git", "-C", idle, *commit]),
        ("run active, hooks off", ["git", "-C", active, *off, *commit]),
        ("run active, hooks on", ["git", "-C", active, *commit]),
    ], runs=runs, warmup=warmup, prepare=[shlex.join(["sh", str(WAIT_FLUSH), str(idle),
                                                       str(active)])])
    ctx.run(["sh", WAIT_FLUSH, active])
    shown = json.loads(ctx.run(["git", "runr", "run", "show", run_id, "--json"], cwd=active))
    rejected = list((active / ".git" / "runr" / "spool" / "rejected").glob("*.json"))
    if len(shown["checkpoints"]) != runs + warmup or rejected:
        raise SystemExit(f"commit benchmark: {len(shown['checkpoints'])} checkpoints recorded "
                         f"for {runs + warmup} hooked commits, {len(rejected)} rejected")
    return [gain_row("commit, no run active: hooks on vs off", t["no run, hooks on"],
                     t["no run, hooks off"], 10),
            gain_row("commit, run active: hooks on vs off", t["run active, hooks on"],
                     t["run active, hooks off"], 50)]


def bench_append(ctx: Context, runs: int = 20, warmup: int = 2) -> list[Row]:
    """One event appended: ``intervene RUN --note x`` and ``run start``, large vs small."""
    small_n, large_n = ctx.scale.runs_small, ctx.scale.runs_large
    small, large = runs_repo(ctx, small_n), runs_repo(ctx, large_n)
    run_small = str(ctx.meta(small.name)["active_run"])
    run_large = str(ctx.meta(large.name)["active_run"])
    with restored(small, large):
        iv = ctx.hyperfine("append-intervene", [
            (f"intervene, {small_n:,} runs",
             ["git", "-C", small, "runr", "intervene", run_small, "--note", "x"]),
            (f"intervene, {large_n:,} runs",
             ["git", "-C", large, "runr", "intervene", run_large, "--note", "x"]),
        ], runs=runs, warmup=warmup)
    with restored(small, large):
        st = ctx.hyperfine("append-run-start", [
            (f"run start, {small_n:,} runs", ["git", "-C", small, "runr", "run", "start"]),
            (f"run start, {large_n:,} runs", ["git", "-C", large, "runr", "run", "start"]),
        ], runs=runs, warmup=warmup, prepare=[
            f"rm -f {shlex.quote(str(r / '.git' / 'runr' / 'active-run.json'))}"
            for r in (small, large)])
    return [ratio_row(f"append: intervene, {large_n:,} vs {small_n:,} runs",
                      iv[f"intervene, {large_n:,} runs"], iv[f"intervene, {small_n:,} runs"],
                      1.5),
            ratio_row(f"append: run start, {large_n:,} vs {small_n:,} runs",
                      st[f"run start, {large_n:,} runs"], st[f"run start, {small_n:,} runs"],
                      1.5)]


def bench_show(ctx: Context, runs: int = 20, warmup: int = 2) -> list[Row]:
    """``run show RUN`` (text and --json), large vs small ledger, and the process floor."""
    small_n, large_n = ctx.scale.runs_small, ctx.scale.runs_large
    small, large = runs_repo(ctx, small_n), runs_repo(ctx, large_n)
    show_small = str(ctx.meta(small.name)["show_run"])
    show_large = str(ctx.meta(large.name)["show_run"])
    t = ctx.hyperfine("show", [
        (f"show, {small_n:,} runs", ["git", "-C", small, "runr", "run", "show", show_small]),
        (f"show, {large_n:,} runs", ["git", "-C", large, "runr", "run", "show", show_large]),
        (f"show --json, {small_n:,} runs",
         ["git", "-C", small, "runr", "run", "show", "--json", show_small]),
        (f"show --json, {large_n:,} runs",
         ["git", "-C", large, "runr", "run", "show", "--json", show_large]),
        ("git runr --version (floor)", ["git", "-C", small, "runr", "--version"]),
    ], runs=runs, warmup=warmup)
    floor = t["git runr --version (floor)"]
    return [ratio_row(f"run show, {large_n:,} vs {small_n:,} runs", t[f"show, {large_n:,} runs"],
                      t[f"show, {small_n:,} runs"], 1.5),
            ratio_row(f"run show --json, {large_n:,} vs {small_n:,} runs",
                      t[f"show --json, {large_n:,} runs"], t[f"show --json, {small_n:,} runs"],
                      1.5),
            Row("`git runr --version` (process floor, for reference)", fmt_s(floor.median),
                "", "", "", None)]


def slopes(points: Sequence[tuple[int, float]]) -> list[float]:
    """Seconds per listed run between consecutive ``(listed, seconds)`` points (sorted
    by ``listed``): constant when the cost is linear in the runs listed."""
    ordered = sorted(points)
    return [(y1 - y0) / (x1 - x0) for (x0, y0), (x1, y1) in itertools.pairwise(ordered)]


def bench_list(ctx: Context, runs: int = 10, warmup: int = 2) -> list[Row]:
    """``run list --json``: the same 100 runs listed from both ledgers, then the big
    ledger listed with growing ``--limit``, fitted to a line."""
    small_n, large_n = ctx.scale.runs_small, ctx.scale.runs_large
    small, large = runs_repo(ctx, small_n), runs_repo(ctx, large_n)
    pair = ctx.hyperfine("list", [
        (f"list, {small_n:,} runs", ["git", "-C", small, "runr", "run", "list", "--json"]),
        (f"list --limit {small_n}, {large_n:,} runs",
         ["git", "-C", large, "runr", "run", "list", "--json", "--limit", str(small_n)]),
    ], runs=runs, warmup=warmup)
    listing: list[tuple[str, Sequence[str | Path]]] = [
        (f"list --limit {n:,}, {large_n:,} runs",
         ["git", "-C", large, "runr", "run", "list", "--json", "--limit", str(n)])
        for n in ctx.scale.list_limits]
    listing.append((f"list all, {large_n:,} runs",
                    ["git", "-C", large, "runr", "run", "list", "--json"]))
    series = ctx.hyperfine("list-series", listing, runs=ctx.scale.list_runs, warmup=0)
    limited = pair[f"list --limit {small_n}, {large_n:,} runs"]
    points = [(small_n, limited.median),
              *((n, series[f"list --limit {n:,}, {large_n:,} runs"].median)
                for n in ctx.scale.list_limits),
              (large_n, series[f"list all, {large_n:,} runs"].median)]
    per_run = slopes(points)
    # The verdict compares the two longest segments (at least 9x more runs each than
    # the first): a short first segment is mostly noise on the fixed cost.
    spread = max(per_run[-2:]) / min(per_run[-2:])
    listed = ", ".join(f"{n:,}: {fmt_s(s)}" for n, s in points)
    (ctx.results / "list-linearity.json").write_text(json.dumps(
        {"points": points, "seconds_per_run_between_points": per_run}, indent=2) + "\n")
    return [ratio_row(f"run list --json, {small_n} listed: {large_n:,} vs {small_n:,} runs",
                      limited, pair[f"list, {small_n:,} runs"], 1.5),
            Row(f"run list --json over {large_n:,} runs, time by runs listed ({listed})",
                " / ".join(f"{x * 1e6:.0f}" for x in per_run) + " µs/run", "",
                f"{spread:.2f}x spread", "linear: µs/run of the last two segments within "
                "1.5x", spread <= 1.5)]


BENCHMARKS: dict[str, Callable[[Context], list[Row]]] = {
    "audit": bench_audit, "memory": bench_memory, "commit": bench_commit,
    "append": bench_append, "show": bench_show, "list": bench_list,
}


# --------------------------------------------------------------------------- profiles


def commit_breakdown(ctx: Context, runs: int = 30, warmup: int = 3) -> str:
    """Where a hooked commit's time goes while a run is active: each hook's shim and
    its Python runtime timed alone (hyperfine, in a fresh active repository), plus
    ``python -X importtime`` of the commit-msg runtime. Returns a markdown table; the
    hyperfine export is ``results/commit-breakdown.json``.

    The runtime is started as the shim starts it (``python -S -P -m gitrunr.hooks``,
    the package on ``PYTHONPATH``, the state directory and comment character passed
    in the environment, HEAD piped from ``git cat-file --batch`` for post-commit).
    """
    _, repo, _ = hooks_repos(ctx)
    state = repo / ".git" / "runr"
    status = json.loads(ctx.run(["git", "runr", "hooks", "status", "--json"], cwd=repo))
    python = str(status["hooks"][0]["interpreter"])
    package = ctx.run([python, "-c", "import gitrunr, os; "
                       "print(os.path.dirname(os.path.dirname(gitrunr.__file__)))"]).strip()
    template, message = ctx.root / "commit-msg.template", ctx.root / "commit-msg.txt"
    template.write_text("feat: a commit message\n")
    hook_env: list[str | Path] = ["env", f"PYTHONPATH={package}", f"GITRUNR_STATE_DIR={state}",
                                  "GITRUNR_COMMENT_CHAR="]
    runtime: list[str | Path] = [python, "-S", "-P", "-m", "gitrunr.hooks"]
    post = shlex.join(map(str, [*hook_env, "GITRUNR_HEAD_ON_STDIN=1", *runtime, "post-commit"]))
    reset_message = shlex.join(["cp", str(template), str(message)])
    wait = shlex.join(["sh", str(WAIT_FLUSH), str(repo)])
    t = ctx.hyperfine("commit-breakdown", [
        ("python -S -P -c pass (interpreter floor)", [python, "-S", "-P", "-c", "pass"]),
        ("git rev-parse --git-path runr (one shim git call)",
         ["git", "rev-parse", "--git-path", "runr"]),
        ("commit-msg: Python runtime only", [*hook_env, *runtime, "commit-msg", message]),
        ("commit-msg: whole hook (sh shim)", [repo / ".git" / "hooks" / "commit-msg", message]),
        ("post-commit: Python runtime, detached flush spawned",
         ["sh", "-c", f"printf 'HEAD\\n' | git cat-file --batch | {post}"]),
        ("post-commit: whole hook (sh shim)", [repo / ".git" / "hooks" / "post-commit"]),
        ("post-commit: Python runtime, GITRUNR_FLUSH=none",
         ["sh", "-c", f"printf 'HEAD\\n' | git cat-file --batch | GITRUNR_FLUSH=none {post}"]),
    ], runs=runs, warmup=warmup, prepare=[
        "true", "true", reset_message, reset_message, wait, wait,
        shlex.join(["sh", "-c", f"rm -f {shlex.quote(str(state))}/../runr/spool/*.json"]),
    ], cwd=repo)
    for stale in (state / "spool").glob("*.json"):
        stale.unlink()
    ctx.run(["cp", template, message])
    trace = subprocess.run([python, "-X", "importtime", "-S", "-P", "-m", "gitrunr.hooks",
                            "commit-msg", str(message)], cwd=repo, capture_output=True, text=True,
                           env={**ctx.env, "PYTHONPATH": package,
                                "GITRUNR_STATE_DIR": str(state), "GITRUNR_COMMENT_CHAR": ""})
    imports = [line.split("|") for line in trace.stderr.splitlines()
               if line.startswith("import time:") and "self [us]" not in line]
    total_us = sum(int(cols[0].split(":")[1]) for cols in imports)
    top = sorted(((int(c[1]), c[2].rstrip()) for c in imports if not c[2].startswith("   ")),
                 reverse=True)[:6]
    rows = ["| step | median | mean ± sd |", "| --- | ---: | ---: |"]
    rows += [f"| {name} | {fmt_s(x.median)} | {fmt_s(x.mean)} ± {x.stddev * 1000:.1f} ms |"
             for name, x in t.items()]
    rows += ["", f"`python -X importtime` of the commit-msg runtime: {total_us / 1000:.1f} ms of "
             "imports in all; largest top-level: " + ", ".join(
                 f"{name.strip()} {us / 1000:.1f} ms" for us, name in top)]
    report = "\n".join(rows)
    (ctx.results / "commit-breakdown.md").write_text(report + "\n")
    print(report)
    return report


def profiles(ctx: Context) -> None:
    """pyinstrument profiles of the commands the README explains (bench/profile.py)."""
    audit = audit_repo(ctx)
    large = runs_repo(ctx, ctx.scale.runs_large)
    n = ctx.scale.audit_commits
    jobs: list[tuple[str, Path, list[str]]] = [
        (f"audit-{n}", audit, ["audit", "HEAD"]),
        (f"audit-json-{n}", audit, ["audit", "--json", "HEAD"]),
        (f"list-{ctx.scale.runs_large}", large, ["run", "list", "--json"]),
        (f"show-{ctx.scale.runs_large}", large,
         ["run", "show", str(ctx.meta(large.name)["show_run"])]),
    ]
    for name, repo, args in jobs:
        print(f"\n## profile {name}", flush=True)
        with restored(repo):
            ctx.run([sys.executable, PROFILE, "--repo", repo, "--name", name, "--out",
                     ctx.results / "profiles", "--top", "15", "--", *args], capture=False)
    for name, repo, args in jobs[:2]:
        print(f"\n## memory {name}", flush=True)
        ctx.run([sys.executable, PROFILE, "--memory", "--repo", repo, "--name", name, "--out",
                 ctx.results / "profiles", "--top", "12", "--", *args], capture=False)
    print("\n## commit hooks, step by step", flush=True)
    commit_breakdown(ctx)


# --------------------------------------------------------------------------- main


def environment(root: Path) -> dict[str, str]:
    """The environment every benchmarked command runs in (see the module docstring)."""
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    config = home / ".gitconfig"
    config.write_text("[user]\n\tname = Bench Agent\n\temail = agent@example.com\n"
                      "[gc]\n\tauto = 0\n[init]\n\tdefaultBranch = main\n")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GIT_", "GITRUNR_")) and k != "PYTHONPATH"}
    env.update(HOME=str(home), GIT_CONFIG_GLOBAL=str(config), GIT_CONFIG_NOSYSTEM="1",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    return env


def gitrunr_source(env: dict[str, str]) -> tuple[Path, str]:
    """The gitrunr package directory ``git runr`` imports, and a digest of its ``*.py``
    files (12 hex digits), to tell whether it changed during a run."""
    source = Path(subprocess.run([sys.executable, "-c", "import gitrunr;print(gitrunr.__file__)"],
                                 env=env, capture_output=True, text=True, check=True
                                 ).stdout.strip()).parent
    digest = hashlib.sha1(b"".join(p.read_bytes() for p in sorted(source.rglob("*.py"))))
    return source, digest.hexdigest()[:12]


def snapshot_gitrunr(root: Path, env: dict[str, str]) -> Path:
    """Copy the gitrunr package ``git runr`` would import now into
    ``root/snapshots/<digest>/gitrunr`` and return its parent, for ``PYTHONPATH``: the
    whole run (generator, commands, hooks, flushers, profiles) then measures one
    version, even while the source tree is being edited."""
    source, digest = gitrunr_source(env)
    dest = root / "snapshots" / digest
    if not (dest / "gitrunr").is_dir():
        tmp = dest.with_name(f".{digest}.{os.getpid()}")
        shutil.copytree(source, tmp / "gitrunr", ignore=shutil.ignore_patterns("__pycache__"))
        tmp.rename(dest)
    return dest


def machine(env: dict[str, str]) -> dict[str, str]:
    """What the figures were measured on: CPU, cores, versions, gitrunr's source."""
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    source, digest = gitrunr_source(env)

    def version(*argv: str) -> str:
        return subprocess.run(argv, env=env, capture_output=True, text=True
                              ).stdout.strip().splitlines()[0]

    head = subprocess.run(["git", "-C", str(source.parent), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    # --no-optional-locks: only look; never refresh the index of someone's checkout.
    dirty = subprocess.run(["git", "--no-optional-locks", "-C", str(source.parent), "status",
                            "--porcelain", "--", source.name], capture_output=True,
                           text=True).stdout.splitlines()
    return {"cpu": cpu, "cores": str(os.cpu_count()), "python": platform.python_version(),
            "git": version("git", "--version"), "hyperfine": version("hyperfine", "--version"),
            "gitrunr": f"{source} (HEAD {head or '?'}"
                       f"{f' + {len(dirty)} changed files' if dirty else ''}; "
                       f"sources sha1 {digest})",
            "date": time.strftime("%Y-%m-%d %H:%M %Z"),
            "load average at start (1, 5, 15 min)": ", ".join(
                f"{x:.2f}" for x in os.getloadavg())}


def cpu_busy(sample_s: float = 2.0) -> float:
    """The fraction of all cores' time spent busy over the next ``sample_s`` seconds
    (``/proc/stat``; this process only sleeps meanwhile, so it is other work)."""
    def read() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        return values[3] + values[4], sum(values)  # idle + iowait, all

    idle0, total0 = read()
    time.sleep(sample_s)
    idle1, total1 = read()
    return 1 - (idle1 - idle0) / max(total1 - total0, 1)


def wait_idle(limit_s: float, threshold: float = 0.10) -> float:
    """Wait (at most ``limit_s`` seconds) until other work keeps less than
    ``threshold`` of the cores busy; return the last busy fraction measured. Other
    work on two cores skews every wall-clock figure."""
    deadline = time.monotonic() + limit_s
    busy = cpu_busy()
    while busy >= threshold and time.monotonic() < deadline:
        busy = cpu_busy(5.0)
    return busy


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="10k commits and 10k runs")
    p.add_argument("--root", type=Path,
                   default=Path(os.environ.get("GITRUNR_BENCH_ROOT", "/tmp/gitrunr-bench")),
                   help="where repositories are generated (default /tmp/gitrunr-bench)")
    p.add_argument("--results", type=Path, default=BENCH / "out",
                   help="hyperfine JSON exports and summary (default bench/out)")
    p.add_argument("--only", default=",".join(ALL), help=f"comma-separated: {','.join(ALL)}")
    p.add_argument("--profile", action="store_true",
                   help="also write pyinstrument profiles to RESULTS/profiles")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    p.add_argument("--live", action="store_true",
                   help="measure the gitrunr source tree as it is at each moment instead of "
                        "a copy taken at the start (ROOT/snapshots/)")
    p.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                   help="before each benchmark, wait up to SECONDS until other processes "
                        "use < 10%% of the CPUs (the table's busy column: as measured)")
    p.add_argument("--no-check", action="store_true",
                   help="skip generate.py --check (audit classes, replay) on the repositories")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Generate or reuse, measure, print and save the table (``summary.md``/``.json``)."""
    args = parse_args(argv)
    for tool in ("hyperfine", "git", "/usr/bin/time", "flock"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed (apt-get install -y hyperfine time util-linux)")
    for module in ("psutil", "pyinstrument"):
        try:
            __import__(module)
        except ImportError:
            raise SystemExit(f"{module} is needed: {sys.executable} -m pip install "
                             "psutil pyinstrument") from None
    wanted = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(ALL)}")
    root: Path = args.root.resolve()
    results: Path = args.results.resolve()
    root.mkdir(parents=True, exist_ok=True)
    results.mkdir(parents=True, exist_ok=True)
    env = environment(root)
    info = machine(env)
    if not args.live:
        env["PYTHONPATH"] = str(snapshot_gitrunr(root, env))
        info["measured copy"] = env["PYTHONPATH"]
    ctx = Context(root, results, QUICK if args.quick else FULL, env, check=not args.no_check)
    rows: list[Row] = []
    for name in wanted:
        busy = wait_idle(args.wait_idle)
        try:
            found = BENCHMARKS[name](ctx)
        except (SystemExit, subprocess.CalledProcessError, OSError, KeyError) as exc:
            print(f"benchmark {name} failed: {exc}", file=sys.stderr)
            found = [Row(f"{name}: failed ({exc})", "", "", "", "", False)]
        for row in found:
            row.load = f"{busy:.0%}"
        rows += found
    if args.profile:
        profiles(ctx)
    _, digest = gitrunr_source(env)
    if args.live and digest not in info["gitrunr"]:
        info["warning"] = (f"gitrunr's sources changed during the run (now sha1 {digest}): "
                           "rows may measure different versions (--live)")
    header = "\n".join(f"- {k}: {v}" for k, v in info.items())
    report = f"{header}\n\n{table(rows)}\n"
    (results / "summary.md").write_text(report)
    (results / "summary.json").write_text(json.dumps(
        {"machine": info, "scale": asdict(ctx.scale), "rows": [asdict(r) for r in rows]},
        indent=2) + "\n")
    print(f"\n# Results ({ctx.scale.name}; JSON in {results})\n\n{report}")
    missed = [r.benchmark for r in rows if r.met is False]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
