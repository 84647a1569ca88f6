"""The audit timeline as one self-contained HTML page.

``git runr serve`` answers ``/`` with it and ``git runr audit --html FILE`` writes it
for a CI job to publish. One document: the CSS is inline, there is no script, no
image and no font to fetch, so it opens the same from a file, an artifact store or
the server (docs/api.md, "The page"). Rendered by Jinja2 with autoescaping: every
commit subject, note, reason and name is escaped.

What it shows:

- a summary bar: RUNR, MANUAL, UNVERIFIED and GAP counts, and their share;
- the timeline, oldest first: one ``<tr class="commit runr|manual|unverified|gap">``
  per commit, linked to its run (``#run-…``), its intervention (``#iv-…``) and its
  evidence (``#evidence-run-…``);
- each run the timeline names: states, steps, checkpoints, interventions with
  their commands, artifacts;
- per plan, its runs and their states, with a place for its lane.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from gitrunr import __version__, ledger
from gitrunr.audit import Audit, Entry
from gitrunr.errors import RunrError
from gitrunr.models import AuditSummary, RunListItem, RunSnapshot
from gitrunr.render import RELINKED
from gitrunr.repo import RunrRepo

if TYPE_CHECKING:
    import jinja2

    from gitrunr.views import PlanBrief

#: Class, its CSS class, and the words of the summary.
CLASSES = [("RUNR", "runr", "Runr checkpoints"), ("MANUAL", "manual", "Manual (with intervention)"),
           ("UNVERIFIED", "unverified", "Unverified claims"),
           ("GAP", "gap", "Gaps (no provenance)")]


@dataclass(frozen=True)
class Row:
    """One commit of the timeline, ready for the template."""

    entry: Entry
    css: str
    date: str
    #: The run this row links to (verified, or for UNVERIFIED the run claimed when the
    #: ledger has it); None when there is nothing to link.
    run_link: str | None
    relinked: str | None
    combined: list[str]
    evidence: bool


@dataclass(frozen=True)
class RunDetail:
    run: RunSnapshot
    accepted: bool


@dataclass
class PlanRow:
    brief: PlanBrief
    runs: list[RunListItem]
    #: The plan's lane, once plans have lanes; None shows the placeholder.
    lane: str | None


@dataclass
class Page:
    """Everything the template shows."""

    name: str
    label: str
    server: bool
    rows: list[Row]
    summary: AuditSummary
    skipped: list[str]
    details: list[RunDetail]
    plans: list[PlanRow] = field(default_factory=list)
    adhoc: list[RunListItem] = field(default_factory=list)
    plans_error: str | None = None
    #: Shas on the page, so a run's checkpoint links only to a row that exists.
    shas: set[str] = field(default_factory=set)
    #: Runs with a section on the page.
    detailed: set[str] = field(default_factory=set)


def render_range(repo: RunrRepo, spec: str | None, *, server: bool = False,
                 first_parent: bool = False, no_merges: bool = False) -> str:
    """Audit ``spec`` (a revision range; None for HEAD) and render the page.

    Raises what :class:`~gitrunr.audit.Audit` raises for a bad range or an empty
    repository.
    """
    run = Audit(repo, spec, first_parent=first_parent, no_merges=no_merges)
    entries = list(run.entries)
    return render(repo, run.range, entries, run.summary, run.skipped, server=server)


def render(repo: RunrRepo, label: str, entries: Iterable[Entry], summary: AuditSummary,
           skipped: list[str], *, server: bool = False) -> str:
    """The page for audited ``entries`` (oldest first) of the range ``label``.

    ``server``: links go to the API too (``/runs/<id>``, artifacts) and the page has a
    form for another range; without it the page stands alone.
    """
    page = _collect(repo, label, list(entries), summary, skipped, server)
    return _template("page").render(p=page, version=__version__, classes=CLASSES,
                                    when=_when, pct=_pct)


def render_error(title: str, detail: str, spec: str | None) -> str:
    """A page saying why the timeline could not be shown (the server's 4xx/5xx page)."""
    return _template("error").render(title=title, detail=detail, label=spec or "",
                                     version=__version__)


def write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def keeping(entries: Iterable[Entry], kept: list[Entry]) -> Iterator[Entry]:
    """Yield ``entries``, appending each to ``kept``: ``audit --html`` prints the
    timeline as it goes and writes the page from the same entries at the end."""
    for entry in entries:
        kept.append(entry)
        yield entry


# --------------------------------------------------------------------------- data


def _collect(repo: RunrRepo, label: str, entries: list[Entry], summary: AuditSummary,
             skipped: list[str], server: bool) -> Page:
    view = ledger.read(repo)
    snapshots: dict[str, RunSnapshot | None] = {}

    def snapshot(run_id: str | None) -> RunSnapshot | None:
        if run_id is None:
            return None
        if run_id not in snapshots:
            try:
                snapshots[run_id] = view.run(run_id)
            except RunrError:  # already listed in skipped by the audit
                snapshots[run_id] = None
        return snapshots[run_id]

    rows: list[Row] = []
    for entry in entries:
        combined = list(dict.fromkeys(link.run_id for link in entry.links))
        for run_id in combined:
            snapshot(run_id)
        run = snapshot(entry.run_id)
        rows.append(Row(
            entry=entry, css=entry.class_.lower(),
            date=time.strftime("%Y-%m-%d %H:%M", time.gmtime(entry.committed)),
            run_link=run.run_id if run is not None else None,
            relinked=RELINKED.get(entry.linked or ""),
            combined=combined if len(combined) > 1 else [],
            evidence=run is not None and bool(run.artifacts or len(run.transitions) > 1
                                              or run.step_timestamps)))
    details = []
    for run in snapshots.values():
        if run is None:
            continue
        record = view.plan(run.plan_ref) if run.plan_ref else None
        details.append(RunDetail(run, record is not None
                                 and record.accepted_run_id == run.run_id))
    page = Page(name=repo.workdir.name if repo.workdir else repo.git_dir.name, label=label,
                server=server, rows=rows, summary=summary, skipped=skipped, details=details,
                shas={e.sha for e in entries}, detailed={d.run.run_id for d in details})
    _plans(repo, page)
    return page


def _plans(repo: RunrRepo, page: Page) -> None:
    """Per plan its runs (newest first), and the ad hoc runs; a damaged record or a
    repository without plans says so on the page instead of failing it."""
    from gitrunr import runs, views

    if repo.workdir is None:
        page.plans_error = "a bare repository has no plan files"
        return
    try:
        report = views.status(repo)
        every = runs.list_runs(repo).runs
    except RunrError as exc:
        page.plans_error = exc.message
        return
    by_plan: dict[str | None, list[RunListItem]] = {}
    for item in every:
        by_plan.setdefault(item.plan_ref, []).append(item)
    page.plans = [PlanRow(brief, by_plan.get(brief.ref, []), _lane(brief))
                  for brief in report.plans]
    page.adhoc = by_plan.get(None, [])
    page.plans_error = "; ".join(report.problems) or None


def _lane(brief: PlanBrief) -> str | None:
    lane = getattr(brief, "lane", None)
    return None if lane is None else str(lane)


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _pct(part: int, total: int) -> str:
    return "0" if not total else f"{100 * part / total:.0f}"


# --------------------------------------------------------------------------- template

_ENV: list[jinja2.Environment] = []


def _template(name: str) -> jinja2.Template:
    if not _ENV:
        import jinja2

        _ENV.append(jinja2.Environment(
            loader=jinja2.DictLoader({"page": _PAGE, "error": _ERROR, "style": _STYLE}),
            autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
            lstrip_blocks=True))
    return _ENV[0].get_template(name)


_STYLE = """\
:root{--runr:#1a7f37;--manual:#0969da;--unverified:#8250df;--gap:#cf222e;--fg:#1f2328;
--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa;--bg:#fff}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--fg);background:var(--bg)}
header{padding:18px 28px 14px;background:var(--soft);border-bottom:1px solid var(--line)}
main{padding:4px 28px 32px;max-width:1280px}
footer{padding:12px 28px;color:var(--muted);border-top:1px solid var(--line);font-size:12px}
h1{margin:0;font-size:20px}
h1 .repo{color:var(--muted);font-weight:400}
h2{font-size:16px;margin:26px 0 8px;padding-bottom:4px;border-bottom:1px solid var(--line)}
h2 small,h3 small{color:var(--muted);font-weight:400}
h3{font-size:14px;margin:0 0 6px}
h4{font-size:12px;margin:10px 0 4px;color:var(--muted);text-transform:uppercase;
letter-spacing:.04em}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
a{color:var(--manual);text-decoration:none}
a:hover{text-decoration:underline}
form.range{margin:10px 0 0;display:flex;gap:8px;align-items:center;flex-wrap:wrap}
form.range input{font:inherit;font-family:ui-monospace,monospace;padding:3px 6px;min-width:18em;
border:1px solid var(--line);border-radius:6px}
form.range button{font:inherit;padding:3px 12px;border:1px solid var(--line);border-radius:6px;
background:#fff;cursor:pointer}
.summary{margin-top:12px}
.bar{display:flex;height:14px;border-radius:7px;overflow:hidden;background:var(--line)}
.bar span{display:block;min-width:6px}
.runr .dot,.bar .runr,tr.runr .badge{background:var(--runr)}
.manual .dot,.bar .manual,tr.manual .badge{background:var(--manual)}
.unverified .dot,.bar .unverified,tr.unverified .badge{background:var(--unverified)}
.gap .dot,.bar .gap,tr.gap .badge{background:var(--gap)}
ul.legend{list-style:none;margin:8px 0 0;padding:0;display:flex;gap:18px;flex-wrap:wrap}
ul.legend li{display:flex;align-items:center;gap:6px}
.dot{display:inline-block;width:10px;height:10px;border-radius:50%;background:var(--muted)}
ul.legend .share{color:var(--muted)}
table{border-collapse:collapse;width:100%}
th{text-align:left;font-size:12px;color:var(--muted);font-weight:600;padding:4px 8px}
table.timeline td{padding:7px 8px;border-top:1px solid var(--line);vertical-align:top}
tr.commit td:first-child{border-left:4px solid var(--line);width:1%}
tr.runr td:first-child{border-left-color:var(--runr)}
tr.manual td:first-child{border-left-color:var(--manual)}
tr.unverified td:first-child{border-left-color:var(--unverified)}
tr.gap td:first-child{border-left-color:var(--gap)}
tr.unverified{background:#fbf8ff}
tr.gap{background:#fff7f7}
.badge{display:inline-block;min-width:88px;text-align:center;padding:1px 8px;border-radius:10px;
font-size:11px;font-weight:700;letter-spacing:.04em;color:#fff}
td.commit{white-space:nowrap;width:1%}
.sub,.when{color:var(--muted);font-size:12px}
.subject{font-weight:500}
td.provenance{font-size:13px}
.sep{color:var(--line);padding:0 4px}
.reason{color:var(--unverified)}
tr.gap .reason{color:var(--gap)}
section.run,section.plan{border:1px solid var(--line);border-radius:8px;padding:12px 16px;
margin:12px 0;background:#fff}
section.run:target,tr.commit:target,li:target{outline:2px solid #d4a72c;outline-offset:2px}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:6px 0}
dl.facts dt{color:var(--muted)}
dl.facts dd{margin:0}
.state{display:inline-block;padding:0 8px;border-radius:10px;font-size:12px;
border:1px solid var(--line);background:var(--soft)}
.state.active{border-color:#d4a72c;background:#fff8c5}
.state.verifying{border-color:#54aeff;background:#ddf4ff}
.state.passed{border-color:#4ac26b;background:#dafbe1}
.state.failed{border-color:#ff8182;background:#ffebe9}
.state.aborted{color:var(--muted)}
.accepted{color:var(--runr);font-weight:600;font-size:12px}
ul.plain{margin:2px 0;padding-left:18px}
.ok{color:var(--runr)}
.bad{color:var(--gap)}
.lane{margin:6px 0;padding:4px 10px;border:1px dashed var(--line);border-radius:6px;
color:var(--muted);font-size:12px}
.problem{color:var(--gap)}
.columns{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:0 24px}
"""

_PAGE = """\
{% macro state(text) %}<span class="state {{ text.split('/')[0] }} {{ text.split('/')[-1] }}">\
{{ text }}</span>{% endmacro %}
{% macro runref(run_id) %}{% if run_id in p.detailed %}<a class="run-link" href="#{{ run_id }}">\
<code>{{ run_id }}</code></a>{% elif p.server %}<a class="run-link" href="/runs/{{ run_id }}">\
<code>{{ run_id }}</code></a>{% else %}<code>{{ run_id }}</code>{% endif %}{% endmacro %}
{% macro commitref(sha) %}{% if sha in p.shas %}<a href="#c-{{ sha }}"><code>{{ sha[:12] }}</code>\
</a>{% else %}<code>{{ sha[:12] }}</code>{% endif %}{% endmacro %}
{% macro runtable(items) %}
<table class="runs">
<thead><tr><th>Run</th><th>State</th><th>Step</th><th>Started</th><th>Checkpoints</th>
<th>Interventions</th></tr></thead>
<tbody>
{% for r in items %}
<tr class="run-row" data-run="{{ r.run_id }}"><td>{{ runref(r.run_id) }}\
{% if r.accepted %} <span class="accepted" title="its plan's SUMMARY.md describes it">\
accepted</span>{% endif %}</td><td>{{ state(r.state) }}</td><td>{{ r.current_step or "—" }}</td>
<td>{{ when(r.created_at) }}</td><td>{{ r.checkpoints }}</td><td>{{ r.interventions }}</td></tr>
{% endfor %}
</tbody>
</table>
{% endmacro %}
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="gitrunr {{ version }}">
<title>Audit of {{ p.label }} · {{ p.name }}</title>
<style>
{% include "style" %}
</style>
</head>
<body>
<header>
<h1>Audit of <code>{{ p.label }}</code> <span class="repo">in {{ p.name }}</span></h1>
{% if p.server %}
<form class="range" method="get" action="/">
<label for="range">Range</label>
<input id="range" name="range" value="{{ p.label }}" placeholder="main~50..main">
<button type="submit">Audit</button>
<span class="sub"><a href="/audit?range={{ p.label | urlencode }}">as JSON</a>
<span class="sep">·</span><a href="/openapi.json">API schema</a></span>
</form>
{% endif %}
<div class="summary" id="summary">
<div class="bar" role="img" aria-label="{% for c, css, words in classes %}{{ words }}: \
{{ p.summary[c] }}{% if not loop.last %}, {% endif %}{% endfor %}">
{% for c, css, words in classes if p.summary[c] %}
<span class="{{ css }}" style="flex-grow:{{ p.summary[c] }}" title="{{ c }}: {{ p.summary[c] }}">\
</span>
{% endfor %}
</div>
<ul class="legend">
{% for c, css, words in classes %}
<li class="count {{ css }}" data-class="{{ c }}" data-count="{{ p.summary[c] }}">\
<span class="dot"></span>{{ words }} <b>{{ p.summary[c] }}</b></li>
{% endfor %}
<li class="total" data-count="{{ p.summary.total }}">Total <b>{{ p.summary.total }}</b></li>
<li class="share">{{ pct(p.summary.RUNR + p.summary.MANUAL, p.summary.total) }}% with verified \
provenance</li>
</ul>
</div>
</header>
<main>
{% if p.skipped %}
<section class="skipped">
<h2>Records that could not be read</h2>
<ul class="plain">{% for s in p.skipped %}<li class="problem">{{ s }}</li>{% endfor %}</ul>
<p>The commits they concern are never counted as verified.</p>
</section>
{% endif %}
<h2 id="timeline">Timeline <small>oldest first · {{ p.rows | length }} commit\
{{ "" if p.rows | length == 1 else "s" }}</small></h2>
{% if p.rows %}
<table class="timeline">
<thead><tr><th>Class</th><th>Commit</th><th>Subject</th><th>Provenance</th></tr></thead>
<tbody>
{% for r in p.rows %}
{% set e = r.entry %}
<tr class="commit {{ r.css }}" id="c-{{ e.sha }}" data-class="{{ e.class_ }}">
<td class="class"><span class="badge">{{ e.class_ }}</span></td>
<td class="commit"><code class="sha" title="{{ e.sha }}">{{ e.short_sha }}</code>
<div class="when">{{ r.date }}</div></td>
<td><div class="subject">{{ e.subject }}</div><div class="sub">{{ e.author }}</div></td>
<td class="provenance">
{% if e.class_ == "RUNR" %}
Run {{ runref(e.run_id) }}<span class="sep">|</span>Checkpoint <code>{{ e.checkpoint_id }}</code>\
{% if e.tier %}<span class="sep">|</span>Tier {{ e.tier }}{% endif %}
{% if r.relinked %}<span class="sep">|</span>linked by {{ e.linked }} ({{ r.relinked }}){% endif %}
{% if r.evidence %}<span class="sep">|</span><a class="evidence-link" \
href="#evidence-{{ e.run_id }}">evidence</a>{% endif %}
{% elif e.class_ == "MANUAL" %}
Intervention <a class="intervention-link" href="#{{ e.intervention_id }}">\
<code>{{ e.intervention_id }}</code></a> of run {{ runref(e.run_id) }}
{% if r.relinked %}<span class="sep">|</span>linked by {{ e.linked }} ({{ r.relinked }}){% endif %}
{% if r.evidence %}<span class="sep">|</span><a class="evidence-link" \
href="#evidence-{{ e.run_id }}">evidence</a>{% endif %}
{% if e.note %}<div class="sub">Note: {{ e.note }}</div>{% endif %}
{% elif e.class_ == "UNVERIFIED" %}
<span class="reason">Not backed by the ledger: {{ e.reason }}</span>
{% if r.run_link %}<div class="sub">Claimed run: {{ runref(r.run_link) }}</div>{% endif %}
{% else %}
<span class="reason">No receipt, no intervention record</span>
{% endif %}
{% if r.combined %}<div class="sub">Runs combined: {% for run_id in r.combined %}\
{{ runref(run_id) }}{% if not loop.last %}, {% endif %}{% endfor %}</div>{% endif %}
</td>
</tr>
{% endfor %}
</tbody>
</table>
{% else %}
<p class="empty">No commits in this range.</p>
{% endif %}

<h2 id="runs">Runs in this range <small>{{ p.details | length }}</small></h2>
{% if not p.details %}<p class="sub">No commit of this range belongs to a run the ledger \
knows.</p>{% endif %}
{% for d in p.details %}
{% set run = d.run %}
<section class="run" id="{{ run.run_id }}" data-state="{{ run.state }}">
<h3><code>{{ run.run_id }}</code> {{ state(run.state) }}\
{% if d.accepted %} <span class="accepted">accepted</span>{% endif %}\
{% if p.server %} <small><a href="/runs/{{ run.run_id }}">JSON</a></small>{% endif %}</h3>
<dl class="facts">
<dt>Plan</dt><dd>{% if run.plan_ref %}<a href="#plan-{{ run.plan_ref }}">{{ run.plan_ref }}</a>\
{% else %}(ad hoc){% endif %}</dd>
<dt>Started</dt><dd>{{ when(run.created_at) }} by {{ run.actor }}</dd>
{% if run.tier %}<dt>Tier</dt><dd>{{ run.tier }}</dd>{% endif %}
{% if run.current_step %}<dt>Step</dt><dd>{{ run.current_step }}</dd>{% endif %}
{% if run.base_sha %}<dt>Base</dt><dd>{{ run.branch or "(detached)" }} at \
<code>{{ run.base_sha[:12] }}</code></dd>{% endif %}
{% if run.finished_at %}<dt>Finished</dt><dd>{{ when(run.finished_at) }}</dd>{% endif %}
</dl>
<div class="columns">
<div>
<h4>Checkpoints ({{ run.checkpoints | length }})</h4>
{% if run.checkpoints %}<ul class="plain">
{% for cp in run.checkpoints %}
<li id="{{ cp.checkpoint_id }}">{{ commitref(cp.sha) }} {{ cp.subject }}</li>
{% endfor %}
</ul>{% else %}<p class="sub">none</p>{% endif %}
<h4>Interventions ({{ run.interventions | length }})</h4>
{% if run.interventions %}<ul class="plain">
{% for iv in run.interventions %}
<li id="{{ iv.intervention_id }}" class="intervention"><code>{{ iv.intervention_id }}</code>
{% if iv.commit_sha %}{{ commitref(iv.commit_sha) }}{% else %}<span class="sub">(next commit)\
</span>{% endif %} {{ iv.note.splitlines()[0] if iv.note else "" }}
<span class="sub">by {{ iv.actor }}</span>
{% if iv.commands %}<ul class="plain">
{% for c in iv.commands %}
<li class="{{ 'ok' if c.exit_code == 0 else 'bad' }}">{{ "✓" if c.exit_code == 0 else "✗" }} \
<code>{{ c.cmd }}</code> <span class="sub">exit {{ c.exit_code }}, {{ c.duration_ms }} ms\
</span></li>
{% endfor %}
</ul>{% endif %}
{% if iv.files_changed %}<div class="sub">files: {{ iv.files_changed | join(", ") }}</div>\
{% endif %}
</li>
{% endfor %}
</ul>{% else %}<p class="sub">none</p>{% endif %}
</div>
<div class="evidence" id="evidence-{{ run.run_id }}">
<h4>Verification</h4>
<ul class="plain">
{% for t in run.transitions %}
<li>{{ when(t.at) }} {{ t.from_state or "start" }} → {{ state(t.to_state) }} \
<span class="sub">by {{ t.actor }}{% if t.reason %}: {{ t.reason }}{% endif %}</span></li>
{% endfor %}
</ul>
{% if run.step_timestamps %}
<h4>Steps (first reached)</h4>
<ul class="plain">
{% for name, at in run.step_timestamps | dictsort(by="value") %}
<li>{{ when(at) }} {{ name }}</li>
{% endfor %}
</ul>
{% endif %}
<h4>Artifacts ({{ run.artifacts | length }})</h4>
{% if run.artifacts %}<ul class="plain">
{% for a in run.artifacts %}
<li class="artifact">{% if p.server %}<a href="/runs/{{ run.run_id }}/artifacts/{{ a.name }}">\
{{ a.name }}</a>{% else %}{{ a.name }}{% endif %} <span class="sub">{{ a.size }} bytes, \
{{ a.media_type }}, sha256 <code>{{ a.sha256[:12] }}</code></span></li>
{% endfor %}
</ul>{% else %}<p class="sub">none</p>{% endif %}
</div>
</div>
</section>
{% endfor %}

<h2 id="plans">Plans <small>{{ p.plans | length }}</small></h2>
{% if p.plans_error %}<p class="problem">{{ p.plans_error }}</p>{% endif %}
{% if not p.plans and not p.plans_error %}<p class="sub">No plan files in this work tree.</p>\
{% endif %}
{% for row in p.plans %}
{% set b = row.brief %}
<section class="plan" id="plan-{{ b.ref }}" data-plan="{{ b.ref }}">
<h3>{{ b.ref }} <small>{{ b.title }}</small> {{ state(b.status) }}\
{% if b.done %} <span class="accepted">done</span>{% endif %}\
{% if b.changed_since_approval %} <span class="problem">changed since approval</span>{% endif %}\
</h3>
<div class="lane">{% if row.lane %}Lane: <b>{{ row.lane }}</b>{% else %}Lane: not tracked yet \
(lanes arrive in a later issue){% endif %}</div>
{% if row.runs %}{{ runtable(row.runs) }}{% else %}<p class="sub">No runs yet: this plan is a \
proposal.</p>{% endif %}
</section>
{% endfor %}
{% if p.adhoc %}
<section class="plan" id="plan-adhoc">
<h3>Ad hoc runs <small>started without a plan</small></h3>
{{ runtable(p.adhoc) }}
</section>
{% endif %}
</main>
<footer>
gitrunr {{ version }}.
RUNR: a checkpoint of a run the ledger records.
MANUAL: linked to a recorded intervention.
UNVERIFIED: trailers or a note claim a run the ledger does not back.
GAP: no provenance at all.
</footer>
</body>
</html>
"""

_ERROR = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="generator" content="gitrunr {{ version }}">
<title>{{ title }}</title>
<style>
{% include "style" %}
</style>
</head>
<body>
<header>
<h1>{{ title }}</h1>
<form class="range" method="get" action="/">
<label for="range">Range</label>
<input id="range" name="range" value="{{ label }}" placeholder="main~50..main">
<button type="submit">Audit</button>
</form>
</header>
<main>
<p class="problem" id="problem">{{ detail }}</p>
</main>
</body>
</html>
"""
