"""APReLU residual networks on CIFAR-10, from the author's tuning records.

    python sweeps/aprelu_cifar.py --num-samples 50            # the sweep (ASHA)
    python sweeps/aprelu_cifar.py --record 1 --repeats 3      # record 1 exactly, 3 seeds
    python sweeps/aprelu_cifar.py --set 'activation=["aprelu","relu","prelu_channel","leaky_relu"]'
    python sweeps/aprelu_cifar.py --smoke                     # tiny sweep on generated data

Scientific: the activation (APReLU, and relu/prelu/leaky_relu in the same network with
--set). Nuisance, from what the records varied: reduction ratio, residual units and
channel widths, shear/zoom augmentation, LR-decay epoch, BN momentum and gamma L2.
Fixed as in both records: SGD 0.1 Nesterov momentum 0.9, batch 100, L2 1e-4 on kernels,
rotation 30, horizontal flip, shifts 0.125, x0.1 step decay.

Decay epochs scale with the budget: a record that decays at epoch D of P planned epochs
decays every max(1, round(max_epochs * D / P)) epochs (record 1: 400/1000, record 16:
1500/5000), so a 20-epoch sweep still sees the drop.
"""

from __future__ import annotations

from sweeps.engine import Record, Sweep, exit_fast, main, tune
from trainables.schedules import scaled_decay_every

# Residual layouts "UNITSxCHANNELS[/2]" drawn from the records (9 to 27 units; 8-64 wide).
STAGES = (
    "3x8,1x16/2,2x16,1x32/2,2x32",  # record 1
    "1x32,1x32/2,1x64/2",  # record 16
    "3x16,3x32/2,3x64/2",
    "5x8,5x16/2,5x32/2",
    "9x16,9x32/2,9x64/2",
)
SHARED = {
    "model": "aprelu_resnet",
    "activation": "aprelu",
    "optimizer": "sgd",
    "lr": 0.1,
    "momentum": 0.9,
    "nesterov": True,
    "lr_decay_factor": 0.1,
    "batch_size": 100,
    "weight_decay": 1e-4,
    "rotation": 30.0,
    "horizontal_flip": True,
    "width_shift": 0.125,
    "height_shift": 0.125,
}


def stem_for(stages: str) -> int:
    """The stem is 8 or 16 wide and never wider than the first stage (channels only grow)."""
    first = stages.split(",")[0].split("x")[1].split("/")[0]
    return min(int(first), 16)


def space(max_epochs: int) -> dict:
    decays = sorted({scaled_decay_every(d, p, max_epochs) for d, p in ((400, 1000), (1500, 5000), (500, 1000))})
    return {
        "stages": tune.choice(STAGES),
        "stem_channels": tune.sample_from(lambda config: stem_for(config["stages"])),
        "reduction": tune.choice([4, 16]),
        "bn_momentum": tune.choice([0.99, 0.9]),
        "gamma_l2": tune.choice([0.0, 1e-4]),
        "shear": tune.choice([0.0, 30.0]),
        "zoom": tune.choice([0.0, 0.2]),
        "lr_decay_every": tune.choice(decays),
    }


def record_1(max_epochs: int) -> dict:
    return {
        "stem_channels": 8, "stages": STAGES[0], "reduction": 4, "bn_momentum": 0.99, "gamma_l2": 0.0,
        "shear": 0.0, "zoom": 0.0, "lr_decay_every": scaled_decay_every(400, 1000, max_epochs),
        "validation": "test",  # the published protocol: validated on the test split
    }


def record_16(max_epochs: int) -> dict:
    return {
        "stem_channels": 16, "stages": STAGES[1], "reduction": 16, "bn_momentum": 0.9, "gamma_l2": 1e-4,
        "shear": 30.0, "zoom": 0.2, "lr_decay_every": scaled_decay_every(1500, 5000, max_epochs),
        "validation": "test",  # the published protocol: validated on the test split
    }


SWEEP = Sweep(
    family="aprelu_cifar",
    description=__doc__,
    dataset="cifar10",
    fixed=SHARED,
    space=space,
    max_epochs=100,
    num_samples=8,
    records={1: Record(record_1, epochs=1000), 16: Record(record_16, epochs=5000)},
    smoke_dataset="synthetic-cifar10",
    smoke={"stages": "1x8,1x16/2", "batch_size": 64, "train_limit": 512, "val_limit": 256},
    gpus_per_trial=0.5,  # two per GPU: as much throughput as four or eight (BENCHMARKS.md, trial packing)
)

if __name__ == "__main__":
    exit_fast(main(SWEEP))
