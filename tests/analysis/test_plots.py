"""analysis.plots: what a reviewer checks in the figures, read from the matplotlib objects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.collections import PathCollection

from analysis import plots
from analysis.store.export import export_experiment, read_tables
from support.fake_experiment import FakeTrial, write_fake_experiment


@pytest.fixture()
def tables(tmp_path: Path):
    trials = []
    for seed in range(3):
        for gamma in (0.0, 0.0001):
            trials.append(FakeTrial("relu", seed, [0.5, 0.6, 0.7], extra_config={"gamma_l2": gamma, "lr": 0.01 if gamma else 0.1}))
            trials.append(FakeTrial("selu", seed, [0.55] if seed else [0.55, 0.65, 0.75], epochs=3,
                                    status="stopped_early" if seed else "terminated",
                                    extra_config={"gamma_l2": gamma, "lr": 0.01 if gamma else 0.1}))
    experiment = write_fake_experiment(tmp_path, "sweep", trials)
    export_experiment(experiment)
    return read_tables(experiment)


def test_learning_curves_per_configuration_with_trials_alive_and_integer_epochs(tables) -> None:
    figure = plots.learning_curves(tables.trials, tables.epochs, "selu_mnist")
    curves, alive = figure.axes
    labels = [line.get_label() for line in curves.get_lines()]
    assert labels == [
        "relu, gamma_l2=0.0, lr=0.1 (n=3)", "relu, gamma_l2=0.0001, lr=0.01 (n=3)",
        "selu, gamma_l2=0.0, lr=0.1 (n=3)", "selu, gamma_l2=0.0001, lr=0.01 (n=3)",
    ]
    assert all(float(tick).is_integer() for tick in curves.get_xticks())
    heights = {}
    for bar in alive.patches:
        heights[bar.get_x() + bar.get_width() / 2] = heights.get(bar.get_x() + bar.get_width() / 2, 0) + bar.get_height()
    assert [heights[epoch] for epoch in (1.0, 2.0, 3.0)] == [12, 8, 8]  # 4 selu trials stopped after epoch 1


def test_hyperparameter_grid_categorical_axes_and_cut_short_hollow(tables) -> None:
    figure = plots.best_vs_hyperparameters(tables.trials, "selu_mnist")
    visible = [axes for axes in figure.axes if axes.get_visible()]
    assert [axes.get_xlabel() for axes in visible] == ["gamma_l2", "lr"]
    gamma = visible[0]
    assert [label.get_text() for label in gamma.get_xticklabels()] == ["0", "0.0001"]  # categories, not 0.00002 steps
    hollow = [
        collection for collection in gamma.collections
        if isinstance(collection, PathCollection) and len(collection.get_offsets())
        and np.all(collection.get_facecolors()[:, 3] == 0)
    ]
    assert sum(len(collection.get_offsets()) for collection in hollow) == 4  # the stopped selu trials


def test_many_configurations_show_the_best_and_say_so(tmp_path: Path) -> None:
    trials = [FakeTrial("relu", 0, [0.1 + 0.01 * index], extra_config={"lr": 0.001 * (index + 1)}) for index in range(12)]
    experiment = write_fake_experiment(tmp_path, "wide", trials)
    export_experiment(experiment)
    tables = read_tables(experiment)
    figure = plots.learning_curves(tables.trials, tables.epochs, "selu_mnist")
    assert len(figure.axes[0].get_lines()) == plots.MAX_CONFIGURATIONS
    assert "best 8 of 12 configurations" in figure.axes[0].get_title()
    assert "lr=0.012" in " ".join(line.get_label() for line in figure.axes[0].get_lines())
