"""sweeps.engine.preflight: the outside world checked before Ray starts, each problem one line."""

from __future__ import annotations

import pytest

from sweeps import antirectifier_mnist
from sweeps.engine.errors import UsageError
from sweeps.engine.plan import Tools, plan_for
from sweeps.engine.preflight import check_experiment_dir, check_storage


def test_an_experiment_to_resume_must_exist_and_a_new_one_must_not(tmp_path):
    common = ["--smoke", "--storage-path", str(tmp_path), "--name", "x"]
    with pytest.raises(UsageError, match="nothing to resume"):
        check_experiment_dir(plan_for(antirectifier_mnist.SWEEP, [*common, "--resume"]))
    (tmp_path / "x").mkdir()
    with pytest.raises(UsageError, match="already exists"):
        check_experiment_dir(plan_for(antirectifier_mnist.SWEEP, common))
    check_experiment_dir(plan_for(antirectifier_mnist.SWEEP, [*common, "--resume"]))
    (tmp_path / "y-confirm").mkdir()
    with pytest.raises(UsageError, match="'y-confirm' already exists"):
        check_experiment_dir(plan_for(antirectifier_mnist.SWEEP, ["--smoke", "--storage-path", str(tmp_path),
                                                                   "--name", "y", "--confirm", "1"]))


def test_a_storage_path_that_is_a_file_is_not_writable(tmp_path):
    check_storage(str(tmp_path / "new"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="is not writable"):
        check_storage(str(tmp_path / "file"))
