"""Every family in the registry plans its `--smoke` and full sweeps: a new family is tested unedited."""

from __future__ import annotations

import pytest

from sweeps.engine.plan import plan_for
from sweeps.engine.space.checks import configs_to_check
from sweeps import families, get_family
from support.families import family_names, script_of, smoke_trial_epochs

FAMILIES = family_names()


def test_the_registry_holds_the_experiment_declarations_and_nothing_else():
    assert {"aprelu_cifar", "selu_mnist", "relu_family_beans", "antirectifier_mnist"} <= set(FAMILIES)
    assert not set(FAMILIES) & {"engine", "runner", "cli", "plan", "sweep"}
    for family in FAMILIES:
        assert script_of(family).is_file()


def _write_module(folder, name: str, text: str) -> None:
    (folder / f"{name}.py").write_text(text)


@pytest.mark.parametrize(("text", "message"), [
    ("X = 1\n", "declares no SWEEP"),
    ("from sweeps.antirectifier_mnist import SWEEP\n", "a family is named after its file"),
])
def test_a_module_that_breaks_the_convention_is_an_error_not_skipped(tmp_path, monkeypatch, text, message):
    import sweeps

    _write_module(tmp_path, "zz_broken_family", text)
    monkeypatch.setattr(sweeps, "__path__", [*sweeps.__path__, str(tmp_path)])
    try:
        with pytest.raises((TypeError, ValueError), match=message):
            families()
    finally:
        import sys
        sys.modules.pop("sweeps.zz_broken_family", None)


def test_an_unknown_family_names_the_known_ones():
    with pytest.raises(ValueError, match="known: antirectifier_mnist"):
        get_family("nope")


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_plans_its_smoke_sweep(family, tmp_path):
    sweep = get_family(family)
    assert sweep.description.strip(), "the docstring is the script's --help"
    plan = plan_for(sweep, ["--smoke", "--storage-path", str(tmp_path), "--name", "x"])
    assert plan.dataset == sweep.smoke_dataset and plan.dataset.startswith(("synthetic-", "digits"))
    assert (plan.max_epochs, plan.num_samples) == (sweep.smoke_epochs, sweep.smoke_samples)
    assert plan.param_space["family"] == sweep.family and plan.param_space["epochs"] == sweep.smoke_epochs
    configs = list(configs_to_check(plan.param_space))
    assert configs and all(config["dataset"] == sweep.smoke_dataset for config in configs)
    assert smoke_trial_epochs(sweep) <= 64, "a smoke sweep must stay a few minutes on a CPU"
    assert not (tmp_path / "x").exists(), "planning writes nothing"


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_plans_its_full_sweep_without_downloading(family, tmp_path):
    sweep = get_family(family)
    plan = plan_for(sweep, ["--storage-path", str(tmp_path)])
    assert plan.dataset == sweep.dataset and plan.max_epochs == sweep.max_epochs
    for record in sweep.records:
        assert plan_for(sweep, ["--record", str(record), "--storage-path", str(tmp_path)]).num_samples == 1
