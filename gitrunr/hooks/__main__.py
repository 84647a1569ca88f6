"""Entry point of the hook shims: ``python -P -m gitrunr.hooks <hook> [args...]``.

The same entry point serves the pre-commit framework (``.pre-commit-hooks.yaml``,
docs/ci.md), which calls hooks its own way: see :func:`from_pre_commit`.
"""

from __future__ import annotations

import os
import sys

from gitrunr.hooks.runtime import HOOKS

#: The git hooks (``flush`` is not one): ``GITRUNR_HOOKS=off`` switches them off.
_GIT_HOOKS = frozenset({"commit-msg", "post-commit", "post-merge", "post-rewrite",
                        "pre-push"})


def from_pre_commit(hook: str, args: list[str]) -> list[str]:
    """The arguments git would have given ``hook``, when pre-commit called it instead.

    pre-commit (4.x ``commands/hook_impl.py`` and ``commands/run.py``) hands a hook
    none of git's arguments but the commit-msg file: the squash flag of post-merge is
    ``PRE_COMMIT_IS_SQUASH_MERGE``, the command of post-rewrite is
    ``PRE_COMMIT_REWRITE_COMMAND``, pre-push's remote is ``PRE_COMMIT_REMOTE_NAME``
    and ``PRE_COMMIT_REMOTE_URL``, and every hook's stdin is empty, so post-rewrite
    loses git's ``<old-sha> <new-sha>`` lines. They are read back from where git keeps
    them while the hook runs: the reflog for ``amend`` (``HEAD@{1}`` is the commit
    amended), the rebase's rewritten list for ``rebase``. What cannot be read back is
    left to the audit, which links a rewritten checkpoint by patch-id or tree.
    """
    env = os.environ
    if hook == "pre-push" and not args and "PRE_COMMIT_REMOTE_NAME" in env:
        return [env["PRE_COMMIT_REMOTE_NAME"], env.get("PRE_COMMIT_REMOTE_URL", "")]
    if hook == "post-merge" and not args and "PRE_COMMIT_IS_SQUASH_MERGE" in env:
        return [env["PRE_COMMIT_IS_SQUASH_MERGE"]]
    if hook == "post-rewrite" and not args and "PRE_COMMIT_REWRITE_COMMAND" in env:
        kind = env["PRE_COMMIT_REWRITE_COMMAND"]
        given = "" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
        import io

        sys.stdin = io.StringIO(given if given.strip() else _rewritten_pairs(kind))
        return [kind]
    return args


def _rewritten_pairs(kind: str) -> str:
    """``<old> <new>`` lines of the rewrite that is ending (see :func:`from_pre_commit`)."""
    import subprocess

    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], capture_output=True, check=False)
        return proc.stdout.decode("utf-8", "replace") if proc.returncode == 0 else ""

    if kind == "amend":
        # HEAD@{0} must be the amend itself, HEAD@{1} the commit it replaced.
        log = git("log", "-g", "-2", "--format=%H %gs", "HEAD").splitlines()
        if len(log) == 2 and log[0].split(" ", 1)[-1].startswith("commit (amend)"):
            return f"{log[1].split()[0]} {log[0].split()[0]}\n"
        return ""
    # `rebase` (the merge backend) and `rebase --apply` (git am) keep the list that
    # git pipes to post-rewrite in their state directory until the hook has run.
    for path in git("rev-parse", "--git-path", "rebase-merge/rewritten-list",
                    "--git-path", "rebase-apply/rewritten").splitlines():
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError:
            continue
        if text.strip():
            return text
    return ""


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in HOOKS:
        print(f"usage: python -m gitrunr.hooks {{{','.join(HOOKS)}}} [args...]",
              file=sys.stderr)
        return 2
    if argv[0] in _GIT_HOOKS and os.environ.get("GITRUNR_HOOKS") == "off":
        return 0  # the shims check this themselves; pre-commit calls us directly
    try:
        args = argv[1:]
        if os.environ.get("PRE_COMMIT") == "1":
            args = from_pre_commit(argv[0], args)
        return HOOKS[argv[0]](args)
    except Exception as exc:  # a hook must never show a traceback in `git commit`
        # The commit goes ahead either way: a record not made stays in the spool for
        # the next flush, and `git runr intervene --sha` records what was missed.
        print(f"gitrunr: the {argv[0]} hook failed ({type(exc).__name__}: {exc}); "
              "set GITRUNR_DEBUG=1 to see where", file=sys.stderr)
        if os.environ.get("GITRUNR_DEBUG"):
            raise
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
