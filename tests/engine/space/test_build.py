"""sweeps.engine.space.build: the space a command line makes; here, which validation split it asks for."""

from __future__ import annotations

import pytest

from sweeps import antirectifier_mnist, aprelu_cifar, relu_family_beans
from sweeps.engine.errors import UsageError
from sweeps.engine.plan import plan_for


def _split(sweep, *argv: str) -> str:
    return plan_for(sweep, ["--storage-path", "/tmp/never-written", *argv]).param_space["validation_split"]


def test_each_seed_draws_its_own_holdout_by_default_where_one_is_drawn():
    assert _split(antirectifier_mnist.SWEEP, "--dataset", "digits") == "per_seed"
    assert _split(antirectifier_mnist.SWEEP, "--dataset", "digits", "--validation-split", "fixed") == "fixed"
    assert _split(antirectifier_mnist.SWEEP, "--dataset", "digits", "--validation-split", "per-seed") == "per_seed"
    # nothing drawn: the test split validates (a published record's protocol), or beans' own split
    assert _split(antirectifier_mnist.SWEEP, "--dataset", "digits", "--validation", "test") == "fixed"
    assert _split(aprelu_cifar.SWEEP, "--record", "1", "--dataset", "synthetic-cifar10") == "fixed"
    assert _split(relu_family_beans.SWEEP, "--dataset", "beans") == "fixed"


def test_a_per_seed_split_where_none_is_drawn_is_refused():
    with pytest.raises(UsageError, match="the validation split is the test split"):
        _split(antirectifier_mnist.SWEEP, "--dataset", "digits", "--validation", "test", "--validation-split",
               "per-seed")
    with pytest.raises(UsageError, match="beans ships its own validation split"):
        _split(relu_family_beans.SWEEP, "--dataset", "beans", "--validation-split", "per-seed")
