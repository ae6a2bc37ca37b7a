"""sweeps.engine.locations: the experiments' names and folders, storage errors as one line, cleanup."""

from __future__ import annotations

import errno
from types import SimpleNamespace

from sweeps.engine.locations import (
    confirm_name, experiment_dirs, experiment_names, remove_unfinished_experiment, storage_error_message,
    trial_dirname_creator,
)


def _plan(storage_path: str, name: str) -> SimpleNamespace:
    return SimpleNamespace(storage_path=storage_path, name=name, experiment_dir=f"{storage_path.rstrip('/')}/{name}")


def test_a_sweep_names_its_search_and_its_confirmation_beside_it():
    assert confirm_name("x") == "x-confirm" and experiment_names("x") == ["x", "x-confirm"]
    assert experiment_dirs(_plan("/data/results", "x")) == ("/data/results/x", "/data/results/x-confirm")
    assert experiment_dirs(_plan("s3://bucket/runs", "x"))[1] == "s3://bucket/runs/x-confirm"


def test_only_storage_errnos_become_one_line():
    full = OSError(errno.ENOSPC, "No space left on device", "/data/results/x/state.json")
    assert storage_error_message(full, "/data/results") == ("cannot write /data/results/x/state.json: No space left "
                                                           "on device (storage path /data/results)")
    assert storage_error_message(ConnectionResetError("bug"), "/data/results") is None


def test_object_storage_trial_folders_avoid_characters_servers_sign_differently():
    chosen = lambda trial: "mine"  # noqa: E731
    assert trial_dirname_creator("/local", chosen) is chosen
    assert trial_dirname_creator("s3://bucket/runs", chosen) is not chosen


def test_cleanup_removes_only_what_this_run_created_and_never_finished_tables(tmp_path):
    plan = _plan(str(tmp_path), "x")
    (tmp_path / "x").mkdir()
    (tmp_path / "x-confirm").mkdir()
    (tmp_path / "x-confirm" / "trials.parquet").write_bytes(b"finished")
    remove_unfinished_experiment(plan, keep=frozenset())
    assert not (tmp_path / "x").exists() and (tmp_path / "x-confirm").exists()
    (tmp_path / "x").mkdir()
    remove_unfinished_experiment(plan, keep=frozenset({str(tmp_path / "x")}))
    assert (tmp_path / "x").exists()
