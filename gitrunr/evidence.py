"""``git runr evidence``: verification output attached to a run, secrets redacted.

Seed ``002_840b2e5c18ad6aa1.txt``: flow mode's first rule ("always run typecheck +
tests before final merge") and ledger mode's third ("every task must attach
verification evidence logs"); the audit timeline marks each checkpoint
``Evidence: ✓``. A command is run with the shell in the work tree; its exit code,
duration and a bounded tail of its output go in an ``evidence_recorded`` event, and
the whole output (up to ``[evidence] max_log_bytes``) in a blob of the ledger. Both
are redacted first: built-in patterns for common secrets plus ``[evidence] redact``
from ``.runr/runr.toml``. The evidence names HEAD when the command ran: the
checkpoint it is evidence for.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TextIO

from gitrunr import config, ledger, workflow
from gitrunr.errors import NotFoundError, UsageError
from gitrunr.ids import new_id
from gitrunr.models import EvidenceConfig, EvidenceRecorded, RunSnapshot, utcnow
from gitrunr.repo import RunrRepo
from gitrunr.runs import get

REDACTED = "[REDACTED]"
#: Secrets redacted whatever the configuration says (docs/workflow.md lists them).
#: A pattern with a group named ``value`` replaces only that group.
BUILT_IN: tuple[str, ...] = (
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
    r"\bAKIA[0-9A-Z]{16}\b",
    r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b",
    r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b",
    r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b",
    r"\bsk-[A-Za-z0-9_-]{20,}\b",
    r"(?i)\bbearer\s+(?P<value>[A-Za-z0-9._~+/-]{8,}=*)",
    r"(?i)\b(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|"
    r"client[_-]?secret)\b[\"']?\s*[:=]\s*(?P<value>\"[^\"\n]*\"|'[^'\n]*'|[^\s\"',;]+)",
)


def redact(text: str, patterns: Iterable[str]) -> tuple[str, int]:
    """``text`` with every match of the built-in and the given patterns replaced by
    ``[REDACTED]`` (only the ``value`` group when the pattern has one), and how many
    were replaced. Patterns are Python regular expressions (:mod:`re`)."""
    total = 0
    for pattern in (*BUILT_IN, *patterns):
        text, n = re.compile(pattern).subn(_hide, text)
        total += n
    return text, total


def _hide(match: re.Match[str]) -> str:
    """The match with its ``value`` group (or, without one, all of it) redacted."""
    if "value" in match.re.groupindex and match.group("value") is not None:
        start, end = (i - match.start() for i in match.span("value"))
        return match.group(0)[:start] + REDACTED + match.group(0)[end:]
    return REDACTED


@dataclass(frozen=True)
class Output:
    """A command's result: exit code, wall time in ms, output (cut at ``limit``)."""

    exit_code: int
    duration_ms: int
    data: bytes
    cut: bool


def run(cmd: str, cwd: str, *, limit: int, echo: TextIO | None = sys.stderr) -> Output:
    """Run ``cmd`` with the shell in ``cwd``, stdout and stderr combined, echoed live;
    keep at most ``limit`` bytes of output (the rest is read and dropped). Exit code
    127 when the shell cannot run it."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, shell=True, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    kept = bytearray()
    cut = False
    stream = proc.stdout
    for chunk in iter(lambda: stream.read1(65536), b""):  # type: ignore[attr-defined]
        if echo is not None:
            echo.write(chunk.decode("utf-8", "replace"))
            echo.flush()
        room = limit - len(kept)
        if room > 0:
            kept += chunk[:room]
        if len(chunk) > max(room, 0):
            cut = True
    code = proc.wait()
    return Output(code, int((time.monotonic() - started) * 1000), bytes(kept), cut)


def record(repo: RunrRepo, run_id: str, cmd: str, *, task: str | None = None,
           echo: TextIO | None = sys.stderr) -> tuple[RunSnapshot, EvidenceRecorded]:
    """Run ``cmd`` and attach its result to ``run_id`` as evidence (for ``task``).

    Checked before the command runs: the run exists and is open, and may take
    evidence in its mode (a stopped run in ledger mode may not), and ``task`` is one
    of its tasks. A failing command is recorded too (its exit code says so).

    Raises :class:`UsageError` for an empty command, the run's errors
    (:func:`gitrunr.runs.get`), :class:`~gitrunr.errors.InvalidStateError`.
    """
    workdir = repo.require_worktree()
    if not cmd.strip():
        raise UsageError("--cmd is empty: give the command that verifies the work")
    snapshot = get(repo, run_id)
    workflow.require_open(repo, snapshot, "attach evidence")
    if task is not None and snapshot.exec_status.tasks and snapshot.plan_ref and task not in [
            t.task for t in snapshot.exec_status.tasks]:
        known = ", ".join(t.task for t in snapshot.exec_status.tasks)
        raise NotFoundError(f"run {run_id} has no task {task!r}; its tasks are {known}")
    settings: EvidenceConfig = config.load(workdir).evidence
    head = None if repo.git.head_is_unborn else str(repo.git.head.target)
    out = run(cmd, str(workdir), limit=settings.max_log_bytes, echo=echo)
    text, hidden = redact(out.data.decode("utf-8", "replace"), settings.redact)
    data = text.encode()
    tail = data[-settings.tail_bytes:].decode("utf-8", "ignore") if settings.tail_bytes else ""
    blob = repo.git.create_blob(data)
    event = EvidenceRecorded(
        event_id=new_id("ev"), run_id=run_id, at=utcnow(), actor=ledger.actor(repo.git),
        task=task, cmd=redact(cmd, settings.redact)[0], exit_code=out.exit_code,
        duration_ms=out.duration_ms, output_tail=tail,
        output_truncated=out.cut or len(data) > len(tail.encode()),
        output_bytes=len(data), log_blob=str(blob),
        log_sha256=hashlib.sha256(data).hexdigest(), redactions=hidden, head=head)
    result = ledger.append(repo, [event])
    return result.snapshots[run_id], event
