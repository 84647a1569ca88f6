"""Entry point of the hook shims: ``python -P -m gitrunr.hooks <hook> [args...]``."""

from __future__ import annotations

import os
import sys

from gitrunr.hooks.runtime import HOOKS


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in HOOKS:
        print(f"usage: python -m gitrunr.hooks {{{','.join(HOOKS)}}} [args...]",
              file=sys.stderr)
        return 2
    try:
        return HOOKS[argv[0]](argv[1:])
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
