"""Text output for people: the audit timeline, run tables and run details.

Rendered with rich, which colours only on a terminal and honours ``NO_COLOR``.
Machine output is ``--json`` (the pydantic models, documented in ``docs/json.md``);
nothing here is an interface to parse.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.table import Table
from rich.text import Text

from gitrunr.audit import Entry
from gitrunr.models import AuditCommit, AuditReport, AuditSummary, RunList, RunSnapshot

CLASS_STYLE = {"RUNR": "green", "MANUAL": "cyan", "UNVERIFIED": "magenta", "GAP": "red"}


def console(*, stderr: bool = False) -> Console:
    """A console that wraps nothing (lines are copied into CI logs) and highlights nothing.

    Off a terminal it is wide, so tables are never cut to 80 columns in a pipe or log.
    """
    probe = Console(stderr=stderr)
    width = None if probe.is_terminal else 240
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=width)


def plain(text: str, style: str) -> str:
    """The style function for output without colour: the text as it is."""
    return text


def timeline(report: AuditReport, style: Callable[[str, str], str] = plain) -> str:
    """The timeline of seed 002 section 2, one entry per commit, then the summary.

    ``style(text, colour)`` colours a piece (``green``, ``cyan``, ``yellow``, ``red``);
    the CLI passes one only on a terminal without ``NO_COLOR``. Plain strings, not
    rich renderables: a 40,000-line timeline prints in milliseconds instead of
    seconds. The CLI streams the same pieces (:func:`timeline_head`,
    :func:`entry_lines`, :func:`timeline_tail`) as the audit goes.
    """
    out = timeline_head(report.range)
    for entry in report.commits:
        out.extend(entry_lines(entry, style))
    out.extend(timeline_tail(report.summary, empty=not report.commits))
    return "\n".join(out)


def timeline_head(label: str) -> list[str]:
    """The lines before the first entry."""
    return [f"Timeline: {label}", ""]


def timeline_tail(s: AuditSummary, *, empty: bool) -> list[str]:
    """The lines after the last entry: the summary."""
    return [
        *(["(no commits in this range)"] if empty else []),
        "", "Summary:",
        f"  Runr checkpoints: {s.RUNR}",
        f"  Manual (with intervention): {s.MANUAL}",
        f"  Unverified claims: {s.UNVERIFIED}",
        f"  Gaps (no provenance): {s.GAP}",
    ]


#: The ``linked`` values that mean the commit is not the one recorded, and why.
RELINKED = {"patch-id": "after a rewrite", "tree": "as a squash of recorded commits"}


def entry_lines(entry: AuditCommit | Entry, style: Callable[[str, str], str]) -> list[str]:
    """The two lines (three for a squash of several runs) of one commit."""
    tag = f"[{entry.class_}]"
    head = f"{style(tag, CLASS_STYLE[entry.class_])} {style(entry.short_sha, 'yellow')} - " \
           f"{entry.subject}"
    pad = " " * (len(tag) + 1)
    if entry.class_ == "RUNR":
        parts = [f"Run: {entry.run_id}", f"Checkpoint: {entry.checkpoint_id}"]
        if entry.tier:
            parts.append(f"Tier: {entry.tier}")
        if entry.linked in RELINKED:
            parts.append(f"Linked: {entry.linked} (RELINKED {RELINKED[entry.linked]})")
        detail = " | ".join(parts)
    elif entry.class_ == "MANUAL":
        detail = f"Intervention: ✓ (linked to run {entry.run_id})"
        if entry.linked in RELINKED:
            detail += f" | Linked: {entry.linked} (RELINKED)"
        if entry.note:
            detail += f" | Note: {entry.note}"
    elif entry.class_ == "UNVERIFIED":
        detail = f"Not backed by the ledger: {entry.reason}"
    else:
        detail = "No receipt, no intervention record"
    runs = list(dict.fromkeys(link.run_id for link in entry.links))
    if len(runs) > 1:  # a squash of several runs' work
        return [head, pad + detail, pad + f"Runs combined: {', '.join(runs)}"]
    return [head, pad + detail]


def run_table(runs: RunList) -> Table:
    """``git runr run list``: one row per run, newest first."""
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    table.add_column("RUN", no_wrap=True, min_width=21)
    for column in ("STATE", "TIER", "STARTED", "CHECKPOINTS", "INTERVENTIONS"):
        table.add_column(column, no_wrap=True)
    for run in runs.runs:
        table.add_row(run.run_id, run.state, run.tier or "—",
                      run.created_at.strftime("%Y-%m-%d %H:%M"), str(run.checkpoints),
                      str(run.interventions))
    return table


def run_details(run: RunSnapshot) -> list[Text | Table]:
    """``git runr run show``: the run, then its checkpoints and interventions."""
    lines: list[Text | Table] = [
        Text(f"Run:      {run.run_id}"),
        Text(f"State:    {run.state}"),
        Text(f"Tier:     {run.tier or '—'}"),
        Text(f"Started:  {run.created_at.isoformat(timespec='seconds')} by {run.actor}"),
    ]
    if run.branch or run.base_sha:
        lines.append(Text(f"Base:     {run.branch or '(detached)'} at "
                          f"{run.base_sha[:12] if run.base_sha else '(no commits)'}"))
    if run.finished_at:
        lines.append(Text(f"Finished: {run.finished_at.isoformat(timespec='seconds')}"))
    lines.append(Text(f"\nCheckpoints ({len(run.checkpoints)}):"))
    if run.checkpoints:
        table = Table(box=None, pad_edge=False, show_header=False)
        for _ in range(3):
            table.add_column(no_wrap=True)
        for cp in run.checkpoints:
            table.add_row("  " + cp.sha[:12], cp.checkpoint_id, cp.subject)
        lines.append(table)
    lines.append(Text(f"\nInterventions ({len(run.interventions)}):"))
    for iv in run.interventions:
        commit = iv.commit_sha[:12] if iv.commit_sha else "(next commit)"
        lines.append(Text(f"  {iv.intervention_id}  {commit}  {iv.note.splitlines()[0]}"))
        for cmd in iv.commands:
            mark = "✓" if cmd.exit_code == 0 else "✗"
            lines.append(Text(f"      {mark} {cmd.cmd}  (exit {cmd.exit_code}, "
                              f"{cmd.duration_ms} ms)"))
        if iv.files_changed:
            lines.append(Text(f"      files: {', '.join(iv.files_changed)}"))
    return lines
