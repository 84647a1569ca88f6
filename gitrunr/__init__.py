"""gitrunr: provenance for every commit, kept in git.

This module stays import-free: the hooks import ``gitrunr.hooks`` on every commit,
and Python imports this package first.
"""

__version__ = "0.1.0"
