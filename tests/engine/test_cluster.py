"""Faults, GPUs and nodes through real Ray, on one CPU machine (issue 11).

- A trial's worker process killed mid-epoch is retried from its last checkpoint; the
  tables hold each of its epochs once, its status is how it ended, its failures counted.
- Logical GPUs (`ray start --num-gpus 4` on a CPU machine): Ray hands each trial GPU ids
  as it would real ones, so the GPU scheduling is checked without a GPU.
- Two nodes on this machine (a head plus `ray start --address`, in a mount namespace that hides
  the project where one can be made): trials spread over both, with the code the runner shipped.

- `--address` joins a `ray start --head` cluster; an exploding learning rate ends its trial cleanly.
- A sweep started before these tests, on the same machine, finishes after them (issue 24): every
  cluster here is started on free ports and stopped by killing its own processes, never with
  `ray stop` (which stops every Ray instance on the machine, as the suite once did to a user's sweep).

Each sweep runs as a user would (a subprocess), on tiny configurations; the clusters are
private to these tests (see tests/support/cluster.py). Slow by nature: tens of seconds each.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.cluster import (Driver, RayCluster, first_worker_pid, kill_process_groups, result_rows, run_sweep, start_sweep, sweep_command,
                             trial_dirs, tune_trial_states, wait_until)

pytestmark = pytest.mark.slow

SCRIPT = "antirectifier_mnist.py"  # --smoke: 4 trials (activation x units), a tiny MLP
BYSTANDER_EPOCHS = 20  # a tiny MLP: under a second an epoch; frozen after its first for the whole module


@dataclass
class Bystander:
    driver: Driver
    experiment: Path
    worker: int


@pytest.fixture(scope="module", autouse=True)
def bystander(repo_root, tmp_path_factory):
    """A local sweep (its own Ray instance) started before this module's clusters, as a user's
    sweep beside the test suite would be. Its trial worker is frozen (SIGSTOP) after the first
    epoch and stays so while the clusters here start and stop, so it is mid-sweep through all
    of them whatever the machine's speed; the last test of the module lets it finish."""
    storage = tmp_path_factory.mktemp("bystander")
    experiment = storage / "bystander"
    driver = start_sweep(repo_root, SCRIPT, "--smoke", "--scheduler", "fifo", "--max-epochs", str(BYSTANDER_EPOCHS),
                         "--set", "units=16", "--set", "activation=relu", "--storage-path", str(storage),
                         "--name", "bystander", "--verbose", "0", logs=storage / "logs")
    worker = None
    try:
        wait_until(lambda: first_worker_pid(experiment), driver, what="the bystander sweep reported an epoch")
        worker = first_worker_pid(experiment)
        os.kill(worker, signal.SIGSTOP)
        (trial,) = trial_dirs(experiment)
        assert driver.process.poll() is None and len(result_rows(trial)) < BYSTANDER_EPOCHS, "it finished already"
        yield Bystander(driver, experiment, worker)
    finally:
        if worker is not None:
            try:
                os.kill(worker, signal.SIGCONT)
            except ProcessLookupError:
                pass
        driver.end()


def read_tables(experiment: Path):
    from analysis.store.export import read_tables

    return read_tables(experiment)  # what the runner wrote at the end of the sweep


def trial_gpu_ids(trial_dir: Path) -> str:
    """The one GPU-id string a trial reported at every epoch."""
    ids = {row["gpu_ids"] for row in result_rows(trial_dir)}
    assert len(ids) == 1, f"{trial_dir.name} changed GPUs between epochs: {ids}"
    return ids.pop()


def busy_interval(trial_dir: Path) -> tuple[float, float]:
    """[start, end) of a trial's run, from Tune's result rows, never longer than it really ran.

    Tune stamps rows in whole seconds (`timestamp`, floored) and times the run exactly
    (`time_total_s`). From the last row: start = stamp - total is the true start shifted
    back by the same fraction d < 1 s as the stamp shifts the true end, so [start, stamp - 1)
    lies inside the true run shifted by d: two runs that did not overlap never seem to.
    """
    last = result_rows(trial_dir)[-1]
    return last["timestamp"] - last["time_total_s"], last["timestamp"] - 1.0


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, change in events:  # at equal times an end (-1) sorts first: [start, end) intervals
        running += change
        peak = max(peak, running)
    return peak


def assert_complete(experiment: Path, epochs: int, statuses: set[str] = frozenset({"terminated"})):
    """Every trial in trials.parquet, each with epochs 1..`epochs` exactly once in epochs.parquet."""
    tables = read_tables(experiment)
    reported = [result_rows(trial) for trial in trial_dirs(experiment)]
    assert reported and all(reported), "a trial reported nothing"
    trial_ids = {rows[0]["trial_id"] for rows in reported}
    assert set(tables.trials["trial_id"]) == trial_ids and len(tables.trials) == len(trial_ids)
    assert set(tables.trials["status"]) <= set(statuses), tables.trials[["trial_id", "status"]]
    for trial_id, group in tables.epochs.groupby("trial_id"):
        assert sorted(group["epoch"]) == list(range(1, epochs + 1)), (trial_id, list(group["epoch"]))
    assert set(tables.epochs["trial_id"]) == trial_ids
    return tables


# --------------------------------------------------------------------------- trial faults


def kill_worker_after_first_epoch(experiment: Path, driver: subprocess.Popen, timeout: float = 300) -> int:
    """SIGKILL the trial's worker (the actor process, not the driver) once epoch 1 is recorded.

    Tune records the worker's pid in every result row. Epochs here take seconds, so the
    kill lands in a later epoch, after epoch 1's checkpoint was registered.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reported = [rows for rows in map(result_rows, trial_dirs(experiment)) if rows]
        if reported:
            pid = reported[0][0]["pid"]
            assert pid not in (driver.pid, os.getpid())
            os.kill(pid, signal.SIGKILL)
            return pid
        assert driver.poll() is None, "the sweep ended before its trial reported an epoch"
        time.sleep(0.1)
    pytest.fail("the trial never reported its first epoch")


@pytest.fixture(scope="module")
def fault_run(repo_root, tmp_path_factory):
    """A local (CPU-only) one-trial sweep whose worker is SIGKILLed once, with --max-failures 1.

    Returns (experiment directory, pid of the killed worker).
    """
    storage = tmp_path_factory.mktemp("fault")
    args = [
        "--smoke", "--storage-path", str(storage), "--name", "fault", "--scheduler", "fifo",
        "--max-epochs", "3", "--max-failures", "1", "--set", "activation=relu", "--set", "units=16",
        # 4096 steps of batch 2: an epoch takes seconds, longer than Tune takes to write a row
        "--set", "train_limit=8192", "--set", "batch_size=2",
    ]
    driver = subprocess.Popen(sweep_command(repo_root, SCRIPT, *args), start_new_session=True, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        killed = kill_worker_after_first_epoch(storage / "fault", driver)
        output, _ = driver.communicate(timeout=400)
    finally:
        if driver.poll() is None:
            kill_process_groups([driver.pid])  # the driver, its Ray and its trial workers, by pid
            driver.wait()
    assert driver.returncode == 0, output[-4000:]
    return storage / "fault", killed


def test_killed_worker_is_retried_from_its_checkpoint_and_recorded_once(fault_run):
    experiment, killed = fault_run
    (trial,) = trial_dirs(experiment)
    rows = result_rows(trial)
    assert [row["epoch"] for row in rows] == [1, 2, 3], "epochs lost or re-run"
    # Tune writes a row a little after the worker reports it, so the killed worker may have
    # reported epoch 2 too; either way the new worker goes on from the last checkpoint.
    before = [row["epoch"] for row in rows if row["pid"] == killed]
    assert before in ([1], [1, 2]), f"the kill was not mid-sweep: {before}"
    restored = rows[len(before)]
    assert restored["pid"] != killed and restored["iterations_since_restore"] == 1
    (state,) = tune_trial_states(experiment).values()
    assert state["status"] == "TERMINATED"

    tables = assert_complete(experiment, epochs=3)
    (record,) = tables.trials.to_dict("records")
    assert record["status"] == "terminated", "a retried trial that finished is not errored"
    assert record["num_failures"] == 1
    assert record["epochs_completed"] == 3


# --------------------------------------------------------------------------- logical GPUs


@pytest.fixture(scope="module")
def gpu_cluster():
    """A one-node cluster with 4 CPUs and 4 logical GPUs (Ray accepts GPUs a machine lacks)."""
    with RayCluster() as cluster:
        cluster.start_head(num_cpus=4, num_gpus=4)
        yield cluster


def test_half_gpu_trials_see_one_id_and_share_it_at_most_two_at_a_time(repo_root, tmp_path, gpu_cluster):
    run_sweep(
        repo_root, SCRIPT, "--smoke", "--address", gpu_cluster.address, "--storage-path", str(tmp_path),
        "--name", "half", "--scheduler", "fifo", "--max-epochs", "2", "--gpus-per-trial", "0.5",
        env=gpu_cluster.env,
    )
    experiment = tmp_path / "half"
    trials = trial_dirs(experiment)
    assert len(trials) == 4
    by_gpu: dict[str, list[tuple[float, float]]] = {}
    for trial in trials:
        gpu_id = trial_gpu_ids(trial)
        assert gpu_id in {"0", "1", "2", "3"}, f"{trial.name} saw GPU ids {gpu_id!r}, not exactly one"
        by_gpu.setdefault(gpu_id, []).append(busy_interval(trial))
    peaks = {gpu_id: most_at_once(intervals) for gpu_id, intervals in by_gpu.items()}
    assert max(peaks.values()) <= 2, f"more than two half-GPU trials on one GPU at once: {peaks}"
    # All four ran at once (4 CPUs) and Ray packs fractions: the check above was exercised.
    assert max(peaks.values()) == 2, peaks

    tables = assert_complete(experiment, epochs=2)
    assert (tables.trials["gpus_per_trial"] == 0.5).all()
    recorded = dict(zip(tables.trials["trial_id"], tables.trials["gpu_ids"]))
    assert recorded == {result_rows(trial)[0]["trial_id"]: trial_gpu_ids(trial) for trial in trials}


def test_default_gpu_share_only_when_the_cluster_has_gpus(repo_root, tmp_path, gpu_cluster, fault_run):
    from sweeps.antirectifier_mnist import SWEEP

    run_sweep(
        repo_root, SCRIPT, "--smoke", "--address", gpu_cluster.address, "--storage-path", str(tmp_path),
        "--name", "default", "--scheduler", "fifo", "--max-epochs", "1", "--set", "units=16",
        env=gpu_cluster.env,
    )
    on_gpus = read_tables(tmp_path / "default").trials
    assert len(on_gpus) == 2 and (on_gpus["gpus_per_trial"] == SWEEP.gpus_per_trial).all()
    assert on_gpus["gpu_ids"].isin(["0", "1", "2", "3"]).all(), list(on_gpus["gpu_ids"])

    local_experiment, _ = fault_run  # a local instance on this CPU-only machine: no GPUs, no share
    local = read_tables(local_experiment)
    assert (local.trials["gpus_per_trial"] == 0).all()
    assert local.trials["gpu_ids"].isna().all(), "no GPU is recorded as null"
    assert local.epochs["gpu_ids"].isna().all(), "the trial reported GPU ids"


# --------------------------------------------------------------------------- a joined cluster


def node_id_of_cluster(address: str, env: dict[str, str]) -> str:
    """The node id of a one-node cluster, asked by a driver that joins it (as the runner does)."""
    code = ("import ray; from sweeps.engine.ray_session import use_auth_token_if_present; use_auth_token_if_present(); "
            f"ray.init(address={address!r}, logging_level='ERROR'); print(ray.get_runtime_context().get_node_id())")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env,
                            check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.split()[-1]


# --------------------------------------------------------------------------- token authentication


def test_a_token_cluster_admits_a_sweep_with_its_token_and_refuses_clients_without_it(repo_root, tmp_path):
    """A cluster started as docs/clusters.md says (RAY_AUTH_MODE=token and one token on every node).
    The admitted sweep joins it (`--address`, no local instance of its own) and one of its two
    trials explodes (lr 1e30): that trial ends cleanly as diverged, the sweep finishes."""
    from sweeps.engine.admission import gcs_admits, no_token_line, token_refused_line

    home = tmp_path / "home"  # no ~/.ray/auth_token of the machine's user
    home.mkdir()
    storage = tmp_path / "results"
    with RayCluster() as cluster:
        address = cluster.start_head(num_cpus=2)
        token = Path(cluster.env["RAY_AUTH_TOKEN_PATH"]).read_text()
        assert gcs_admits(address) is False and gcs_admits(address, token) is True
        without = {name: value for name, value in cluster.env.items() if not name.startswith("RAY_AUTH")}
        without["HOME"] = str(home)
        client = subprocess.run([sys.executable, "-c", f"import ray; ray.init(address={address!r})"], env=without,
                                capture_output=True, text=True, timeout=120, check=False)
        assert client.returncode != 0 and "Authentication token is missing or incorrect" in client.stderr

        sweep = ["--smoke", "--address", address, "--storage-path", str(storage), "--scheduler", "fifo",
                 "--max-epochs", "1", "--set", "units=16", "--set", "activation=relu"]
        refused = subprocess.run(sweep_command(repo_root, SCRIPT, *sweep, "--name", "refused"), env=without,
                                 capture_output=True, text=True, timeout=300, check=False)
        assert refused.returncode == 2, refused.stdout[-2000:] + refused.stderr[-3000:]
        assert refused.stderr.splitlines() == [f"error: {no_token_line(address)}"]

        wrong_token = tmp_path / "wrong_token"
        wrong_token.write_text("0" * 32)
        wrong_token.chmod(0o600)
        wrong = subprocess.run(sweep_command(repo_root, SCRIPT, *sweep, "--name", "wrong"),
                               env={**without, "RAY_AUTH_TOKEN_PATH": str(wrong_token)},
                               capture_output=True, text=True, timeout=300, check=False)
        assert wrong.returncode == 2, wrong.stdout[-2000:] + wrong.stderr[-3000:]
        with pytest.MonkeyPatch.context() as patch:  # the line as the sweep's environment words it
            patch.setenv("RAY_AUTH_TOKEN_PATH", str(wrong_token))
            assert wrong.stderr.splitlines() == [f"error: {token_refused_line(address)}"]

        disabled = subprocess.run(sweep_command(repo_root, SCRIPT, *sweep, "--name", "disabled"),
                                  env={**without, "RAY_AUTH_MODE": "disabled",
                                       "RAY_AUTH_TOKEN_PATH": cluster.env["RAY_AUTH_TOKEN_PATH"]},
                                  capture_output=True, text=True, timeout=300, check=False)
        assert disabled.returncode == 2 and disabled.stderr.splitlines() == [
            f"error: the Ray cluster at {address} requires Ray's token authentication and RAY_AUTH_MODE=disabled "
            "here: unset it (or set it to token) and run the sweep again"], disabled.stderr[-3000:]

        # The token file alone, RAY_AUTH_MODE unset, as on a laptop the token was copied to.
        head_node = node_id_of_cluster(address, cluster.env)
        output = run_sweep(
            repo_root, "selu_mnist.py", "--smoke", "--address", address, "--storage-path", str(storage),
            "--name", "admitted", "--scheduler", "fifo",
            "--set", "kernel_initializer=glorot_uniform", "--set", "optimizer=sgd", "--set", "lr=[1e-2, 1e30]",
            "--set", "batch_norm=false", "--set", "activation=selu",  # no dead units: the blow-up reaches inf
            env={**without, "RAY_AUTH_TOKEN_PATH": cluster.env["RAY_AUTH_TOKEN_PATH"]})
        assert "does not require Ray's token authentication" not in output
    assert {path.name for path in storage.iterdir()} == {"admitted"}  # the refused sweeps wrote nothing
    experiment = storage / "admitted"
    assert len(read_tables(experiment).trials) == 2
    by_lr = {json.loads((trial / "params.json").read_text())["lr"]: result_rows(trial)
             for trial in trial_dirs(experiment)}
    assert set(by_lr) == {1e-2, 1e30}
    exploded, healthy = by_lr[1e30], by_lr[1e-2]
    assert exploded[-1]["diverged"] is True and exploded[-1]["stop_reason"].startswith("diverged")
    assert len(exploded) < 3, "a diverged trial must stop, not burn its budget"
    assert [row["epoch"] for row in healthy] == [1, 2, 3] and not healthy[-1]["diverged"]
    assert {state["status"] for state in tune_trial_states(experiment).values()} == {"TERMINATED"}
    # Joined, not a local instance of its own: every epoch ran on the head node started above.
    assert {row["node_id"] for history in by_lr.values() for row in history} == {head_node}


# --------------------------------------------------------------------------- two nodes, the code shipped


def test_trials_spread_over_two_nodes_one_of_which_cannot_import_the_project(repo_root, tmp_path):
    """Two trials, each taking a whole node's 2 CPUs: they start at once, one per node, and the
    tables are complete. The worker node's mount namespace hides every checkout of the project
    (support.private_node checks `import trainables` fails there before it starts): its trial imports
    the code the runner shipped. The cluster runs without token auth, which the sweep says in one
    line. Where no private mount namespace can be made, the second node is a plain one and the
    test ends skipped after checking the spread."""
    from support import REPO_ROOT
    from support.private_node import private_mounts_unavailable, private_node

    reason = private_mounts_unavailable()
    with RayCluster() as cluster:
        cluster.env["RAY_AUTH_MODE"] = "disabled"  # an open cluster, on purpose
        cluster.start_head(num_cpus=2)
        hidden = None if reason else private_node(cluster, None, num_cpus=2, without_project=True)
        with hidden or contextlib.nullcontext() as node:
            if reason:
                cluster.add_node(num_cpus=2)
            output = run_sweep(
                repo_root, SCRIPT, "--smoke", "--address", cluster.address, "--storage-path", str(tmp_path),
                "--name", "shipped", "--scheduler", "fifo", "--max-epochs", "2", "--cpus-per-trial", "2",
                "--set", "units=16", env=cluster.env,
            )
    experiment = tmp_path / "shipped"
    tables = assert_complete(experiment, epochs=2)
    assert len(tables.trials) == 2 and tables.trials["node_id"].nunique() == 2, list(tables.trials["node_id"])
    for trial in trial_dirs(experiment):  # a trial stays on its node
        assert len({row["node_id"] for row in result_rows(trial)}) == 1
    assert set(tables.epochs["node_id"]) == set(tables.trials["node_id"])
    lines = output.splitlines()
    (shipped,) = [line for line in lines if "shipping the project's code" in line]
    assert f"trainables, sweeps, analysis from {REPO_ROOT} (" in shipped and "MiB" in shipped, shipped
    (warning,) = [line for line in lines if "does not require Ray's token authentication" in line]
    assert warning.endswith(f"warning: the Ray cluster at {cluster.address} does not require Ray's token "
                            "authentication: anyone who reaches its ports can run code on its nodes; restart every node with "
                            "RAY_AUTH_MODE=token and the same token (docs/clusters.md)")
    if reason:
        pytest.skip(f"the spread holds; a node without the project needs a private mount namespace: {reason}")
    assert node.node_id in set(tables.trials["node_id"])


# --------------------------------------------------------------------------- the bystander (keep last)


def test_a_sweep_started_before_the_cluster_tests_finishes_after_them(bystander):
    """Every cluster above started and stopped while the bystander sweep was mid-trial (its
    worker frozen): none of them touched its Ray instance, so it finishes as if alone."""
    assert bystander.driver.process.poll() is None, bystander.driver.stderr()[-3000:]
    os.kill(bystander.worker, signal.SIGCONT)
    code = bystander.driver.wait(timeout=600)
    assert code == 0, bystander.driver.stdout()[-2000:] + bystander.driver.stderr()[-3000:]
    assert_complete(bystander.experiment, epochs=BYSTANDER_EPOCHS)
