"""``python -m gitrunr ARGS`` is ``git runr ARGS`` (used by the pre-push hook)."""

from gitrunr.cli import main

main()
