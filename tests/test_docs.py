"""docs/ is an interface: the schemas and the exit-code table must match the code."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from gitrunr.errors import ExitCode

ROOT = Path(__file__).resolve().parent.parent


def test_committed_schemas_match_the_models() -> None:
    script = ROOT / "scripts" / "gen_schemas.py"
    spec = importlib.util.spec_from_file_location("gen_schemas", script)
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    expected = gen.render()
    committed = {p.name: p.read_text() for p in (ROOT / "docs" / "schemas").glob("*.json")}
    assert committed == expected, "run `python scripts/gen_schemas.py` and commit docs/schemas"


def test_exit_code_table_matches_the_enum() -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    rows = dict(re.findall(r"^\| (\d+) \| ([A-Z_]+) \|", text, flags=re.M))
    assert rows == {str(code.value): code.name for code in ExitCode}
