"""Ids are time-sortable, unique, and safe as path components."""

from __future__ import annotations

import re

import pytest

from gitrunr.ids import is_event_id, is_id, is_run_id, new_id


def test_ids_sort_by_time_and_do_not_collide() -> None:
    early = [new_id("ev", now_ms=1_000) for _ in range(2000)]
    late = new_id("ev", now_ms=1_001)
    assert len(set(early)) == 2000
    assert all(e < late for e in early)
    assert all(is_event_id(e) for e in early)
    assert not is_event_id("ev-short") and not is_event_id(early[0] + "0")


def test_run_ids_are_safe_path_components() -> None:
    run_id = new_id("run")
    assert is_run_id(run_id) and re.fullmatch(r"run-[0-9a-z]{17}", run_id)
    assert is_id(new_id("cp"), "cp") and not is_id(new_id("cp"), "iv")
    for bad in ("../x", "run-../../etc", "run x", "run-;rm", "", "RUN-ABCD", "run-ab"):
        assert not is_run_id(bad)


def test_unknown_prefix_is_refused() -> None:
    with pytest.raises(ValueError):
        new_id("xx")
