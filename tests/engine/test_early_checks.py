"""What the command line alone refuses, before Keras and Ray Tune are imported (sweeps.engine.early_checks)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sweeps import antirectifier_mnist, aprelu_cifar, selu_mnist
from sweeps.engine.cli import parse_args
from sweeps.engine.early_checks import check_command_line, missing_package
from sweeps.engine.errors import UsageError


def test_a_dry_run_needs_no_extra_and_a_tracker_names_its_own(monkeypatch):
    sweep = antirectifier_mnist.SWEEP
    check_command_line(sweep, parse_args(sweep, ["--dry-run", "--search", "optuna", "--tracker", "aim"]))
    assert missing_package("random", (), None) is None
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *args: None if name in ("aim", "optuna") else object())
    assert missing_package("random", ("aim",), None) == (
        "--tracker aim needs the 'aim' package: pip install -e \".[aim]\"")
    assert missing_package("optuna", ("aim",), None).startswith("--search optuna needs the 'optuna' package")


def test_a_storage_path_with_credentials_is_refused_without_showing_them():
    args = parse_args(antirectifier_mnist.SWEEP, ["--dry-run", "--storage-path", "s3://bucket/x?secret_key=topsecret"])
    refused = r"^--storage-path s3://bucket/x\?secret_key=\*\*\* embeds credentials"
    with pytest.raises(UsageError, match=refused) as caught:
        check_command_line(antirectifier_mnist.SWEEP, args)
    assert "topsecret" not in str(caught.value)


def test_the_checks_answer_before_keras_and_ray_tune_are_imported():
    """The point of checking early: a missing extra answers in about a second, not after 6 s of imports."""
    code = ("import sys; from sweeps import antirectifier_mnist; from sweeps.engine.runner import main; "
            "code = main(antirectifier_mnist.SWEEP, ['--storage-path', 's3://KEY:SECRET@bucket/x']); "
            "print(code, 'keras' in sys.modules, 'ray.tune' in sys.modules)")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert completed.stdout.split() == ["2", "False", "False"], completed.stderr[-2000:]
    assert completed.stderr.splitlines()[-1].startswith("error: --storage-path s3://***@bucket/x embeds credentials")


def test_a_record_the_family_lacks_is_refused_early():
    with pytest.raises(UsageError, match="selu_mnist has no published tuning records"):
        check_command_line(selu_mnist.SWEEP, parse_args(selu_mnist.SWEEP, ["--record", "1"]))
    with pytest.raises(UsageError, match=r"not a record of aprelu_cifar \(available: 1, 16\)"):
        check_command_line(aprelu_cifar.SWEEP, parse_args(aprelu_cifar.SWEEP, ["--record", "3"]))
