"""One error hierarchy for gitrunr, with the exit code each error carries.

Every failure a user can cause or meet is a :class:`RunrError`. The CLI boundary
(``gitrunr.cli``) prints ``error: <message>`` on one line and exits with the
error's :attr:`RunrError.exit_code`; a traceback appears only with ``--debug``.
The table of exit codes is published in ``docs/cli.md``; scripts may rely on it.

This module imports only the standard library: the hooks use it.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Exit statuses of ``git runr``. Stable: documented in ``docs/cli.md``."""

    OK = 0
    #: A check found what it looks for: ``audit --strict`` saw a GAP or UNVERIFIED
    #: commit, or a command recorded by ``intervene --cmd`` exited non-zero.
    CHECK_FAILED = 1
    #: Bad arguments: unknown option, malformed run id, bad ``--outcome``.
    USAGE = 2
    #: Not usable as a repository: outside a git repository, bare, no commits yet.
    NOT_A_REPO = 3
    #: Something named does not exist: an unknown run, a revision that does not resolve.
    NOT_FOUND = 4
    #: The request conflicts with the current state: run already finished, no active run.
    INVALID_STATE = 5
    #: A stored document (ledger, note, state, config) failed validation.
    CORRUPT = 6
    #: git itself failed, or a write kept losing the race for its ref.
    GIT_FAILED = 7


class RunrError(Exception):
    """Base of every error gitrunr reports to a user.

    The message says what went wrong and, where one exists, what to do about it.
    It is printed on one line, so it must not contain a newline.
    """

    exit_code: ExitCode = ExitCode.GIT_FAILED

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split("\n")))

    @property
    def message(self) -> str:
        return str(self.args[0])


class UsageError(RunrError):
    """An argument is malformed (for example a run id that is not a valid id)."""

    exit_code = ExitCode.USAGE


class NotARepositoryError(RunrError):
    """The current directory is not a usable repository (none, bare, or empty)."""

    exit_code = ExitCode.NOT_A_REPO


class NotFoundError(RunrError):
    """A named run, intervention or revision does not exist."""

    exit_code = ExitCode.NOT_FOUND


class InvalidStateError(RunrError):
    """The request conflicts with the current state of a run or work tree."""

    exit_code = ExitCode.INVALID_STATE


class CorruptRecordError(RunrError):
    """A stored document failed validation; the message names its ref and path."""

    exit_code = ExitCode.CORRUPT


class MissingObjectError(CorruptRecordError, KeyError):
    """An object a record refers to is not in the repository (a shallow or partial
    clone, a damaged object store).

    Also a ``KeyError``, which is what pygit2 raises for a missing object, so code
    that expects pygit2's error still catches it.
    """


class GitError(RunrError):
    """A git command failed. The message carries the command, its status and git's words."""

    exit_code = ExitCode.GIT_FAILED


class RefRaceError(GitError):
    """A compare-and-swap ref update lost the race: the ref moved since it was read.

    Writers catch this and retry from a fresh read; it reaches a user only when the
    retries are used up.
    """


class CheckFailedError(RunrError):
    """A check ran and failed (``audit --strict``, a failing ``intervene --cmd``)."""

    exit_code = ExitCode.CHECK_FAILED
