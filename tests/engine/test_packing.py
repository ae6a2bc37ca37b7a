"""sweeps.engine.packing (`--pack auto|N|off`): the flag, the auto rule, a stage's packs, the dry run's
line, the trainable, and one tiny confirmation through the real command line, packed and not."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from ray.tune.experiment import Trial

from analysis.verdict.confirmation import Candidate
from sweeps import antirectifier_mnist, selu_mnist
from sweeps.engine import packing
from sweeps.engine.dry_run import describe, generate_trials, packed
from sweeps.engine.errors import UsageError
from sweeps.engine.plan import plan_for
from sweeps.engine.resources import Resources
from sweeps.engine.runner import main
from sweeps.engine.stages import confirmation
from sweeps.engine.stages.search import pack_dirname
from trainables.recovery import PACK_KEY

TWO_CORES = Resources(cpus=2, gpus=0, where="here")


def search_plan(tmp_path: Path, *argv: str, sweep=antirectifier_mnist.SWEEP):
    return plan_for(sweep, ["--smoke", "--storage-path", str(tmp_path), *argv])


def confirmation_plan(tmp_path: Path, *argv: str, configurations: int = 2):
    """A confirmation's plan as `confirmation_plan` makes it, from a finished search's candidates."""
    plan = search_plan(tmp_path, "--confirm", "1", *argv)
    chosen = [Candidate(f"activation={name}", 1, f"s{index}", 3, 0.9, {"activation": name, "units": 16})
              for index, name in enumerate(["relu", "selu", "elu", "gelu"][:configurations])]
    space = confirmation._space(plan, chosen, list(range(1, plan.confirm_repeats + 1)))
    plan = dataclasses.replace(plan, param_space=space, confirmed=tuple(chosen), scheduler="fifo", stratify=(),
                               trials_per_arm=None, num_samples=1, confirm=None)
    return plan if plan.confirm_batch is None else confirmation.with_looks(plan)  # auto: decided by resolve


# ------------------------------------------------------------------------------------------- the flag


@pytest.mark.parametrize(("given", "asked"), [([], "auto"), (["--pack", "off"], "off"), (["--pack", "3"], 3)])
def test_the_flag_reaches_the_plan(given, asked, tmp_path):
    assert search_plan(tmp_path, *given).pack == asked


@pytest.mark.parametrize("value", ["0", "-2", "2.5", "many", ""])
def test_a_bad_pack_is_one_line_exit_2(value, tmp_path, capsys):
    code = main(selu_mnist.SWEEP, ["--storage-path", str(tmp_path), "--smoke", "--pack", value])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == (f"error: argument --pack: must be auto, off or an integer >= 1 (seeds per pack), "
                                 f"got {value!r}")
    assert not any(tmp_path.iterdir())


def test_a_pack_number_on_a_backend_without_packs_is_refused(tmp_path, monkeypatch):
    from sweeps.engine import plan as plan_module

    monkeypatch.setattr(plan_module, "keras_backend", lambda: "jax")
    with pytest.raises(UsageError, match=r"^--pack 4: packs train on the tensorflow Keras backend, this one is jax"):
        search_plan(tmp_path, "--pack", "4")
    assert search_plan(tmp_path, "--pack", "auto").pack == "auto"  # auto decides later: no packs there


# ------------------------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(("seeds", "groups", "slots", "members"), [
    (2, 2, 2, 2),  # the default look (batch 2) of 2 configurations on 2 cores: 2 packs of 2, both cores busy
    (5, 2, 2, 5),  # --confirm-batch 5: a pack per configuration
    (10, 1, 2, 5),  # 1 configuration, 10 seeds, 2 slots: 2 packs, evened out (not 8 + 2)
    (20, 1, 1, 7),  # at most 8: 3 packs, evened out to 7 + 7 + 6
    (10, 2, 16, 1),  # 20 lone trials would keep 16 slots busy; 10 packs of 2 would not
    (2, 2, 16, 1),  # 4 lone trials run at once on 16 slots: packing only makes them wait
    (3, 8, 2, 3),  # many configurations: every slot busy anyway
    (1, 4, 2, 1),  # one seed: nothing to pack
])
def test_auto_packs_as_many_seeds_as_keep_every_slot_busy(seeds, groups, slots, members):
    assert packing.auto_members(seeds, groups, slots) == members


def test_the_largest_confirmed_model_is_counted_on_the_drivers_cpu():
    import numpy as np

    from trainables.data.datasets import ArrayDataset

    config = {"model": "antirectifier_mlp", "activation": "antirectifier", "units": 16, "depth": 2,
              "dataset": "digits", "validation": "test", "epochs": 3}
    images, labels = np.zeros((4, 8, 8, 1), np.float32), np.zeros(4, np.int32)
    data = ArrayDataset("digits", images, labels, images, labels, 10)
    small, large = (packing.count_parameters([dict(config, units=units)], data) for units in (16, 32))
    assert 0 < small < large == packing.count_parameters([config, dict(config, units=32)], data)


def test_on_a_gpu_auto_packs_what_fits_its_memory():
    assert packing.gpu_fit(80 * 2**30, 0.25, 77_328) > 1000  # record 1's ResNet: the cap of 8 decides
    assert packing.gpu_fit(4 * 2**30, 0.25, 8_367_619) == 2  # MobileNetV2 with PReLU on a quarter of 4 GiB
    assert packing.auto_members(8, 4, 4, gpu_fit=3) == 3 and packing.auto_members(8, 4, 4, gpu_fit=0) == 1
    shape = packing.Shape(4, 2, "--confirm-batch 4", confirmation=True)
    assert packing.choose("auto", shape, 2, 0.25, memory=4 * 2**30, parameters=8_367_619) == (
        2, "auto: GPU, --confirm-batch 4, 2 trial slot(s), 2 model(s) of 8,367,619 parameters fit")
    assert packing.choose("auto", shape, 2, 0.25)[0] == 1  # memory unknown: no packs
    assert packing.choose("auto", dataclasses.replace(shape, confirmation=False), 2, 0.25, memory=1e10)[0] == 1


@pytest.mark.parametrize(("asked", "shape", "expected"), [
    ("off", packing.Shape(4, 2, "--repeats 4"), (1, "--pack off")),
    (1, packing.Shape(4, 2, "--repeats 4"), (1, "--pack 1")),
    (3, packing.Shape(4, 2, "--repeats 4"), (3, "--pack 3")),
    (9, packing.Shape(4, 2, "--repeats 4"), (4, "--pack 9, capped by --repeats 4")),
    ("auto", packing.Shape(1, 2, "--repeats 1"), (1, "one seed per configuration at a time (--repeats 1)")),
    ("auto", packing.Shape(4, 2, "--repeats 4", blocked="--search optuna ..."), (1, "--search optuna ...")),
    ("auto", packing.Shape(4, 2, "--repeats 4"), (4, "auto: CPU, --repeats 4, 2 trial slot(s)")),
])
def test_each_choice_says_why(asked, shape, expected):
    assert packing.choose(asked, shape, 2, 0.0) == expected


def test_the_jax_backend_trains_no_packs():
    assert packing.choose("auto", packing.Shape(4, 2, "--repeats 4"), 2, 0.0, backend="jax") == (
        1, "auto: the jax backend trains no packs")


# ------------------------------------------------------------------------------------------- a stage's packs


def test_a_packed_search_runs_each_configurations_seeds_as_one_trial(tmp_path):
    plan = search_plan(tmp_path, "--repeats", "3", "--seed", "5")
    stage = packing.resolve(plan, slots=2, gpus=0.0)
    assert (stage.members, stage.pack_reason) == (3, "auto: CPU, --repeats 3, 2 trial slot(s)")
    trials = generate_trials(stage.param_space, stage.num_samples, stage.seed)
    lone = generate_trials(plan.param_space, plan.num_samples, plan.seed)
    assert len(trials) * 3 == len(lone) == 12
    for _, config in trials:
        assert config["pack_members"] == [{"seed": 5, "repeat": 0}, {"seed": 6, "repeat": 1}, {"seed": 7, "repeat": 2}]
        assert (config["seed"], config["repeat"]) == (5, 0)  # the trial's own: its first member's
    assert stage.trials_per_arm * 3 == plan.trials_per_arm == 6  # budget-fair ASHA counts pack trials
    off = search_plan(tmp_path, "--repeats", "3", "--pack", "off")
    assert packing.resolve(off, 2, 0.0).param_space is off.param_space  # off: the space as it always was


def test_seeds_beyond_a_pack_make_a_grid_of_packs(tmp_path):
    stage = packing.resolve(search_plan(tmp_path, "--repeats", "5", "--pack", "2"), slots=2, gpus=0.0)
    packs = [config["pack_members"] for _, config in generate_trials(stage.param_space, 1, 0)]
    assert sorted({tuple(member["seed"] for member in pack) for pack in packs}) == [(0, 1), (2, 3), (4,)]
    assert stage.trials_per_arm == 2 * 3  # 2 widths x 3 packs


def test_a_confirmation_packs_a_looks_seeds(tmp_path):
    plan = confirmation_plan(tmp_path, "--confirm-repeats", "6", "--confirm-batch", "3")
    stage = packing.resolve(plan, slots=2, gpus=0.0)
    assert (stage.members, stage.pack_reason) == (3, "auto: CPU, --confirm-batch 3, 2 trial slot(s)")
    assert stage.param_space == plan.param_space  # the look searcher makes the packs
    assert confirmation.search_settings(stage)["search_alg"]._members == 3
    assert packing.describe(stage) == ("packs: up to 3 seeds of a look per trial (auto: CPU, --confirm-batch 3, 2 "
                                       "trial slot(s)); the looks read each seed's own result, so the verdict is "
                                       "the lone trials'")


def test_the_search_under_optuna_does_not_pack(tmp_path):
    pytest.importorskip("optuna")
    stage = packing.resolve(search_plan(tmp_path, "--repeats", "3", "--search", "optuna"), slots=2, gpus=0.0)
    assert stage.members == 1 and "Repeater" in stage.pack_reason


def test_a_resumed_stage_keeps_the_packs_it_started_with(tmp_path):
    plan = dataclasses.replace(search_plan(tmp_path, "--repeats", "3", "--name", "r"), resume=True)
    trial = tmp_path / "r" / "train_pack_0001"
    trial.mkdir(parents=True)
    (trial / "params.json").write_text(json.dumps({"seed": 0, "pack_members": [{"seed": 0}, {"seed": 1}]}))
    assert packing.recorded_members(str(tmp_path / "r")) == 2
    resumed = packing.resolve(plan, slots=16, gpus=0.0)  # auto would not pack on 16 slots now
    assert (resumed.members, resumed.pack_reason) == (2, "auto: as 'r' started")
    with pytest.raises(UsageError, match=r"^'r' started with packs of up to 2 seeds; continue it with --pack 2"):
        packing.resolve(dataclasses.replace(plan, pack="off"), slots=2, gpus=0.0)
    (trial / "params.json").write_text(json.dumps({"seed": 0}))
    assert packing.recorded_members(str(tmp_path / "r")) == 1
    assert packing.recorded_members(str(tmp_path / "none")) is None


def test_a_packed_search_trials_configs_are_its_members(tmp_path):
    """`--confirm` after a packed search: each member's row gets the pack's config with its own seed."""
    import pandas as pd

    trial = tmp_path / "train_pack_0"
    trial.mkdir()
    (trial / "params.json").write_text(json.dumps({"units": 16, "seed": 3, "repeat": 0, "pack_members": [
        {"seed": 3, "repeat": 0}, {"seed": 4, "repeat": 1}]}))
    rows = pd.DataFrame({"trial_id": ["p_m0", "p_m1"], "trial_dir": [trial.name] * 2, "seed": [3, 4]})
    assert confirmation._search_configs(str(tmp_path), rows) == {
        "p_m0": {"units": 16, "seed": 3, "repeat": 0}, "p_m1": {"units": 16, "seed": 4, "repeat": 1}}


# ------------------------------------------------------------------------------------------- trainable, dry run


def test_a_packing_stage_trains_pack_trials_with_a_lone_trials_resources(tmp_path):
    from trainables.pack_trial import train_pack

    plan = dataclasses.replace(search_plan(tmp_path), members=2)
    from sweeps.engine.tune_run import make_trainable

    trainable = make_trainable(plan, data=None, gpus=0.25)
    assert trainable._resources.required_resources == {"CPU": 1.0, "GPU": 0.25}
    assert trainable.__name__ == train_pack.__name__ == "train_pack"
    assert make_trainable(dataclasses.replace(plan, members=1), data=None, gpus=0.25).__name__ == "train"


def test_the_dry_run_says_how_many_seeds_each_pack_holds_and_why(tmp_path, capsys, monkeypatch):
    from sweeps.engine import dry_run

    monkeypatch.setattr(dry_run, "local_resources", lambda: TWO_CORES)
    code = main(antirectifier_mnist.SWEEP, ["--storage-path", str(tmp_path), "--smoke", "--dry-run", "--repeats", "4",
                                            "--confirm", "1", "--confirm-batch", "2"])
    out = capsys.readouterr().out
    assert code == 0 and not any(tmp_path.iterdir())
    assert "trials: 4 = 1 sample(s) x 4 grid combination(s) (packs of the seeds: 16 seed runs)" in out
    assert ("packs: up to 4 seeds of a configuration per trial (auto: CPU, --repeats 4, 2 trial slot(s)); ASHA "
            "decides on the members' mean") in out
    assert "FIFO (worst case) 12 trial-epochs (a pack's epoch trains its seeds: 48 seed-epochs)" in out
    assert ("  confirmation packs: up to 2 seeds of a look per trial (auto: CPU, --confirm-batch 2, 2 trial slot(s)); "
            "the looks read each seed's own result") in out
    main(antirectifier_mnist.SWEEP, ["--storage-path", str(tmp_path), "--smoke", "--dry-run", "--repeats", "4",
                                     "--pack", "off"])
    out = capsys.readouterr().out
    assert "trials: 16 = 1 sample(s) x 16 grid combination(s) (repeats/seeds included)" in out
    assert "packs: none, every seed its own trial (--pack off)" in out


def test_the_dry_run_of_a_confirmation_says_its_packs_and_pack_trials(tmp_path, capsys, monkeypatch):
    from support.fake_experiment import finished_antirectifier_search
    from sweeps.engine import dry_run

    monkeypatch.setattr(dry_run, "local_resources", lambda: TWO_CORES)
    finished_antirectifier_search(tmp_path, "s")
    code = main(antirectifier_mnist.SWEEP, ["--storage-path", str(tmp_path), "--smoke", "--dry-run", "--name", "s",
                                            "--confirm", "1", "--confirm-repeats", "5", "--confirm-batch", "3"])
    out = capsys.readouterr().out
    assert code == 0
    assert "packs: up to 3 seeds of a look per trial (auto: CPU, --confirm-batch 3, 2 trial slot(s))" in out
    # looks at 3 and 5 seeds: 2 configurations x (a pack of 3, then one of 2)
    assert "the trials above are the worst case; as 4 pack trial(s) (packs above)" in out


def test_the_dry_runs_arms_are_the_packed_schedulers(tmp_path):
    """With packs the arms count pack trials, as budget-fair ASHA does (plan.trials_per_arm)."""
    plan = packed(search_plan(tmp_path, "--repeats", "2", sweep=selu_mnist.SWEEP), TWO_CORES)
    lines = describe(plan, TWO_CORES)
    counts = {int(match[1]) for line in lines if (match := re.fullmatch(r"  arm .*: (\d+) trial\(s\)", line))}
    assert plan.members == 2 and counts == {plan.trials_per_arm}


# ------------------------------------------------------------------------------------------- end to end

FLAGS = ["--dataset", "digits", "--set", "units=16", "--max-epochs", "3", "--scheduler", "fifo", "--num-samples",
         "1", "--verbose", "0", "--cpus-per-trial", "1", "--confirm", "1", "--confirm-repeats", "4",
         "--confirm-batch", "2"]


# The packed confirmation through the command line, killed, resumed and compared with one trial per
# seed: tests/engine/test_looks.py.


def test_a_search_packs_folder_names_its_configuration_and_seeds_not_its_members():
    members = [{"seed": seed, "repeat": seed} for seed in range(8, 16)]
    tag = "3_activation=relu,pack_members=" + "_".join(f"seed_{s}_repeat_{s}" for s in range(8, 16)) + ",units=256"
    trial = Trial("train_pack", config={"activation": "relu", "units": 256, PACK_KEY: members}, experiment_tag=tag,
                  trial_dirname_creator=pack_dirname, stub=True)
    name = trial.custom_dirname
    assert name.startswith(f"train_pack_{trial.trial_id}_3_activation=relu,seeds8-15,units=256_"), name
    assert PACK_KEY not in name
