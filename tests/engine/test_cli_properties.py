"""Property-based tests of the CLI boundary: whatever the flags and `--set` pairs, parsing and
checking end in a valid plan or a UsageError (one line, exit 2), never another exception."""

from __future__ import annotations

import math
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import trainables.models  # noqa: F401  Keras imported once, before Hypothesis times the examples
from sweeps import aprelu_cifar, selu_mnist
from sweeps.engine.errors import UsageError
from sweeps.engine.plan import Plan, plan_for

KEYS = ["lr", "momentum", "nesterov", "batch_size", "optimizer", "activation", "model", "dropout", "depth",
        "width", "batch_norm", "kernel_initializer", "reduction", "stages", "stem_channels", "negative_slope",
        "mixed_precision", "lr_decay_every", "rotation", "train_limit", "epochs", "seed", "dataset", "unitz"]
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
SCALARS = st.one_of(
    st.integers(-3, 300).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["true", "false", "True", "no", "1", "0", "null", "relu", "selu", "aprelu", "sgd", "adam",
                     "3x8,1x16/2", "lecun_normal", "deep_mlp", "[]", "[1, 2]", '["relu", "selu"]', "[0.1, -1]",
                     "[[1]]", "{}", "1e400", "-0.0"]),
    TEXT,
)
SET_PAIRS = st.lists(st.tuples(st.sampled_from(KEYS) | TEXT, SCALARS).map(lambda pair: ["--set", f"{pair[0]}={pair[1]}"]),
                     max_size=3)
NUMBER_TEXT = st.one_of(st.integers(-5, 50).map(str), st.sampled_from(["0.5", "nan", "inf", "x", "", "-1"]))
FLAGS = st.lists(st.one_of(
    st.tuples(st.sampled_from(["--num-samples", "--max-epochs", "--repeats", "--seed", "--grace-period",
                               "--reduction-factor", "--cpus-per-trial", "--gpus-per-trial", "--max-concurrent",
                               "--max-failures", "--record", "--verbose"]), NUMBER_TEXT).map(list),
    st.tuples(st.sampled_from(["--metric", "--mode", "--scheduler", "--dataset", "--name"]),
              st.sampled_from(["val_accuracy", "val_loss", "min", "fifo", "asha", "digits", "synthetic-mnist",
                               "best", "../x", "a/b", "ok-name", ""]) | TEXT).map(list),
    st.sampled_from([["--smoke"], ["--resume"], ["--dashboard"], ["--max-epoch", "3"], ["--bogus"]]),
), max_size=4)


@settings(max_examples=int(os.environ.get("CLI_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sweep=st.sampled_from([aprelu_cifar.SWEEP, selu_mnist.SWEEP]), flags=FLAGS, pairs=SET_PAIRS)
def test_any_command_line_is_a_plan_or_a_usage_error(tmp_path, sweep, flags, pairs):
    argv = ["--storage-path", str(tmp_path), *[token for flag in flags for token in flag],
            *[token for pair in pairs for token in pair]]
    try:
        plan = plan_for(sweep, argv)
    except UsageError as error:
        assert str(error) and "\n" not in str(error), argv
        return
    assert isinstance(plan, Plan)
    assert plan.num_samples >= 1 and plan.max_epochs >= 1 and 1 <= plan.grace_period <= plan.max_epochs
    for key, value in plan.param_space.items():  # what reaches Tune is typed and finite
        values = value["grid_search"] if isinstance(value, dict) and "grid_search" in value else [value]
        assert all(not isinstance(each, float) or math.isfinite(each) for each in values), (key, values)


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_is_not_an_error(flag, capsys):
    from sweeps.engine.cli import parse_args

    with pytest.raises(SystemExit) as exit_info:
        parse_args(selu_mnist.SWEEP, [flag])
    assert exit_info.value.code == 0 and "--set KEY=VALUE" in capsys.readouterr().out
