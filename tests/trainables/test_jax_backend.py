"""Keras on JAX end to end: the trial's defaults, its device set-up, and a real smoke sweep.

The backend is fixed when Keras is first imported, so anything that needs JAX as the
backend runs in a subprocess with KERAS_BACKEND=jax.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from trainables.devices import configure_gpus, jax_memory_settings, trial_environment

pytest.importorskip("jax")  # the `jax` extra


def run_python(code: str, backend: str) -> str:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def test_defaults_follow_the_backend():
    """On JAX augmentation runs in the model (tf.data cannot run Keras layers there) and XLA is on
    (jit_compile=False would run op by op); on TensorFlow both stay as measured."""
    code = ("from trainables.trainable import parse_config; "
            "c = parse_config({'model': 'deep_mlp', 'activation': 'relu', 'dataset': 'digits', 'epochs': 1}); "
            "print(c.augment_on, c.jit_compile, c.steps_per_execution)")
    assert run_python(code, "jax") == "model True 25"
    assert run_python(code, "tensorflow") == "pipeline False 1"


def test_trial_environment_carries_the_backend_and_no_preallocation():
    assert trial_environment("jax") == {"KERAS_BACKEND": "jax", "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    assert trial_environment("tensorflow") == {"KERAS_BACKEND": "tensorflow"}


def test_memory_fraction_follows_the_gpu_share():
    assert jax_memory_settings(0.25)["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.225"
    assert jax_memory_settings(2.0)["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.900"
    assert "XLA_PYTHON_CLIENT_MEM_FRACTION" not in jax_memory_settings(0.0)


class _FakeTfConfig:
    def __init__(self):
        self.visible = None

    def set_visible_devices(self, devices, kind):
        self.visible = (list(devices), kind)


def test_jax_trial_hides_gpus_from_tensorflow_and_sets_its_cap(monkeypatch):
    monkeypatch.delenv("XLA_PYTHON_CLIENT_MEM_FRACTION", raising=False)
    monkeypatch.delenv("XLA_PYTHON_CLIENT_PREALLOCATE", raising=False)
    fake = _FakeTfConfig()
    assert configure_gpus(fake, backend="jax", share=0.5) == []  # no GPU on this machine
    assert fake.visible == ([], "GPU")
    assert os.environ["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.450"
    assert os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"


def smoke(repo_root: str, storage: Path, backend: str) -> Path:
    """relu_family_beans --smoke (2 trials x 2 epochs of a tiny MobileNetV2) on `backend`, with
    augmentation on so that JAX runs it in the model."""
    env = {**os.environ, "KERAS_BACKEND": backend}
    command = [sys.executable, str(Path(repo_root) / "sweeps" / "relu_family_beans.py"), "--smoke",
               "--storage-path", str(storage), "--name", backend, "--set", "horizontal_flip=true",
               "--set", "train_limit=64"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=500, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return storage / backend


@pytest.mark.slow
def test_jax_smoke_sweep_writes_the_same_tables(repo_root, tmp_path):
    from analysis.store.export import read_tables

    tables = {backend: read_tables(smoke(repo_root, tmp_path, backend)) for backend in ("jax", "tensorflow")}
    jax_tables, tf_tables = tables["jax"], tables["tensorflow"]
    assert list(jax_tables.trials.columns) == list(tf_tables.trials.columns)
    assert list(jax_tables.epochs.columns) == list(tf_tables.epochs.columns)
    assert set(jax_tables.trials["keras_backend"]) == {"jax"}
    assert set(tf_tables.trials["keras_backend"]) == {"tensorflow"}
    assert len(jax_tables.trials) == 2 and jax_tables.epochs["val_accuracy"].between(0, 1).all()
    assert jax_tables.trials["status"].isin(["terminated", "stopped_early"]).all()


def test_augmentation_in_tf_data_on_jax_is_one_line_exit_2(repo_root):
    """tf.data cannot run the Keras augmentation layer on JAX: refused before Ray starts."""
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    command = [sys.executable, str(Path(repo_root) / "sweeps" / "relu_family_beans.py"), "--smoke", "--dry-run",
               "--set", "augment_on=pipeline", "--set", "horizontal_flip=true"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert result.stderr.strip().splitlines() == [
        "error: augment_on='pipeline' runs the augmentation in tf.data, which needs the tensorflow backend; "
        "on this backend use augment_on='model' (the default here)"]
