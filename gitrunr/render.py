"""Text output for people: the audit timeline, run tables and run details.

Rendered with rich, which colours only on a terminal and honours ``NO_COLOR``.
Machine output is ``--json`` (the pydantic models, documented in ``docs/json.md``);
nothing here is an interface to parse.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from gitrunr.audit import Entry
from gitrunr.models import AuditCommit, AuditReport, AuditSummary, RunList, RunSnapshot

if TYPE_CHECKING:
    from gitrunr.views import PlanView, ReadyReport, RunView, StatusReport

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
        if entry.evidence is not None:
            parts.append(f"Evidence: {'✓' if entry.evidence == 'passed' else '✗'}")
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


#: Colours of run states and planning statuses (rich styles, only on a terminal).
STATE_STYLE = {"active": "yellow", "verifying": "blue", "finalized/passed": "green",
               "finalized/failed": "red", "finalized/aborted": "dim", "drafted": "dim",
               "approved": "cyan", "ready": "green", "planned": "dim", "claimed": "cyan",
               "in_progress": "yellow", "for_review": "blue", "done": "green",
               "blocked": "red", "canceled": "dim"}


def _state(text: str) -> Text:
    return Text(text, style=STATE_STYLE.get(text, STATE_STYLE.get(text.split("/")[0], "")))


def _table() -> Table:
    return Table(box=None, pad_edge=False, show_edge=False, header_style="bold")


def run_table(runs: RunList) -> Table:
    """``git runr runs``: one row per run, newest first; ad hoc runs say so."""
    table = _table()
    table.add_column("RUN", no_wrap=True, min_width=21)
    for column in ("STATE", "PLAN", "STEP", "STARTED", "CHECKPOINTS", "INTERVENTIONS"):
        table.add_column(column, no_wrap=True)
    for run in runs.runs:
        plan = run.plan_ref or "(ad hoc)"
        table.add_row(run.run_id + (" *" if run.accepted else ""), _state(run.state), plan,
                      run.current_step or "—", run.created_at.strftime("%Y-%m-%d %H:%M"),
                      str(run.checkpoints), str(run.interventions))
    return table


def status_lines(report: StatusReport) -> list[Text | Table]:
    """``git runr status``: plans under ``initiative / phase`` headings (seed 000)."""
    out: list[Text | Table] = [Text(f"Plans in {report.root}/ (mode: {report.mode})")]
    if not report.plans:
        out.append(Text(f"no plans yet: write {report.root}/<initiative>/phase-01/01-PLAN.md "
                        "(docs/plans.md)"))
    group: tuple[str, str] | None = None
    table = _table()
    for plan in report.plans:
        initiative, phase, number = plan.ref.split("/")
        if (initiative, phase) != group:
            if group is not None:
                out.append(table)
            group = (initiative, phase)
            out.append(Text(f"\n{initiative} / {phase}", style="bold"))
            table = _table()
            table.show_header = False
            for _ in range(5):
                table.add_column(no_wrap=True)
        status = _state(plan.status)
        if plan.changed_since_approval:
            status.append(" (changed since approval)", style="magenta")
        run = plan.latest_run
        run_text = Text("—") if run is None else Text(f"{run.run_id} (").append(
            _state(run.state)).append(")")
        lane = _state(plan.lane)
        if plan.holder and plan.lane in ("claimed", "in_progress", "for_review"):
            lane.append(f" ({plan.holder})")
        table.add_row(f"  {number}", plan.title, status, lane, run_text)
    if group is not None:
        out.append(table)
    return out


def ready_lines(report: ReadyReport) -> list[Text]:
    """``git runr ready``: the plans to start, then the approved ones that wait."""
    out = [Text("READY", style="bold")]
    out += [Text(f"- {p.ref}  {p.title}") for p in report.plans] or [Text("(none)")]
    if report.waiting:
        out.append(Text("\nWAITING", style="bold"))
        for w in report.waiting:
            out.append(Text(f"- {w.ref}: {'; '.join(w.reasons)}"))
    return out


def plan_lines(view: PlanView) -> list[Text | Table]:
    """``git runr show PLAN``: the plan, its runs, and the latest (or chosen) run."""
    p = view.plan
    status = _state(p.status)
    if p.changed_since_approval:
        status.append(" (changed since approval)", style="magenta")
    lane = _state(p.lane)
    if p.holder:
        until = p.lease_until.isoformat(timespec="seconds") if p.lease_until else "no expiry"
        lane.append(f", held by {p.holder} (lease: {until})")
    out: list[Text | Table] = [
        Text(f"Plan:     {p.ref}  {p.title}"),
        Text("Status:   ").append(status),
        Text("Lane:     ").append(lane),
        Text(f"File:     {p.path}"),
    ]
    if p.depends_on:
        out.append(Text(f"Depends:  {', '.join(p.depends_on)}"))
    if p.target_branch:
        out.append(Text(f"Branch:   {p.target_branch}"))
    if p.summary_path:
        out.append(Text(f"Summary:  {p.summary_path} (accepted run {p.accepted_run_id})"))
    for blocker in p.blockers:
        out.append(Text(f"Blocked:  {blocker}", style="red"))
    if p.objective:
        objective = p.objective.replace("\n", "\n  ")
        out += [Text("\nObjective:", style="bold"), Text(f"  {objective}")]
    if p.tasks:
        out.append(Text(f"\nTasks ({len(p.tasks)}):", style="bold"))
        out += [Text(f"  [{'x' if t.done else ' '}] {t.id} {t.title}") for t in p.tasks]
    if p.criteria:
        out.append(Text(f"\nSuccess criteria ({len(p.criteria)}):", style="bold"))
        out += [Text(f"  - {c}") for c in p.criteria]
    if p.lane_history:
        out.append(Text(f"\nLane ({len(p.lane_history)} moves):", style="bold"))
        for t in p.lane_history:
            extra = "; ".join(x for x in (t.reason, t.review_ref and f"review {t.review_ref}",
                                          t.evidence and f"evidence: {', '.join(t.evidence)}",
                                          "forced" if t.forced else None) if x)
            out.append(Text(f"  {t.at.isoformat(timespec='seconds')}  {t.from_lane} → "
                            f"{t.to_lane}  {t.verb} by {t.actor}" + (f"  ({extra})"
                                                                     if extra else "")))
    if view.note:
        out.append(Text(f"\n{view.note}"))
        return out
    out.append(Text(f"\nRuns ({len(view.runs)}, newest first; * accepted):", style="bold"))
    out.append(run_table(RunList(total=len(view.runs), runs=view.runs)))
    if view.run is not None:
        out.append(Text(f"\nRun {view.run.run_id}:", style="bold"))
        out += run_details(view.run)
    return out


def run_view_lines(view: RunView) -> list[Text | Table]:
    """``git runr show RUN``: execution only, no planning noise (seed 000)."""
    out = run_details(view.run)
    if view.accepted and view.accepted_at:
        out.insert(2, Text(f"Accepted: {view.accepted_at.isoformat(timespec='seconds')}, "
                           f"as the run of {view.run.plan_ref} (its SUMMARY.md)"))
    return out


def run_details(run: RunSnapshot) -> list[Text | Table]:
    """The run, its state changes and steps, checkpoints, interventions, artifacts."""
    lines: list[Text | Table] = [
        Text(f"Run:      {run.run_id}"),
        Text("State:    ").append(_state(run.state)),
        Text(f"Plan:     {run.plan_ref or '(ad hoc)'}"),
        Text(f"Tier:     {run.tier or '—'}"),
        Text(f"Started:  {run.created_at.isoformat(timespec='seconds')} by {run.actor}"),
    ]
    if run.current_step:
        lines.append(Text(f"Step:     {run.current_step}"))
    if run.branch or run.base_sha:
        lines.append(Text(f"Base:     {run.branch or '(detached)'} at "
                          f"{run.base_sha[:12] if run.base_sha else '(no commits)'}"))
    if run.finished_at:
        lines.append(Text(f"Finished: {run.finished_at.isoformat(timespec='seconds')}"))
    lines.append(Text(f"\nTransitions ({len(run.transitions)}):"))
    for t in run.transitions:
        why = f"  {t.reason}" if t.reason else ""
        lines.append(Text(f"  {t.at.isoformat(timespec='seconds')}  {t.from_state or 'start'}"
                          f" → {t.to_state}  by {t.actor}{why}"))
    if run.step_timestamps:
        lines.append(Text("\nSteps (first reached):"))
        for name, at in sorted(run.step_timestamps.items(), key=lambda kv: (kv[1], kv[0])):
            lines.append(Text(f"  {at.isoformat(timespec='seconds')}  {name}"))
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
    lines.append(Text(f"\nArtifacts ({len(run.artifacts)}):"))
    for a in run.artifacts:
        lines.append(Text(f"  {a.name}  {a.size} bytes  {a.media_type}  sha256 {a.sha256[:12]}"))
    return lines
