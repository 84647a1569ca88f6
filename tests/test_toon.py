"""`--format toon` promises the JSON document back: check the library keeps it.

docs/json.md says `toon_format.decode` of any TOON output equals the JSON output.
The commands' own outputs are checked in tests/test_plans_runs.py; this checks the
promise over arbitrary JSON documents of the shapes our models produce (nested
objects, lists of objects with the same or different keys, strings that look like
numbers, booleans, null or TOON syntax).
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from toon_format import decode, encode

_TRICKY = st.sampled_from(["03", "true", "null", "", "-", "- x", "a, b", "k: v", "[2]",
                           "{x}", "#", " lead", "trail ", "quote\"d", "tab\t", "a|b",
                           "line\nbreak", "→ ünï", "1e5", "-0"])
_SCALAR = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | _TRICKY | st.text(max_size=12)
_KEY = _TRICKY.filter(bool) | st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)


def _json(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(children, max_size=4) | st.dictionaries(_KEY, children, max_size=4)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_KEY, st.recursive(_SCALAR, _json, max_leaves=20), max_size=5))
def test_toon_decodes_to_the_json_document(doc: dict[str, Any]) -> None:
    assert decode(encode(doc)) == doc


def test_a_list_of_records_decodes_to_the_same_records() -> None:
    doc = {"runs": [{"run_id": "run-a", "state": "active", "plan_ref": None},
                    {"run_id": "run-b", "state": "finalized/passed", "plan_ref": "x/phase-1/01"}]}
    text = encode(doc)
    assert "runs[2]{run_id,state,plan_ref}:" in text  # the tabular form, not a fallback
    assert decode(text) == doc
