"""50-layer fully connected nets on MNIST: ReLU vs SELU, BatchNorm, initializers.

    python sweeps/selu_mnist.py                       # the full grid, 3 epochs as the seed
    python sweeps/selu_mnist.py --repeats 5 --max-epochs 10
    python sweeps/selu_mnist.py --smoke

Scientific: activation (relu, selu). Also compared, as a grid: BatchNorm on/off and the
kernel initializer (glorot_uniform default, random_uniform, lecun_uniform as the seed;
lecun_normal as SELU's paper recommends). Fixed as the seed: Dense(512) then 50 x
Dense(256), RMSprop at its default rate, batch 128. The seed's copy-paste bugs (a "without
BN" model with BN, a "SELU" model with relu) are gone: each variant is one config.
"""

from __future__ import annotations

from sweeps.engine import Sweep, exit_fast, main, tune

SWEEP = Sweep(
    family="selu_mnist",
    description=__doc__,
    dataset="mnist",
    fixed={
        "model": "deep_mlp", "depth": 50, "width": 256, "first_width": 512,
        "optimizer": "rmsprop", "lr": 1e-3, "batch_size": 128,
    },
    space=lambda max_epochs: {
        "activation": tune.grid_search(["relu", "selu"]),
        "batch_norm": tune.grid_search([False, True]),
        "kernel_initializer": tune.grid_search(["glorot_uniform", "random_uniform", "lecun_uniform", "lecun_normal"]),
    },
    max_epochs=3,
    num_samples=1,
    smoke_dataset="synthetic-mnist",
    smoke={"depth": 4, "width": 32, "first_width": 64, "train_limit": 512, "val_limit": 256,
           "kernel_initializer": tune.grid_search(["glorot_uniform", "lecun_normal"])},
    smoke_samples=1,
    smoke_epochs=3,
    gpus_per_trial=0.25,
    scientific=("activation", "batch_norm"),
)

if __name__ == "__main__":
    exit_fast(main(SWEEP))
