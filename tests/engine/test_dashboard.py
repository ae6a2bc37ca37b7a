"""Issue 33: a sweep you can watch in Ray's dashboard, read through the dashboard's own HTTP API.

The real sweep joins a private cluster (tests/support/cluster.py: every server on 127.0.0.1 at a
free port, its own auth token, killed by process group) whose head runs the dashboard, as a user
joins one: `--address ... --dashboard`. Its driver is held just before it disconnects (the test's
own wrapper replaces `ray.shutdown` with a wait on its stdin), so the job, the trial actors and the
driver's metrics are all still there when the test reads them, whatever the timing.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from types import SimpleNamespace

import pytest
from ray.job_config import JobConfig

from sweeps.antirectifier_mnist import SWEEP
from sweeps.engine.dashboard import job_config, job_name, labelled_trainable, trial_label
from sweeps.engine.plan import plan_for

HELD_DRIVER = """
import sys

import ray

from sweeps.antirectifier_mnist import SWEEP
from sweeps.engine.runner import exit_fast, main

disconnect = ray.shutdown


def held(*args, **kwargs):
    print("HELD", flush=True)  # the sweep ran; its job, actors and metrics are still there
    sys.stdin.readline()
    disconnect(*args, **kwargs)


ray.shutdown = held
exit_fast(main(SWEEP, sys.argv[1:]))
"""


def test_the_job_is_named_after_the_family_and_the_experiment(tmp_path):
    plan = plan_for(SWEEP, ["--smoke", "--storage-path", str(tmp_path), "--name", "watched"])
    config = job_config(plan)
    assert isinstance(config, JobConfig) and config.metadata["job_name"] == "antirectifier_mnist: watched"
    assert job_name(plan) == "antirectifier_mnist: watched"


def test_a_trial_label_names_its_id_arm_seed_and_stage():
    search = {"activation": "relu", "units": 16, "seed": 3}
    assert trial_label("ab_00001", search, ("activation",)) == "trial ab_00001 activation=relu seed 3 search"
    assert trial_label("ab_00001", search, ()) == "trial ab_00001 one-arm seed 3 search"
    confirming = {"confirms": "ab_00001", "confirm_arm": "activation=selu", "seed": 7}
    assert trial_label("cd_00000", confirming, ("activation",)) == "trial cd_00000 activation=selu seed 7 confirmation"


def test_the_labelled_trainable_keeps_tunes_name_and_labels_its_trial(tmp_path):
    from ray import tune

    from trainables.trainable import train

    plan = plan_for(SWEEP, ["--smoke", "--storage-path", str(tmp_path), "--dashboard"])
    labelled = labelled_trainable(tune.with_resources(tune.with_parameters(train, data=None), {"cpu": 2}), plan)
    assert labelled._name == "train"  # Tune's trainable name: trial folders stay train_<id>...
    assert labelled.default_resource_request({}).required_resources == {"CPU": 2}
    trial = SimpleNamespace(trial_id="ab_00002", config={"activation": "antirectifier", "units": 32, "seed": 0})
    assert labelled.__repr__(trial) == "trial ab_00002 activation=antirectifier seed 0 search"


def read_json(url: str, token: str | None) -> object:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as response:
        return json.loads(response.read().decode())


def scrape(url: str) -> list[tuple[str, dict[str, str], float]]:
    """Prometheus' text format: (name, labels, value) per sample."""
    with urllib.request.urlopen(url, timeout=30) as response:
        text = response.read().decode()
    samples = []
    for line in text.splitlines():
        match = re.match(r"^(\w+)\{(.*)\} (\S+)$", line)
        if match:
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2)))
            samples.append((match.group(1), labels, float(match.group(3))))
    return samples


def sweep_numbers(url: str, experiment: str) -> dict[tuple, float]:
    """The sweep's samples on the endpoint: (name, arm, status or metric) -> value."""
    numbers = {}
    for name, labels, value in scrape(url):
        if name.startswith("ray_actsweep_") and labels.get("experiment") == experiment:
            numbers[(name, labels.get("arm"), labels.get("status") or labels.get("metric"))] = value
    return numbers


@pytest.mark.slow
def test_a_watched_sweep_shows_its_job_its_trials_and_its_metrics(tmp_path, repo_root):
    from analysis.store.tables import read_tables
    from support.cluster import Driver, RayCluster, kill_process_groups, wait_until

    cluster = RayCluster()
    # Ray turns a node address of 127.0.0.1 into the machine's own unless this switch (meant for Windows and
    # macOS, where Ray keeps clusters on the loopback) is off: then every server, the metrics endpoint too,
    # listens on 127.0.0.1 only.
    cluster.env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    cluster.env["RAY_metrics_report_interval_ms"] = "1000"  # the driver's gauges reach the endpoint every second
    driver = None
    try:
        cluster.start_head(num_cpus=2, dashboard=True)
        script = tmp_path / "held_driver.py"
        script.write_text(HELD_DRIVER)
        out_path, err_path = tmp_path / "driver.out", tmp_path / "driver.err"
        with open(out_path, "w") as out, open(err_path, "w") as err:
            process = subprocess.Popen(
                [sys.executable, str(script), "--smoke", "--address", cluster.address, "--dashboard",
                 "--storage-path", str(tmp_path / "results"), "--name", "watched", "--verbose", "0"],
                stdin=subprocess.PIPE, stdout=out, stderr=err, text=True, start_new_session=True,
                env={**cluster.env, "PYTHONPATH": repo_root}, cwd=repo_root)
        driver = Driver(process, out_path, err_path)
        wait_until(lambda: "HELD" in driver.stdout(), driver, timeout=480, what="the sweep's end")
        trials = read_tables(tmp_path / "results" / "watched").trials
        assert len(trials) == 4, driver.stdout()[-3000:]

        # The Jobs page's data: the driver's job, named after the experiment.
        with pytest.raises(urllib.error.HTTPError) as refused:
            read_json(f"{cluster.dashboard_url}/api/jobs/", token=None)
        assert refused.value.code == 401  # token auth is on: the test signs in as a user does
        jobs = [job for job in read_json(f"{cluster.dashboard_url}/api/jobs/", cluster.token) if job["type"] == "DRIVER"
                and (job.get("metadata") or {}).get("job_name") == "antirectifier_mnist: watched"]
        assert len(jobs) == 1, jobs
        job_id = jobs[0]["job_id"]

        # The Actors page's data: every actor of the job is a trial's, its Repr naming the trial, arm, seed and
        # stage. A trial budget-fair ASHA paused and resumed ran on a new actor each time, with the same Repr.
        actors = read_json(f"{cluster.dashboard_url}/logical/actors", cluster.token)["data"]["actors"].values()
        reprs = [actor["reprName"] for actor in actors if actor["jobId"] == job_id]
        assert reprs and set(reprs) == {f"trial {row.trial_id} activation={row.activation} seed {row.seed} search"
                                        for row in trials.itertuples()}, reprs

        # The console names the job and the page, and the endpoint the metrics are on.
        stdout = driver.stdout()
        page = f"{cluster.dashboard_url}/#/actors"
        assert f"job 'antirectifier_mnist: watched' ({job_id}): its trials are on {page}" in stdout
        endpoint = re.search(r"sweep metrics: ray_actsweep_\* on (http://127\.0\.0\.1:\d+/metrics)", stdout).group(1)

        # The metrics endpoint: the sweep's end state, as its tables record it.
        expected = {}
        for arm, rows in trials.groupby("arm"):
            for status in ("PENDING", "RUNNING", "PAUSED", "TERMINATED", "ERROR"):
                expected[("ray_actsweep_trials", arm, status)] = float(len(rows) if status == "TERMINATED" else 0)
            expected[("ray_actsweep_trial_epochs_done", arm, None)] = float(rows["epochs_completed"].sum())
            expected[("ray_actsweep_trial_epochs_planned", arm, None)] = float(rows["epochs_completed"].sum())
            expected[("ray_actsweep_trial_epochs_per_second", arm, None)] = 0.0
        best = trials.groupby("arm")["best_val_accuracy"].max()

        scraped: dict = {}

        def at_the_end() -> bool:  # the driver exports its gauges every second: the end state arrives
            scraped.clear()
            scraped.update(sweep_numbers(endpoint, "watched"))
            return all(scraped.get(key) == value for key, value in expected.items()) and all(
                scraped.get(("ray_actsweep_best_metric", arm, "val_accuracy")) == pytest.approx(value, abs=1e-6)
                for arm, value in best.items())

        try:
            wait_until(at_the_end, driver, timeout=60, what=f"the end state on {endpoint}")
        except AssertionError as error:
            raise AssertionError(f"{error}\nexpected {expected}, best {best.to_dict()}\nscraped {scraped}") from None
        driver.process.stdin.write("\n")
        driver.process.stdin.close()
        assert driver.wait(timeout=120) == 0, driver.stderr()[-3000:]
    finally:
        if driver is not None:
            kill_process_groups([driver.pid])
            driver.process.wait()
        cluster.stop()
