"""Budget-fair ASHA (sweeps/engine/fair_asha.py): fake trials for the rules, real Ray for the claim."""

from __future__ import annotations
from support import REPO_ROOT

import json
import math
import pickle

import pytest

from sweeps.engine.fair_asha import (
    STATE_FILE,
    FairASHAScheduler,
    arm_counts,
    rung_epochs,
    trial_rungs,
)

CONTINUE, PAUSE, STOP = "CONTINUE", "PAUSE", "STOP"


class FakeTrial:
    def __init__(self, trial_id: str, config: dict, directory: str) -> None:
        self.trial_id, self.config, self.status = trial_id, config, "PENDING"
        self.is_saving = False
        self.local_experiment_path = directory  # Tune's staging copy of the experiment dir


class FakeController:
    """What the scheduler uses of TuneController: the trials, and stopping one."""

    def __init__(self, scheduler: FairASHAScheduler) -> None:
        self.scheduler, self.trials = scheduler, []

    def add(self, trial: FakeTrial) -> None:
        self.trials.append(trial)
        self.scheduler.on_trial_add(self, trial)

    def get_trials(self) -> list:
        return self.trials

    def stop_trial(self, trial: FakeTrial) -> None:
        trial.status = "TERMINATED"
        self.scheduler.on_trial_remove(self, trial)

    def report(self, trial: FakeTrial, epoch: int, value: float) -> str:
        trial.status = "RUNNING"
        decision = self.scheduler.on_trial_result(self, trial, {"epoch": epoch, "score": value})
        trial.status = {PAUSE: "PAUSED", STOP: "TERMINATED"}.get(decision, "RUNNING")
        if decision == STOP:
            self.scheduler.on_trial_complete(self, trial, {"epoch": epoch, "score": value})
        return decision


def make(tmp_path, arms=("relu", "selu"), per_arm=9, **kwargs):
    scheduler = FairASHAScheduler(["activation"], max_t=9, grace_period=1, reduction_factor=3,
                                  trials_per_arm=kwargs.pop("trials_per_arm", per_arm),
                                  metric="score", mode="max", **kwargs)
    controller = FakeController(scheduler)
    for index in range(per_arm):
        for arm in arms:
            controller.add(FakeTrial(f"{arm}{index}", {"activation": arm, "lr": index}, str(tmp_path)))
    return scheduler, controller


def curve(trial: FakeTrial, epoch: int) -> float:
    """relu starts fast and stalls; selu starts slow and ends higher. Within an arm: higher index is better."""
    index = int(trial.trial_id[-1])
    if trial.config["activation"] == "relu":
        return 0.5 + 0.01 * index
    return 0.05 * epoch + 0.01 * index


def run_all(controller: FakeController, max_t: int = 9) -> None:
    """Run every trial epoch by epoch, resuming paused ones when the scheduler chooses them."""
    for _ in range(200):
        runnable = [t for t in controller.trials if t.status in ("PENDING", "RUNNING")]
        chosen = controller.scheduler.choose_trial_to_run(controller)
        if chosen is not None and chosen.status == "PAUSED":
            chosen.status = "PENDING"
            runnable.append(chosen)
        if not runnable:
            return
        for trial in runnable:
            epoch = trial.__dict__.setdefault("epoch", 0) + 1
            trial.epoch = epoch
            decision = controller.report(trial, epoch, curve(trial, epoch))
            if decision == CONTINUE and epoch >= max_t:
                trial.status = "TERMINATED"
                controller.scheduler.on_trial_complete(controller, trial, {"epoch": epoch, "score": curve(trial, epoch)})
    raise AssertionError("the schedule did not finish")


def test_rungs_as_asha_places_them():
    assert rung_epochs(1, 3, 9) == [1, 3]
    assert rung_epochs(1, 3, 27) == [1, 3, 9]
    assert rung_epochs(2, 2, 16) == [2, 4, 8]
    assert rung_epochs(5, 3, 5) == []


def test_every_arm_keeps_its_own_top_third_at_every_rung(tmp_path):
    _, controller = make(tmp_path)
    run_all(controller)
    counts = arm_counts(tmp_path)
    # 9 per arm -> 3 past epoch 1 -> 1 past epoch 3 to the full budget, in both arms
    assert counts == {"activation=relu": [9, 3, 1], "activation=selu": [9, 3, 1]}
    rows = trial_rungs(tmp_path)
    # the top of each arm by its own score: indices 8, 7, 6 survive rung 0, index 8 goes to the end
    assert {t for t, row in rows.items() if row["rung"] >= 1} == {"relu8", "relu7", "relu6", "selu8", "selu7", "selu6"}
    assert rows["selu8"] == {"arm": "activation=selu", "rung": 2, "rung_epoch": 9, "stopped": False}
    assert rows["selu0"] == {"arm": "activation=selu", "rung": 0, "rung_epoch": 1, "stopped": True}


def test_a_trial_the_scheduler_stopped_is_stopped_early_whatever_state_tune_saved(tmp_path):
    """Ray's stop_trial on a PAUSED trial may leave PAUSED/RUNNING in the experiment state."""
    from analysis.store.export import export_experiment
    from analysis.store.tables import read_tables
    from support.fake_experiment import standard_trials, write_fake_experiment

    experiment = write_fake_experiment(tmp_path, "fair", standard_trials())
    export_experiment(experiment)
    before = read_tables(experiment).trials.set_index("trial_id")["status"]
    running = before[before == "running"].index[0]
    finished = before[before == "terminated"].index[0]
    arm = "activation=swish"
    (experiment / STATE_FILE).write_text(json.dumps({
        "rungs": [1], "max_t": 4, "decisions": {arm: {"0": [finished]}},
        "trials": {running: {"arm": arm, "values": {"0": 0.55}, "ended": False},
                   finished: {"arm": arm, "values": {"0": 0.6, "1": 0.7}, "ended": True}},
    }))
    export_experiment(experiment)
    after = read_tables(experiment).trials.set_index("trial_id")["status"]
    assert after[running] == "stopped_early" and after[finished] == "terminated"
    assert (after.drop(running) == before.drop(running)).all()


def test_a_trial_waits_until_its_arm_has_arrived(tmp_path):
    _, controller = make(tmp_path, per_arm=3)
    relu = [t for t in controller.trials if t.config["activation"] == "relu"]
    selu = [t for t in controller.trials if t.config["activation"] == "selu"]
    assert controller.report(relu[0], 1, 0.9) == PAUSE
    assert controller.report(relu[1], 1, 0.1) == PAUSE
    assert controller.report(selu[0], 1, 0.0) == PAUSE  # another arm does not fill relu's rung
    # the last relu arrival decides relu's rung: ceil(3/3) = 1 keeps the best (relu0), stops the others
    assert controller.report(relu[2], 1, 0.5) == STOP
    assert relu[1].status == "TERMINATED" and relu[0].status == "PAUSED"
    selu[1].status = selu[2].status = "RUNNING"  # pending trials would be chosen first
    assert controller.scheduler.choose_trial_to_run(controller) is relu[0]
    assert selu[0].status == "PAUSED"  # still waiting for its own arm


def test_a_trial_whose_pause_was_still_queued_is_stopped_once_paused(tmp_path):
    scheduler, controller = make(tmp_path, arms=("relu",), per_arm=3)
    first, second, third = controller.trials
    controller.report(first, 1, 0.1)
    first.status = "RUNNING"  # Tune has not executed its PAUSE yet: the rung cannot stop it now
    controller.report(second, 1, 0.2)
    assert controller.report(third, 1, 0.9) == CONTINUE and first.status == "RUNNING"
    first.status = "PAUSED"
    scheduler.choose_trial_to_run(controller)
    assert first.status == "TERMINATED" and second.status == "TERMINATED"


def test_pooled_scores_never_cross_arms(tmp_path):
    """A whole arm below the other's worst still promotes its own best."""
    scheduler, controller = make(tmp_path, per_arm=3)
    for trial in controller.trials:
        controller.report(trial, 1, (0.9 if trial.config["activation"] == "relu" else 0.0) + int(trial.trial_id[-1]) / 100)
    assert scheduler.decisions["activation=selu"]["0"] == ["selu2"]
    assert scheduler.decisions["activation=relu"]["0"] == ["relu2"]


def test_minimise_and_nan_rank_last(tmp_path):
    scheduler = FairASHAScheduler(["activation"], max_t=9, trials_per_arm=3, metric="score", mode="min")
    controller = FakeController(scheduler)
    trials = [FakeTrial(f"t{index}", {"activation": "relu"}, str(tmp_path)) for index in range(3)]
    for trial in trials:
        controller.add(trial)
    controller.report(trials[0], 1, math.nan)
    controller.report(trials[1], 1, 0.2)
    assert controller.report(trials[2], 1, 0.3) == STOP
    assert scheduler.decisions["activation=relu"]["0"] == ["t1"]


def test_a_trial_that_ends_early_completes_its_rung(tmp_path):
    scheduler, controller = make(tmp_path, arms=("relu",), per_arm=3)
    first, second, third = controller.trials
    assert controller.report(first, 1, 0.5) == PAUSE
    assert controller.report(second, 1, 0.4) == PAUSE
    third.status = "ERROR"
    scheduler.on_trial_error(controller, third)  # diverged or failed: it will never arrive
    assert scheduler.decisions["activation=relu"]["0"] == ["relu0"]
    assert second.status == "TERMINATED"


def test_without_a_known_count_a_stall_decides_the_rung(tmp_path):
    scheduler, controller = make(tmp_path, per_arm=3, trials_per_arm=None)
    for trial in controller.trials:
        assert controller.report(trial, 1, int(trial.trial_id[-1])) == PAUSE
    chosen = scheduler.choose_trial_to_run(controller)  # nothing pending or running: decide now
    assert chosen is not None and chosen.trial_id in ("relu2", "selu2")
    assert [t.trial_id for t in controller.trials if t.status == "PAUSED"] == ["relu2", "selu2"]


def test_state_round_trips_through_pickle_and_the_state_file(tmp_path):
    scheduler, controller = make(tmp_path, per_arm=3)
    for trial in controller.trials[:5]:  # relu fills its rung, selu does not
        controller.report(trial, 1, int(trial.trial_id[-1]))
    restored = pickle.loads(pickle.dumps(scheduler))
    assert restored.trials == scheduler.trials and restored.decisions == scheduler.decisions
    # a resumed experiment: Tune's tuner.pkl holds the scheduler as it was at the start
    fresh = FairASHAScheduler(["activation"], max_t=9, grace_period=1, reduction_factor=3,
                              trials_per_arm=3, metric="score", mode="max")
    resumed = FakeController(fresh)
    for trial in controller.trials:
        resumed.add(FakeTrial(trial.trial_id, trial.config, str(tmp_path)))
    assert fresh.trials == json.loads(json.dumps(scheduler.trials))
    assert fresh.decisions == scheduler.decisions == {"activation=relu": {"0": ["relu2"]}}
    # a stopped trial restarted from an older checkpoint is stopped again, not re-judged
    relu0 = resumed.trials[0]
    assert relu0.trial_id == "relu0" and resumed.report(relu0, 1, 99.0) == STOP
    # a promoted one continues; a waiting one that trained past its rung waits again
    assert resumed.report(resumed.trials[4], 2, 0.0) == CONTINUE
    selu0 = resumed.trials[1]
    assert resumed.report(selu0, 2, 0.0) == PAUSE


def test_the_state_is_never_half_written_inside_the_folder_tune_uploads(tmp_path, monkeypatch):
    import os

    import sweeps.engine.fair_asha as fair_asha

    staging = tmp_path / "driver_artifacts"  # Tune copies this folder on its own thread
    staging.mkdir()
    written = []
    real_replace = os.replace
    monkeypatch.setattr(fair_asha.os, "replace", lambda source, target: (written.append((source, target)),
                                                                         real_replace(source, target)))
    scheduler = FairASHAScheduler(["activation"], max_t=9, grace_period=1, reduction_factor=3, trials_per_arm=1,
                                  metric="score", mode="max")
    controller = FakeController(scheduler)
    controller.add(FakeTrial("relu0", {"activation": "relu"}, str(staging)))
    controller.report(controller.trials[0], 1, 0.5)
    assert written and all(os.path.dirname(source) != str(staging) for source, _ in written)
    assert sorted(os.listdir(staging)) == [STATE_FILE]


def test_configuration_errors_are_one_line(tmp_path):
    with pytest.raises(ValueError, match="stratify"):
        FairASHAScheduler([], max_t=9)
    with pytest.raises(ValueError, match="reduction_factor"):
        FairASHAScheduler(["activation"], max_t=9, reduction_factor=1)
    scheduler = FairASHAScheduler(["activation"], max_t=9)
    with pytest.raises(ValueError, match="metric and mode"):
        scheduler.on_trial_add(FakeController(scheduler), FakeTrial("t", {"activation": "relu"}, str(tmp_path)))
    assert not (tmp_path / STATE_FILE).exists()


def curve_trainable(config):
    """Arm "fast" starts high and stalls; arm "slow" starts below every fast trial and ends above them."""
    import json as json_module
    import os
    import tempfile

    from ray import tune

    start = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory, open(os.path.join(directory, "state.json")) as handle:
            start = json_module.load(handle)["epoch"]
    for epoch in range(start + 1, config["epochs"] + 1):
        if config["variant"] == "fast":
            score = 0.5 + 0.001 * config["quality"]
        else:
            score = 0.1 * epoch + 0.001 * config["quality"]
        with tempfile.TemporaryDirectory() as directory:
            with open(os.path.join(directory, "state.json"), "w") as handle:
                handle.write(json_module.dumps({"epoch": epoch}))
            tune.report({"epoch": epoch, "score": score}, checkpoint=tune.Checkpoint.from_directory(directory))


def run_sweep(tmp_path, name: str, scheduler, max_concurrent: int = 0, reuse_actors: bool = False):
    from ray import tune
    from ray.tune.search.basic_variant import BasicVariantGenerator

    tuner = tune.Tuner(
        tune.with_resources(curve_trainable, {"cpu": 0.25}),
        param_space={"variant": tune.grid_search(["fast", "slow"]), "quality": tune.randint(0, 100), "epochs": 9},
        tune_config=tune.TuneConfig(metric="score", mode="max", scheduler=scheduler, num_samples=4,
                                    reuse_actors=reuse_actors,
                                    search_alg=BasicVariantGenerator(constant_grid_search=True, random_state=1,
                                                                     max_concurrent=max_concurrent)),
        run_config=tune.RunConfig(name=name, storage_path=str(tmp_path), verbose=0),
    )
    return tuner.fit()


@pytest.fixture(scope="module")
def small_ray():
    import sys

    import ray
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/
    # address="local": a new private instance, never another job's running cluster
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.mark.slow
def test_pooled_asha_prunes_the_slow_starter_and_fair_asha_does_not(tmp_path, small_ray):
    from ray.tune.schedulers import ASHAScheduler

    pooled = ASHAScheduler(time_attr="epoch", max_t=9, grace_period=1, reduction_factor=3)
    # one trial at a time, fast first: async ASHA promotes a rung's first arrival, so this
    # order gives it its best chance to keep a slow trial, and it still keeps none past epoch 1
    pooled_results = run_sweep(tmp_path, "pooled", pooled, max_concurrent=1)
    pooled_epochs = {arm: sorted(r.metrics["epoch"] for r in pooled_results if r.config["variant"] == arm)
                     for arm in ("fast", "slow")}
    assert pooled_epochs["slow"] == [1, 1, 1, 1]
    assert max(pooled_epochs["fast"]) == 9

    fair = FairASHAScheduler(["variant"], time_attr="epoch", max_t=9, grace_period=1, reduction_factor=3, trials_per_arm=4)
    fair_results = run_sweep(tmp_path, "fair", fair, reuse_actors=True)  # as the runner runs it
    counts = arm_counts(tmp_path / "fair")
    assert counts == {"variant=fast": [4, 2, 1], "variant=slow": [4, 2, 1]}  # ceil(4/3) = 2, ceil(2/3) = 1
    finals = {r.config["variant"]: [] for r in fair_results}
    for result in fair_results:
        finals[result.config["variant"]].append(result.metrics["score"])
    assert max(finals["slow"]) > max(finals["fast"])  # the slow starter's real final accuracy is found
    from analysis.store.export import build_tables

    trials_table = build_tables([tmp_path / "fair"])[0].to_pandas()
    assert trials_table.groupby(["arm", "rung"]).size().to_dict() == {
        ("variant=fast", 0): 2, ("variant=fast", 1): 1, ("variant=fast", 2): 1,
        ("variant=slow", 0): 2, ("variant=slow", 1): 1, ("variant=slow", 2): 1}
    assert (trials_table["rung_epoch"] == trials_table["epochs_completed"]).all()  # the rung on record is where it stopped
    assert "arm" not in build_tables([tmp_path / "pooled"])[0].column_names


RESUMABLE_SWEEP = """
import json, os, sys, tempfile, time
import ray
from ray import tune
from ray.tune.search.basic_variant import BasicVariantGenerator
from sweeps.engine.fair_asha import FairASHAScheduler

def trainable(config):
    start = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            start = json.loads(open(os.path.join(directory, "state.json")).read())["epoch"]
    for epoch in range(start + 1, 10):
        time.sleep(0.5)
        score = 0.5 + 0.001 * config["quality"] if config["arm"] == "fast" else 0.1 * epoch + 0.001 * config["quality"]
        with tempfile.TemporaryDirectory() as directory:
            with open(os.path.join(directory, "state.json"), "w") as handle:
                handle.write(json.dumps({"epoch": epoch}))
            tune.report({"epoch": epoch, "score": score}, checkpoint=tune.Checkpoint.from_directory(directory))

mode, storage = sys.argv[1], sys.argv[2]
ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
if mode == "resume":
    tuner = tune.Tuner.restore(os.path.join(storage, "fair"), trainable=tune.with_resources(trainable, {"cpu": 0.5}))
else:
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 0.5}),
        param_space={"arm": tune.grid_search(["fast", "slow"]), "quality": tune.randint(0, 100)},
        tune_config=tune.TuneConfig(metric="score", mode="max", num_samples=4,
            scheduler=FairASHAScheduler(["arm"], max_t=9, grace_period=1, reduction_factor=3, trials_per_arm=4),
            search_alg=BasicVariantGenerator(constant_grid_search=True, random_state=1)),
        run_config=tune.RunConfig(name="fair", storage_path=storage, verbose=0),
    )
tuner.fit()
"""


@pytest.mark.slow
def test_a_killed_fair_sweep_resumes_with_the_same_decisions(tmp_path, repo_root):
    import os
    import subprocess
    import sys
    import time

    from support.cluster import kill_process_groups

    script = tmp_path / "sweep.py"
    script.write_text(RESUMABLE_SWEEP)
    environment = {**os.environ, "PYTHONPATH": repo_root}
    with open(tmp_path / "run.err", "w") as errors:  # start_new_session: its pid is its process group
        process = subprocess.Popen([sys.executable, str(script), "run", str(tmp_path)], env=environment,
                                   start_new_session=True, stdout=subprocess.DEVNULL, stderr=errors)
    state_file = tmp_path / "fair" / STATE_FILE
    deadline = time.monotonic() + 240
    before = {}
    while time.monotonic() < deadline and process.poll() is None:
        if state_file.exists():
            before = json.loads(state_file.read_text())["decisions"]
            if before:  # one arm's first rung is decided: kill the driver and its Ray now
                break
        time.sleep(0.2)
    assert before, f"no rung was decided: {(tmp_path / 'run.err').read_text()[-2000:]}"
    kill_process_groups([process.pid])  # the driver, its Ray and its trial workers (sessions of their own)
    process.wait()
    resumed = subprocess.run([sys.executable, str(script), "resume", str(tmp_path)], env=environment,
                             timeout=300, capture_output=True, text=True, check=False)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = json.loads(state_file.read_text())["decisions"]
    for arm, rungs in before.items():  # a decided rung is never re-judged
        for rung, promoted in rungs.items():
            assert after[arm][rung] == promoted
    assert arm_counts(tmp_path / "fair") == {"arm=fast": [4, 2, 1], "arm=slow": [4, 2, 1]}


def test_the_plan_stratifies_by_the_sweeps_scientific_grids(tmp_path):
    from sweeps import antirectifier_mnist, selu_mnist
    from sweeps.engine.plan import plan_for

    common = ["--smoke", "--storage-path", str(tmp_path)]
    plan = plan_for(selu_mnist.SWEEP, common)
    # activation and batch_norm are grids of two: 4 arms; kernel_initializer (2 values) x 1 sample each
    assert plan.stratify == ("activation", "batch_norm") and plan.trials_per_arm == 2
    assert plan_for(selu_mnist.SWEEP, [*common, "--stratify", "none"]).stratify == ()
    assert plan_for(selu_mnist.SWEEP, [*common, "--scheduler", "fifo"]).stratify == ()
    repeated = plan_for(selu_mnist.SWEEP, [*common, "--stratify", "activation", "--repeats", "3"])
    assert repeated.stratify == ("activation",) and repeated.trials_per_arm == 2 * 2 * 3  # batch_norm x init x seeds
    # the antirectifier sweep compares two activations over two widths; one activation: one pool
    compared = plan_for(antirectifier_mnist.SWEEP, [*common, "--num-samples", "3"])
    assert compared.stratify == ("activation",) and compared.trials_per_arm == 3 * 2
    assert plan_for(antirectifier_mnist.SWEEP, [*common, "--set", "activation=relu"]).stratify == ()


def test_validation_is_always_a_config_key(tmp_path):
    from sweeps import aprelu_cifar, selu_mnist
    from sweeps.engine.plan import plan_for

    common = ["--smoke", "--storage-path", str(tmp_path)]
    assert plan_for(selu_mnist.SWEEP, common).param_space["validation"] == "holdout"
    assert plan_for(selu_mnist.SWEEP, [*common, "--validation", "test"]).param_space["validation"] == "test"
    record = plan_for(aprelu_cifar.SWEEP, [*common, "--record", "1"])
    assert record.param_space["validation"] == "test"  # reproductions keep the seeds' protocol


def test_stratifying_by_a_key_that_is_not_a_grid_is_one_line_exit_2(tmp_path, repo_root):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "sweeps/selu_mnist.py", "--smoke", "--dry-run", "--stratify", "lr",
                             "--storage-path", str(tmp_path)], cwd=repo_root, capture_output=True, text=True, check=False)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--stratify lr: not a list of values" in lines[0] and "Traceback" not in result.stderr


def _bench():
    """benchmarks/fair_asha.py as a module (benchmarks/ is not a package)."""
    import importlib.util

    path = REPO_ROOT / "benchmarks" / "fair_asha.py"
    spec = importlib.util.spec_from_file_location("bench_fair_asha", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_agreement_is_the_arm_order_and_decisive_is_two_standard_errors():
    bench = _bench()
    assert bench.same_order([0.90, 0.95], [0.80, 0.96])
    assert not bench.same_order([0.95, 0.90], [0.80, 0.96])
    assert not bench.same_order([0.90, 0.90], [0.80, 0.96])  # a tie is its own order
    assert bench.same_order([0.5, 0.5], [0.9, 0.9])
    assert bench.decisive([0.80, 0.95], 360)  # 15 points, SE of the difference ~2.4
    assert not bench.decisive([0.93, 0.95], 360)  # 2 points: within two SEs (~3.6)


def test_bench_replay_pooled_loses_the_slow_arm_and_stratified_keeps_it():
    """Recorded curves through the real schedulers: BatchNorm trials start at chance and end best."""
    from ray.tune.schedulers import ASHAScheduler

    bench = _bench()
    max_t, per_arm = 9, 3
    curves = []
    for index in range(per_arm):
        for arm in bench.ARMS:
            slow = arm["batch_norm"]
            accuracy = [(0.1 if epoch < 3 else 0.9) if slow else 0.5 + 0.01 * epoch for epoch in range(1, max_t + 1)]
            accuracy = [a + 0.001 * index for a in accuracy]
            curves.append({"config": {**arm, "lr": index}, "accuracy": accuracy, "seconds": [1.0] * max_t})
    fifo = bench.arm_results(curves, None, max_t)
    assert fifo[1] > fifo[0]
    results = {}
    for name, scheduler in {
        "pooled": ASHAScheduler(time_attr="epoch", metric="val_accuracy", mode="max", max_t=max_t,
                                grace_period=1, reduction_factor=3),
        "stratified": FairASHAScheduler(bench.STRATIFY, max_t=max_t, grace_period=1, reduction_factor=3,
                                        trials_per_arm=per_arm, metric="val_accuracy", mode="max"),
    }.items():
        replay = bench.Replay(scheduler, curves, max_t)
        epochs = replay.run()
        results[name] = bench.arm_results(curves, epochs, max_t)
        assert replay.trial_epochs < len(curves) * max_t
    assert not bench.same_order(results["pooled"], fifo)
    assert bench.same_order(results["stratified"], fifo)
