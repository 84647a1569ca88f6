"""``NN-SUMMARY.md``: what the accepted run of a plan did, written beside the plan.

Seed ``000_78460206fc1b2322.txt``: "SUMMARY.md corresponds to the accepted run, not
necessarily the first run, not an average of runs". The text is a function of the
plan and the ledger's records only (no clock, no environment), so accepting the same
run twice writes the same bytes, and a reviewer can regenerate it to check it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from gitrunr.models import PlanRecord, RunSnapshot
from gitrunr.plans import Plan


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC") if at is not None else "—"


def render_summary(plan: Plan, run: RunSnapshot, record: PlanRecord,
                   others: Sequence[RunSnapshot]) -> str:
    """The Markdown of ``NN-SUMMARY.md`` for ``plan`` and its accepted ``run``.

    ``others``: the plan's other runs, newest first, listed so a reader sees the
    accepted run was chosen among them. Sections: the accepted run, what was done
    (checkpoints), interventions, verification (state changes and steps), artifacts.
    """
    out = [
        f"# Summary: {plan.title}",
        "",
        f"Plan: `{plan.ref}` ({plan.path})",
        f"Accepted run: `{run.run_id}` ({run.state}), accepted {_when(record.accepted_at)}"
        f" by {record.accepted_by or '—'}",
        f"Started: {_when(run.created_at)} by {run.actor}",
        f"Finished: {_when(run.finished_at)}",
    ]
    if run.base_sha:
        out.append(f"Base: {run.branch or '(detached)'} at `{run.base_sha[:12]}`")
    if run.plan_hash:
        note = "" if run.plan_hash == plan.content_hash else \
            " (the plan has been edited since this run started)"
        out.append(f"Plan content at start: `{run.plan_hash[:12]}`{note}")
    out += ["", f"## What was done ({_count(len(run.checkpoints), 'checkpoint')})", ""]
    out += [f"- `{cp.sha[:12]}` {cp.subject} ({cp.checkpoint_id})" for cp in run.checkpoints]
    if not run.checkpoints:
        out.append("No checkpoints.")
    out += ["", f"## Interventions ({len(run.interventions)})", ""]
    for iv in run.interventions:
        commit = f"`{iv.commit_sha[:12]}`" if iv.commit_sha else "not committed"
        first = iv.note.splitlines()[0] if iv.note else ""
        out.append(f"- {iv.intervention_id}: {first} ({commit}, by {iv.actor})")
        out += [f"  - {'passed' if c.exit_code == 0 else 'failed'}: `{c.cmd}` "
                f"(exit {c.exit_code}, {c.duration_ms} ms)" for c in iv.commands]
    if not run.interventions:
        out.append("None: the run needed no manual work.")
    out += ["", "## Verification", ""]
    for t in run.transitions:
        why = f": {t.reason}" if t.reason else ""
        out.append(f"- {_when(t.at)} {t.from_state or 'start'} → {t.to_state} "
                   f"by {t.actor}{why}")
    if run.step_timestamps:
        out += ["", "Steps (first reached):", ""]
        out += [f"- {name}: {_when(at)}" for name, at in
                sorted(run.step_timestamps.items(), key=lambda kv: (kv[1], kv[0]))]
    out += ["", f"## Artifacts ({len(run.artifacts)})", ""]
    out += [f"- {a.name} ({a.size} bytes, {a.media_type}, sha256 `{a.sha256[:12]}`)"
            for a in run.artifacts]
    if not run.artifacts:
        out.append("None.")
    if others:
        out += ["", "## Other runs of this plan", ""]
        out += [f"- `{o.run_id}` {o.state}, started {_when(o.created_at)}" for o in others]
    out += ["", f"_Written by `git runr run accept {run.run_id}` from the ledger "
            "(refs/runr/ledger)._", ""]
    return "\n".join(out)
