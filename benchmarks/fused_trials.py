"""Fused trials (issue 30): members trained per second by a pack of S against S separate trials.

    python benchmarks/fused_trials.py                  # both workloads, S = 1 2 4 8 16 (minutes)
    python benchmarks/fused_trials.py --quick          # seconds: tiny nets, S = 1 2 (the path works)

Workloads (TensorFlow, the default backend; no Ray):

- mlp: the worked example's antirectifier MLP (256 units, dropout 0.1, RMSprop 1e-3, batch 128) on
  scikit-learn's digits (holdout validation), `--mlp-epochs` epochs;
- resnet: the record-1 APReLU ResNet (77,328 parameters; SGD 0.1 Nesterov, batch 100, record 1's
  augmentation in tf.data) on generated CIFAR-10 (`--resnet-images` training, 200 test images,
  validated on the test split as the record), `--resnet-epochs` epochs.

Contenders, each timed from its config to its last epoch's evaluation (building, tracing and
every epoch, as a trial spends them), in one process per workload with one TensorFlow intra-op
and one inter-op thread (a trial's CPU share; op determinism on, as trials run):

- separate: one lone trial as `trainables.trainable.train` runs it (its pieces: build, pipelines,
  `fit` and `evaluate` per epoch). S separate trials share nothing, so they take S times one trial:
  the baseline is the fastest of the rounds' lone trials (seeds 0, 1, ...), the same for every S;
- pack: `trainables.pack.Pack` of seeds 0..S-1, the fastest of the rounds (`--rounds` for the MLP,
  `--resnet-rounds` for the ResNet, whose packs take minutes).

Both are timed in wall seconds (members per second) and in the process's CPU seconds, which a
machine shared with other work inflates least (waiting for a core is not counted).

Settings: `steps_per_execution` 1 and `jit_compile` off for both (the TensorFlow defaults,
BENCHMARKS.md "Defaults chosen from these figures"); the pack runs one step per call.
Rounds interleave the contenders (a lone trial, then a pack of each size) so load drifts hit both.
Also measured (`arithmetic`): one step of 8 MLPs of the workload's shapes written in plain
TensorFlow, side by side against stacked (batched matmuls over the members): what vectorising
the arithmetic would add on this CPU.

Every pack member with a lone trial of its seed in the run is compared with it: weights bit for
bit and every epoch's metrics (`max_metric_difference`). Last line: {"cpu_speedup_8": the MLP's
members per second at S = 8 over separate trials', "gpu_speedup_8": null (packs run on
TensorFlow; no GPU here), "max_metric_difference": ..., "ratio": cpu_speedup_8, ...}.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SIZES = (1, 2, 4, 8, 16)
COMPARED = ("loss", "accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy")

MLP = {"model": "antirectifier_mlp", "activation": "antirectifier", "units": 256, "depth": 2, "dropout": 0.1,
       "optimizer": "rmsprop", "lr": 1e-3, "batch_size": 128, "dataset": "digits", "validation": "holdout"}
RESNET = {"model": "aprelu_resnet", "activation": "aprelu", "stem_channels": 8, "stages": "3x8,1x16/2,2x16,1x32/2,2x32",
          "reduction": 4, "bn_momentum": 0.99, "gamma_l2": 0.0, "optimizer": "sgd", "lr": 0.1, "momentum": 0.9,
          "nesterov": True, "batch_size": 100, "weight_decay": 1e-4, "rotation": 30.0, "horizontal_flip": True,
          "width_shift": 0.125, "height_shift": 0.125, "dataset": "synthetic-cifar10", "validation": "test"}
QUICK = {"mlp": {"units": 16}, "resnet": {"stem_channels": 4, "stages": "1x4,1x8/2", "batch_size": 32}}


def _digest(model) -> str:
    import numpy as np

    return hashlib.sha256(b"".join(np.asarray(weight).tobytes() for weight in model.get_weights())).hexdigest()


def _clocks() -> tuple[float, float]:
    """(wall, this process's CPU seconds): on a shared machine the CPU seconds are what the load
    inflates least (waiting for a core is not counted)."""
    return time.perf_counter(), time.process_time()


def _since(started: tuple[float, float]) -> tuple[float, float]:
    now = _clocks()
    return now[0] - started[0], now[1] - started[1]


def separate(config: dict, data) -> tuple[tuple[float, float], str, list[dict]]:
    """One lone trial: (wall, CPU) seconds, its weights' digest, its rows."""
    from trainables import trainable

    started = _clocks()
    settings = trainable.parse_config(config)
    trainable.release_previous_trial()
    trainable.seed_everything(settings.seed)
    model = trainable.build_model(settings, data.input_shape, data.num_classes)
    batches = trainable.make_batches(settings, data, 0)
    rows = [trainable.run_epoch(model, batches, settings, epoch_index) for epoch_index in range(settings.epochs)]
    return _since(started), _digest(model), rows


def packed(configs: list[dict], data) -> tuple[tuple[float, float], list[str], dict[int, list[dict]], dict]:
    """A pack of `configs`: (wall, CPU) seconds, its members' digests and rows, and where its CPU went
    (building; each epoch, the first with the step's tracing and graph optimisation)."""
    from trainables import trainable
    from trainables.pack import Pack

    started = _clocks()
    trainable.release_previous_trial()
    pack = Pack.build(configs, data)
    phases = {"build": _since(started)[1], "epochs": []}
    rows: dict[int, list[dict]] = {index: [] for index in range(len(configs))}
    for epoch_index in range(pack.epochs):
        epoch_started = time.process_time()
        for index, row in pack.run_epoch(epoch_index).items():
            rows[index].append(row)
        phases["epochs"].append(time.process_time() - epoch_started)
    return _since(started), [_digest(pack.model(index)) for index in range(len(configs))], rows, phases


def arithmetic(sizes: tuple[tuple[int, int], ...], members: int, batch: int, repeats: int) -> dict[str, float]:
    """Best CPU ms per step of `members` plain-TensorFlow MLPs (antirectifier between layers, SGD), side by
    side (one matmul per member and layer) and stacked (one batched matmul per layer)."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    weights = [[rng.normal(0, 0.05, shape).astype("float32") for shape in sizes] for _ in range(members)]
    side = [[tf.Variable(weight) for weight in member] for member in weights]
    stacked = [tf.Variable(np.stack([member[layer] for member in weights])) for layer in range(len(sizes))]
    x = tf.constant(rng.normal(size=(members, batch, sizes[0][0])).astype("float32"))
    y = tf.constant(rng.integers(0, sizes[-1][1], (members, batch)).astype("int32"))

    def forward(layers, inputs):
        for number, kernel in enumerate(layers):
            inputs = inputs @ kernel
            if number < len(layers) - 1:
                centered = inputs - tf.reduce_mean(inputs, -1, keepdims=True)
                centered *= tf.math.rsqrt(tf.maximum(tf.reduce_sum(centered * centered, -1, keepdims=True), 1e-12))
                inputs = tf.concat([tf.nn.relu(centered), tf.nn.relu(-centered)], -1)
        return inputs

    def update(variables, loss, tape):
        for variable, gradient in zip(variables, tape.gradient(loss, variables)):
            variable.assign_sub(1e-3 * gradient)

    @tf.function(autograph=False)
    def side_by_side():
        for member in range(members):
            with tf.GradientTape() as tape:
                logits = forward(side[member], x[member])
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y[member], logits))
            update(side[member], loss, tape)

    @tf.function(autograph=False)
    def batched():
        with tf.GradientTape() as tape:
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(y, forward(stacked, x))
            loss = tf.reduce_sum(tf.reduce_mean(losses, -1))
        update(stacked, loss, tape)

    best = {"side_by_side_ms": float("inf"), "stacked_ms": float("inf")}
    for step in (side_by_side, batched):
        step()  # trace
    for _ in range(repeats):
        for name, step in (("side_by_side_ms", side_by_side), ("stacked_ms", batched)):
            started = time.process_time()
            for _ in range(20):
                step()
            best[name] = min(best[name], (time.process_time() - started) / 20 * 1000)
    return best


def worker(workload: str, sizes: list[int], rounds: int, epochs: int, images: int, quick: bool) -> dict:
    """One workload in this process: its timings and the pack-vs-lone comparison."""
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(1)
    from trainables.determinism import make_deterministic

    make_deterministic(1.0)  # op determinism and 1 intra-op thread, as a trial holding one CPU
    from trainables import trainable
    from trainables.data import load_dataset

    trainable.placement = lambda: {}  # no Ray here
    base = dict(MLP if workload == "mlp" else RESNET, epochs=epochs, **(QUICK[workload] if quick else {}))
    if workload == "mlp":
        data = load_dataset("digits", None, seed=0, validation="holdout")
    else:
        data = load_dataset("synthetic-cifar10", None, seed=0, validation="test", train_limit=images, val_limit=200)
    alone = {}
    packs = {size: (float("inf"), float("inf")) for size in sizes}
    phases: dict[int, dict] = {}
    differences, identical, compared = [0.0], 0, 0
    for round_index in range(rounds):
        seconds, digest, rows = separate(dict(base, seed=round_index), data)
        alone[round_index] = (seconds, digest, rows)
        print(f"{workload} round {round_index + 1}: separate trial {seconds[0]:7.2f} s ({seconds[1]:.2f} s CPU)",
              file=sys.stderr, flush=True)
        for size in sizes:
            seconds, digests, member_rows, spent = packed([dict(base, seed=seed) for seed in range(size)], data)
            if seconds[1] < packs[size][1]:  # the fastest round's phases
                phases[size] = spent
            packs[size] = tuple(map(min, packs[size], seconds))
            print(f"{workload} round {round_index + 1}: pack of {size:2d}      {seconds[0]:7.2f} s "
                  f"({seconds[1]:.2f} s CPU)",
                  file=sys.stderr, flush=True)
            for seed in range(min(size, round_index + 1)):  # members whose lone trial has run
                _, lone_digest, lone_rows = alone[seed]
                compared += 1
                identical += digests[seed] == lone_digest
                differences += [abs(row[key] - lone[key]) for row, lone in zip(member_rows[seed], lone_rows)
                                for key in COMPARED]
    trial = min(seconds[0] for seconds, _, _ in alone.values())
    trial_cpu = min(seconds[1] for seconds, _, _ in alone.values())
    later = {size: float(np.median(phases[size]["epochs"][1:] or phases[size]["epochs"])) for size in sizes}
    result = {
        "separate_trial_s": trial, "separate_trial_cpu_s": trial_cpu,
        "pack_s": {size: packs[size][0] for size in sizes}, "pack_cpu_s": {size: packs[size][1] for size in sizes},
        "members_per_s": {size: size / packs[size][0] for size in sizes}, "separate_members_per_s": 1 / trial,
        "speedup": {size: trial * size / packs[size][0] for size in sizes},
        "cpu_time_speedup": {size: trial_cpu * size / packs[size][1] for size in sizes},
        "max_metric_difference": max(differences), "identical_weights": f"{identical}/{compared}",
        # CPU seconds of the fastest pack's build, first epoch and later epochs (median); and the speed-up a
        # pack would reach with no start-up at all, every epoch as its later ones: the members' steps alone
        "pack_phases_cpu_s": {size: {"build": phases[size]["build"], "first_epoch": phases[size]["epochs"][0],
                                     "later_epoch": later[size]} for size in sizes},
        "speedup_bound_without_startup": {size: trial_cpu * size / (epochs * later[size]) for size in sizes},
        "epochs": epochs, "train_images": len(data.x_train), "rounds": rounds,
    }
    if workload == "mlp":
        width = base["units"]
        shapes = ((64, width), (2 * width, width), (2 * width, 10))
        result["arithmetic_8"] = arithmetic(shapes, 8, base["batch_size"], repeats=2 if quick else 5)
    return result


def run_worker(workload: str, args: argparse.Namespace) -> dict:
    epochs = args.mlp_epochs if workload == "mlp" else args.resnet_epochs
    rounds = args.rounds if workload == "mlp" else args.resnet_rounds
    command = [sys.executable, __file__, "--worker", workload, "--rounds", str(rounds), "--sizes",
               *map(str, args.sizes), "--mlp-epochs", str(epochs), "--resnet-epochs", str(epochs),
               "--resnet-images", str(args.resnet_images)] + (["--quick"] if args.quick else [])
    result = subprocess.run(command, stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT, check=False,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"})
    if result.returncode != 0:
        raise SystemExit(f"error: the {workload} worker failed (exit {result.returncode}); its log is above")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="pack sizes S")
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds of the MLP (the fastest counts)")
    parser.add_argument("--resnet-rounds", type=int, default=1, help="timed rounds of the ResNet")
    parser.add_argument("--mlp-epochs", type=int, default=10)
    parser.add_argument("--resnet-epochs", type=int, default=2)
    parser.add_argument("--resnet-images", type=int, default=300, help="generated CIFAR-10 training images")
    parser.add_argument("--workloads", nargs="+", choices=("mlp", "resnet"), default=["mlp", "resnet"])
    parser.add_argument("--quick", action="store_true", help="tiny nets, S = 1 2, 1 epoch, 1 round: the path only")
    parser.add_argument("--worker", choices=("mlp", "resnet"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.rounds, args.resnet_rounds, args.mlp_epochs, args.resnet_epochs, args.resnet_images = \
            [1, 2], 1, 1, 1, 1, 64
    if args.worker:
        epochs = args.mlp_epochs if args.worker == "mlp" else args.resnet_epochs
        print(json.dumps(worker(args.worker, args.sizes, args.rounds, epochs, args.resnet_images, args.quick)))
        return
    started = time.perf_counter()
    results = {workload: run_worker(workload, args) for workload in args.workloads}
    for workload, result in results.items():
        print(f"{workload}: a separate trial {result['separate_trial_s']:.2f} s, "
              f"{result['separate_trial_cpu_s']:.2f} s CPU "
              f"({result['epochs']} epochs, "
              f"{result['train_images']} images); weights identical {result['identical_weights']}, "
              f"max metric difference {result['max_metric_difference']}")
        for size in args.sizes:
            key = str(size)
            print(f"  S={size:2d}: pack {result['pack_s'][key]:7.2f} s, {result['members_per_s'][key]:6.3f} members/s "
                  f"against {result['separate_members_per_s']:6.3f}: {result['speedup'][key]:.2f}x "
                  f"(CPU time {result['pack_cpu_s'][key]:.2f} s: {result['cpu_time_speedup'][key]:.2f}x)")
            phase = result["pack_phases_cpu_s"][key]
            print(f"        CPU: build {phase['build']:.2f} s, first epoch {phase['first_epoch']:.2f} s, later epochs "
                  f"{phase['later_epoch']:.3f} s each; with no start-up at all at most "
                  f"{result['speedup_bound_without_startup'][key]:.2f}x")
        if "arithmetic_8" in result:
            arithmetic_8 = result["arithmetic_8"]
            print(f"  a step of 8 MLPs in plain TensorFlow: side by side {arithmetic_8['side_by_side_ms']:.2f} ms, "
                  f"stacked {arithmetic_8['stacked_ms']:.2f} ms")
    mlp = results.get("mlp", {}).get("speedup", {})
    summary = {
        "cpu_speedup_8": mlp.get("8"),
        "gpu_speedup_8": None,
        "cpu_time_speedup_8": results.get("mlp", {}).get("cpu_time_speedup", {}).get("8"),
        "max_metric_difference": max(result["max_metric_difference"] for result in results.values()),
        "ratio": mlp.get("8"),
        "workloads": results,
        "wall_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
