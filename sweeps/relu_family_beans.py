"""The ReLU family in MobileNetV2 on `beans`: ReLU6, LeakyReLU, PReLU, SELU.

    python sweeps/relu_family_beans.py --num-samples 4 --repeats 3
    python sweeps/relu_family_beans.py --set activation=prelu_channel   # channel-wise PReLU
    python sweeps/relu_family_beans.py --smoke

Scientific: the activation (a grid, so every sampled learning rate runs all four: the
comparison is paired). Nuisance: the SGD learning rate (the seed used one fixed rate).
Fixed as the seed: MobileNetV2 at 224x224, SGD, logits + cross-entropy; SELU gets
lecun_normal kernels (the builder's default for selu); PReLU is Keras' element-wise one,
as the seed (8.4M parameters; `prelu_channel` is the usual per-channel choice).
"""

from __future__ import annotations

from sweeps.engine import Sweep, exit_fast, main, tune

SWEEP = Sweep(
    family="relu_family_beans",
    description=__doc__,
    dataset="beans",
    fixed={"model": "mobilenet_v2", "optimizer": "sgd", "momentum": 0.0, "nesterov": False,
           "batch_size": 32, "image_size": 224},
    space=lambda max_epochs: {
        "activation": tune.grid_search(["relu6", "leaky_relu", "prelu", "selu"]),
        "lr": tune.loguniform(3e-3, 1e-1),
    },
    max_epochs=100,
    num_samples=2,
    smoke_dataset="synthetic-beans",
    smoke={"image_size": 32, "width_multiplier": 0.25, "train_limit": 128, "val_limit": 64,
           "activation": tune.grid_search(["relu6", "selu"])},
    smoke_samples=1,
    smoke_epochs=2,
    gpus_per_trial=0.5,
)

if __name__ == "__main__":
    exit_fast(main(SWEEP))
