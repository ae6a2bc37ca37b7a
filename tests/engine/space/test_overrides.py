"""sweeps.engine.space.overrides: `--set KEY=VALUE` typed by its key, a JSON list a grid."""

from __future__ import annotations

import pytest

from sweeps.engine.errors import UsageError
from sweeps.engine.space.overrides import RUNNER_KEYS, convert_overrides, convert_value, settable_types


def test_values_take_their_keys_types():
    assert convert_value("lr", "0.01", float) == 0.01
    assert convert_value("batch_size", "32", int) == 32 and isinstance(convert_value("batch_size", "32", int), int)
    assert convert_value("batch_norm", "false", bool) is False
    assert convert_value("width", "null", int | None) is None
    assert convert_value("activation", '["relu","selu"]', str) == ["relu", "selu"]


@pytest.mark.parametrize(("key", "text", "kind", "message"), [
    ("lr", "abc", float, "expected a finite number"),
    ("lr", "inf", float, "expected a finite number"),
    ("batch_size", "1.5", int, "expected an integer"),
    ("activation", "[]", str, "a grid needs at least one value"),
    ("activation", "[relu", str, "not a JSON list"),
])
def test_a_value_its_type_cannot_take_is_one_line(key, text, kind, message):
    with pytest.raises(UsageError, match=message):
        convert_value(key, text, kind)


def test_runner_keys_and_unknown_keys_are_refused():
    known = settable_types(["antirectifier_mlp"], ["relu"])
    assert "lr" in known and not set(RUNNER_KEYS) & set(known)
    with pytest.raises(UsageError, match="use --max-epochs"):
        convert_overrides([("epochs", "3")], known, "model antirectifier_mlp")
    with pytest.raises(UsageError, match="unknown config key 'no_such_key'"):
        convert_overrides([("no_such_key", "3")], known, "model antirectifier_mlp")
