"""`--dry-run`: the plan's counts and budgets, checked against Ray's own schedulers and a real sweep."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from ray import tune

from analysis.store.arms import rung_epochs
from sweeps.engine.dry_run import (
    fair_asha_trial_epochs, format_value, generate_trials, pooled_asha_trial_epochs, trials_per_arm,
)
from sweeps.engine.resources import Resources, concurrency


@pytest.mark.parametrize("max_epochs, grace, factor", [(4, 1, 3.0), (9, 1, 3.0), (100, 10, 3.0), (20, 2, 2.0),
                                                       (20, 1, 2.5)])
def test_rungs_are_the_epochs_at_which_rays_asha_judges(max_epochs, grace, factor):
    import math

    from ray.tune.schedulers import ASHAScheduler

    scheduler = ASHAScheduler(time_attr="epoch", max_t=max_epochs, grace_period=grace, reduction_factor=factor)
    milestones = sorted(milestone for milestone, _ in scheduler._brackets[0]._rungs)  # no public accessor
    # Ray judges a trial at its first report at or past a milestone; one at the budget decides nothing.
    assert rung_epochs(grace, factor, max_epochs) == [math.ceil(m) for m in milestones if m < max_epochs]


def test_asha_budgets_by_hand():
    # 6 trials, rungs at 1 and 3, budget 4: 6 run 1 epoch, 2 run to 3, 2/3 run to 4.
    assert pooled_asha_trial_epochs(6, 4, 1, 3.0) == pytest.approx(6 + 2 * 2 + 2 / 3)
    assert pooled_asha_trial_epochs(9, 9, 1, 3.0) == pytest.approx(9 + 3 * 2 + 1 * 6)
    # Budget-fair, two arms of 4: each keeps ceil(4/3) = 2 at epoch 1, then ceil(2/3) = 1 at epoch 3.
    assert fair_asha_trial_epochs([4, 4], 4, 1, 3.0) == 2 * (4 * 1 + 2 * 2 + 1 * 1)


def test_counts_per_arm_with_grid_and_repeats_follow_tunes_generator():
    space = {
        "activation": tune.grid_search(["relu", "selu"]), "units": tune.grid_search([8, 16]),
        "lr": tune.loguniform(1e-3, 1e-1), "seed": tune.grid_search([0, 1, 2]),
    }
    space["repeat"] = tune.sample_from(lambda config: config["seed"])
    trials = generate_trials(space, num_samples=5, seed=0)
    assert len(trials) == 5 * 2 * 2 * 3
    assert trials_per_arm(trials, ("activation",)) == {"activation=relu": 30, "activation=selu": 30}
    for sample in range(5):  # random dimensions drawn once per sample, shared by its grid
        assert len({config["lr"] for index, config in trials if index == sample}) == 1
    assert all(config["repeat"] == config["seed"] for _, config in trials)
    assert len({config["lr"] for _, config in trials}) == 5


def test_concurrency_is_limited_by_cpus_gpus_and_the_cap():
    machine = Resources(cpus=16, gpus=2, where="here")
    assert concurrency(machine, 1, 0, None) == 16
    assert concurrency(machine, 1, 0.25, None) == 8
    assert concurrency(machine, 4, 0.25, None) == 4
    assert concurrency(machine, 1, 0.25, 3) == 3
    assert concurrency(Resources(cpus=2, gpus=0, where="here"), 1, 0.5, None) == 0


def dry_run(repo_root: str, script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(Path(repo_root) / "sweeps" / script), "--dry-run", *args],
                          capture_output=True, text=True, timeout=120)


def test_dry_run_prints_arms_and_budgets_and_writes_nothing(repo_root, tmp_path):
    # every seed its own trial (--pack off); packed seeds: tests/engine/test_packing.py
    result = dry_run(repo_root, "antirectifier_mnist.py", "--smoke", "--repeats", "2", "--storage-path",
                     str(tmp_path / "results"), "--name", "dry", "--grace-period", "1", "--pack", "off")
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "trials: 8 = 1 sample(s) x 8 grid combination(s)" in out
    assert "arm activation=antirectifier: 4 trial(s)" in out and "arm activation=relu: 4 trial(s)" in out
    assert "FIFO (worst case) 24 trial-epochs" in out  # 8 trials x 3 smoke epochs
    assert "arms (budget-fair ASHA: each has its own rungs): activation" in out
    assert re.search(r"rungs at epoch\(s\) 1\): \d+ trial-epochs", out)
    assert "trial(s) at once" in out
    assert "validation: a holdout of the training images, drawn with each trial's seed" in out  # 2 repeats: 2 splits
    assert not (tmp_path / "results").exists()
    assert "Started a local Ray instance" not in out + result.stderr


@pytest.mark.slow
def test_dry_run_matches_the_sweep_that_then_runs(repo_root, smoke_experiment, tmp_path):
    experiment, _ = smoke_experiment
    result = dry_run(repo_root, "aprelu_cifar.py", "--smoke", "--storage-path", str(tmp_path), "--name", "smoke")
    assert result.returncode == 0, result.stderr[-2000:]
    configs = [json.loads(path.read_text()) for path in experiment.glob("*/params.json")]
    assert f"trials: {len(configs)} = 6 sample(s) x 1 grid combination(s)" in result.stdout
    shown = re.findall(r"^  sample \d+: (.*)$", result.stdout, flags=re.MULTILINE)
    assert len(shown) == 3
    for line in shown:  # each shown sample is one that Tune then ran
        values = dict(item.split("=", 1) for item in line.split(", "))
        assert any(all(format_value(config[key]) == value for key, value in values.items())
                   for config in configs), (line, configs)


def _stratify_variants(sweep) -> list[list[str]]:
    """The default arms, one pool, FIFO, and --stratify by each varying grid key and by all of them."""
    from sweeps.engine.plan import plan_for
    from sweeps.engine.space.keys import grid_keys

    space = plan_for(sweep, ["--num-samples", "2", "--storage-path", "/nonexistent"]).param_space
    keys = [key for key in grid_keys(space, several=True) if key != "seed"]
    variants = [[], ["--stratify", "none"], ["--scheduler", "fifo"]]
    variants += [["--stratify", key] for key in keys]
    if len(keys) > 1:
        variants.append(["--stratify", ",".join(keys)])
    return variants


def _cases():
    from sweeps import families

    return [(family, variant) for family, sweep in families().items() for variant in _stratify_variants(sweep)]


@pytest.mark.parametrize(("family", "variant"), _cases(), ids=lambda value: " ".join(value) if isinstance(value, list) else value)
def test_the_dry_runs_arms_and_rungs_are_the_schedulers(family, variant, tmp_path):
    """What --dry-run prints (arms, trials per arm, rungs) is what the scheduler the runner builds uses."""
    from types import SimpleNamespace

    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    from sweeps import get_family
    from sweeps.engine.dry_run import describe
    from sweeps.engine.fair_asha import FairASHAScheduler, scheduler_for
    from sweeps.engine.plan import plan_for

    plan = plan_for(get_family(family), ["--num-samples", "2", "--repeats", "2", *variant,
                                               "--storage-path", str(tmp_path)])
    lines = describe(plan, Resources(cpus=2, gpus=0, where="here"))
    printed = {match[1]: int(match[2]) for line in lines if (match := re.fullmatch(r"  arm (.*): (\d+) trial\(s\)", line))}
    printed_rungs = [re.search(r"rungs at epoch\(s\) ([^)]*)\)", line) for line in lines]
    printed_rungs = next((match[1] for match in printed_rungs if match), None)
    scheduler = scheduler_for(plan)
    if isinstance(scheduler, FairASHAScheduler):
        scheduler.set_search_properties(plan.metric, plan.mode)
        for index, (_, config) in enumerate(generate_trials(plan.param_space, plan.num_samples, plan.seed)):
            scheduler.on_trial_add(None, SimpleNamespace(trial_id=f"t{index}", config=config, status="PENDING"))
        arms = {}
        for record in scheduler.trials.values():
            arms[record["arm"]] = arms.get(record["arm"], 0) + 1
        assert printed == arms, (lines, arms)
        assert set(arms.values()) == {plan.trials_per_arm}, "every arm runs the trials the scheduler expects"
        assert printed_rungs == ", ".join(map(str, scheduler.rungs))
    elif isinstance(scheduler, ASHAScheduler):
        assert printed == {} and not plan.stratify, "one pool: no arms"
        milestones = sorted(milestone for milestone, _ in scheduler._brackets[0]._rungs)
        import math
        ray_rungs = [math.ceil(m) for m in milestones if m < plan.max_epochs]
        assert printed_rungs == (", ".join(map(str, ray_rungs)) or "none below the budget")
    else:
        assert isinstance(scheduler, FIFOScheduler) and printed == {} and printed_rungs is None
