"""``.runr/runr.toml``: the team's shared settings, and ``git runr init``.

Precedence (later wins): built-in defaults, then ``.runr/runr.toml`` in the work
tree. The file is committed with the code so a team shares one workflow mode (seed
002 section 5). It is read with :mod:`tomllib`, written with ``tomli-w``, and
validated by :class:`gitrunr.models.RunrConfig`; an unknown key or a bad value is
reported with the key and the file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import tomli_w
from pydantic import ValidationError

from gitrunr.errors import CorruptRecordError
from gitrunr.git import run_git
from gitrunr.models import RunrConfig, WorkflowConfig
from gitrunr.notes import NOTES_REF
from gitrunr.repo import RunrRepo

CONFIG_PATH = Path(".runr") / "runr.toml"


def load(workdir: Path) -> RunrConfig:
    """The configuration of the work tree ``workdir`` (defaults if there is no file).

    Raises :class:`CorruptRecordError` naming the file and the key when the file is
    not valid TOML or does not fit the schema.
    """
    path = workdir / CONFIG_PATH
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return RunrConfig()
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CorruptRecordError(f"{CONFIG_PATH} is not valid TOML: {exc}") from None
    try:
        return RunrConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise CorruptRecordError(f"{CONFIG_PATH}: {key}: {err['msg']}; fix the key or "
                                 "delete the file and run `git runr init`") from None


@dataclass(frozen=True)
class InitResult:
    """What ``git runr init`` did; each flag is False when it was already so."""

    config_path: Path
    config_written: bool
    mode: str
    rewrite_ref_set: bool


def init(repo: RunrRepo, mode: Literal["flow", "ledger"] | None) -> InitResult:
    """Write ``.runr/runr.toml`` (keeping an existing one, changing only ``mode`` when
    asked) and set ``notes.rewriteRef`` so git carries our notes across amend and
    rebase (git-config(1) ``notes.rewriteRef``). Idempotent. Hooks are installed by
    the caller. Raises :class:`CorruptRecordError` for an invalid existing file.
    """
    workdir = repo.require_worktree()
    path = workdir / CONFIG_PATH
    current = load(workdir)
    written = False
    if not path.exists() or (mode is not None and current.workflow.mode != mode):
        new = current.model_copy(update={
            "workflow": WorkflowConfig(mode=mode or current.workflow.mode)})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_render(new), encoding="utf-8")
        current, written = new, True
    refs = run_git(["config", "--get-all", "notes.rewriteRef"], cwd=workdir, check=False)
    rewrite_set = False
    if NOTES_REF not in refs.stdout.decode().split():
        run_git(["config", "--add", "notes.rewriteRef", NOTES_REF], cwd=workdir)
        rewrite_set = True
    return InitResult(config_path=path, config_written=written, mode=current.workflow.mode,
                      rewrite_ref_set=rewrite_set)


def _render(config: RunrConfig) -> str:
    header = ("# gitrunr settings, shared by the team: commit this file.\n"
              "# workflow.mode: \"flow\" (manual work allowed, recorded) or \"ledger\" "
              "(strict).\n")
    return header + tomli_w.dumps(config.model_dump(mode="json"))
