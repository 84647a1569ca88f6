"""docs/reliability.md names the test behind each guarantee: keep the two in step."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "reliability.md"
HERE = Path(__file__).resolve().parent


def defined_tests() -> set[str]:
    """``tests/reliability/<file>::<name>`` of every test function and test class here."""
    found = set()
    for path in sorted(HERE.glob("test_*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            names: list[str] = []
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets
                         if isinstance(t, ast.Name) and t.id.startswith("Test")]
            found.update(f"tests/reliability/{path.name}::{name}" for name in names)
    return found


def test_every_reference_in_the_doc_exists_and_every_test_is_in_the_doc() -> None:
    text = DOC.read_text()
    cited = set(re.findall(r"(tests/[\w/]+\.py::\w+)", text))
    here = {c for c in cited if c.startswith("tests/reliability/")}
    missing = sorted(here - defined_tests())
    assert not missing, f"docs/reliability.md cites tests that do not exist: {missing}"
    unlisted = sorted(defined_tests() - here)
    assert not unlisted, f"docs/reliability.md does not mention: {unlisted}"
    for ref in cited - here:  # tests elsewhere, e.g. the trailer property
        file, name = ref.split("::")
        assert re.search(rf"^def {name}\(", (ROOT / file).read_text(), flags=re.M), ref
