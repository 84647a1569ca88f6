"""``git runr``: the command line. Thin: each command parses, calls the core, prints.

Errors from the core are :class:`~gitrunr.errors.RunrError`; :class:`RunrGroup`
prints them as one line, ``error: <message>``, and exits with their code (the table
is in ``docs/cli.md``). ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
import pygit2

from gitrunr import __version__
from gitrunr.errors import (
    CheckFailedError,
    ExitCode,
    GitError,
    InvalidStateError,
    RunrError,
    UsageError,
)

if TYPE_CHECKING:
    from gitrunr.repo import RunrRepo

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class RunrGroup(click.Group):
    """A click group whose commands report :class:`RunrError` on one line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except RunrError as exc:
            _fail(ctx, exc.message, exc.exit_code, exc)
        except BrokenPipeError:
            # The reader went away (`git runr audit | head`): stop quietly, as git does.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(141)
        except pygit2.GitError as exc:
            _fail(ctx, f"git object access failed: {exc}", ExitCode.GIT_FAILED, exc)
        except OSError as exc:
            _fail(ctx, f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "),
                  ExitCode.GIT_FAILED, exc)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:  # a bug: say so on one line; --debug shows where
            _fail(ctx, f"internal error ({type(exc).__name__}: {exc}); this is a bug in "
                  "gitrunr: rerun with --debug and report the traceback",
                  ExitCode.GIT_FAILED, exc)


def _fail(ctx: click.Context, message: str, code: int, exc: BaseException) -> NoReturn:
    if ctx.find_root().params.get("debug"):
        raise exc
    click.echo(f"error: {' '.join(message.splitlines())}", err=True)
    ctx.exit(code)


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _output_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--json`` and ``--format text|json|toon`` (docs/json.md: JSON is the canonical
    form; TOON is the same data, encoded by the toon-format library)."""
    f = click.option("--format", "fmt", type=click.Choice(["text", "json", "toon"]),
                     help="Output format (default text; json is canonical, schema in "
                          "docs/json.md; toon is the same data as TOON).")(f)
    return click.option("--json", "as_json", is_flag=True, help="Same as --format json.")(f)


def _format(as_json: bool, fmt: str | None) -> str:
    if as_json and fmt not in (None, "json"):
        raise UsageError(f"--json and --format {fmt} disagree: give one of them")
    return "json" if as_json else fmt or "text"


def _emit_doc(doc: Any, fmt: str) -> None:
    """Print a pydantic document as JSON or TOON (``fmt`` is not text)."""
    data = doc.model_dump(mode="json", by_alias=True)
    if fmt == "toon":
        from toon_format import encode

        click.echo(encode(data))
    else:
        _emit_json(data)


def _reply(doc: Any, fmt: str, text: str) -> None:
    """Print ``doc`` as JSON or TOON, or ``text`` for people."""
    if fmt != "text":
        _emit_doc(doc, fmt)
    else:
        click.echo(text)


def _print_lines(lines: Any) -> None:
    from gitrunr import render

    out = render.console()
    for line in lines:
        out.print(line)


def _open(ctx: click.Context, *, flush: bool = True) -> RunrRepo:
    """Open the repository of ``-C``/the current directory; move hook records in first.

    A flush that fails (a damaged ledger) is a warning, not the command's failure:
    the records stay in the spool, and a reading command can still report.
    """
    from gitrunr import ledger
    from gitrunr.repo import open_repo

    repo = open_repo(ctx.find_root().params.get("directory"))
    if flush and repo.workdir is not None:
        try:
            result = ledger.flush(repo)
        except RunrError as exc:
            click.echo(f"warning: hook records stay in the spool: {exc.message}", err=True)
            return repo
        if result.rejected:
            click.echo(f"warning: {len(result.rejected)} hook record(s) could not be applied; "
                       f"they are kept in {repo.spool_dir / 'rejected'}", err=True)
    return repo


@click.group(cls=RunrGroup, context_settings=CONTEXT)
@click.option("-C", "directory", type=click.Path(file_okay=False, path_type=Path),
              metavar="PATH", help="Run as if started in PATH (like `git -C`).")
@click.option("--debug", is_flag=True, help="Show a traceback when a command fails.")
@click.version_option(__version__, "--version", prog_name="git-runr")
def cli(directory: Path | None, debug: bool) -> None:
    """Record where every commit came from: agent runs, interventions, gaps.

    \b
    A new repository:
      git runr init                      config, hooks, notes settings
      git runr status; git runr ready    plans (specs/…/NN-PLAN.md) and what can start
      RUN=$(git runr run start 03)       a run of plan 03: commits here are its checkpoints
      git runr intervene $RUN --note "fixed the build by hand" --cmd "make test"
      git runr run transition $RUN verifying/passed
      git runr run accept $RUN           writes the plan's NN-SUMMARY.md from this run
      git runr audit main~50..main       RUNR / MANUAL / UNVERIFIED / GAP per commit

    Exit codes are listed in docs/cli.md; every command takes -h.
    """


# --------------------------------------------------------------------------- init


@cli.command()
@click.option("--mode", type=click.Choice(["flow", "ledger"]),
              help="Workflow mode written to .runr/runr.toml (default: keep, or flow).")
@click.option("--no-hooks", is_flag=True, help="Do not install the git hooks.")
@click.option("--fetch-refspecs", is_flag=True,
              help="Make a plain `git fetch` bring the remote's records (see docs/sync.md).")
@click.option("--sync-on-push", is_flag=True,
              help="Install a pre-push hook that syncs the records with each push.")
@click.option("--remote", metavar="NAME",
              help="The remote for --fetch-refspecs (default: the upstream's, or the only "
                   "one).")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
@click.pass_context
def init(ctx: click.Context, mode: str | None, no_hooks: bool, fetch_refspecs: bool,
         sync_on_push: bool, remote: str | None, as_json: bool) -> None:
    """Set up gitrunr in this repository. Safe to run again.

    Writes .runr/runr.toml (commit it: the team shares it), installs the commit-msg,
    post-commit, post-merge and post-rewrite hooks (keeping any hook already there),
    and sets notes.rewriteRef so git carries gitrunr's notes across amend and rebase.
    Sharing records is opt-in: --fetch-refspecs and --sync-on-push.
    """
    from gitrunr import config, sync
    from gitrunr.hooks import install

    if remote is not None and not fetch_refspecs:
        raise UsageError("--remote names the remote for --fetch-refspecs: add that option")
    if no_hooks and sync_on_push:
        raise UsageError("--sync-on-push installs a hook, and --no-hooks says not to: "
                         "drop one of them")
    repo = _open(ctx, flush=False)
    workdir = repo.require_worktree()
    if fetch_refspecs:  # checked before anything is written
        remote = remote or sync.default_remote(repo)
        sync.require_remote(repo, remote)
    result = config.init(repo, mode)  # type: ignore[arg-type]
    names = [*install.HOOK_NAMES, *(["pre-push"] if sync_on_push else [])]
    hooks = [] if no_hooks else install.install(workdir, hooks=names)
    added = sync.add_fetch_refspecs(repo, remote) if remote is not None else []
    if as_json:
        _emit_json({
            "config": str(result.config_path), "config_written": result.config_written,
            "mode": result.mode, "notes_rewrite_ref_set": result.rewrite_ref_set,
            "hooks": [h.to_json() for h in hooks],
            "fetch_refspecs": {"remote": remote, "added": added} if remote else None,
        })
        return
    rel = result.config_path.relative_to(workdir)
    click.echo(f"gitrunr is set up in {workdir}")
    click.echo(f"  config: {rel} ({'written' if result.config_written else 'kept'}; "
               f"mode {result.mode})")
    if hooks:
        click.echo(f"  hooks:  {', '.join(h.name for h in hooks)} in {hooks[0].path.parent}")
    click.echo("  notes:  refs/notes/runr follows amend and rebase (notes.rewriteRef)")
    if remote is not None:
        click.echo(f"  fetch:  `git fetch {remote}` brings its records into "
                   f"refs/runr/remotes/{remote}/ ({len(added)} refspec(s) added)")
    if result.config_written:
        click.echo(f"Next: commit {rel}, then `git runr run start`.")


# --------------------------------------------------------------------------- config


@cli.group("config", cls=RunrGroup, context_settings=CONTEXT)
def config_group() -> None:
    """Read and change .runr/runr.toml one key at a time (dotted: workflow.mode).

    \b
    Keys: workflow.mode (flow|ledger), workflow.review_loop_threshold,
    plans.root, evidence.redact (a JSON list of regexes), evidence.tail_bytes,
    evidence.max_log_bytes. An unknown key or a bad value is refused, naming the key,
    and nothing is written.
    """


def _config_text(value: Any) -> str:
    """A value as `config get` prints it: a string as is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _config_workdir(ctx: click.Context) -> Path:
    return _open(ctx, flush=False).require_worktree()


def _print_change(change: Any, workdir: Path, as_json: bool, verb: str) -> None:
    if as_json:
        _emit_json(change.to_json())
        return
    rel = change.path.relative_to(workdir)
    value, old = _config_text(change.value), _config_text(change.old)
    if not change.changed:
        why = f"is not set in {rel}" if verb == "unset" else f"is already {value}"
        click.echo(f"{change.key} {why}; nothing written")
    elif verb == "unset":
        click.echo(f"{change.key} removed from {rel}: now {value}, the default (was {old})")
    else:
        click.echo(f"{change.key} = {value} in {rel} (was {old})"
                   f"{'; the file was created' if change.created else ''}")


@config_group.command("get")
@click.argument("key")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"key", "value", "default"} as JSON (default: not set in the file).')
@click.pass_context
def config_get(ctx: click.Context, key: str, as_json: bool) -> None:
    """Print KEY's value (the file's, else the default): text as is, lists as JSON."""
    from gitrunr import config

    setting = config.get_value(_config_workdir(ctx), key)
    if as_json:
        _emit_json(setting.to_json())
    else:
        click.echo(_config_text(setting.value))


@config_group.command("set")
@click.argument("key")
@click.argument("value")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
@click.pass_context
def config_set(ctx: click.Context, key: str, value: str, as_json: bool) -> None:
    """Set KEY to VALUE in .runr/runr.toml, keeping the rest of the file.

    VALUE is an integer for a number, a JSON list for a list
    ('["(?i)token-[a-z0-9]+"]'), the text itself otherwise. The whole file is
    validated before it is written (atomically); the same value writes nothing.
    """
    from gitrunr import config

    workdir = _config_workdir(ctx)
    _print_change(config.set_value(workdir, key, value), workdir, as_json, "set")


@config_group.command("unset")
@click.argument("key")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
@click.pass_context
def config_unset(ctx: click.Context, key: str, as_json: bool) -> None:
    """Remove KEY from .runr/runr.toml: it takes its default again."""
    from gitrunr import config

    workdir = _config_workdir(ctx)
    _print_change(config.unset_value(workdir, key), workdir, as_json, "unset")


@config_group.command("list")
@click.option("--json", "as_json", is_flag=True,
              help='Print a list of {"key", "value", "default"} as JSON.')
@click.pass_context
def config_list(ctx: click.Context, as_json: bool) -> None:
    """Every key with its value, marked (default) when the file does not set it."""
    from gitrunr import config

    settings = config.list_values(_config_workdir(ctx))
    if as_json:
        _emit_json([s.to_json() for s in settings])
        return
    for s in settings:
        click.echo(f"{s.key} = {_config_text(s.value)}{'  (default)' if s.default else ''}")


# --------------------------------------------------------------------------- hooks


@cli.group(cls=RunrGroup, context_settings=CONTEXT)
def hooks() -> None:
    """Install, remove or inspect gitrunr's git hooks."""


def _hooks(ctx: click.Context, action: str, as_json: bool,
           names: list[str] | None = None) -> None:
    """Run ``install``/``uninstall``/``status`` of :mod:`gitrunr.hooks.install` (on
    ``names``, or that function's default hooks) and print the result."""
    from gitrunr.hooks import install

    workdir = _open(ctx, flush=False).require_worktree()
    statuses = getattr(install, action)(workdir, **({"hooks": names} if names else {}))
    if as_json:
        _emit_json({"hooks": [s.to_json() for s in statuses]})
        return
    for s in statuses:
        state = "installed" if s.installed else "foreign hook" if s.foreign else "not installed"
        extra = f" (runs {s.chained.name} first)" if s.chained else ""
        click.echo(f"{s.name:<13} {state}{extra}  {s.path}")


_JSON_HOOKS = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


@hooks.command("install")
@click.option("--sync-on-push", is_flag=True,
              help="Also install the pre-push hook that syncs the records with each push.")
@_JSON_HOOKS
@click.pass_context
def hooks_install(ctx: click.Context, sync_on_push: bool, as_json: bool) -> None:
    """Install the hooks where git looks for them (honours core.hooksPath).

    A hook that is already there and not ours is kept as <hook>.runr-orig and run
    first; its exit status still decides.
    """
    from gitrunr.hooks import install

    names = [*install.HOOK_NAMES, *(["pre-push"] if sync_on_push else [])]
    _hooks(ctx, "install", as_json, names)


@hooks.command("uninstall")
@_JSON_HOOKS
@click.pass_context
def hooks_uninstall(ctx: click.Context, as_json: bool) -> None:
    """Remove gitrunr's hooks and put back, byte for byte, any hook they replaced."""
    _hooks(ctx, "uninstall", as_json)


@hooks.command("status")
@_JSON_HOOKS
@click.pass_context
def hooks_status(ctx: click.Context, as_json: bool) -> None:
    """Show which hooks are installed and which foreign hooks they chain to."""
    _hooks(ctx, "status", as_json)


# --------------------------------------------------------------------------- runs


@cli.group(cls=RunrGroup, context_settings=CONTEXT)
def run() -> None:
    """Runs: start, transition, step, finish, accept, list, show."""


@run.command("start")
@click.argument("plan_ref", required=False)
@click.option("--tier", help="A tier label stamped on every checkpoint (Runr-Tier).")
@click.option("--actor", metavar="NAME", help="Who starts it (default: git's identity); a "
              "planned plan is claimed by this actor.")
@click.option("--mode", type=click.Choice(["flow", "ledger"]),
              help="The run's own workflow mode (default: .runr/runr.toml's).")
@_output_options
@click.pass_context
def run_start(ctx: click.Context, plan_ref: str | None, tier: str | None, actor: str | None,
              mode: str | None, as_json: bool, fmt: str | None) -> None:
    """Start a run of PLAN_REF (or an ad hoc run) and make it this worktree's active run;
    print its id.

    PLAN_REF is a plan's ref or any unambiguous suffix (03, phase-01.2/03). Only an
    approved or ready plan whose dependencies are done can start; a plan may have
    many runs. Until the run is finished, every commit made in this worktree is
    stamped with Runr-Run-Id and Runr-Checkpoint trailers and recorded as its
    checkpoint.
    """
    from gitrunr import runs

    fmt = _format(as_json, fmt)
    who = _actor(ctx, actor, False, None) if actor is not None else None
    snapshot = runs.start(_open(ctx), tier=tier, plan=plan_ref, actor=who,
                          mode=mode)  # type: ignore[arg-type]
    _reply(snapshot, fmt, snapshot.run_id)
    if fmt != "text":
        return
    of = f" of {snapshot.plan_ref}" if snapshot.plan_ref else ""
    click.echo(f"run {snapshot.run_id}{of} is active in this worktree; commits here are its "
               "checkpoints", err=True)


@run.command("finish")
@click.argument("run_id", required=False)
@click.option("--outcome", type=click.Choice(["passed", "failed", "aborted"]), required=True,
              help="How the run ended.")
@click.option("--reason", help="Why, in a line (kept with the state change).")
@click.option("--actor", metavar="NAME", help="Who (default: git's identity).")
@_output_options
@click.pass_context
def run_finish(ctx: click.Context, run_id: str | None, outcome: str, reason: str | None,
               actor: str | None, as_json: bool, fmt: str | None) -> None:
    """Finish RUN_ID (default: this worktree's active run) with an outcome: its state
    becomes finalized/OUTCOME, from active or verifying."""
    from gitrunr import runs

    fmt = _format(as_json, fmt)
    who = _actor(ctx, actor, False, None) if actor is not None else None
    snapshot = runs.finish(_open(ctx), run_id, outcome,  # type: ignore[arg-type]
                           reason=reason, actor=who)
    if fmt != "text":
        _emit_doc(snapshot, fmt)
        return
    click.echo(f"run {snapshot.run_id} is {snapshot.state} "
               f"({len(snapshot.checkpoints)} checkpoints, "
               f"{len(snapshot.interventions)} interventions)")


@run.command("list")
@click.option("--limit", type=click.IntRange(min=1), help="Show at most this many runs.")
@_output_options
@click.pass_context
def run_list(ctx: click.Context, limit: int | None, as_json: bool, fmt: str | None) -> None:
    """List every run, newest first (the same as `git runr runs`)."""
    ctx.invoke(runs, plan_ref=None, limit=limit, as_json=as_json, fmt=fmt)


@run.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the run record as JSON.")
@click.pass_context
def run_show(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """Show a run with its checkpoints and interventions."""
    from gitrunr import render, runs

    snapshot = runs.get(_open(ctx), run_id)
    if as_json:
        click.echo(snapshot.model_dump_json(indent=2))
        return
    out = render.console()
    for line in render.run_details(snapshot):
        out.print(line)


@run.command("transition")
@click.argument("run_id", metavar="RUN")
@click.argument("state")
@click.option("--reason", help="Why, in a line (kept with the state change).")
@click.option("--actor", metavar="NAME", help="Who (default: git's identity).")
@_output_options
@click.pass_context
def run_transition(ctx: click.Context, run_id: str, state: str, reason: str | None,
                   actor: str | None, as_json: bool, fmt: str | None) -> None:
    """Move RUN to STATE, recording who, when and why (docs/runs.md).

    \b
    active             working: commits are checkpoints
    verifying/testing  being verified
    verifying/passed   verified (can be accepted)
    verifying/failed   verification failed (go back to active, or finish)
    finalized/OUTCOME  the same as `git runr run finish RUN --outcome OUTCOME`
    """
    from gitrunr import runs

    fmt = _format(as_json, fmt)
    who = _actor(ctx, actor, False, None) if actor is not None else None
    snapshot = runs.transition(_open(ctx), run_id, state, reason=reason, actor=who)
    _reply(snapshot, fmt, f"run {snapshot.run_id} is {snapshot.state}")


@run.command("step")
@click.argument("run_id", metavar="RUN")
@click.argument("step")
@click.option("--actor", metavar="NAME", help="Who (default: git's identity).")
@_output_options
@click.pass_context
def run_step(ctx: click.Context, run_id: str, step: str, actor: str | None, as_json: bool,
             fmt: str | None) -> None:
    """Set RUN's current step to STEP; the first time a step is reached is kept
    (step_timestamps), a later return to it does not change that time."""
    from gitrunr import runs

    fmt = _format(as_json, fmt)
    who = _actor(ctx, actor, False, None) if actor is not None else None
    snapshot = runs.step(_open(ctx), run_id, step, actor=who)
    if fmt != "text":
        _emit_doc(snapshot, fmt)
        return
    first = snapshot.step_timestamps[step].isoformat(timespec="seconds")
    click.echo(f"run {snapshot.run_id} is at step {step} (first reached {first})")


@run.command("accept")
@click.argument("run_id", metavar="RUN")
@click.option("--reason", help="Why this run, in a line.")
@_output_options
@click.pass_context
def run_accept(ctx: click.Context, run_id: str, reason: str | None, as_json: bool,
               fmt: str | None) -> None:
    """Accept RUN as its plan's run and write NN-SUMMARY.md beside the plan.

    RUN must have passed (verifying/passed, which this finalizes, or
    finalized/passed). Accepting another run of the plan later rewrites the summary
    from that run: SUMMARY.md always describes the accepted run.
    """
    from gitrunr import runs, views

    fmt = _format(as_json, fmt)
    repo = _open(ctx)
    snapshot, record, path = runs.accept(repo, run_id, reason=reason)
    rel = path.relative_to(repo.require_worktree()).as_posix()
    if fmt != "text":
        _emit_doc(views.Accepted(run=snapshot, plan=record, summary_path=rel), fmt)
        return
    click.echo(f"run {snapshot.run_id} is the accepted run of {record.plan_ref}; wrote {rel}")


@cli.group(cls=RunrGroup, context_settings=CONTEXT)
def plan() -> None:
    """Planning commands that write: approve a plan."""


@plan.command("approve")
@click.argument("plan_ref")
@click.option("--reason", help="Why, in a line.")
@_output_options
@click.pass_context
def plan_approve(ctx: click.Context, plan_ref: str, reason: str | None, as_json: bool,
                 fmt: str | None) -> None:
    """Approve PLAN_REF as it stands: its content hash goes in the ledger.

    A drafted plan then counts as approved, and an edit after this shows as
    "changed since approval" until it is approved again. The file is not changed.
    """
    from gitrunr import planning

    fmt = _format(as_json, fmt)
    found, record, written = planning.approve(_open(ctx), plan_ref, reason=reason)
    if fmt != "text":
        _emit_doc(record, fmt)
        return
    what = "approved" if written else "already approved as it stands"
    click.echo(f"{found.ref} {what} (content {found.content_hash[:12]})")


# --------------------------------------------------------------------------- lifecycle


def _actor(ctx: click.Context, actor: str | None, force: bool, reason: str | None) -> str:
    """``--actor``, else git's identity; ``--force`` needs both named (seed 004)."""
    if force and (actor is None or not (reason or "").strip()):
        raise UsageError("--force needs --actor and --reason: a forced move says who and why")
    if actor is not None:
        if not actor.strip() or "\n" in actor:
            raise UsageError("--actor must be one non-empty line")
        return actor
    from gitrunr import ledger
    from gitrunr.repo import open_repo

    return ledger.actor(open_repo(ctx.find_root().params.get("directory")).git)


def _lane_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--force", is_flag=True,
                     help="Move a done or canceled plan (needs --actor and --reason).")(f)
    f = click.option("--review-ref", metavar="REF",
                     help="The review this move answers (a URL, a PR, a comment id).")(f)
    f = click.option("--evidence", multiple=True, metavar="TEXT",
                     help="What shows the work is done: a test run, a report (repeatable).")(f)
    f = click.option("--reason", help="Why, in a line.")(f)
    f = click.option("--actor", metavar="NAME",
                     help="Who moves it (default: git's user.name <user.email>).")(f)
    return _output_options(f)


def _print_lane(record: Any, fmt: str) -> None:
    if fmt != "text":
        _emit_doc(record, fmt)
        return
    last = record.lane_history[-1]
    by = f" by {last.actor}" + (" (forced)" if last.forced else "")
    click.echo(f"{record.plan_ref}: {last.from_lane} → {last.to_lane} ({last.verb}{by})")


@cli.command()
@click.argument("plan_ref")
@click.option("--lease", metavar="DURATION", help="The claim lapses after this long (30m, "
              "2h, 1d); then another actor can --steal it.")
@click.option("--steal", is_flag=True, help="Take over a claim whose lease has lapsed.")
@_lane_options
@click.pass_context
def claim(ctx: click.Context, plan_ref: str, lease: str | None, steal: bool, actor: str | None,
          reason: str | None, evidence: tuple[str, ...], review_ref: str | None, force: bool,
          as_json: bool, fmt: str | None) -> None:
    """Claim PLAN_REF for --actor: planned → claimed.

    A compare-and-swap: when many actors claim one plan at once, exactly one wins and
    the others are refused (exit 5) with the holder's name.
    """
    from gitrunr import lifecycle

    fmt = _format(as_json, fmt)
    who = _actor(ctx, actor, force, reason)
    duration = lifecycle.parse_lease(lease) if lease is not None else None
    record = lifecycle.claim(_open(ctx), plan_ref, actor=who, lease=duration, steal=steal,
                             force=force, reason=reason)
    _print_lane(record, fmt)


def _lane_command(name: str, verb: str, summary: str) -> None:
    @cli.command(name, help=summary)
    @click.argument("ref", metavar="PLAN_OR_RUN")
    @_lane_options
    @click.pass_context
    def command(ctx: click.Context, ref: str, actor: str | None, reason: str | None,
                evidence: tuple[str, ...], review_ref: str | None, force: bool, as_json: bool,
                fmt: str | None) -> None:
        from gitrunr import lifecycle

        fmt = _format(as_json, fmt)
        who = _actor(ctx, actor, force, reason)
        record, _ = lifecycle.transition(
            _open(ctx), ref, verb, actor=who, reason=reason,  # type: ignore[arg-type]
            evidence=evidence, review_ref=review_ref, force=force)
        _print_lane(record, fmt)


@cli.command()
@click.argument("ref", metavar="PLAN_OR_RUN")
@click.option("--integrate/--no-integrate", default=None,
              help="Land the run's commits on its target branch (default: in ledger mode).")
@click.option("--target", metavar="BRANCH", help="With --integrate: the branch to land on "
              "(default: the plan's target_branch, else the default branch).")
@_lane_options
@click.pass_context
def submit(ctx: click.Context, ref: str, integrate: bool | None, target: str | None,
           actor: str | None, reason: str | None, evidence: tuple[str, ...],
           review_ref: str | None, force: bool, as_json: bool, fmt: str | None) -> None:
    """Submit a run: for review (in_progress → for_review) and, with --integrate, onto
    its target branch.

    \b
    Review: needs every task of the run's exec status done (`git runr progress`) and
    evidence (--evidence, or the run's artifacts); an active run goes to
    verifying/testing. Integration (docs/workflow.md): up to date, fast-forward, or a
    rebase of the commits the target lacks; a conflict changes nothing and names the
    paths. In ledger mode this is the only way a run's work lands.
    """
    from gitrunr import submit as submitting
    from gitrunr import views

    fmt = _format(as_json, fmt)
    if force:
        raise UsageError("submit has no forced form: reopen the plan first")
    done = submitting.submit(_open(ctx), ref, actor=_actor(ctx, actor, False, None),
                             evidence=evidence, reason=reason, integrate_commits=integrate,
                             target=target)
    if fmt != "text":
        integrated = views.Integration.model_validate(
            vars(done.integrated)) if done.integrated else None
        _emit_doc(views.SubmitReport(run=done.run, plan=done.plan, integrated=integrated), fmt)
        return
    if done.plan is not None:
        _print_lane(done.plan, fmt)
    if done.integrated is not None:
        i = done.integrated
        click.echo(f"{i.target}: {i.method}, {len(i.commits)} commit(s), now at {i.new[:12]}")


_lane_command("request-changes", "changes_requested", """Send the work back: for_review →
in_progress. Needs --review-ref; the run goes back to active.""")
_lane_command("replan", "replan", """Back to planning: for_review → planned. Needs
--review-ref; the plan's open runs end as aborted and the claim is released.""")
_lane_command("reassign", "reassign", """Give the work up for someone else: in_progress →
planned. Needs --reason; open runs end as aborted and the claim is released.""")
_lane_command("block", "block", """Block a plan: planned, claimed, in_progress or
for_review → blocked. Needs --reason.""")
_lane_command("unblock", "unblock", """Unblock a plan: blocked → in_progress.""")
_lane_command("cancel", "cancel", """Cancel a plan (terminal): any open lane → canceled;
its open runs end as aborted.""")


@cli.command()
@click.argument("ref", metavar="PLAN_OR_RUN")
@_lane_options
@click.pass_context
def approve(ctx: click.Context, ref: str, actor: str | None, reason: str | None,
            evidence: tuple[str, ...], review_ref: str | None, force: bool, as_json: bool,
            fmt: str | None) -> None:
    """Approve the work under review: for_review → done.

    Needs done evidence (--evidence) and a run that passed (verifying/passed or
    finalized/passed). The run becomes the plan's accepted run and NN-SUMMARY.md is
    written from it, as `git runr run accept` does. (`git runr plan approve` approves a
    plan's text, before any run.)
    """
    from gitrunr import lifecycle, runs, views

    fmt = _format(as_json, fmt)
    who = _actor(ctx, actor, force, reason)
    repo = _open(ctx)
    space, plan, run = lifecycle.resolve(repo, ref)
    if not any(e.strip() for e in evidence):
        raise InvalidStateError(f"approve of {plan.ref} needs done evidence (--evidence)")
    subject = lifecycle.under_review(space, plan, run)
    snapshot, record, path = runs.accept(repo, subject.run_id, reason=reason,
                                         evidence=evidence, actor=who, via_accept=False,
                                         force=force)
    rel = path.relative_to(repo.require_worktree()).as_posix()
    if fmt != "text":
        _emit_doc(views.Accepted(run=snapshot, plan=record, summary_path=rel), fmt)
        return
    _print_lane(record, fmt)
    click.echo(f"run {snapshot.run_id} accepted; wrote {rel}")


@cli.command("next")
@click.option("--actor", metavar="NAME", help="Whose next move (default: git's identity).")
@_output_options
@click.pass_context
def next_(ctx: click.Context, actor: str | None, as_json: bool, fmt: str | None) -> None:
    """Recommend what to do next, from ready plans, claims, leases, reviews and blocked
    work. Changes nothing: the lifecycle commands do."""
    from gitrunr import decide

    fmt = _format(as_json, fmt)
    report = decide.next_actions(_open(ctx), _actor(ctx, actor, False, None))
    if fmt != "text":
        _emit_doc(report, fmt)
        return
    if not report.recommendations:
        click.echo("nothing to do: no ready plan, claim, review or blocked work")
    for n, rec in enumerate(report.recommendations):
        mark = "→" if n == 0 else " "
        click.echo(f"{mark} {rec.action:<8} {rec.plan_ref}: {rec.reason}\n           "
                   f"{rec.command}")


@cli.command()
@click.argument("run_id", metavar="RUN")
@click.option("--task", required=True, help="The task (its id in the plan: 01, 02, ...).")
@click.option("--percent", type=click.IntRange(0, 100), help="How far it is, 0-100.")
@click.option("--state", type=click.Choice(["pending", "in_progress", "done", "failed",
                                            "blocked"]), help="Its state.")
@click.option("--note", help="A note, in a line (for blocked: what blocks it).")
@click.option("--persona", metavar="ID", help="The agent persona writing the update.")
@click.option("--actor", metavar="NAME", help="Who (default: git's identity).")
@_output_options
@click.pass_context
def progress(ctx: click.Context, run_id: str, task: str, percent: int | None,
             state: str | None, note: str | None, persona: str | None, actor: str | None,
             as_json: bool, fmt: str | None) -> None:
    """Update one task's progress in RUN's exec status (seed 003).

    Only that task changes; completion, pass/fail counts and blockers are derived.
    Each update names the previous one's hash (a chain per run) and is signed when
    user.signingkey is configured. A finalized run's exec status is frozen (exit 5).
    """
    from gitrunr import progress as exec_status
    from gitrunr import views

    fmt = _format(as_json, fmt)
    snapshot = exec_status.update(_open(ctx), run_id, task, percent=percent, state=state,
                                  note=note, persona=persona,
                                  actor=_actor(ctx, actor, False, None))
    if fmt != "text":
        _emit_doc(views.ProgressReport(run_id=run_id, exec_status=snapshot.exec_status), fmt)
        return
    s = snapshot.exec_status
    mine = next(t for t in s.tasks if t.task == task)
    click.echo(f"{run_id} task {task}: {mine.state} {mine.percent}% (run {s.completion}% "
               f"complete, {s.passed} done, {s.failed} failed, {len(s.blockers)} blocked)")


@cli.command("verify")
@click.argument("run_id", metavar="[RUN]", required=False)
@_output_options
@click.pass_context
def verify_cmd(ctx: click.Context, run_id: str | None, as_json: bool, fmt: str | None) -> None:
    """Check the ledger's integrity (or one run's); exit 1 naming what is wrong.

    \b
    ref        refs/runr/ledger only moved forward (no forced update in its reflog)
    history    event files only added, never changed or removed; commit signatures
    snapshots  every run.json and plan.json equals the replay of its events
    chains     each run's progress updates chain by hash; their signatures
    frozen     nothing changed a run after it was finalized
    plans      approved plans unchanged since their approval
    """
    from gitrunr import verify
    from gitrunr.runs import validate_run_id

    fmt = _format(as_json, fmt)
    if run_id is not None:
        validate_run_id(run_id)
    report = verify.verify(_open(ctx), run_id)
    if fmt != "text":
        _emit_doc(report, fmt)
    else:
        c = report.counts
        click.echo(f"verify {report.scope} at {report.ledger[:12] if report.ledger else '(none)'}"
                   f": {c.commits} commits ({c.signed_commits} signed), {c.runs} runs, "
                   f"{c.plans} plans, {c.events} events, {c.updates} progress updates "
                   f"({c.signed_updates} signed)")
        for check in report.checks:
            click.echo(f"  {'✓' if check.ok else '✗'} {check.name}")
            for problem in check.problems:
                click.echo(f"      {problem}")
    if not report.ok:
        bad = sum(len(c.problems) for c in report.checks)
        raise CheckFailedError(f"the ledger failed verification: {bad} problem(s), listed "
                               "above")


# --------------------------------------------------------------------------- workflow


@run.command("stop")
@click.argument("run_id", metavar="RUN")
@click.option("--reason", required=True, help="Why it stops (a timeout, a person's call).")
@_output_options
@click.pass_context
def run_stop(ctx: click.Context, run_id: str, reason: str, as_json: bool,
             fmt: str | None) -> None:
    """Stop RUN (seed 002: STOPPED). In ledger mode only resume, bundle, submit and
    escalate are allowed then; in flow mode work by hand leaves a trail."""
    from gitrunr import workflow

    fmt = _format(as_json, fmt)
    snapshot = workflow.stop(_open(ctx), run_id, reason)
    _reply(snapshot, fmt, f"run {run_id} is stopped: {reason}")


@cli.command()
@click.argument("run_id", metavar="RUN")
@click.option("--reason", help="What changed, in a line.")
@_output_options
@click.pass_context
def resume(ctx: click.Context, run_id: str, reason: str | None, as_json: bool,
           fmt: str | None) -> None:
    """Resume a stopped RUN: back to active ("edit task → resume", seed 002)."""
    from gitrunr import workflow

    fmt = _format(as_json, fmt)
    snapshot = workflow.resume(_open(ctx), run_id, reason)
    _reply(snapshot, fmt, f"run {run_id} is active again")


@cli.command()
@click.argument("run_id", metavar="RUN")
@click.option("--reason", required=True, help="What the person should look at.")
@_output_options
@click.pass_context
def escalate(ctx: click.Context, run_id: str, reason: str, as_json: bool,
             fmt: str | None) -> None:
    """Hand a stopped RUN to a person (recorded; the run stays stopped)."""
    from gitrunr import workflow

    fmt = _format(as_json, fmt)
    snapshot = workflow.escalate(_open(ctx), run_id, reason)
    _reply(snapshot, fmt, f"run {run_id} escalated: {reason}")


@cli.command()
@click.argument("run_id", metavar="RUN")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def bundle(ctx: click.Context, run_id: str, file: Path) -> None:
    """Write RUN's commits (its base to its newest commit) to FILE as a git bundle, for
    someone else to pick up (`git fetch FILE`)."""
    from gitrunr import workflow

    commits = workflow.bundle(_open(ctx), run_id, str(file.resolve()))
    click.echo(f"{file}: {len(commits)} commit(s) of run {run_id}")


@cli.command()
@click.argument("run_id", metavar="RUN")
@click.option("--request", required=True, help="What the reviewer asked for.")
@_output_options
@click.pass_context
def review(ctx: click.Context, run_id: str, request: str, as_json: bool,
           fmt: str | None) -> None:
    """Record a review request for RUN; when the same request comes back
    review_loop_threshold times (config; default 3), the run stops with
    review_loop_detected and a diagnosis (`git runr diagnose RUN`)."""
    from gitrunr import workflow

    fmt = _format(as_json, fmt)
    snapshot, stopped = workflow.review(_open(ctx), run_id, request)
    if fmt != "text":
        _emit_doc(snapshot, fmt)
    elif stopped:
        click.echo(f"run {run_id} stopped: review_loop_detected "
                   f"({snapshot.diagnosis.loop_count if snapshot.diagnosis else '?'} times the "
                   f"same request); `git runr diagnose {run_id}` says what to do")
    else:
        click.echo(f"review request {len(snapshot.reviews)} recorded for run {run_id}")


@cli.command()
@click.argument("run_id", metavar="RUN")
@_output_options
@click.pass_context
def diagnose(ctx: click.Context, run_id: str, as_json: bool, fmt: str | None) -> None:
    """Why a stopped RUN stopped, and what to do (seed 002 section 3)."""
    from gitrunr import views

    fmt = _format(as_json, fmt)
    report = views.diagnose(_open(ctx), run_id)
    if fmt != "text":
        _emit_doc(report, fmt)
        return
    d = report.diagnosis
    why = "stopped" if report.state == "stopped" else f"{report.state}; it last stopped"
    click.echo(f"run {run_id} is {why}: {report.stop_reason}")
    if d is not None:
        click.echo(f"  The same review request came back {d.loop_count} times.")
        click.echo("  Last requests:")
        for request in d.last_review_requests:
            click.echo(f"    - {request}")
        if d.unmet_checks:
            click.echo(f"  Unmet checks: {', '.join(d.unmet_checks)}")
        click.echo(f"  Suggestion: {d.suggestion}")
    for reason in report.escalations:
        click.echo(f"  Escalated: {reason}")


@cli.command()
@click.argument("run_id", metavar="RUN")
@click.option("--cmd", "cmd", required=True, help="The command that verifies the work "
              "(run with the shell in the work tree).")
@click.option("--task", help="The task it verifies (its id: 01, 02, ...).")
@_output_options
@click.pass_context
def evidence(ctx: click.Context, run_id: str, cmd: str, task: str | None, as_json: bool,
             fmt: str | None) -> None:
    """Run CMD and attach its result to RUN as evidence: exit code, duration, output
    (bounded inline, whole as a blob), secrets redacted. Exit 1 when CMD failed (it
    is recorded all the same)."""
    from gitrunr import evidence as verification

    fmt = _format(as_json, fmt)
    _, event = verification.record(_open(ctx), run_id, cmd, task=task,
                                   echo=None if fmt != "text" else sys.stderr)
    if fmt != "text":
        _emit_doc(event, fmt)
    else:
        mark = "✓" if event.exit_code == 0 else "✗"
        click.echo(f"{mark} evidence {event.event_id} for run {run_id}: exit {event.exit_code}, "
                   f"{event.duration_ms} ms, {event.output_bytes} bytes of output"
                   + (f", {event.redactions} secret(s) redacted" if event.redactions else ""))
    if event.exit_code != 0:
        raise CheckFailedError(f"`{event.cmd}` exited {event.exit_code} (recorded as evidence)")


@cli.command()
@click.argument("run_id", metavar="RUN")
@click.option("--patch", "patch", is_flag=True, help="Print the patch instead of the diffstat.")
@_output_options
@click.pass_context
def receipt(ctx: click.Context, run_id: str, patch: bool, as_json: bool,
            fmt: str | None) -> None:
    """RUN's receipt (made when it ended): the diffstat of its commits against its base,
    or with --patch the patch, byte for byte."""
    from gitrunr import runs

    fmt = _format(as_json, fmt)
    repo = _open(ctx)
    snapshot = runs.get(repo, run_id)
    made = snapshot.receipt
    if made is None:
        raise InvalidStateError(f"run {run_id} has no receipt: it is made when the run ends "
                                f"(it is {snapshot.state})")
    if patch:
        blob = repo.git.get(made.patch_blob) if made.patch_blob else None
        sys.stdout.buffer.write(blob.data if isinstance(blob, pygit2.Blob) else b"")
        sys.stdout.buffer.flush()
        return
    if fmt != "text":
        from gitrunr import views

        _emit_doc(views.ReceiptReport(run_id=run_id, receipt=made), fmt)
        return
    span = f"{made.base[:12] if made.base else '(empty tree)'}..{made.tip[:12] if made.tip else ''}"
    click.echo(f"receipt of run {run_id}: {span}")
    click.echo(made.stat.rstrip("\n") or " (no changes)")


# --------------------------------------------------------------------------- plans & runs


@cli.command()
@_output_options
@click.pass_context
def status(ctx: click.Context, as_json: bool, fmt: str | None) -> None:
    """Where things stand: every plan by initiative and phase, its planning status
    (drafted, approved, ready) and its latest run, or — when it has none."""
    from gitrunr import render, views

    fmt = _format(as_json, fmt)
    report = views.status(_open(ctx))
    for problem in report.problems:
        click.echo(f"warning: {problem}", err=True)
    if fmt != "text":
        _emit_doc(report, fmt)
        return
    _print_lines(render.status_lines(report))


@cli.command()
@_output_options
@click.pass_context
def ready(ctx: click.Context, as_json: bool, fmt: str | None) -> None:
    """What can start now: approved or ready plans, not done, not running, whose
    dependencies are done. The entry point for an agent; needs no run."""
    from gitrunr import render, views

    fmt = _format(as_json, fmt)
    report = views.ready(_open(ctx))
    if fmt != "text":
        _emit_doc(report, fmt)
        return
    _print_lines(render.ready_lines(report))


@cli.command()
@click.argument("ref")
@click.option("--run", "run_id", metavar="RUN", help="For a plan: show this run of it "
              "instead of the latest.")
@_output_options
@click.pass_context
def show(ctx: click.Context, ref: str, run_id: str | None, as_json: bool,
         fmt: str | None) -> None:
    """Show a plan or a run.

    \b
    A plan with no run:  the plan, its tasks and criteria, "no runs yet"
    A plan with runs:    that, its runs, and the latest (or --run) in full
    A run id:            the execution only: states, steps, checkpoints,
                         interventions, artifacts
    """
    from gitrunr import render, views

    fmt = _format(as_json, fmt)
    view = views.show(_open(ctx), ref, run_id=run_id)
    if fmt != "text":
        _emit_doc(view, fmt)
        return
    _print_lines(render.plan_lines(view) if isinstance(view, views.PlanView)
                 else render.run_view_lines(view))


@cli.command()
@click.argument("plan_ref", required=False)
@click.option("--limit", type=click.IntRange(min=1), help="Show at most this many runs.")
@_output_options
@click.pass_context
def runs(ctx: click.Context, plan_ref: str | None, limit: int | None, as_json: bool,
         fmt: str | None) -> None:
    """The runs of PLAN_REF, newest first (all runs without it; ad hoc runs say so).
    The accepted run is marked with *."""
    from gitrunr import render
    from gitrunr import runs as run_records

    fmt = _format(as_json, fmt)
    result = run_records.list_runs(_open(ctx), limit=limit, plan=plan_ref)
    if fmt != "text":
        _emit_doc(result, fmt)
        return
    if not result.runs:
        click.echo(f"no runs of {plan_ref} yet: `git runr run start {plan_ref}` begins one"
                   if plan_ref else "no runs yet: `git runr run start` begins one")
        return
    render.console().print(render.run_table(result))


# --------------------------------------------------------------------------- artifacts


@cli.group(cls=RunrGroup, context_settings=CONTEXT)
def artifact() -> None:
    """Files kept with a run in the ledger: add, get, list."""


@artifact.command("add")
@click.argument("run_id", metavar="RUN")
@click.argument("files", nargs=-1, required=True, metavar="FILE...",
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", help="Store the (single) FILE under this name.")
@_output_options
@click.pass_context
def artifact_add(ctx: click.Context, run_id: str, files: tuple[Path, ...], name: str | None,
                 as_json: bool, fmt: str | None) -> None:
    """Store FILEs with RUN (byte for byte) and list them in its manifest."""
    from gitrunr import runs, views

    fmt = _format(as_json, fmt)
    added = runs.add_artifacts(_open(ctx), run_id, list(files), name=name)
    if fmt != "text":
        _emit_doc(views.Artifacts(run_id=run_id, artifacts=added), fmt)
        return
    for entry in added:
        click.echo(f"{entry.name}  {entry.size} bytes  sha256 {entry.sha256[:12]}  "
                   f"stored with {run_id}")


@artifact.command("get")
@click.argument("run_id", metavar="RUN")
@click.argument("name")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file (default: standard output).")
@click.pass_context
def artifact_get(ctx: click.Context, run_id: str, name: str, output: Path | None) -> None:
    """Write artifact NAME of RUN out, byte for byte (checked against its SHA-256)."""
    from gitrunr import runs

    _, data = runs.read_artifact(_open(ctx), run_id, name)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)


@artifact.command("list")
@click.argument("run_id", metavar="RUN")
@_output_options
@click.pass_context
def artifact_list(ctx: click.Context, run_id: str, as_json: bool, fmt: str | None) -> None:
    """RUN's manifest: name, size, media type, SHA-256, when added."""
    from gitrunr import runs, views

    fmt = _format(as_json, fmt)
    snapshot = runs.get(_open(ctx), run_id)
    if fmt != "text":
        _emit_doc(views.Artifacts(run_id=run_id, artifacts=snapshot.artifacts), fmt)
        return
    if not snapshot.artifacts:
        click.echo(f"run {run_id} has no artifacts: `git runr artifact add {run_id} FILE`")
    for a in snapshot.artifacts:
        click.echo(f"{a.name}  {a.size} bytes  {a.media_type}  sha256 {a.sha256[:12]}  "
                   f"{a.added_at.isoformat(timespec='seconds')}")


# --------------------------------------------------------------------------- checkpoint


@cli.command()
@click.option("-m", "--message", "messages", multiple=True, required=True, metavar="MSG",
              help="What was done: the subject (more -m add paragraphs, as with git commit).")
@click.option("--task", metavar="T", help="The plan task (01, 1 or task-01): the subject's "
              "scope, type(task-01): MSG.")
@click.option("--type", "type_", type=click.Choice(["feat", "fix", "docs", "test", "refactor",
              "chore", "perf", "build", "ci", "style"]), default="feat", show_default=True,
              help="The subject's type.")
@click.option("-a", "--all", "all_", is_flag=True,
              help="Commit all changed tracked files, like git commit -a.")
@click.pass_context
def checkpoint(ctx: click.Context, messages: tuple[str, ...], task: str | None, type_: str,
               all_: bool) -> None:
    """Commit the staged changes as a checkpoint of this worktree's active run.

    The subject is written as type(task-NN): MSG (docs/conventions.md); a MSG already
    in type(scope): form is kept. git commit runs with the hooks, which stamp the Runr
    trailers and record the checkpoint. Prints the short sha and the checkpoint id.
    """
    from gitrunr.checkpoint import checkpoint as make

    result = make(_open(ctx), list(messages), type_=type_, task=task, all_=all_)
    click.echo(f"{result.short_sha} {result.checkpoint_id} {result.subject}")


# --------------------------------------------------------------------------- intervene


@cli.command()
@click.argument("run_id")
@click.option("--note", required=True, help="What was done by hand, and why.")
@click.option("--cmd", "commands", multiple=True, metavar="CMD",
              help="A command to run and record (exit code, duration, output tail). "
                   "Repeatable; run with the shell in the work tree.")
@click.option("--commit", "commit", is_flag=True,
              help="Commit the staged changes as this intervention.")
@click.option("-m", "--message", help="With --commit: the commit message (default: the note).")
@click.option("--sha", metavar="REV", help="Link an existing commit (recorded in a note; "
              "the commit is unchanged).")
@click.option("--json", "as_json", is_flag=True, help="Print the intervention as JSON.")
@click.pass_context
def intervene(ctx: click.Context, run_id: str, note: str, commands: tuple[str, ...],
              commit: bool, message: str | None, sha: str | None, as_json: bool) -> None:
    """Record manual work done for RUN_ID outside the run.

    With neither --commit nor --sha, the next commit made in this worktree is linked
    to the intervention by the hooks. Exits 1 when a --cmd failed (it is recorded).
    """
    from gitrunr.intervene import intervene as record

    result = record(_open(ctx), run_id, note, list(commands), commit=commit,
                    message=message, sha=sha, echo=sys.stderr)
    iv = result.record
    if as_json:
        _emit_json({"run_id": result.run_id, "pending": result.pending,
                    **iv.model_dump(mode="json")})
    else:
        where = (f"commit {iv.commit_sha[:12]}" if iv.commit_sha
                 else "the next commit in this worktree")
        click.echo(f"intervention {iv.intervention_id} recorded for run {result.run_id}, "
                   f"linked to {where}")
    if result.failed_commands:
        raise CheckFailedError(f"{result.failed_commands} of {len(commands)} command(s) "
                               "failed (recorded with their exit codes)")


# --------------------------------------------------------------------------- audit


def _provenance_text(good: int, total: int) -> str:
    """``good`` of ``total`` in percent with one decimal, rounded down (so a share just
    under a --fail-under threshold never prints as the threshold); 100.0 for none."""
    tenths = good * 1000 // total if total else 1000
    return f"{tenths // 10}.{tenths % 10}"


def _reaches(good: int, total: int, pct: float) -> bool:
    """Whether ``good`` of ``total`` is at least ``pct`` percent, exactly (``0.1`` is
    read as written, not as the nearest binary float). An empty range passes."""
    from fractions import Fraction

    return good * 100 >= Fraction(str(pct)) * total


@cli.command()
@click.argument("revision_range", required=False, metavar="[RANGE]")
@click.option("--range", "range_option", metavar="RANGE", hidden=True,
              help="Same as the RANGE argument (the seed's spelling).")
@click.option("--since", metavar="REV", help="Audit REV..HEAD.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON "
              "(schema: docs/json.md).")
@click.option("--strict", is_flag=True,
              help="Exit 1 when any commit is GAP or UNVERIFIED (for CI).")
@click.option("--fail-under", "fail_under", type=click.FloatRange(0, 100), metavar="PCT",
              help="Exit 1 when under PCT percent of the commits have provenance (RUNR or "
                   "MANUAL); an empty range passes (for CI).")
@click.option("--first-parent", is_flag=True, help="Follow only the first parent of merges.")
@click.option("--no-merges", is_flag=True, help="Leave merge commits out.")
@click.option("--html", "html", type=click.Path(dir_okay=False, path_type=Path),
              metavar="FILE", help="Also write the timeline to FILE as one self-contained "
              "HTML page (for CI to publish; docs/api.md).")
@click.pass_context
def audit(ctx: click.Context, revision_range: str | None, range_option: str | None,
          since: str | None, as_json: bool, strict: bool, fail_under: float | None,
          first_parent: bool, no_merges: bool, html: Path | None) -> None:
    """Classify every commit of RANGE as RUNR, MANUAL, UNVERIFIED or GAP.

    \b
    RUNR        a checkpoint of a run the ledger knows, recorded by that run
    MANUAL      linked to a recorded intervention
    UNVERIFIED  trailers or a note claim a run, but the ledger does not back it
    GAP         no provenance at all

    RANGE is any git revision range (main~50..main, v1.0..HEAD, HEAD); the default
    is all of HEAD's history. --strict and --fail-under gate CI (docs/ci.md).
    """
    from gitrunr import render
    from gitrunr.audit import Audit

    if revision_range is not None and range_option is not None:
        raise click.UsageError("give RANGE once, as an argument or with --range")
    if fail_under is not None and fail_under != fail_under:  # FloatRange lets nan through
        raise click.BadParameter("nan is not a percentage (0 to 100).",
                                 param_hint="'--fail-under'")
    spec = revision_range if revision_range is not None else range_option
    repo = _open(ctx)
    run = Audit(repo, spec, since=since, first_parent=first_parent, no_merges=no_merges)
    kept: list[Any] = []  # with --html: the entries, for the page written at the end
    entries = run.entries
    if html is not None:
        from gitrunr import timeline_html

        entries = timeline_html.keeping(run.entries, kept)
    # Streamed as the commits come, in blocks: memory stays flat over any range.
    out = sys.stdout
    check = strict or fail_under is not None
    bad: list[str] = []
    block: list[str] = []
    if as_json:
        out.write(f'{{"schema_version": 1, "range": {json.dumps(run.range)}, "commits": [')
        separator = "\n"
        for entry in entries:
            block.append(separator + entry.json_text())
            separator = ",\n"
            if check and entry.class_ in ("GAP", "UNVERIFIED"):
                bad.append(f"{entry.short_sha} ({entry.class_})")
            if len(block) >= 1000:
                out.write("".join(block))
                block.clear()
        out.write("".join(block))
        out.write(f'\n], "summary": {run.summary.model_dump_json()}, '
                  f'"skipped": {json.dumps(run.skipped, ensure_ascii=False)}}}\n')
    else:
        color = out.isatty() and not os.environ.get("NO_COLOR")
        style: Callable[[str, str], str] = render.plain
        if color:
            style = lambda text, fg: click.style(text, fg=fg, bold=fg != "yellow")  # noqa: E731
        out.write("\n".join(render.timeline_head(run.range)) + "\n")
        for entry in entries:
            block.extend(render.entry_lines(entry, style))
            if check and entry.class_ in ("GAP", "UNVERIFIED"):
                bad.append(f"{entry.short_sha} ({entry.class_})")
            if len(block) >= 2000:
                out.write("\n".join(block) + "\n")
                block.clear()
        summary = run.summary
        block.extend(render.timeline_tail(summary, empty=summary.total == 0))
        good = summary.RUNR + summary.MANUAL
        block.append(f"  Provenance: {_provenance_text(good, summary.total)}% "
                     f"({good} of {summary.total})")
        out.write("\n".join(block) + "\n")
    out.flush()
    if html is not None:
        timeline_html.write(html, timeline_html.render(repo, run.range, kept, run.summary,
                                                       run.skipped))
        click.echo(f"timeline written to {html}", err=True)
    for skipped in run.skipped:
        click.echo(f"warning: skipped {skipped}", err=True)
    total = run.summary.total
    good = run.summary.RUNR + run.summary.MANUAL
    under = fail_under is not None and not _reaches(good, total, fail_under)
    if (strict and bad) or under:
        more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
        pct = _provenance_text(good, total)
        if under and strict:
            reason = (f"{len(bad)} of {total} commits lack verified provenance (--strict), "
                      f"and {pct}% have provenance, under --fail-under {fail_under:g}")
        elif under:
            reason = (f"{pct}% of {total} commits have provenance, "
                      f"under --fail-under {fail_under:g}")
        else:
            reason = f"{len(bad)} of {total} commits lack verified provenance"
        raise CheckFailedError(f"{reason}: {', '.join(bad[:10])}{more}")


# --------------------------------------------------------------------------- sync


@cli.command()
@click.argument("remote", required=False)
@click.option("--no-push", is_flag=True, help="Fetch and merge only; push nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_context
def sync(ctx: click.Context, remote: str | None, no_push: bool, as_json: bool) -> None:
    """Share records with REMOTE: fetch, merge by union, push without force.

    REMOTE defaults to the current branch's upstream remote, or the only remote.
    The remote's records are fetched into refs/runr/remotes/REMOTE/, merged with
    the local ones (no record is ever dropped), pushed as a fast-forward, and only
    then moved locally: a push the remote refuses leaves the local records as they
    were. See docs/sync.md.
    """
    from gitrunr.sync import sync as run_sync

    result = run_sync(_open(ctx), remote, push=not no_push)
    for path in result.conflicts:
        click.echo(f"warning: {path} differs between the clones; kept the local one", err=True)
    if as_json:
        _emit_json({"remote": result.remote, "fetched": result.fetched,
                    "pushed": result.pushed, "merged_runs": result.merged_runs,
                    "ledger": result.ledger, "notes": result.notes,
                    "pushed_refs": result.pushed_refs})
        return
    pushed = (f"pushed {result.pushed}" if result.pushed_refs
              else "pushed nothing" if not no_push else "push skipped (--no-push)")
    click.echo(f"sync with {result.remote}: fetched {result.fetched} event(s), merged "
               f"{result.merged_runs} run(s), {pushed}")


# --------------------------------------------------------------------------- notes


@cli.group(cls=RunrGroup, context_settings=CONTEXT)
def notes() -> None:
    """Maintain refs/notes/runr, the per-commit index of the ledger."""


@notes.command("rebuild")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_context
def notes_rebuild(ctx: click.Context, as_json: bool) -> None:
    """Write refs/notes/runr afresh from the ledger.

    For a clone that fetched the ledger but not the notes, or notes damaged or edited
    by hand. Notes the ledger does not back are dropped; the old notes stay in the
    ref's history.
    """
    from gitrunr import ledger

    result = ledger.rebuild_notes(_open(ctx))
    if as_json:
        _emit_json({"notes": result.notes, "runs": result.runs,
                    "previous_notes": result.previous_notes})
        return
    click.echo(f"refs/notes/runr rebuilt from {result.runs} run(s): {result.notes} note(s) "
               f"(there were {result.previous_notes})")


# --------------------------------------------------------------------------- serve


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback needs a token.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--token", envvar="RUNR_API_TOKEN", metavar="TOKEN",
              help="Require `Authorization: Bearer TOKEN` on every request "
                   "(default: $RUNR_API_TOKEN).")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, token: str | None) -> None:
    """Serve this repository's records over a JSON API, and the audit timeline.

    \b
    /                  the audit timeline page (?range=A..B)
    /runs              POST starts a run; GET lists them (?limit=&offset=&plan=)
    /runs/RUN          GET the run; PATCH its status and current_step
    /plans, /ready     what `git runr status` and `git runr ready` print
    /audit?range=A..B  what `git runr audit --json` prints
    /openapi.json      the schema

    Writes go through the same ledger as the CLI. Listens on 127.0.0.1; any other
    address needs a token. See docs/api.md.
    """
    from gitrunr import api

    workdir = _open(ctx).require_worktree()
    api.serve(workdir, host=host, port=port, token=token,
              echo=lambda line: click.echo(line, err=True))


# --------------------------------------------------------------------------- flush


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_context
def flush(ctx: click.Context, as_json: bool) -> None:
    """Move records written by the hooks into the ledger now.

    The hooks do this in the background after each commit, and every command does it
    before reading; this is for scripts that read the refs directly.
    """
    from gitrunr import ledger
    from gitrunr.repo import open_repo

    repo = open_repo(ctx.find_root().params.get("directory"))
    result = ledger.flush(repo)
    if as_json:
        _emit_json({"applied": result.applied, "skipped": result.skipped,
                    "rejected": result.rejected})
    else:
        click.echo(f"{result.applied} record(s) applied, {result.skipped} already present, "
                   f"{len(result.rejected)} rejected")
    if result.rejected:
        raise GitError(f"{len(result.rejected)} record(s) could not be applied; see "
                       f"{repo.spool_dir / 'rejected'}")


def main() -> None:
    """Console script ``git-runr``: git runs it for ``git runr``."""
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    cli.main(prog_name="git runr")
