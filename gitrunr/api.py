"""``git runr serve``: the repository's records over a local HTTP API, and the timeline.

FastAPI on uvicorn; the pydantic models of :mod:`gitrunr.models` and
:mod:`gitrunr.views` are the schema, published at ``/openapi.json``
(``docs/api.md``). Every route calls the same core functions as the CLI
(:mod:`gitrunr.runs`, :mod:`gitrunr.views`, :class:`gitrunr.audit.Audit`), so the
two can never disagree, and every write goes through :func:`gitrunr.ledger.append`,
whose compare-and-swap serialises concurrent requests exactly as it serialises
concurrent commands in many worktrees.

Each request opens the repository afresh (a pygit2 repository object is not shared
between threads) and moves the hooks' spool into the ledger first, as every command
does. Routes are plain functions, run by FastAPI in its thread pool.

Errors are RFC 9457 problem documents (``application/problem+json``): a
:class:`~gitrunr.errors.RunrError` maps its exit code to an HTTP status
(:data:`STATUS_OF`), a request that fails validation is 422 with the fields named,
and anything unexpected is a 500 problem that says nothing of its cause (the
traceback goes to the server's log only).

Imported only by ``git runr serve``: fastapi and uvicorn cost ~250 ms to import, so
the rest of ``git runr`` never pays for them.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import logging
import secrets
import socket
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pygit2
from fastapi import FastAPI, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gitrunr import __version__, ledger, runs, views
from gitrunr.audit import Audit
from gitrunr.errors import ExitCode, NotFoundError, RunrError, UsageError
from gitrunr.ids import is_run_id
from gitrunr.models import AuditReport, Document, RunList, RunListItem, RunSnapshot, RunState
from gitrunr.repo import RunrRepo, open_repo

log = logging.getLogger("gitrunr.api")

#: ``git runr serve``'s default port.
DEFAULT_PORT = 8765
#: The shortest token ``git runr serve`` accepts.
MIN_TOKEN_LENGTH = 16
PROBLEM_JSON = "application/problem+json"

#: HTTP status and problem type of each exit code (docs/api.md, "Errors").
STATUS_OF: dict[ExitCode, tuple[int, str, str]] = {
    ExitCode.USAGE: (400, "bad-request", "Bad request"),
    ExitCode.NOT_FOUND: (404, "not-found", "Not found"),
    ExitCode.INVALID_STATE: (409, "invalid-state", "Conflicts with the current state"),
    ExitCode.NOT_A_REPO: (409, "not-a-repository", "The repository cannot serve this"),
    ExitCode.CHECK_FAILED: (409, "check-failed", "A check failed"),
    ExitCode.CORRUPT: (500, "corrupt-record", "A stored record is damaged"),
    ExitCode.GIT_FAILED: (503, "git-failed", "git failed; try again"),
}


def problem_type(slug: str) -> str:
    """The ``type`` URI of a problem (a stable identifier, listed in docs/api.md)."""
    return f"urn:gitrunr:problem:{slug}"


# --------------------------------------------------------------------------- schema


class Problem(BaseModel):
    """An RFC 9457 problem document. Extension members: ``exit_code`` (what
    ``git runr`` exits with for the same error), ``errors`` (422: the fields that
    failed validation), ``applied``/``not_applied``/``run`` (a PATCH that applied in
    part)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    exit_code: int | None = None


def _no_control(value: str) -> str:
    """Refuse NUL, other control characters but tab and newline, and lone surrogates:
    git and the ledger's JSON cannot carry them."""
    for char in value:
        if char not in "\t\n" and unicodedata.category(char) in ("Cc", "Cs"):
            raise ValueError(f"control character or lone surrogate U+{ord(char):04X} is not "
                             "allowed")
    return value


Text = Annotated[str, StringConstraints(max_length=4000), AfterValidator(_no_control)]
#: One line (the same rule as a trailer value: models.Line).
OneLine = Annotated[str, StringConstraints(pattern=r"^[^\r\n]*$", min_length=1, max_length=200),
                    AfterValidator(_no_control)]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("a step is not blank")
    return value


#: A step, as ``git runr run step`` takes it (models.StepReached.step).
Step = Annotated[str, StringConstraints(pattern=r"^[^\r\n]{1,100}$"),
                 AfterValidator(_not_blank), AfterValidator(_no_control)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunCreate(_Body):
    """``POST /runs``: the same as ``git runr run start [PLAN] [--tier TIER]``."""

    plan: OneLine | None = Field(None, description="A plan's ref, or any unambiguous suffix "
                                 "(03, phase-01.2/03); null or absent for an ad hoc run.")
    tier: OneLine | None = Field(None, description="A tier label stamped on every checkpoint "
                                 "(Runr-Tier).")
    actor: OneLine | None = Field(None, description="Who starts it (`Name <email>` or an "
                                  "agent's name); default: the server's git identity.")


class RunPatch(_Body):
    """``PATCH /runs/{run_id}``: ``status`` as ``git runr run transition``, then
    ``current_step`` as ``git runr run step`` (the order is in docs/api.md)."""

    # The rules of _something, for the schema's readers and generators.
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "anyOf": [{"required": ["status"]}, {"required": ["current_step"]}],
        "dependentRequired": {"reason": ["status"]}})

    status: RunState | None = Field(None, description="The state to move the run to; a "
                                    "finalized/OUTCOME state finishes it.")
    current_step: Step | None = Field(None, description="The step the run is at; the first "
                                      "time of each step is kept in step_timestamps.")
    reason: Text | None = Field(None, description="Why the status changes (kept with it).")
    actor: OneLine | None = Field(None, description="Who makes the change; default: the "
                                  "server's git identity.")

    @model_validator(mode="after")
    def _something(self) -> RunPatch:
        if self.status is None and self.current_step is None:
            raise ValueError("give status, current_step or both")
        if self.reason is not None and self.status is None:
            raise ValueError("reason goes with a status change: give status too")
        return self


class RunPage(Document):
    """``GET /runs``: one page of runs, newest first; ``total`` counts them all."""

    plan_ref: str | None = None
    total: int
    offset: int
    limit: int
    runs: list[RunListItem]


# --------------------------------------------------------------------------- errors


def problem(status: int, slug: str, title: str, detail: str, *, instance: str | None = None,
            exit_code: int | None = None, headers: dict[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    """A problem response (RFC 9457), ``application/problem+json``."""
    body: dict[str, Any] = {"type": problem_type(slug) if slug != "about:blank" else slug,
                            "title": title, "status": status, "detail": detail}
    if instance is not None:
        body["instance"] = instance
    if exit_code is not None:
        body["exit_code"] = exit_code
    body.update(extra)
    return JSONResponse(jsonable_encoder(body), status_code=status, headers=headers,
                        media_type=PROBLEM_JSON)


def error_response(exc: RunrError, instance: str | None = None, **extra: Any) -> JSONResponse:
    """The problem for a core error: its exit code decides the status."""
    status, slug, title = STATUS_OF.get(exc.exit_code, (500, "error", "Error"))
    headers = {"Retry-After": "1"} if status == 503 else None
    return problem(status, slug, title, exc.message, instance=instance,
                   exit_code=int(exc.exit_code), headers=headers, **extra)


class PartialPatchError(Exception):
    """A PATCH applied some of its fields before another failed (docs/api.md)."""

    def __init__(self, cause: RunrError, applied: list[str], not_applied: list[str],
                 run: RunSnapshot | None) -> None:
        super().__init__(cause.message)
        self.cause, self.applied, self.not_applied, self.run = cause, applied, not_applied, run


def _install_handlers(app: FastAPI) -> None:
    """Every error becomes a problem document; no traceback ever reaches a client."""

    async def on_runr(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RunrError)
        return error_response(exc, request.url.path)

    async def on_partial(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PartialPatchError)
        run = exc.run.model_dump(mode="json", by_alias=True) if exc.run else None
        return error_response(exc.cause, request.url.path, applied=exc.applied,
                              not_applied=exc.not_applied, run=run)

    async def on_invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
                   "type": str(e.get("type", ""))} for e in exc.errors()]
        detail = "; ".join(f"{'.'.join(e['loc'][1:]) or e['loc'][0] if e['loc'] else 'request'}"
                           f": {e['msg']}" for e in errors[:5]) or "the request is not valid"
        return problem(422, "invalid-request", "The request is not valid", detail,
                       instance=request.url.path, exit_code=int(ExitCode.USAGE),
                       errors=errors)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else "see the status"
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"there is no {request.url.path}; /openapi.json lists what there is"
        elif exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "")
            detail = f"{request.method} is not allowed on {request.url.path} (allowed: " \
                     f"{allowed or 'none'})"
        return problem(exc.status_code, "about:blank", _reason(exc.status_code), detail,
                       instance=request.url.path, headers=dict(exc.headers or {}))

    async def on_git(request: Request, exc: Exception) -> Response:
        text = (f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
                if isinstance(exc, OSError) else f"git object access failed: {exc}")
        return problem(503, "git-failed", STATUS_OF[ExitCode.GIT_FAILED][2], text,
                       instance=request.url.path, exit_code=int(ExitCode.GIT_FAILED),
                       headers={"Retry-After": "1"})

    async def on_anything(request: Request, exc: Exception) -> Response:
        log.error("unexpected error serving %s %s", request.method, request.url.path,
                  exc_info=exc)
        return problem(500, "internal-error", "Internal error",
                       "the server met an unexpected error; its log has the details",
                       instance=request.url.path)

    app.add_exception_handler(RunrError, on_runr)
    app.add_exception_handler(PartialPatchError, on_partial)
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(pygit2.GitError, on_git)
    app.add_exception_handler(OSError, on_git)
    app.add_exception_handler(Exception, on_anything)


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


# --------------------------------------------------------------------------- guard


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_token(token: str) -> str:
    """``token`` if it can be a bearer token; :class:`UsageError` if not."""
    if len(token) < MIN_TOKEN_LENGTH or not token.isascii() or not token.isprintable() \
            or " " in token:
        raise UsageError(f"the API token must be at least {MIN_TOKEN_LENGTH} printable ASCII "
                         "characters without spaces; make one with `python3 -c 'import "
                         "secrets; print(secrets.token_urlsafe(32))'`")
    return token


def _host_name(host: str) -> str:
    """The name part of a Host header (``[::1]:8765`` gives ``::1``)."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


@dataclass
class Guard:
    """ASGI middleware checking every request before any route sees it.

    - With a token: ``Authorization: Bearer <token>`` (or HTTP Basic with the token
      as the password, so a browser can open the page) on every request, compared in
      constant time; otherwise 401.
    - Bound to loopback: the ``Host`` header must name a loopback host, so a web page
      cannot reach the API through DNS rebinding; otherwise 400.
    """

    app: ASGIApp
    token: str | None
    loopback_only: bool

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        path = scope.get("path", "/")
        if self.loopback_only:
            host = headers.get(b"host", b"").decode("latin-1")
            if not is_loopback(_host_name(host)):
                response = problem(400, "bad-host", "Bad Host header",
                                   f"this server answers only to loopback host names, not "
                                   f"{host[:100]!r}", instance=path)
                await response(scope, receive, send)
                return
        if self.token is not None and not _authorized(headers.get(b"authorization"),
                                                      self.token):
            response = problem(
                401, "unauthorized", "Unauthorized",
                "this server needs its token: send `Authorization: Bearer <token>`",
                instance=path, exit_code=int(ExitCode.USAGE),
                headers={"WWW-Authenticate": 'Basic realm="git runr serve", '
                                             'Bearer realm="git runr serve"'})
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(
                    (k, v) for k, v in _ALWAYS if k not in present)]
            await send(message)

        await self.app(scope, receive, send_with_headers)


#: Headers on every response: records are never cached, and never sniffed as HTML.
_ALWAYS = [(b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-store")]


def _authorized(header: bytes | None, token: str) -> bool:
    if not header:
        return False
    scheme, _, value = header.partition(b" ")
    scheme = scheme.lower()
    given = value.strip()
    if scheme == b"basic":
        try:
            given = base64.b64decode(given, validate=True).partition(b":")[2]
        except (binascii.Error, ValueError):
            return False
    elif scheme != b"bearer":
        return False
    return secrets.compare_digest(given, token.encode())


# --------------------------------------------------------------------------- app

#: Errors every operation can answer with, documented in /openapi.json.
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "A malformed value (exit code 2)."},
    404: {"model": Problem, "description": "An unknown run, plan or revision (exit code 4)."},
    409: {"model": Problem, "description": "Conflicts with the current state (exit code 5), "
                                           "or the repository has no commits (3)."},
    422: {"model": Problem, "description": "The request does not match the schema."},
    500: {"model": Problem, "description": "A stored record is damaged (exit code 6), or an "
                                           "unexpected error; never a traceback."},
    503: {"model": Problem, "description": "git failed or kept losing the race for the "
                                           "ledger (exit code 7); retry."},
}

_PAGE_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
             "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


def _clean(value: str | None, what: str) -> str | None:
    """A query value, or UsageError for one git cannot take."""
    if value is None:
        return None
    if len(value) > 1000:
        raise UsageError(f"{what} is longer than 1000 characters")
    try:
        return _no_control(value)
    except ValueError as exc:
        raise UsageError(f"{what}: {exc}") from None


def create_app(where: str | Path | None = None, *, token: str | None = None,
               loopback_only: bool = True) -> FastAPI:
    """The API for the repository at ``where`` (default: the current directory).

    Raises :class:`~gitrunr.errors.NotARepositoryError` now, not at the first
    request, when ``where`` is not a repository with a work tree.
    """
    first = open_repo(where)
    root = first.require_worktree()

    def repo(*, flush: bool = True) -> RunrRepo:
        """The repository, opened for this request, with the hooks' spool flushed."""
        opened = open_repo(root)
        if flush:
            try:
                result = ledger.flush(opened)
            except RunrError as exc:
                log.warning("hook records stay in the spool: %s", exc.message)
            else:
                if result.rejected:
                    log.warning("%d hook record(s) could not be applied; they are kept in %s",
                                len(result.rejected), opened.spool_dir / "rejected")
        return opened

    app = FastAPI(
        title=f"gitrunr: {root.name}", version=__version__, docs_url=None, redoc_url=None,
        description=("The records of one repository: runs, plans and the audit of commits. "
                     "The same core as `git runr`; errors are RFC 9457 problem documents. "
                     "See docs/api.md."),
        responses=_ERRORS,
    )
    app.state.root = root
    _install_handlers(app)
    app.add_middleware(Guard, token=token, loopback_only=loopback_only)

    # ------------------------------------------------------------------ runs

    @app.post("/runs", status_code=201, response_model=RunSnapshot, tags=["runs"],
              summary="Start a run (git runr run start)")
    def start_run(body: RunCreate, response: Response) -> RunSnapshot:
        """Start a run of `plan` (approved or ready, dependencies done), or an ad hoc
        run. The same as `git runr run start` in the served worktree: **the new run
        becomes that worktree's active run**, so commits made there are its
        checkpoints, and a second start while it is open is 409 naming it
        (docs/api.md, "Starting a run")."""
        snapshot = runs.start(repo(), tier=body.tier, plan=body.plan, actor=body.actor)
        response.headers["Location"] = f"/runs/{snapshot.run_id}"
        return snapshot

    @app.get("/runs", response_model=RunPage, tags=["runs"],
             summary="List runs, newest first (git runr runs)")
    def list_runs(
        limit: Annotated[int, Query(ge=1, le=1000, description="Runs per page.")] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000, description="Runs to skip.")] = 0,
        plan: Annotated[str | None, Query(max_length=400,
                                          description="Only the runs of this plan.")] = None,
    ) -> RunPage:
        found: RunList = runs.list_runs(repo(), limit=offset + limit,
                                        plan=_clean(plan, "plan"))
        return RunPage(plan_ref=found.plan_ref, total=found.total, offset=offset, limit=limit,
                       runs=found.runs[offset:])

    @app.get("/runs/{run_id}", response_model=views.RunView, tags=["runs"],
             summary="A run: states, steps, checkpoints, interventions, artifacts")
    def get_run(run_id: str) -> views.RunView:
        view = views.show(repo(), runs.validate_run_id(run_id))
        assert isinstance(view, views.RunView)
        return view

    @app.patch("/runs/{run_id}", response_model=RunSnapshot, tags=["runs"],
               summary="Change a run's status and current step")
    def patch_run(run_id: str, body: RunPatch) -> RunSnapshot:
        """`status` as `git runr run transition`, `current_step` as `git runr run step`.
        Both apply, or the problem says which did (`applied`, `not_applied`)."""
        return _patch(repo(), runs.validate_run_id(run_id), body)

    @app.get("/runs/{run_id}/artifacts/{name}", tags=["runs"], response_class=Response,
             summary="One artifact of a run, byte for byte",
             responses={200: {"description": "The stored bytes, with the manifest's media "
                                             "type.",
                              "content": {"*/*": {"schema": {"type": "string",
                                                              "format": "binary"}}}}})
    def get_artifact(run_id: str, name: str) -> Response:
        entry, data = runs.read_artifact(repo(), runs.validate_run_id(run_id), name)
        inline = entry.media_type in ("text/plain", "application/json")
        return Response(data, media_type=entry.media_type, headers={
            "Content-Disposition": f"{'inline' if inline else 'attachment'}; "
                                   f'filename="{entry.name}"',
            "Content-Security-Policy": "sandbox", "ETag": f'"{entry.sha256}"'})

    # ------------------------------------------------------------------ plans

    @app.get("/plans", response_model=views.StatusReport, tags=["plans"],
             summary="Every plan, its status and latest run (git runr status)")
    def list_plans() -> views.StatusReport:
        return views.status(repo())

    @app.get("/plans/{plan_ref:path}", response_model=views.PlanView, tags=["plans"],
             summary="A plan and its runs (git runr show PLAN)")
    def get_plan(plan_ref: str) -> views.PlanView:
        ref = _clean(plan_ref, "plan") or ""
        if is_run_id(ref):
            raise NotFoundError(f"{ref} is a run, not a plan: GET /runs/{ref}")
        view = views.show(repo(), ref)
        assert isinstance(view, views.PlanView)
        return view

    @app.get("/ready", response_model=views.ReadyReport, tags=["plans"],
             summary="Plans that can start now (git runr ready)")
    def ready() -> views.ReadyReport:
        return views.ready(repo())

    # ------------------------------------------------------------------ audit

    @app.get("/audit", tags=["audit"], response_class=StreamingResponse,
             summary="Classify every commit of a range (git runr audit --json)",
             responses={200: {"model": AuditReport, "description": "The audit report, as "
                                                                   "`git runr audit --json`."}})
    def get_audit(
        range_: Annotated[str | None, Query(alias="range", max_length=1000, description=(
            "A git revision range (main~50..main); default HEAD."))] = None,
        since: Annotated[str | None, Query(max_length=1000,
                                           description="Audit SINCE..HEAD.")] = None,
        first_parent: bool = False,
        no_merges: bool = False,
    ) -> StreamingResponse:
        run = Audit(repo(), _clean(range_, "range"), since=_clean(since, "since"),
                    first_parent=first_parent, no_merges=no_merges)
        return StreamingResponse(_audit_json(run), media_type="application/json")

    @app.get("/", response_class=HTMLResponse, tags=["page"],
             summary="The audit timeline, as a page for people",
             responses={code: {"description": "The problem, as a page.",
                               "content": {"text/html": {}}} for code in (400, 404, 409, 500,
                                                                          503)})
    def page(range_: Annotated[str | None, Query(alias="range", description=(
            "A git revision range; default HEAD."))] = None) -> HTMLResponse:
        from gitrunr import timeline_html

        headers = {"Content-Security-Policy": _PAGE_CSP}
        try:
            text = timeline_html.render_range(repo(), _clean(range_, "range"), server=True)
        except RunrError as exc:
            status, _, title = STATUS_OF.get(exc.exit_code, (500, "", "Error"))
            text = timeline_html.render_error(title, exc.message, range_)
            return HTMLResponse(text, status_code=status, headers=headers)
        return HTMLResponse(text, headers=headers)

    app.openapi = lambda: _openapi(app, token is not None)  # type: ignore[method-assign]
    return app


def _patch(repo: RunrRepo, run_id: str, body: RunPatch) -> RunSnapshot:
    """Apply a PATCH through the core, in the order that keeps it whole.

    A move to an open state goes first and the step second: if the move is refused,
    nothing was written. A finish goes last, because a finalized run takes no step:
    if the step is refused, nothing was written. Only a conflicting request landing
    between the two writes can leave the first applied; then the problem lists
    ``applied`` and ``not_applied`` and carries the run as it now is.
    """
    snapshot = runs.get(repo, run_id)
    steps: list[tuple[str, Callable[[], RunSnapshot]]] = []
    status, step = body.status, body.current_step
    if status is not None:
        steps.append(("status", lambda: runs.transition(repo, run_id, status,
                                                        reason=body.reason, actor=body.actor)))
    if step is not None:
        steps.append(("current_step", lambda: runs.step(repo, run_id, step, actor=body.actor)))
    if status is not None and status.startswith("finalized/"):
        steps.reverse()
    done: list[str] = []
    for i, (field, apply) in enumerate(steps):
        try:
            snapshot = apply()
        except RunrError as exc:
            if not done:
                raise
            raise PartialPatchError(exc, done, [f for f, _ in steps[i:]], snapshot) from None
        done.append(field)
    return snapshot


def _audit_json(run: Audit) -> Iterator[str]:
    """The report of ``git runr audit --json``, streamed in blocks as the audit goes."""
    yield f'{{"schema_version": 1, "range": {json.dumps(run.range, ensure_ascii=False)}, ' \
          f'"commits": ['
    block: list[str] = []
    separator = "\n"
    for entry in run.entries:
        block.append(separator + entry.json_text())
        separator = ",\n"
        if len(block) >= 500:
            yield "".join(block)
            block.clear()
    block.append(f'\n], "summary": {run.summary.model_dump_json()}, '
                 f'"skipped": {json.dumps(run.skipped, ensure_ascii=False)}}}\n')
    yield "".join(block)


def _openapi(app: FastAPI, with_token: bool) -> dict[str, Any]:
    """The OpenAPI document: FastAPI's, with errors as ``application/problem+json``
    (the page's as HTML) and the bearer token declared when the server has one."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description,
                         routes=app.routes)
    ref = {"$ref": "#/components/schemas/Problem"}
    for path, item in schema.get("paths", {}).items():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            if with_token:
                responses["401"] = {"description": "The token is missing or wrong."}
            if path == "/":
                responses.pop("422", None)
                for code, response in responses.items():
                    if code != "200":
                        response["content"] = {"text/html": {"schema": {"type": "string"}}}
                if with_token:
                    responses["401"]["content"] = {PROBLEM_JSON: {"schema": ref}}
                continue
            for code, response in responses.items():
                if code.isdigit() and int(code) >= 400:
                    response["content"] = {PROBLEM_JSON: {"schema": ref}}
    components = schema.setdefault("components", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.get("schemas", {}).pop(unused, None)
    if with_token:
        components["securitySchemes"] = {"token": {"type": "http", "scheme": "bearer"}}
        schema["security"] = [{"token": []}]
    app.openapi_schema = schema
    return schema


# --------------------------------------------------------------------------- serving


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (0: any free port).

    Raises :class:`UsageError` for a host that does not resolve and
    :class:`~gitrunr.errors.InvalidStateError` when the address cannot be taken (in
    use, not this machine's, not allowed).
    """
    from gitrunr.errors import InvalidStateError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageError(f"--host {host!r} does not resolve: {exc}") from None
    family, _, _, _, address = infos[0]
    try:
        return socket.create_server(address[:2], family=family, backlog=128)
    except OSError as exc:
        raise InvalidStateError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
                                "choose another --port") from None


def root_of(app: FastAPI) -> Path:
    """The work tree ``app`` serves."""
    root: Path = app.state.root
    return root


def url_of(sock: socket.socket) -> str:
    """``http://host:port/`` of a listening socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def server(app: FastAPI, *, quiet: bool = False) -> Any:
    """A uvicorn server for ``app`` (call ``.run(sockets=[bind(...)])``)."""
    import copy

    import uvicorn

    # Everything the server says goes to stderr, the access log too (uvicorn's default
    # prints it on stdout).
    logging_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    logging_config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    config = uvicorn.Config(app, lifespan="off", server_header=False, proxy_headers=False,
                            log_level="warning" if quiet else "info",
                            log_config=None if quiet else logging_config)
    return uvicorn.Server(config)


def serve(where: str | Path | None, *, host: str, port: int, token: str | None,
          echo: Callable[[str], None]) -> None:
    """``git runr serve``: refuse a non-loopback bind without a token, bind, serve
    until interrupted. ``echo`` reports the URL once the socket listens."""
    loopback = is_loopback(host)
    if token is not None:
        check_token(token)
    elif not loopback:
        raise UsageError(f"--host {host} is not loopback: serving there needs a token "
                         "(--token or RUNR_API_TOKEN)")
    app = create_app(where, token=token, loopback_only=loopback)
    sock = bind(host, port)
    auth = " (token required)" if token is not None else ""
    echo(f"serving {root_of(app)} at {url_of(sock)}{auth}: the timeline at /, the API at "
         "/runs, /plans, /ready, /audit, its schema at /openapi.json; Ctrl-C stops")
    server(app).run(sockets=[sock])

