"""``.runr/runr.toml``: the team's shared settings, and ``git runr init``.

Precedence (later wins): built-in defaults, then ``.runr/runr.toml`` in the work
tree. The file is committed with the code so a team shares one workflow mode (seed
002 section 5). It is read with :mod:`tomllib`, written with ``tomli-w``, and
validated by :class:`gitrunr.models.RunrConfig`; an unknown key or a bad value is
reported with the key and the file.

``git runr config get|set|unset|list`` reads and edits single keys: dotted paths into
:class:`~gitrunr.models.RunrConfig` (``workflow.mode``), derived from the models, so a
new field is a new key with no change here. An edit loads the file, changes one value,
validates the whole document, and writes it back atomically with the header comment;
every other key and table is kept (comments other than the header are not: tomllib
does not read them).
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import secrets
import tomllib
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import tomli_w
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from gitrunr.errors import CorruptRecordError, UsageError
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
    data = _read(workdir)
    return RunrConfig() if data is None else _validate_file(data)


def _read(workdir: Path) -> dict[str, Any] | None:
    """The parsed ``.runr/runr.toml`` of ``workdir``; None when there is no file."""
    try:
        return tomllib.loads((workdir / CONFIG_PATH).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CorruptRecordError(f"{CONFIG_PATH} is not valid TOML: {exc}") from None


def _validate_file(data: dict[str, Any]) -> RunrConfig:
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


#: The comment at the top of ``.runr/runr.toml``; every write puts it back.
HEADER = ("# gitrunr settings, shared by the team: commit this file.\n"
          "# workflow.mode: \"flow\" (manual work allowed, recorded) or \"ledger\" "
          "(strict).\n")


def _render(config: RunrConfig) -> str:
    return HEADER + tomli_w.dumps(config.model_dump(mode="json"))


# --------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class Setting:
    """One key's effective value. ``default`` is True when the file does not set it
    (the value is the built-in default), False when ``.runr/runr.toml`` does."""

    key: str
    #: The value in its JSON form: a string, a number, a list.
    value: Any
    default: bool

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value, "default": self.default}


@dataclass(frozen=True)
class Change:
    """What ``config set``/``unset`` did. ``changed`` is False when nothing was
    written (the key already had that value, or was not set)."""

    key: str
    path: Path
    old: Any
    value: Any
    changed: bool
    #: True when the file did not exist and was created (with every default).
    created: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "old": self.old, "value": self.value,
                "changed": self.changed, "created": self.created, "path": str(self.path)}


def _fields(model: type[BaseModel], prefix: tuple[str, ...] = ()
            ) -> Iterator[tuple[tuple[str, ...], FieldInfo]]:
    for name, field in model.model_fields.items():
        if not prefix and name == "schema_version":  # the format's, not a setting
            continue
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _fields(ann, (*prefix, name))
        else:
            yield (*prefix, name), field


#: Every settable key, as a dotted path, mapped to its field (in file order).
_KEYS: dict[str, tuple[tuple[str, ...], FieldInfo]] = {
    ".".join(path): (path, field) for path, field in _fields(RunrConfig)}


def keys() -> list[str]:
    """The settable keys, dotted (``workflow.mode``), in the order of the schema."""
    return list(_KEYS)


def _lookup(key: str) -> tuple[tuple[str, ...], FieldInfo]:
    """The path and field of ``key``; :class:`UsageError` naming it (with close
    matches and the list of keys) when it is not a key."""
    if key in _KEYS:
        return _KEYS[key]
    known = ", ".join(_KEYS)
    if key == "schema_version":
        raise UsageError(f"schema_version is the file format's version, not a setting; "
                         f"the keys are: {known}")
    table = [k for k in _KEYS if k.startswith(key + ".")]
    if table:
        raise UsageError(f"{key!r} is a table, not a key; its keys are: {', '.join(table)}")
    close = difflib.get_close_matches(key, list(_KEYS), n=3, cutoff=0.6)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    raise UsageError(f"unknown key {key!r}{hint}; the keys are: {known}")


def _dig(data: dict[str, Any] | None, path: tuple[str, ...]) -> tuple[bool, Any]:
    """``(True, value)`` at ``path`` in nested tables, ``(False, None)`` if absent."""
    node: Any = data
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _settings(data: dict[str, Any] | None) -> list[Setting]:
    effective = (RunrConfig() if data is None else _validate_file(data)).model_dump(mode="json")
    out = []
    for key, (path, _field) in _KEYS.items():
        present, _raw = _dig(data, path)
        out.append(Setting(key=key, value=_dig(effective, path)[1], default=not present))
    return out


def get_value(workdir: Path, key: str) -> Setting:
    """The effective value of ``key`` (the file's, else the default). Raises
    :class:`UsageError` for an unknown key, :class:`CorruptRecordError` for an
    invalid file."""
    _lookup(key)
    return next(s for s in _settings(_read(workdir)) if s.key == key)


def list_values(workdir: Path) -> list[Setting]:
    """Every key with its effective value, in the order of the schema."""
    return _settings(_read(workdir))


def _kind(annotation: Any) -> str:
    """How a value for a field of this type is typed on the command line."""
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, set, frozenset):
        return "list"
    if annotation is bool:
        return "bool"
    if annotation is int:
        return "int"
    if annotation is float:
        return "float"
    if annotation is str or origin is Literal:
        return "str"
    return "json"


def parse_value(key: str, raw: str) -> Any:
    """``raw`` (a command-line string) as a value for ``key``'s type: an integer for
    an int, a JSON list for a list (``'["a", "b"]'``), the text itself for a string.
    Only the shape is checked here; the schema checks the rest.
    Raises :class:`UsageError` naming the key."""
    _path, field = _lookup(key)
    kind = _kind(field.annotation)
    if kind == "str":
        return raw
    if kind == "int":
        try:
            return int(raw.strip())
        except ValueError:
            raise UsageError(f"{key} takes an integer, not {raw!r}; nothing written") from None
    if kind == "float":
        try:
            return float(raw.strip())
        except ValueError:
            raise UsageError(f"{key} takes a number, not {raw!r}; nothing written") from None
    if kind == "bool":
        if raw.strip().lower() in ("true", "false"):
            return raw.strip().lower() == "true"
        raise UsageError(f"{key} takes true or false, not {raw!r}; nothing written")
    try:
        value = json.loads(raw)
    except ValueError:
        if kind == "json":
            return raw
        value = None
    if kind == "list" and not isinstance(value, list):
        raise UsageError(f"{key} takes a JSON list such as '[\"a\", \"b\"]', not {raw!r}; "
                         "nothing written")
    return value


def _bad_value(key: str, value: Any, exc: ValidationError) -> UsageError:
    err = exc.errors()[0]
    path, loc = tuple(key.split(".")), tuple(err["loc"])
    # An item of a list: evidence.redact[0], and show that item.
    inner = loc[len(path):] if loc[:len(path)] == path else ()
    where = key + "".join(f"[{p}]" for p in inner)
    with contextlib.suppress(LookupError, TypeError):
        for p in inner:
            value = value[p]
    msg = str(err["msg"]).removeprefix("Value error, ")
    shown = repr(value) if isinstance(value, str) else json.dumps(value)
    return UsageError(f"bad value for {where}: {shown}: {msg}; nothing written")


def _write(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` with the header to ``path`` atomically (a temporary file beside
    it, then a rename), keeping the file's permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8", newline="\n") as fh:
            fh.write(HEADER + tomli_w.dumps(data))
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileNotFoundError):  # a new file keeps the umask's mode
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def set_value(workdir: Path, key: str, raw: str) -> Change:
    """Set ``key`` to ``raw`` (parsed by :func:`parse_value`) in ``.runr/runr.toml``,
    keeping every other key and table; create the file (with every default, as
    ``git runr init`` does) when there is none. Writes nothing when the key already
    has that value.

    Raises :class:`UsageError` (unknown key, bad value: the schema's check, naming
    the key) and :class:`CorruptRecordError` (the existing file is invalid); in
    either case nothing is written.
    """
    path_in_doc, _field = _lookup(key)
    value = parse_value(key, raw)
    path = workdir / CONFIG_PATH
    data = _read(workdir)
    current = RunrConfig() if data is None else _validate_file(data)
    old = _dig(current.model_dump(mode="json"), path_in_doc)[1]
    created = data is None
    new = RunrConfig().model_dump(mode="json") if data is None else _copy(data)
    node = new
    for part in path_in_doc[:-1]:
        node = node.setdefault(part, {})
    node[path_in_doc[-1]] = value
    try:
        checked = RunrConfig.model_validate(new)
    except ValidationError as exc:
        raise _bad_value(key, value, exc) from None
    value = _dig(checked.model_dump(mode="json"), path_in_doc)[1]
    node[path_in_doc[-1]] = value
    if value == old:
        return Change(key=key, path=path, old=old, value=value, changed=False)
    _write(path, new)
    return Change(key=key, path=path, old=old, value=value, changed=True, created=created)


def unset_value(workdir: Path, key: str) -> Change:
    """Remove ``key`` from ``.runr/runr.toml`` (it is then its default); a table it
    leaves empty goes too. Writes nothing when the file does not set it."""
    path_in_doc, _field = _lookup(key)
    path = workdir / CONFIG_PATH
    data = _read(workdir)
    current = RunrConfig() if data is None else _validate_file(data)
    old = _dig(current.model_dump(mode="json"), path_in_doc)[1]
    default = _dig(RunrConfig().model_dump(mode="json"), path_in_doc)[1]
    present, _raw = _dig(data, path_in_doc)
    if data is None or not present:
        return Change(key=key, path=path, old=old, value=default, changed=False)
    new = _copy(data)
    parents = [new]
    for part in path_in_doc[:-1]:
        parents.append(parents[-1][part])
    del parents[-1][path_in_doc[-1]]
    for depth in range(len(path_in_doc) - 1, 0, -1):  # drop tables left empty
        if parents[depth]:
            break
        del parents[depth - 1][path_in_doc[depth - 1]]
    _validate_file(new)
    _write(path, new)
    return Change(key=key, path=path, old=old, value=default, changed=True)


def _copy(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _copy(v) if isinstance(v, dict) else v for k, v in data.items()}
