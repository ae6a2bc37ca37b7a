"""The engine moved from `sweeps.<module>` to `sweeps.engine.<module>`: what older versions saved still works."""

from __future__ import annotations

import pickle
import shutil
import subprocess
import sys

import pytest

from support import REPO_ROOT

FIXTURE = REPO_ROOT / "tests" / "fixtures" / "pre_move_experiment"


def test_an_old_module_name_is_the_moved_module_itself():
    import sweeps.engine.fair_asha
    import sweeps.fair_asha  # the name a pre-move tuner.pkl holds

    assert sweeps.fair_asha is sweeps.engine.fair_asha
    assert sweeps.fair_asha.__spec__.name == "sweeps.engine.fair_asha", "the real module keeps its own spec"
    # Protocol 0 names a class as text ("c<module>\n<name>\n"), so the old name can be written in.
    old_reference = pickle.dumps(sweeps.engine.fair_asha.FairASHAScheduler, protocol=0).replace(
        b"sweeps.engine.fair_asha", b"sweeps.fair_asha")
    assert b"sweeps.fair_asha" in old_reference
    assert pickle.loads(old_reference) is sweeps.engine.fair_asha.FairASHAScheduler


def test_an_unknown_old_name_is_still_an_import_error():
    with pytest.raises(ModuleNotFoundError):
        __import__("sweeps.no_such_module")


@pytest.mark.slow  # resumes a real sweep through Ray
def test_an_experiment_saved_before_the_move_resumes_and_its_model_loads(tmp_path):
    import analysis
    from analysis.store.tables import read_tables

    experiment = tmp_path / "pre-move"
    shutil.copytree(FIXTURE, experiment)
    assert b"sweeps.fair_asha" in (experiment / "tuner.pkl").read_bytes(), "the fixture predates the move"
    command = [sys.executable, str(REPO_ROOT / "sweeps" / "antirectifier_mnist.py"), "--smoke", "--dataset", "digits",
               "--max-epochs", "4", "--grace-period", "2", "--storage-path", str(tmp_path), "--name", "pre-move",
               "--resume"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    tables = read_tables(experiment)
    assert len(tables.trials) == 4
    assert set(tables.trials["status"]) <= {"terminated", "stopped_early"}, tables.trials["status"].tolist()
    assert not tables.epochs.duplicated(["trial_id", "epoch"]).any(), "every (trial, epoch) once"
    for row in tables.trials.itertuples(index=False):
        assert sorted(tables.epochs.loc[tables.epochs["trial_id"] == row.trial_id, "epoch"]) == list(
            range(1, row.epochs_completed + 1))
    finished = tables.trials[tables.trials["status"] == "terminated"]
    best = finished.nlargest(1, "best_val_accuracy").iloc[0]
    model = analysis.load_best_model(best)
    assert model.predict(__import__("numpy").zeros((2, 8, 8, 1)), verbose=0).shape == (2, 10)
