"""Property-based fuzzing of every command's config keys: a wrong value is refused in one line that names the key, and nothing is written."""

from __future__ import annotations

import functools
import re
import string
import tempfile
from pathlib import Path

import pytest
from conftest import error_lines, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worldjepa import cli
from worldjepa.config import leaves, type_example

# The required paths each command needs before it looks at its other keys (they need not exist: the
# type check comes first).
REQUIRED = {"inspect": ["path=d"], "train": ["data=d", "logger=none"], "imitate": ["checkpoint=c.pt"],
            "value": ["checkpoint=c.pt"], "landscape": ["checkpoint=c.pt"]}
# Words Hydra reads as something other than a string (numbers, flags, null).
NOT_TEXT = {"true", "false", "null", "nan", "inf", "none", "yes", "no", "on", "off"}


@functools.cache
def typed_keys(command: str) -> tuple[tuple[str, type], ...]:
    """(key, the type its default or NULLABLE_EXAMPLES gives it) for every leaf of the composed config."""
    from omegaconf import OmegaConf

    tree = OmegaConf.to_container(cli.compose_or_exit(command, REQUIRED.get(command, [])), resolve=False)
    typed = []
    for key, default in leaves(tree):
        example = type_example(key, default)
        if key != "out" and example is not None and not (isinstance(example, str) and "${" in example):
            typed.append((key, type(example)))
    return tuple(typed)


words = st.text(string.ascii_letters, min_size=1, max_size=8).filter(lambda w: w.lower() not in NOT_TEXT)
numbers = st.integers(-5, 5).map(str)
lists = st.lists(st.integers(-3, 3), min_size=0, max_size=3).map(lambda xs: "[" + ",".join(map(str, xs)) + "]")
blocks = st.builds(lambda k, v: f"{{{k}:{v}}}", words, st.integers(0, 3))
# default type -> values of another type
WRONG = {bool: st.one_of(words, numbers, lists), int: st.one_of(words, lists, blocks),
         float: st.one_of(words, lists, blocks), list: st.one_of(words, numbers, blocks),
         dict: st.one_of(words, numbers, lists), str: st.one_of(lists, blocks)}


@st.composite
def wrong_values(draw):
    command = draw(st.sampled_from(list(cli.COMMANDS)))
    key, kind = draw(st.sampled_from(typed_keys(command)))
    return command, key, draw(WRONG[kind])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wrong_values())
def test_a_wrong_typed_value_in_any_key_is_one_line_naming_it_and_writes_nothing(case):
    command, key, value = case
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        with pytest.raises(SystemExit) as refused:
            cli.precheck(command, [*REQUIRED.get(command, []), f"{key}={value}", f"out={out}"])
        message = str(refused.value.code)
        assert "\n" not in message and message.startswith(f"worldjepa {command}: error: ") and key in message, message
        # ours names the valid type and an example; Hydra's own refusal (a block for a list) points at --help
        assert re.search(r"must be .*: pass e\.g\. " + re.escape(key) + "=|--help", message), message
        assert not out.exists() and list(Path(tmp).iterdir()) == []


# Size keys checked when a command starts, before it reads or writes anything.
SIZES = [("collect", "episodes"), ("collect", "workers"), ("collect", "episode_steps"), ("plan", "episodes"),
         ("plan", "batch"), ("plan", "videos")]


@settings(max_examples=3, deadline=None)
@given(st.sampled_from(SIZES), st.integers(-1000, 0))
def test_a_zero_or_negative_size_is_one_line_naming_it_and_writes_nothing(size, value):
    (command, key), tmp = size, Path(tempfile.mkdtemp())
    if key == "videos" and value == 0:
        value = -1  # no videos is a valid choice
    extra = ["planner=random"] if command == "plan" else []
    proc = run_cli(command, f"{key}={value}", *extra, "env.kwargs.image_size=32", f"out={tmp}/out", cwd=tmp)
    lines = error_lines(proc)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and len(lines) == 1, proc.stderr[-2000:]
    assert lines[0].startswith(f"worldjepa {command}: error: ") and f"{key}={value}" in lines[0], lines[0]
    assert list(tmp.iterdir()) == []


garbage_paths = st.text(string.ascii_letters + string.digits + "_-./ ", min_size=1, max_size=20).filter(
    lambda p: p.strip(" ./") and p.lower() not in NOT_TEXT)


@settings(max_examples=3, deadline=None)
@given(st.sampled_from([("train", "data"), ("plan", "checkpoint"), ("inspect", "path"), ("value", "checkpoint")]),
       garbage_paths)
def test_a_garbage_path_is_one_line_naming_it_and_writes_nothing(target, path):
    (command, key), tmp = target, Path(tempfile.mkdtemp())
    fixed = [a for a in REQUIRED.get(command, []) if not a.startswith(f"{key}=")]
    proc = run_cli(command, *fixed, f"{key}='{tmp}/missing/{path}'", f"out={tmp}/out", cwd=tmp)
    lines = error_lines(proc)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert lines[-1].startswith(f"worldjepa {command}: error: ") and f"{tmp}/missing" in lines[-1], lines[-1]
    assert list(tmp.iterdir()) == []
