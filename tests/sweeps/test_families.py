"""Every sweep script found by glob plans its `--smoke` sweep: a new script is tested unedited."""

from __future__ import annotations

import pytest

from sweeps.engine.plan import plan_from_args
from sweeps.engine.space_checks import configs_to_check
from support.families import load_sweep, smoke_trial_epochs, sweep_scripts

SCRIPTS = sweep_scripts()


def test_the_glob_finds_the_sweep_scripts():
    names = {script.stem for script in SCRIPTS}
    assert {"aprelu_cifar", "selu_mnist", "relu_family_beans", "antirectifier_mnist"} <= names
    assert not names & {"runner", "cli", "plan", "sweep"}, "only scripts that declare a SWEEP"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda script: script.stem)
def test_every_sweep_script_plans_its_smoke_sweep(script, tmp_path):
    sweep = load_sweep(script)
    assert sweep.family == script.stem, "the resume hint and README name the script by its family"
    assert sweep.description.strip(), "the docstring is the script's --help"
    plan = plan_from_args(sweep, ["--smoke", "--storage-path", str(tmp_path), "--name", "x"])
    assert plan.dataset == sweep.smoke_dataset and plan.dataset.startswith(("synthetic-", "digits"))
    assert (plan.max_epochs, plan.num_samples) == (sweep.smoke_epochs, sweep.smoke_samples)
    assert plan.param_space["family"] == sweep.family and plan.param_space["epochs"] == sweep.smoke_epochs
    configs = list(configs_to_check(plan.param_space))
    assert configs and all(config["dataset"] == sweep.smoke_dataset for config in configs)
    assert smoke_trial_epochs(sweep) <= 64, "a smoke sweep must stay a few minutes on a CPU"
    assert not (tmp_path / "x").exists(), "planning writes nothing"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda script: script.stem)
def test_every_sweep_script_plans_its_full_sweep_without_downloading(script, tmp_path):
    sweep = load_sweep(script)
    plan = plan_from_args(sweep, ["--storage-path", str(tmp_path)])
    assert plan.dataset == sweep.dataset and plan.max_epochs == sweep.max_epochs
    for record in sweep.records:
        assert plan_from_args(sweep, ["--record", str(record), "--storage-path", str(tmp_path)]).num_samples == 1
