"""Antirectifier vs ReLU MLPs on MNIST (the Keras example), and the ReLU net twice as wide.

    python sweeps/antirectifier_mnist.py --repeats 5
    python sweeps/antirectifier_mnist.py --smoke

Scientific: activation (antirectifier vs relu) and width (256 vs 512 units): the claim is
that antirectifier at 256 (337k parameters) matches relu at 512 (670k), tested as equivalence
or non-inferiority within one point of test accuracy (--margin 0.01). Fixed as the example:
Dense -> activation -> Dropout(0.1), twice; RMSprop, batch 128.
"""

from __future__ import annotations

from sweeps.engine import Sweep, exit_fast, main, tune

SWEEP = Sweep(
    family="antirectifier_mnist",
    description=__doc__,
    dataset="mnist",
    fixed={"model": "antirectifier_mlp", "depth": 2, "dropout": 0.1, "optimizer": "rmsprop", "lr": 1e-3,
           "batch_size": 128},
    space=lambda max_epochs: {
        "activation": tune.grid_search(["antirectifier", "relu"]),
        "units": tune.grid_search([256, 512]),
    },
    max_epochs=40,
    num_samples=1,
    smoke_dataset="synthetic-mnist",
    smoke={"units": tune.grid_search([16, 32]), "train_limit": 512, "val_limit": 256},
    smoke_samples=1,
    smoke_epochs=3,
    gpus_per_trial=0.25,
    margin=0.01,  # "matches": within one point of test accuracy, the Keras example's own resolution (0.978)
)

if __name__ == "__main__":
    exit_fast(main(SWEEP))
