"""``.runr/runr.toml`` one key at a time: ``git runr config get|set|unset|list``."""

from __future__ import annotations

import json
import os
import stat
import tomllib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from gitrunr import config
from gitrunr.cli import cli
from gitrunr.errors import CorruptRecordError, ExitCode, UsageError
from gitrunr.models import RunrConfig, WorkflowConfig
from tests.conftest import GitRepo

KEYS = ["workflow.mode", "workflow.review_loop_threshold", "plans.root", "evidence.redact",
        "evidence.tail_bytes", "evidence.max_log_bytes"]
DEFAULTS: dict[str, Any] = {
    "workflow.mode": "flow", "workflow.review_loop_threshold": 3, "plans.root": "specs",
    "evidence.redact": [], "evidence.tail_bytes": 8192, "evidence.max_log_bytes": 10 << 20,
}
#: A file as a person might write it: no header, tables out of the schema's order,
#: only some keys, values that are not the defaults.
HAND_WRITTEN = """\
[evidence]
max_log_bytes = 4096
redact = ["(?i)secret-[0-9]+"]

[workflow]
review_loop_threshold = 7
"""


def toml_file(workdir: Path) -> Path:
    return workdir / config.CONFIG_PATH


def write_config(workdir: Path, text: str) -> Path:
    path = toml_file(workdir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def invoke(workdir: Path, *args: str) -> Any:
    """``git runr ARGS`` in-process in ``workdir`` (a work tree); it must succeed."""
    result = CliRunner().invoke(cli, ["-C", str(workdir), *args])
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result


# --------------------------------------------------------------------------- keys


def test_the_keys_are_every_field_of_the_schema_but_its_version() -> None:
    assert config.keys() == KEYS


def test_a_new_field_is_a_new_key_with_no_change_to_the_code() -> None:
    class Inner(BaseModel):
        depth: int = 1
        names: list[str] = []

    class Outer(BaseModel):
        schema_version: int = 1
        top: str = "x"
        inner: Inner = Inner()

    assert [".".join(p) for p, _f in config._fields(Outer)] == ["top", "inner.depth",
                                                                "inner.names"]


@pytest.mark.parametrize("key", KEYS)
def test_get_gives_the_default_when_there_is_no_file(tmp_path: Path, key: str) -> None:
    setting = config.get_value(tmp_path, key)
    assert (setting.value, setting.default) == (DEFAULTS[key], True)
    assert not toml_file(tmp_path).exists()


ROUND_TRIPS = [
    ("workflow.mode", "ledger", "ledger"),
    ("workflow.review_loop_threshold", "5", 5),
    ("plans.root", "docs/plans", "docs/plans"),
    ("evidence.redact", '["(?i)tok-[a-z]+", "x{3}"]', ["(?i)tok-[a-z]+", "x{3}"]),
    ("evidence.tail_bytes", "0", 0),
    ("evidence.max_log_bytes", "2048", 2048),
]


@pytest.mark.parametrize(("key", "raw", "value"), ROUND_TRIPS)
def test_set_then_get_round_trips_each_type(tmp_path: Path, key: str, raw: str,
                                            value: Any) -> None:
    change = config.set_value(tmp_path, key, raw)
    assert (change.changed, change.old, change.value) == (True, DEFAULTS[key], value)
    setting = config.get_value(tmp_path, key)
    assert (setting.value, setting.default) == (value, False)
    table, name = key.split(".")
    stored = tomllib.loads(toml_file(tmp_path).read_text())
    assert stored[table][name] == value and type(stored[table][name]) is type(value)
    loaded = config.load(tmp_path).model_dump(mode="json")
    assert loaded[table][name] == value


def test_a_new_file_is_the_one_init_would_write(tmp_path: Path) -> None:
    config.set_value(tmp_path, "workflow.mode", "ledger")
    expected = config._render(RunrConfig(workflow=WorkflowConfig(mode="ledger")))
    assert toml_file(tmp_path).read_text() == expected
    assert expected.startswith(config.HEADER)


def test_set_keeps_every_other_key_and_table_and_puts_the_header_back(tmp_path: Path) -> None:
    path = write_config(tmp_path, HAND_WRITTEN)
    before = tomllib.loads(HAND_WRITTEN)
    change = config.set_value(tmp_path, "workflow.mode", "ledger")
    assert change.changed and not change.created
    after_text = path.read_text()
    assert after_text.startswith(config.HEADER)
    after = tomllib.loads(after_text)
    before["workflow"]["mode"] = "ledger"
    assert after == before
    # The file's order is kept: [evidence] still comes first, its keys as written.
    assert list(after) == ["evidence", "workflow"]
    assert list(after["evidence"]) == ["max_log_bytes", "redact"]
    # Setting a key of a table the file does not have adds only that table.
    config.set_value(tmp_path, "plans.root", "work")
    assert tomllib.loads(path.read_text()) == {**before, "plans": {"root": "work"}}


def test_list_says_which_keys_the_file_sets(tmp_path: Path) -> None:
    write_config(tmp_path, HAND_WRITTEN)
    got = {s.key: (s.value, s.default) for s in config.list_values(tmp_path)}
    assert got == {
        "workflow.mode": ("flow", True),
        "workflow.review_loop_threshold": (7, False),
        "plans.root": ("specs", True),
        "evidence.redact": (["(?i)secret-[0-9]+"], False),
        "evidence.tail_bytes": (8192, True),
        "evidence.max_log_bytes": (4096, False),
    }
    assert [s.key for s in config.list_values(tmp_path)] == KEYS


def test_the_same_value_writes_nothing(tmp_path: Path) -> None:
    # No header in the file: any write would add it.
    path = write_config(tmp_path, HAND_WRITTEN)
    change = config.set_value(tmp_path, "workflow.review_loop_threshold", "7")
    assert not change.changed
    assert path.read_bytes() == HAND_WRITTEN.encode()
    # The default of a key the file does not set is its current value too.
    assert not config.set_value(tmp_path, "workflow.mode", "flow").changed
    assert path.read_bytes() == HAND_WRITTEN.encode()
    # And with no file at all, none is created.
    assert not config.set_value(tmp_path / "elsewhere", "workflow.mode", "flow").changed
    assert not (tmp_path / "elsewhere").exists()


def test_the_write_is_atomic_and_keeps_the_mode(tmp_path: Path) -> None:
    path = write_config(tmp_path, HAND_WRITTEN)
    path.chmod(0o640)
    config.set_value(tmp_path, "evidence.tail_bytes", "100")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in path.parent.iterdir()) == ["runr.toml"]


# --------------------------------------------------------------------------- refusals


BAD_VALUES = [
    ("workflow.mode", "strict", "workflow.mode"),
    ("workflow.review_loop_threshold", "1", "workflow.review_loop_threshold"),
    ("workflow.review_loop_threshold", "x", "workflow.review_loop_threshold"),
    ("workflow.review_loop_threshold", "3.5", "workflow.review_loop_threshold"),
    ("evidence.redact", '["ok", "("]', "evidence.redact[1]"),
    ("evidence.redact", "(", "evidence.redact"),
    ("evidence.redact", '"(?i)tok"', "evidence.redact"),
    ("evidence.redact", "[1]", "evidence.redact[0]"),
    ("evidence.tail_bytes", "-1", "evidence.tail_bytes"),
    ("evidence.max_log_bytes", "10", "evidence.max_log_bytes"),
    ("plans.root", "/abs", "plans.root"),
]


@pytest.mark.parametrize(("key", "raw", "named"), BAD_VALUES)
def test_a_bad_value_is_refused_naming_the_key_and_nothing_is_written(
        tmp_path: Path, key: str, raw: str, named: str) -> None:
    path = write_config(tmp_path, HAND_WRITTEN)
    with pytest.raises(UsageError) as caught:
        config.set_value(tmp_path, key, raw)
    assert caught.value.exit_code == ExitCode.USAGE
    assert named in caught.value.message and "nothing written" in caught.value.message
    assert path.read_bytes() == HAND_WRITTEN.encode()
    # Nor is a missing file created.
    with pytest.raises(UsageError):
        config.set_value(tmp_path / "none", key, raw)
    assert not (tmp_path / "none").exists()


def test_a_bad_regex_says_why(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"evidence\.redact\[0\]: '\(': not a regular "
                                         r"expression"):
        config.set_value(tmp_path, "evidence.redact", '["("]')


def test_an_unknown_key_is_refused_with_close_matches_and_the_list(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        config.set_value(tmp_path, "workflow.mod", "ledger")
    message = caught.value.message
    assert message.startswith("unknown key 'workflow.mod'")
    assert "did you mean workflow.mode?" in message
    assert message.endswith("the keys are: " + ", ".join(KEYS))
    assert caught.value.exit_code == ExitCode.USAGE
    for action in (lambda: config.get_value(tmp_path, "nope"),
                   lambda: config.unset_value(tmp_path, "nope")):
        with pytest.raises(UsageError, match="unknown key 'nope'; the keys are"):
            action()
    assert not toml_file(tmp_path).exists()


@pytest.mark.parametrize(("key", "says"), [
    ("schema_version", "schema_version is the file format's version, not a setting"),
    ("workflow", "'workflow' is a table, not a key; its keys are: workflow.mode, "
                 "workflow.review_loop_threshold"),
])
def test_the_version_and_tables_are_not_keys(tmp_path: Path, key: str, says: str) -> None:
    with pytest.raises(UsageError) as caught:
        config.set_value(tmp_path, key, "2")
    assert caught.value.message.startswith(says)
    assert not toml_file(tmp_path).exists()


@pytest.mark.parametrize(("text", "named"), [
    ('[workflow]\nmode = "strict"\n', "workflow.mode"),
    ("[workflow]\nloops = 3\n", "workflow.loops"),
    ("[workflow\n", "not valid TOML"),
])
def test_an_invalid_file_is_refused_and_kept(tmp_path: Path, text: str, named: str) -> None:
    path = write_config(tmp_path, text)
    for action in (lambda: config.set_value(tmp_path, "plans.root", "other"),
                   lambda: config.unset_value(tmp_path, "workflow.mode"),
                   lambda: config.get_value(tmp_path, "plans.root")):
        with pytest.raises(CorruptRecordError) as caught:
            action()
        assert caught.value.exit_code == ExitCode.CORRUPT
        assert named in caught.value.message
        assert path.read_bytes() == text.encode()


# --------------------------------------------------------------------------- unset


def test_unset_goes_back_to_the_default_and_drops_an_emptied_table(tmp_path: Path) -> None:
    path = write_config(tmp_path, HAND_WRITTEN)
    change = config.unset_value(tmp_path, "workflow.review_loop_threshold")
    assert (change.changed, change.old, change.value) == (True, 7, 3)
    assert config.get_value(tmp_path, "workflow.review_loop_threshold").default
    after = tomllib.loads(path.read_text())
    assert after == {"evidence": {"max_log_bytes": 4096, "redact": ["(?i)secret-[0-9]+"]}}
    assert path.read_text().startswith(config.HEADER)
    before = path.read_bytes()
    assert not config.unset_value(tmp_path, "workflow.review_loop_threshold").changed
    assert path.read_bytes() == before


# --------------------------------------------------------------------------- the CLI


def test_cli_get_prints_scalars_as_text_and_lists_as_json(repo: GitRepo) -> None:
    tmp_path = repo.path
    write_config(tmp_path, HAND_WRITTEN)
    assert invoke(tmp_path, "config", "get", "workflow.mode").stdout == "flow\n"
    assert invoke(tmp_path, "config", "get", "evidence.max_log_bytes").stdout == "4096\n"
    out = invoke(tmp_path, "config", "get", "evidence.redact").stdout
    assert json.loads(out) == ["(?i)secret-[0-9]+"] and "\n" not in out.rstrip("\n")
    doc = json.loads(invoke(tmp_path, "config", "get", "workflow.mode", "--json").stdout)
    assert doc == {"key": "workflow.mode", "value": "flow", "default": True}
    doc = json.loads(invoke(tmp_path, "config", "get", "evidence.redact", "--json").stdout)
    assert doc == {"key": "evidence.redact", "value": ["(?i)secret-[0-9]+"], "default": False}


def test_cli_list(repo: GitRepo) -> None:
    tmp_path = repo.path
    write_config(tmp_path, HAND_WRITTEN)
    lines = invoke(tmp_path, "config", "list").stdout.splitlines()
    assert lines == [
        "workflow.mode = flow  (default)",
        "workflow.review_loop_threshold = 7",
        "plans.root = specs  (default)",
        'evidence.redact = ["(?i)secret-[0-9]+"]',
        "evidence.tail_bytes = 8192  (default)",
        "evidence.max_log_bytes = 4096",
    ]
    docs = json.loads(invoke(tmp_path, "config", "list", "--json").stdout)
    assert [(d["key"], d["default"]) for d in docs] == [
        (k, k not in ("workflow.review_loop_threshold", "evidence.redact",
                      "evidence.max_log_bytes")) for k in KEYS]


def test_cli_set_and_unset_say_what_they_did(repo: GitRepo) -> None:
    tmp_path = repo.path
    result = invoke(tmp_path, "config", "set", "workflow.mode", "ledger")
    assert result.stdout == ("workflow.mode = ledger in .runr/runr.toml (was flow); the file "
                             "was created\n")
    result = invoke(tmp_path, "config", "set", "workflow.mode", "ledger")
    assert result.stdout == "workflow.mode is already ledger; nothing written\n"
    doc = json.loads(invoke(tmp_path, "config", "set", "evidence.redact", '["a"]',
                            "--json").stdout)
    assert doc == {"key": "evidence.redact", "old": [], "value": ["a"], "changed": True,
                   "created": False, "path": str(toml_file(tmp_path))}
    result = invoke(tmp_path, "config", "unset", "workflow.mode")
    assert result.stdout == ("workflow.mode removed from .runr/runr.toml: now flow, the "
                             "default (was ledger)\n")
    assert "mode" not in tomllib.loads(toml_file(tmp_path).read_text())["workflow"]


def test_status_says_the_mode_after_config_set(repo_with_commit: GitRepo) -> None:
    repo = repo_with_commit
    assert json.loads(repo.runr("status", "--json").stdout)["mode"] == "flow"
    repo.runr("config", "set", "workflow.mode", "ledger")
    assert json.loads(repo.runr("status", "--json").stdout)["mode"] == "ledger"
    # From a subdirectory the key is the work tree's.
    sub = repo.path / "sub"
    sub.mkdir()
    assert repo.runr("config", "get", "workflow.mode", cwd=sub).stdout == "ledger\n"


@pytest.mark.parametrize(("args", "code", "start"), [
    (("config", "get", "workflow.mod"), ExitCode.USAGE, "error: unknown key 'workflow.mod'"),
    (("config", "set", "workflow.mode", "strict"), ExitCode.USAGE,
     "error: bad value for workflow.mode: 'strict'"),
    (("config", "set", "workflow.review_loop_threshold", "x"), ExitCode.USAGE,
     "error: workflow.review_loop_threshold takes an integer, not 'x'"),
    (("config", "set", "evidence.redact", '["("]'), ExitCode.USAGE,
     "error: bad value for evidence.redact[0]: '('"),
    (("config", "set", "evidence.redact", "("), ExitCode.USAGE,
     "error: evidence.redact takes a JSON list"),
])
def test_cli_errors_are_one_line_and_write_nothing(repo: GitRepo, args: tuple[str, ...],
                                                   code: int, start: str) -> None:
    path = write_config(repo.path, HAND_WRITTEN)
    result = repo.runr(*args, check=False)
    assert result.returncode == code
    assert result.stderr.startswith(start)
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stdout == ""
    assert path.read_bytes() == HAND_WRITTEN.encode()


def test_cli_refuses_an_invalid_file_with_exit_6(repo: GitRepo) -> None:
    text = '[workflow]\nmode = "strict"\n'
    path = write_config(repo.path, text)
    result = repo.runr("config", "set", "workflow.mode", "ledger", check=False)
    assert result.returncode == ExitCode.CORRUPT
    assert result.stderr.startswith("error: .runr/runr.toml: workflow.mode: ")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert path.read_bytes() == text.encode()
    assert os.listdir(path.parent) == ["runr.toml"]
