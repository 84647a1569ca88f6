"""Shared by the reliability suite: the figures each test reports.

Every test that counts something (processes started, trials run, inputs tried, writes
lost) calls :func:`tests.reliability.helpers.report`; the figures are printed at the
end of the run under "reliability figures", so a CI log shows the numbers that
``docs/reliability.md`` quotes.
"""

from __future__ import annotations

import pytest

from tests.reliability.helpers import FIGURES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the figures gathered by this run, one line per test."""
    if not FIGURES:
        return
    terminalreporter.section("reliability figures")
    for name in sorted(FIGURES):
        terminalreporter.write_line(f"{name}: {FIGURES[name]}")
