"""Faults, part 2: a full disk and a read-only ``.git``.

The scenarios are in :mod:`tests.reliability.fsfaults`; they run in a private mount
namespace (``unshare -m`` as root, ``unshare -rm`` otherwise) where they mount a
16 MiB tmpfs to fill, or bind-mount part of ``.git`` read-only. Both work as root,
where ``chmod`` would not stop a write. Without namespaces, the read-only scenario
falls back to ``chmod`` for a user who is not root; anything else is skipped, with
the reason.

The promise: every writer fails with a clear one-line error and a non-zero exit, no
traceback, the refs unchanged and the spool intact; readers still work; and once
the file system is writable again, nothing was lost.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.reliability.helpers import report

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def namespace_prefix() -> tuple[str, ...] | None:
    """The ``unshare`` command line under which a process may mount, or None."""
    candidates = [("unshare", "-m")] if os.geteuid() == 0 else []
    candidates.append(("unshare", "-rm"))
    with tempfile.TemporaryDirectory() as probe:
        for prefix in candidates:
            try:
                proc = subprocess.run([*prefix, "mount", "-t", "tmpfs", "-o", "size=64k",
                                       "tmpfs", probe], capture_output=True, timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                continue
            if proc.returncode == 0:
                return prefix
    return None


def run_scenario(prefix: tuple[str, ...], *args: str) -> dict[str, object]:
    """Run a scenario of :mod:`tests.reliability.fsfaults`; fail with its output."""
    proc = subprocess.run(
        [*prefix, sys.executable, "-m", "tests.reliability.fsfaults", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, f"scenario {args} failed:\n{proc.stdout}\n{proc.stderr}"
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert isinstance(result, dict)
    return result


def need_namespaces() -> tuple[str, ...]:
    prefix = namespace_prefix()
    if prefix is None:
        pytest.skip("cannot mount a small file system here: neither `unshare -m` (needs "
                    "root with CAP_SYS_ADMIN) nor `unshare -rm` (needs unprivileged user "
                    "namespaces) works, and there is no other way to fill a disk safely")
    return prefix


def test_full_disk_refuses_every_write_cleanly(tmp_path: Path) -> None:
    """ENOSPC: one-line errors, refs unchanged, spool kept, readers work, and the
    records are all there once space is freed."""
    result = run_scenario(need_namespaces(), "full-disk", str(tmp_path))
    assert result["writers"] == 6
    report("full disk (test_disk.py)", writers_refused=result["writers"], lost=0,
           first_error=str(result["errors"][0])[:90])  # type: ignore[index]


def test_disk_filling_up_mid_write(tmp_path: Path) -> None:
    """With 0 to 96 KiB free, a write that needs objects, two refs and their reflogs
    either lands whole or fails with one line and moves nothing."""
    result = run_scenario(need_namespaces(), "filling-disk", str(tmp_path))
    assert result["attempts"] == 13
    assert result["ok"] and result["refused"]  # both sides of the edge were reached
    report("filling disk (test_disk.py)", attempts=result["attempts"], landed=result["ok"],
           refused_cleanly=result["refused"], torn_writes=0)


@pytest.mark.parametrize("where", [".git", ".git/objects", ".git/refs"])
def test_read_only_git_refuses_every_write_cleanly(tmp_path: Path, where: str) -> None:
    """A read-only ``.git`` (or just its objects or refs): one-line errors, refs
    unchanged, spool kept, readers work, nothing lost once writable again."""
    prefix = namespace_prefix()
    if prefix is not None:
        result = run_scenario(prefix, "read-only", str(tmp_path), where, "mount")
    elif os.geteuid() != 0:
        result = run_scenario((), "read-only", str(tmp_path), where, "chmod")
    else:
        pytest.skip("running as root without mount namespaces: chmod does not stop root "
                    "from writing, and a read-only bind mount needs `unshare -m`")
    assert result["writers"] == 6
    report(f"read-only {where} (test_disk.py)", writers_refused=result["writers"], lost=0,
           first_error=str(result["errors"][0])[:90])  # type: ignore[index]
