"""Installing, removing and inspecting gitrunr's git hooks.

gitrunr installs four hooks (githooks(5)): ``commit-msg`` (stamps trailers while a
run is active or an intervention is pending), ``post-commit`` and ``post-merge``
(record the commit) and ``post-rewrite`` (keeps records true after ``commit --amend``
and ``rebase``); and, only when asked (:data:`OPTIONAL_HOOKS`), ``pre-push``, which
syncs the records with the remote being pushed to.
Each is a small POSIX ``sh`` *shim* (:func:`render_shim`) that does the cheap checks
itself and execs ``python -P -m gitrunr.hooks <hook> ARGS`` only when there is work.

The contract, after pre-commit's ``install_uninstall.py``: gitrunr never clobbers a
hook it did not write. A foreign hook at ``<hook>`` is renamed to
``<hook>.runr-orig`` (:data:`CHAINED_SUFFIX`) with :func:`os.replace`, which keeps its
bytes, mode and even a symlink; the shim runs it first with the same arguments (and
stdin) and stops with its exit status if it fails; :func:`uninstall` moves it back.
Our shims are recognised by :data:`MARKER` on their second line (:func:`is_ours`).
``*.sample`` files are never touched.

The hooks directory is ``git rev-parse --git-path hooks`` (git-rev-parse(1)), which
honours ``core.hooksPath`` (git-config(1)) and linked worktrees (they share the main
worktree's hooks, gitrepository-layout(5)).

Standard library only: nothing here may slow down or break ``import gitrunr.hooks``.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import stat
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gitrunr.errors import GitError, InvalidStateError, NotARepositoryError, UsageError
from gitrunr.git import git_path, git_text

__all__ = [
    "CHAINED_SUFFIX",
    "HOOK_NAMES",
    "MARKER",
    "OPTIONAL_HOOKS",
    "SHIM_VERSION",
    "HookStatus",
    "hooks_dir",
    "install",
    "is_ours",
    "render_shim",
    "status",
    "uninstall",
]

#: The hooks gitrunr installs, in the order they are reported.
HOOK_NAMES: tuple[str, ...] = ("commit-msg", "post-commit", "post-merge", "post-rewrite")
#: Hooks installed only when asked (``git runr init --sync-on-push``); status and
#: uninstall cover them too.
OPTIONAL_HOOKS: tuple[str, ...] = ("pre-push",)
_ALL_HOOKS = HOOK_NAMES + OPTIONAL_HOOKS
#: Identifies our shims: line 2 of every shim starts with ``# gitrunr-hook v<N> (<hook>)``.
MARKER = "gitrunr-hook"
#: A hook we did not write is kept beside ours as ``<hook>.runr-orig`` and run first.
CHAINED_SUFFIX = ".runr-orig"
#: Version of the shim format, written after :data:`MARKER`.
SHIM_VERSION = 1

#: Mode of every shim we write (``rwxr-xr-x``), independent of the umask.
_SHIM_MODE = 0o755
#: How much of a file :func:`is_ours` reads: enough for the first two lines.
_HEAD_BYTES = 512
#: The hook whose exit status git honours among ours: a failure there blocks the commit.
_BLOCKING_HOOKS = frozenset({"commit-msg"})
#: Hooks git feeds on stdin: ``<old-sha> SP <new-sha>`` per rewritten commit
#: (post-rewrite), ``<local ref> SP <local sha> SP <remote ref> SP <remote sha>`` per
#: pushed ref (pre-push). They start only when the ledger exists.
_STDIN_HOOKS = frozenset({"post-rewrite", "pre-push"})
#: Hooks that read the new commit: the shim hands it to them on stdin.
_HEAD_HOOKS = frozenset({"post-commit", "post-merge"})

_NOT_A_REPO = (
    "not a git repository (or any parent): run this inside a repository, or `git init` first"
)


@dataclass(frozen=True)
class HookStatus:
    """What occupies one hook slot of the hooks directory.

    ``installed`` and ``foreign`` are never both true. ``chained`` is set whenever
    ``<name>.runr-orig`` exists: while ``installed`` the shim runs it first; when not
    installed it is a leftover that :func:`uninstall` restores once ``<name>`` is free.
    """

    name: str
    #: Where the hook lives: ``<hooks dir>/<name>``.
    path: Path
    #: Our shim is at :attr:`path`.
    installed: bool
    #: The foreign hook we keep and run first (``<name>.runr-orig``), if any.
    chained: Path | None
    #: A hook we did not write occupies :attr:`path` (only possible when not installed).
    foreign: bool
    #: The Python our shim execs, parsed back from the shim; ``None`` if not installed.
    interpreter: str | None

    def to_json(self) -> dict[str, object]:
        """The status as JSON-ready data.

        Shape: ``{"name": str, "path": str, "installed": bool, "chained": str | None,
        "foreign": bool, "interpreter": str | None}``.
        """
        return {
            "name": self.name,
            "path": str(self.path),
            "installed": self.installed,
            "chained": None if self.chained is None else str(self.chained),
            "foreign": self.foreign,
            "interpreter": self.interpreter,
        }


# --------------------------------------------------------------------------- lookup


def hooks_dir(cwd: str | os.PathLike[str] | None = None) -> Path:
    """The absolute hooks directory of the repository containing ``cwd`` (default: cwd).

    This is ``git rev-parse --git-path hooks`` (git-rev-parse(1)): ``$GIT_COMMON_DIR/hooks``
    by default, so every linked worktree shares the main worktree's hooks, or
    ``core.hooksPath`` when set (a relative ``core.hooksPath`` is relative to the top of
    the work tree the hook runs in, githooks(5)). The directory may not exist yet.
    Symlinks and ``..`` in the result are resolved.

    Raises :class:`~gitrunr.errors.NotARepositoryError` outside a repository, for a
    ``cwd`` that is not a directory, and in a bare repository (gitrunr needs a work
    tree); :class:`~gitrunr.errors.GitError` if git fails otherwise.
    """
    if cwd is not None and not Path(cwd).is_dir():
        raise NotARepositoryError(f"{os.fspath(cwd)} is not a directory: {_NOT_A_REPO}")
    try:
        bare = git_text(["rev-parse", "--is-bare-repository"], cwd=cwd)
        if bare.strip() == "true":
            raise NotARepositoryError(
                "this is a bare repository, and gitrunr needs a work tree: run this inside "
                "a clone with a work tree (`git clone` it, or `git worktree add`)"
            )
        return git_path("hooks", cwd=cwd).resolve()
    except GitError as err:
        if "not a git repository" in err.message:
            raise NotARepositoryError(_NOT_A_REPO) from None
        raise


def is_ours(path: Path) -> bool:
    """Whether ``path`` is a shim gitrunr wrote.

    True for a regular file (not a symlink) whose second line starts with
    ``# gitrunr-hook``. False for anything else, including a missing or unreadable
    file: when in doubt a hook is foreign, so it is kept rather than overwritten.
    """
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        with open(path, "rb") as f:
            head = f.read(_HEAD_BYTES)
    except OSError:
        return False
    lines = head.split(b"\n")
    return len(lines) >= 2 and lines[1].startswith(f"# {MARKER} ".encode())


def _interpreter_of(path: Path) -> str | None:
    """The interpreter a shim at ``path`` execs (its ``python='...'`` line), or None."""
    try:
        text = path.read_bytes().decode("utf-8", "surrogateescape")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("python='"):
            try:
                words = shlex.split(line[len("python="):])
            except ValueError:
                return None
            return words[0] if len(words) == 1 else None
    return None


def _lexists(path: Path) -> bool:
    return os.path.lexists(path)


def _status_of(directory: Path, name: str) -> HookStatus:
    path = directory / name
    orig = directory / (name + CHAINED_SUFFIX)
    installed = is_ours(path)
    return HookStatus(
        name=name,
        path=path,
        installed=installed,
        chained=orig if _lexists(orig) else None,
        foreign=_lexists(path) and not installed,
        interpreter=_interpreter_of(path) if installed else None,
    )


def _check_names(hooks: Sequence[str]) -> list[str]:
    """``hooks`` without duplicates, in order; UsageError for a hook we do not install."""
    if isinstance(hooks, str):
        raise TypeError("hooks must be a sequence of hook names, not a single string")
    unknown = [h for h in hooks if h not in _ALL_HOOKS]
    if unknown:
        raise UsageError(
            f"unknown hook {unknown[0]!r}: gitrunr installs {', '.join(_ALL_HOOKS)}"
        )
    return list(dict.fromkeys(hooks))


def status(
    cwd: str | os.PathLike[str] | None = None, *, hooks: Sequence[str] = _ALL_HOOKS
) -> list[HookStatus]:
    """One :class:`HookStatus` per hook in ``hooks``, in that order. Changes nothing.

    Raises :class:`~gitrunr.errors.NotARepositoryError` (see :func:`hooks_dir`) and
    :class:`~gitrunr.errors.UsageError` for a hook name not in :data:`HOOK_NAMES`.
    """
    names = _check_names(hooks)
    directory = hooks_dir(cwd)
    return [_status_of(directory, name) for name in names]


# --------------------------------------------------------------------------- the shim


def _fast_start(package_dir: str) -> list[str]:
    """Shim lines that start Python without ``site`` (``-S``), the package put on the
    path by ``PYTHONPATH`` instead: the runtime needs only the standard library and
    gitrunr, and ``site`` (``.pth`` files of every installed package) costs more than
    the hook's own work. The flusher the hook starts runs with ``site`` as usual."""
    if any(c in package_dir for c in "\n\r\0:"):
        return ["fast="]
    return [
        "# Without site (-S): the runtime needs only the standard library and gitrunr.",
        'if [ -n "$fast" ]; then',
        f"    PYTHONPATH={_sh_quote(package_dir)}${{PYTHONPATH:+:$PYTHONPATH}}; "
        "export PYTHONPATH",
        "fi",
    ]


def _sh_quote(value: str) -> str:
    """``value`` single-quoted for sh, always (a ``'`` becomes ``'\\''``)."""
    return "'" + value.replace("'", "'\\''") + "'"


def package_root() -> str:
    """The directory holding the ``gitrunr`` package this process imported."""
    return str(Path(__file__).resolve().parent.parent.parent)


def render_shim(hook: str, python: str, package_dir: str | None = None) -> str:
    """The text of the POSIX sh shim for ``hook`` that execs ``python``.

    In order, the shim: (1) runs ``<its dir>/<hook>.runr-orig`` first if that is
    executable, with the same arguments (for ``post-rewrite`` and ``pre-push`` the
    same stdin, saved to a ``mktemp`` file removed on exit), and exits with its status
    if non-zero; (2) exits 0 if ``GITRUNR_HOOKS=off``; (3) exits 0 unless there is
    work: for ``commit-msg``/``post-commit`` a ``runr/active-run.json`` or
    ``runr/pending-intervention.json`` under ``git rev-parse --git-path runr`` (per
    worktree; that directory, relative to the work tree top as git printed it, is
    exported as ``GITRUNR_STATE_DIR``), for ``post-rewrite`` and ``pre-push`` a
    ``refs/runr/ledger`` ref; (4) falls back to ``python3`` on PATH if ``python`` is
    gone and that ``python3`` can import gitrunr, else prints why and exits 1 for
    ``commit-msg`` (blocking the commit) or 0;
    (5) execs ``"$python" -P -m gitrunr.hooks <hook> "$@"``.

    git runs hooks from the top of the work tree with ``$0`` the hook's path
    (githooks(5)); the shim never changes directory, so relative paths git passes
    (``.git/COMMIT_EDITMSG``) and ``GIT_INDEX_FILE`` stay valid.

    Raises :class:`~gitrunr.errors.UsageError` if ``hook`` is not in
    :data:`HOOK_NAMES`, or ``python`` is not an absolute path or contains a newline
    or NUL (git runs hooks from the work tree, so a relative path would not resolve).
    """
    if hook not in _ALL_HOOKS:
        raise UsageError(f"unknown hook {hook!r}: gitrunr installs {', '.join(_ALL_HOOKS)}")
    if "\n" in python or "\r" in python or "\0" in python:
        raise UsageError(f"interpreter path {python!r} contains a newline or NUL")
    if not os.path.isabs(python):
        raise UsageError(
            f"interpreter {python!r} is not an absolute path: git runs hooks from the top "
            "of the work tree, so give the full path (for example sys.executable)"
        )
    orig = f'"$here/{hook}{CHAINED_SUFFIX}"'
    out: list[str] = [
        "#!/bin/sh",
        f"# {MARKER} v{SHIM_VERSION} ({hook}): written by `git runr hooks install`; "
        "do not edit.",
        "# `git runr hooks uninstall` removes it and restores the hook it replaced.",
        "",
        "# git runs hooks from the top of the work tree, $0 being the hook's path.",
        'case $0 in */*) here=${0%/*} ;; *) here=. ;; esac',
        "",
        "# 1. The hook this one replaced runs first; its failure is ours.",
    ]
    if hook in _STDIN_HOOKS:
        out += [
            "tmp=",
            f"if [ -x {orig} ]; then",
            f'    tmp=$(mktemp "${{TMPDIR:-/tmp}}/gitrunr-{hook}.XXXXXX") || {{',
            f"        echo 'gitrunr: cannot save the {hook} input (mktemp failed); "
            "running only the chained hook' >&2",
            f'        exec {orig} "$@"',
            "    }",
            "    trap 'rm -f \"$tmp\"' EXIT",
            "    trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM",
            '    cat >"$tmp" || exit 1',
            f'    {orig} "$@" <"$tmp" || exit $?',
            "fi",
        ]
    else:
        out += [
            f"if [ -x {orig} ]; then",
            f'    {orig} "$@" || exit $?',
            "fi",
        ]
    out += [
        "",
        "# 2. gitrunr making a commit itself.",
        'if [ "${GITRUNR_HOOKS-}" = off ]; then exit 0; fi',
        "",
        "# 3. Fast path: nothing to do unless gitrunr has state for this commit.",
    ]
    if hook in _STDIN_HOOKS:
        out += ["git rev-parse -q --verify refs/runr/ledger >/dev/null 2>&1 || exit 0"]
    else:
        out += [
            "state=$(git rev-parse --git-path runr 2>/dev/null) || exit 0",
            'if [ ! -e "$state/active-run.json" ] && '
            '[ ! -e "$state/pending-intervention.json" ]; then',
        ]
        if hook == "commit-msg":
            out += [
                "    # Ledger mode refuses a commit with no provenance (docs/workflow.md):",
                "    # go on when a line of .runr/runr.toml that is not a comment names mode",
                "    # and ledger (read with builtins only; Python then parses the file).",
                "    ledger=",
                "    if [ -f .runr/runr.toml ]; then",
                "        while IFS= read -r line || [ -n \"$line\" ]; do",
                "            line=${line#\"${line%%[![:space:]]*}\"}  # leading blanks off",
                "            case $line in",
                "                \\#*) ;;",
                "                *mode*ledger*) ledger=1; break ;;",
                "            esac",
                "        done < .runr/runr.toml",
                "    fi",
                '    [ -n "$ledger" ] || exit 0',
            ]
        else:
            out += ["    exit 0"]
        out += [
            "fi",
            "# Spares the hook runtime its own `git rev-parse --git-path runr`.",
            'GITRUNR_STATE_DIR=$state; export GITRUNR_STATE_DIR',
        ]
        if hook == "commit-msg":
            out += [
                "# ...and its own `git config core.commentChar` (Python's subprocess "
                "module alone costs ~10 ms to import).",
                'GITRUNR_COMMENT_CHAR=$(git config --get core.commentChar); '
                "export GITRUNR_COMMENT_CHAR",
            ]
    failure_status = 1 if hook in _BLOCKING_HOOKS else 0
    out += [
        "",
        "# 4. The interpreter gitrunr was installed with, else a python3 that has gitrunr.",
        f"python={_sh_quote(python)}",
        "fast=-S",
        'if [ -d "$python" ] || [ ! -x "$python" ]; then',
        "    if python3 -P -c 'import gitrunr' >/dev/null 2>&1; then",
        "        python=python3; fast=",
        "    else",
        f"        printf 'gitrunr: cannot run the {hook} hook: %s is gone; reinstall gitrunr "
        "and run `git runr hooks install` (or commit with --no-verify)\\n' \"$python\" >&2",
        f"        exit {failure_status}",
        "    fi",
        "fi",
        "",
        "# 5. -P keeps the work tree off sys.path: a checkout of gitrunr cannot shadow it.",
    ]
    if hook in _STDIN_HOOKS:
        out += [
            'if [ -n "$tmp" ]; then',
            "    # Reopen the saved input as stdin, then unlink it: exec skips the trap.",
            '    exec <"$tmp"',
            '    rm -f "$tmp"',
            "    trap - EXIT HUP INT TERM",
            "fi",
        ]
    out += [*_fast_start(package_dir if package_dir is not None else package_root())]
    if hook in _HEAD_HOOKS:
        out += [
            "# The new commit, as `git cat-file --batch` prints it, on the hook's stdin.",
            "GITRUNR_HEAD_ON_STDIN=1; export GITRUNR_HEAD_ON_STDIN",
            "printf 'HEAD\\n' | git cat-file --batch | "
            f'exec "$python" $fast -P -m gitrunr.hooks {hook} "$@"',
            "",
        ]
    else:
        out += [f'exec "$python" $fast -P -m gitrunr.hooks {hook} "$@"', ""]
    return "\n".join(out)


# --------------------------------------------------------------------------- changes


def _os_failure(action: str, path: Path, err: OSError) -> InvalidStateError:
    reason = err.strerror or str(err)
    return InvalidStateError(f"cannot {action} {path}: {reason}")


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0o755 via a temp file and :func:`os.replace`."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), _SHIM_MODE)
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise


def install(
    cwd: str | os.PathLike[str] | None = None,
    *,
    python: str = sys.executable,
    hooks: Sequence[str] = HOOK_NAMES,
) -> list[HookStatus]:
    """Install our shims for ``hooks``; return their status afterwards (in ``hooks`` order).

    Idempotent. For each hook: our shim already there is rewritten (an upgrade, or a
    new ``python``); a foreign hook at ``<hook>`` is first renamed to
    ``<hook>.runr-orig`` (bytes, mode and symlinks kept) and chained; an existing
    ``<hook>.runr-orig`` with no foreign hook in the way is chained as it is. The hooks
    directory is created if missing (``core.hooksPath`` may name a new directory).
    Shims are written atomically with mode 0o755.

    Every hook is checked before any is changed, so a refusal writes nothing.

    Raises :class:`~gitrunr.errors.InvalidStateError` when a foreign ``<hook>`` and a
    ``<hook>.runr-orig`` both exist (keeping both is impossible without losing one),
    when ``<hook>`` is a directory or other non-file, or when the filesystem refuses a
    change; :class:`~gitrunr.errors.UsageError` for an unknown hook or an unusable
    ``python`` (see :func:`render_shim`); :class:`~gitrunr.errors.NotARepositoryError`
    outside a repository or in a bare one (see :func:`hooks_dir`).
    """
    names = _check_names(hooks)
    shims = {name: render_shim(name, python).encode("utf-8", "surrogateescape") for name in names}
    directory = hooks_dir(cwd)

    # Check everything first: a refusal must leave every hook as it was.
    for name in names:
        path = directory / name
        orig = directory / (name + CHAINED_SUFFIX)
        if not _lexists(path) or is_ours(path):
            continue
        if not path.is_symlink() and not path.is_file():
            raise InvalidStateError(
                f"{path} is not a file, so it is not a hook gitrunr can keep and chain: "
                f"move it away, then run `git runr hooks install` again"
            )
        if _lexists(orig):
            raise InvalidStateError(
                f"{path} is a hook gitrunr did not write, and {orig} (a hook kept from an "
                f"earlier install) exists too: merge one into the other or delete one, "
                f"then run `git runr hooks install` again"
            )

    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _os_failure("create the hooks directory", directory, err) from None

    for name in names:
        path = directory / name
        orig = directory / (name + CHAINED_SUFFIX)
        try:
            if _lexists(path) and not is_ours(path):
                os.replace(path, orig)
            _write_atomically(path, shims[name])
        except OSError as err:
            raise _os_failure(f"install the {name} hook at", path, err) from None
    return [_status_of(directory, name) for name in names]


def uninstall(
    cwd: str | os.PathLike[str] | None = None, *, hooks: Sequence[str] = _ALL_HOOKS
) -> list[HookStatus]:
    """Remove our shims for ``hooks`` and restore the hooks they replaced.

    Idempotent. For each hook: our shim is removed (only a file carrying
    :data:`MARKER`); then ``<hook>.runr-orig``, if any, is moved back to ``<hook>`` with
    :func:`os.replace` (byte for byte, same mode, a symlink stays a symlink; when our
    shim was there the swap is atomic, so the slot is never empty). A foreign hook at
    ``<hook>`` is left alone, and so is ``<hook>.runr-orig`` beside it (the returned
    status shows both: ``foreign`` and ``chained``). A missing hooks directory is fine.
    Returns the status afterwards, in ``hooks`` order.

    Raises :class:`~gitrunr.errors.NotARepositoryError` (see :func:`hooks_dir`),
    :class:`~gitrunr.errors.UsageError` for an unknown hook, and
    :class:`~gitrunr.errors.InvalidStateError` when the filesystem refuses a change.
    """
    names = _check_names(hooks)
    directory = hooks_dir(cwd)
    for name in names:
        path = directory / name
        orig = directory / (name + CHAINED_SUFFIX)
        try:
            if is_ours(path):
                if _lexists(orig):
                    os.replace(orig, path)
                else:
                    path.unlink()
            elif not _lexists(path) and _lexists(orig):
                os.replace(orig, path)
        except OSError as err:
            raise _os_failure(f"uninstall the {name} hook at", path, err) from None
    return [_status_of(directory, name) for name in names]
