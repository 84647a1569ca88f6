"""Profile one ``git runr`` command with pyinstrument and summarise where the time goes.

    python bench/profile.py --repo DIR --name audit-100k [--out DIR] -- audit HEAD

Runs ``gitrunr.cli`` in this process under :class:`pyinstrument.Profiler` (1 ms
sampling), so imports of gitrunr and its dependencies (click, pygit2, pydantic) are
part of the profile; the interpreter's own start-up is not (add the difference
between the hyperfine median and the profile's total for that). The command's
stdout goes to ``/dev/null``, as in the benchmarks.

Writes into ``--out`` (default ``bench/out/profiles``), with ``--memory`` only the
last of these:

- ``<name>.txt``: pyinstrument's call tree (text renderer);
- ``<name>.hotspots.md``: markdown tables: a breakdown by named functions
  (:data:`BREAKDOWN`), then the functions with the most inclusive time (recursion
  counted once) and with the most self time, with shares of the total;
- ``<name>.memory.md`` (``--memory``): tracemalloc's view of what the command holds
  (:func:`memory_profile`).

Nothing here imports gitrunr before the profiler starts.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tracemalloc
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pyinstrument import Profiler
from pyinstrument.frame import Frame
from pyinstrument.renderers import ConsoleRenderer

DEFAULT_OUT = Path(__file__).resolve().parent / "out" / "profiles"
#: The breakdown table: label, function name, end of its file path. Each row is the
#: function's inclusive time (outermost calls only), so rows overlap where one function
#: calls another. Rows a command never reaches are left out.
BREAKDOWN: tuple[tuple[str, str, str], ...] = (
    ("all imports", "_find_and_load", "_bootstrap>"),
    ("ledger.flush (the spool, before reading)", "flush", "gitrunr/ledger.py"),
    ("audit.resolve_range (git rev-parse)", "resolve_range", "gitrunr/audit.py"),
    ("audit._read_records (notes index, ledger view)", "_read_records", "gitrunr/audit.py"),
    ("audit.walk (starts the walk)", "walk", "gitrunr/audit.py"),
    ("audit entries (the per-commit loop)", "entries", "gitrunr/audit.py"),
    ("audit._read_log (read and split git log's output)", "_read_log", "gitrunr/audit.py"),
    ("BufferedReader.read (blocked on a pipe)", "BufferedReader.read", "<built-in>"),
    ("audit.classify (per commit)", "classify", "gitrunr/audit.py"),
    ("audit._claims (trailers, note, message scan)", "_claims", "gitrunr/audit.py"),
    ("trailers.parse_trailers", "parse_trailers", "gitrunr/trailers.py"),
    ("audit._Ledger.note (note blob read + validation)", "note", "gitrunr/audit.py"),
    ("audit._squash_links", "_squash_links", "gitrunr/audit.py"),
    ("LedgerView.run (run.json lookup, read, validation)", "run", "gitrunr/ledger.py"),
    ("objects.tree_entry (path lookup in a tree)", "tree_entry", "gitrunr/objects.py"),
    ("pydantic model_construct", "model_construct", "pydantic/main.py"),
    ("pydantic BaseModel.__init__ (validation)", "__init__", "pydantic/main.py"),
    ("pydantic_core validate_json (all models)", "SchemaValidator.validate_json", "<built-in>"),
    ("pygit2 object lookups", "Repository.git_object_lookup_prefix", "<built-in>"),
    ("render.timeline", "timeline", "gitrunr/render.py"),
    ("render.entry_lines", "entry_lines", "gitrunr/render.py"),
    ("pydantic model_dump_json", "model_dump_json", "pydantic/main.py"),
    ("click.echo", "echo", "click/utils.py"),
    ("runs.list_runs", "list_runs", "gitrunr/runs.py"),
    ("runs.get (run show)", "get", "gitrunr/runs.py"),
    ("LedgerView.run_ids (every run's name)", "run_ids", "gitrunr/ledger.py"),
    ("ledger.append", "append", "gitrunr/ledger.py"),
    ("objects.cas_update_refs (git update-ref)", "cas_update_refs", "gitrunr/objects.py"),
    ("rich Console.print", "print", "rich/console.py"),
)


@dataclass(frozen=True)
class Hotspot:
    """One function: ``where`` is ``function (file:line)``; times in seconds."""

    where: str
    inclusive_s: float
    self_s: float


def profile(repo: Path, args: Sequence[str], interval_s: float = 0.001) -> Profiler:
    """Run ``git runr ARGS`` in ``repo`` under pyinstrument; return the stopped profiler.

    The exit status is ignored (``SystemExit`` is caught); stdout goes to /dev/null.
    """
    os.chdir(repo)
    profiler = Profiler(interval=interval_s)
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        profiler.start()
        try:
            from gitrunr.cli import cli

            cli.main(list(args), prog_name="git runr", standalone_mode=True)
        except SystemExit:
            pass
        finally:
            profiler.stop()
    return profiler


class _SamplingSink(io.StringIO):
    """A stdout that discards text and, on each write, keeps a tracemalloc snapshot
    whenever the traced total grew by 10% over the last one kept."""

    def __init__(self) -> None:
        super().__init__()
        self.kept: list[tuple[int, tracemalloc.Snapshot]] = []

    def write(self, text: str) -> int:
        current, _ = tracemalloc.get_traced_memory()
        if not self.kept or current > self.kept[-1][0] * 1.1:
            self.kept.append((current, tracemalloc.take_snapshot()))
        return len(text)


def memory_profile(repo: Path, args: Sequence[str], top: int = 15) -> str:
    """Run ``git runr ARGS`` under :mod:`tracemalloc` and describe where memory is held.

    Memory is sampled each time the command writes to stdout (the report is complete
    then, or being streamed), keeping the largest snapshot (see :class:`_SamplingSink`).
    Returns markdown: the traced peak, the traced total at the kept snapshot and its
    ``top`` allocation sites (file:line). tracemalloc sees Python allocations only, not
    libgit2's or mapped packs.
    """
    os.chdir(repo)
    sink = _SamplingSink()
    tracemalloc.start(1)
    try:
        with contextlib.redirect_stdout(sink):
            from gitrunr.cli import cli

            with contextlib.suppress(SystemExit):
                cli.main(list(args), prog_name="git runr", standalone_mode=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    lines = [f"Traced peak (Python allocations): {peak / 2**20:.1f} MiB", ""]
    if sink.kept:
        size, snapshot = sink.kept[-1]
        lines += [f"Largest held while writing output: {size / 2**20:.1f} MiB; top sites:",
                  "", "| allocation site | MiB | blocks |", "| --- | ---: | ---: |"]
        for stat in snapshot.statistics("lineno")[:top]:
            frame = stat.traceback[0]
            lines.append(f"| `{_short(frame.filename)}:{frame.lineno}` | "
                         f"{stat.size / 2**20:.1f} | {stat.count:,} |")
    return "\n".join(lines)


def _short(path: str) -> str:
    """``site-packages/pydantic/main.py`` -> ``pydantic/main.py``; gitrunr paths from
    the package directory."""
    for marker in ("site-packages/", "/gitrunr/"):
        if marker in path:
            head = "gitrunr/" if marker == "/gitrunr/" else ""
            return head + path.split(marker, 1)[1]
    return path


def _key(frame: Frame) -> str:
    """``function (short/path.py:line)`` of a frame."""
    return f"{frame.function} ({frame.file_path_short}:{frame.line_no})"


def _walk(frame: Frame, on_stack: frozenset[str] = frozenset()
          ) -> Iterator[tuple[Frame, bool]]:
    """Every frame below ``frame`` with whether it is the outermost of its function on
    its stack (so recursive time is counted once)."""
    key = _key(frame)
    yield frame, key not in on_stack
    inner = on_stack | {key}
    for child in frame.children:
        yield from _walk(child, inner)


def hotspots(root: Frame) -> list[Hotspot]:
    """Inclusive and self time per function over the whole call tree, largest first."""
    inclusive: dict[str, float] = defaultdict(float)
    own: dict[str, float] = defaultdict(float)
    for frame, outermost in _walk(root):
        if frame.is_synthetic:
            continue
        key = _key(frame)
        if outermost:
            inclusive[key] += frame.time
        own[key] += frame.total_self_time
    return sorted((Hotspot(k, inclusive[k], own[k]) for k in inclusive),
                  key=lambda h: h.inclusive_s, reverse=True)


def breakdown(root: Frame) -> list[tuple[str, float]]:
    """``(label, inclusive seconds)`` for each :data:`BREAKDOWN` row the profile reaches."""
    totals: dict[int, float] = defaultdict(float)
    for frame, outermost in _walk(root):
        if not outermost or frame.is_synthetic:
            continue
        for n, (_, function, path_end) in enumerate(BREAKDOWN):
            if frame.function == function and (frame.file_path or "").endswith(path_end):
                totals[n] += frame.time
    return [(BREAKDOWN[n][0], totals[n]) for n in sorted(totals)]


def markdown(spots: list[Hotspot], total_s: float, top: int = 25,
             parts: Sequence[tuple[str, float]] = ()) -> str:
    """The breakdown and the two hotspot tables (by inclusive time, by self time)."""
    def table(rows: list[Hotspot], title: str) -> list[str]:
        out = [f"### {title}", "", "| function | inclusive s | share | self s | share |",
               "| --- | ---: | ---: | ---: | ---: |"]
        for h in rows:
            out.append(f"| `{h.where}` | {h.inclusive_s:.3f} | {h.inclusive_s / total_s:.1%} "
                       f"| {h.self_s:.3f} | {h.self_s / total_s:.1%} |")
        return [*out, ""]

    by_self = sorted(spots, key=lambda h: h.self_s, reverse=True)
    summary = ["### Breakdown", "", "| part | inclusive s | share |", "| --- | ---: | ---: |"]
    summary += [f"| {label} | {t:.3f} | {t / total_s:.1%} |" for label, t in parts]
    return "\n".join([f"Total profiled: {total_s:.3f} s", "", *summary, "",
                      *table(spots[:top], "By inclusive time"),
                      *table(by_self[:top], "By self time")])


def main(argv: Sequence[str] | None = None) -> int:
    """Profile, write ``<name>.txt`` and ``<name>.hotspots.md``, print the tables."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repo", type=Path, required=True)
    p.add_argument("--name", required=True, help="file name stem of the outputs")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--memory", action="store_true",
                   help="tracemalloc instead of pyinstrument: <name>.memory.md")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- then git runr arguments")
    args = p.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    if args.memory:
        report = memory_profile(args.repo.resolve(), command, args.top)
        (out / f"{args.name}.memory.md").write_text(report + "\n")
        print(report)
        return 0
    profiler = profile(args.repo.resolve(), command)
    session = profiler.last_session
    assert session is not None
    root = session.root_frame()
    assert root is not None
    text = ConsoleRenderer(unicode=False, color=False, show_all=False,
                           time="seconds").render(session)
    (out / f"{args.name}.txt").write_text(text)
    report = markdown(hotspots(root), root.time, args.top, breakdown(root))
    (out / f"{args.name}.hotspots.md").write_text(report + "\n")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
