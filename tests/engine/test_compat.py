"""sweeps.engine.compat: experiments saved by earlier versions resume, and their old module names exist only then."""

from __future__ import annotations

import pickle
import shutil
import subprocess
import sys

import pytest

from support import REPO_ROOT

FIXTURE = REPO_ROOT / "tests" / "fixtures" / "pre_move_experiment"


def test_an_old_module_name_resolves_only_while_a_resumed_run_unpickles():
    import sweeps.engine.fair_asha
    from sweeps.engine.compat import old_module_names

    # Protocol 0 names a class as text ("c<module>\n<name>\n"), so the old name can be written in.
    old_reference = pickle.dumps(sweeps.engine.fair_asha.FairASHAScheduler, protocol=0).replace(
        b"sweeps.engine.fair_asha", b"sweeps.fair_asha")
    assert b"sweeps.fair_asha" in old_reference
    with old_module_names():
        assert pickle.loads(old_reference) is sweeps.engine.fair_asha.FairASHAScheduler
    assert "sweeps.fair_asha" not in sys.modules, "no old name outlives the resumed run"
    with pytest.raises(ModuleNotFoundError):
        pickle.loads(old_reference)


def test_every_old_name_maps_to_a_module_that_defines_what_was_pickled():
    from sweeps.engine.compat import MOVED_MODULES, old_module_names

    pickled = {"sweeps.fair_asha": "FairASHAScheduler", "sweeps.search": "ArmSearch",
               "sweeps.confirm": "trial_dirname", "sweeps.engine.search": "ArmSearch",
               "sweeps.engine.confirm": "trial_dirname"}
    assert set(pickled) == set(MOVED_MODULES)
    with old_module_names():
        for old, name in pickled.items():
            assert hasattr(sys.modules[old], name), (old, name)


def test_no_import_hook_is_installed_by_importing_the_project():
    import sweeps  # noqa: F401

    assert not any(type(finder).__module__.startswith("sweeps") for finder in sys.meta_path)
    with pytest.raises(ModuleNotFoundError):
        __import__("sweeps.fair_asha")


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
