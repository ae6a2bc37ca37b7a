"""Hand-made Tune experiment directories in the layout Ray 2.60 writes (no Ray needed).

Layout checked against a real Ray 2.60 run with a function trainable:
<storage>/<name>/
    experiment_state-<timestamp>.json   {"trial_data": [[trial JSON text, runtime JSON text], ...], ...}
    basic-variant-state-<timestamp>.json, tuner.pkl
    train_<5 hex>_<index:05d>_<index>_<tag>_<timestamp>/
        params.json (flat config), result.json (one JSON object per report, with Tune's keys and a
        nested "config"), error.txt (errored trials; ends with the exception line), progress.csv
Pending trials get an empty directory (Tune creates it before params.json).

A pack (`fake_pack`; trainables.pack_trial) is one such directory whose config holds `pack_members`,
whose rows hold every member's `member_<i>/<key>`, and whose checkpoints hold `pack.json` and a
`member_<i>/` for each member still training, as `train_pack` writes them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.store.schema import DRIVER_LEASE_FILE

TIMESTAMP = "2026-01-01_00-00-00"
EPOCH_SECONDS = 2.0
# What a pack reports per member (trainables.pack_trial.MEMBER_KEYS, as these fakes report them).
MEMBER_KEYS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_seconds", "images_per_second",
               "diverged", "stop_reason")
PACK_DIVERGED = "diverged: non-finite training loss"


@dataclass(frozen=True)
class FakeTrial:
    """One trial; `val_accuracy` has one value per reported epoch (its length = epochs completed)."""

    activation: str
    seed: int
    val_accuracy: Sequence[float]
    status: str = "terminated"  # terminated | stopped_early | time_budget | errored | diverged | running | pending
    epochs: int | None = None  # the budget; defaults to len(val_accuracy)
    family: str = "selu_mnist"
    repeat: int = 0
    gpus_per_trial: float = 0.5
    extra_config: dict[str, Any] = field(default_factory=dict)
    kept_checkpoints: Sequence[int] = ()  # epochs whose checkpoint directory Tune kept on disk
    failures: int = 0  # worker crashes Tune retried: error.txt, and epochs 2.. reported twice
    gpu_ids: str | None = None  # reported per epoch as the trainable does ("" without a GPU)
    node_id: str | None = None
    members: Sequence[FakeTrial] = ()  # a pack (see fake_pack): the trials it trains, their seeds and own keys
    last_reported: dict[str, Any] = field(default_factory=dict)  # keys its last epoch reports besides those


def fake_pack(members: Sequence[FakeTrial], activation: str = "relu", **changes) -> FakeTrial:
    """A pack of `members` (each terminated or diverged; their seed, repeat and extra_config are their own
    settings): its own values are the members' means, its epochs the longest member's."""
    epochs = max(len(member.val_accuracy) for member in members)
    means = [sum(values) / len(values) for values in
             ([member.val_accuracy[index] for member in members if index < len(member.val_accuracy)]
              for index in range(epochs))]
    return FakeTrial(activation, 0, means, members=tuple(members), **changes)


def _prefix(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:5]


def _config(trial: FakeTrial) -> dict[str, Any]:
    config = {
        "family": trial.family,
        "model": "deep_mlp",
        "activation": trial.activation,
        "dataset": "synthetic-mnist",
        "epochs": trial.epochs if trial.epochs is not None else len(trial.val_accuracy),
        "seed": trial.seed,
        "repeat": trial.repeat,
        "gpus_per_trial": trial.gpus_per_trial,
        "cpus_per_trial": 1,
        "optimizer": "rmsprop",
        "lr": 0.001,
        "batch_size": 128,
        "batch_norm": True,
        "kernel_initializer": "lecun_uniform",
    }
    config.update(trial.extra_config)
    if trial.members:
        del config["seed"], config["repeat"]
        config["pack_members"] = [{"seed": member.seed, "repeat": member.repeat, **member.extra_config}
                                  for member in trial.members]
    return config


def _after_divergence(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What a pack reports for a member that diverged in an earlier epoch (trainables.pack_trial.pack_row)."""
    return {**{key: math.nan for key in MEMBER_KEYS}, "epoch": rows[-1]["epoch"], "diverged": True,
            "stop_reason": PACK_DIVERGED}


def _pack_rows(trial: FakeTrial, trial_id: str, config: dict[str, Any], tag: str) -> list[dict[str, Any]]:
    """The pack's own rows (Tune's keys, its means) with every member's row as `member_<i>/<key>`."""
    rows = _rows(dataclasses.replace(trial, members=()), trial_id, config, tag)
    members = [_rows(member, trial_id, config, tag) for member in trial.members]
    for index, row in enumerate(rows):
        own = [member[index] if index < len(member) else _after_divergence(member) for member in members]
        for number, member_row in enumerate(own):
            row.update({f"member_{number}/{key}": member_row[key] for key in MEMBER_KEYS})
        row.update(pack_size=len(members), members_training=sum(not member_row["diverged"] for member_row in own))
    return rows


def _rows(trial: FakeTrial, trial_id: str, config: dict[str, Any], tag: str) -> list[dict[str, Any]]:
    if trial.members:
        return _pack_rows(trial, trial_id, config, tag)
    rows = []
    count = len(trial.val_accuracy)
    for index, val_accuracy in enumerate(trial.val_accuracy):
        epoch = index + 1
        last = epoch == count
        diverged = trial.status == "diverged" and last
        loss = math.nan if diverged else 1.0 / epoch + 0.01 * trial.seed
        rows.append(
            {
                "epoch": epoch,
                "loss": loss,
                "accuracy": min(1.0, float(val_accuracy) + 0.05),
                "val_loss": math.nan if diverged else 1.1 / epoch,
                "val_accuracy": float(val_accuracy),
                "lr": config["lr"],
                "epoch_seconds": EPOCH_SECONDS,
                "images_per_second": 1000.0 + epoch,
                "diverged": diverged,
                "stop_reason": "diverged: non-finite loss" if diverged else "",
                "timestamp": 1767225600 + epoch,
                "checkpoint_dir_name": f"checkpoint_{epoch - 1:06d}" if trial.kept_checkpoints else None,
                "done": last and trial.status in ("terminated", "stopped_early", "diverged"),
                "training_iteration": epoch,
                "trial_id": trial_id,
                "date": TIMESTAMP,
                "time_this_iter_s": EPOCH_SECONDS,
                "time_total_s": EPOCH_SECONDS * epoch,
                "pid": 4242,
                "hostname": "fakehost",
                "node_ip": "192.0.2.2",
                "config": dict(config),
                "time_since_restore": EPOCH_SECONDS * epoch,
                "iterations_since_restore": epoch,
                "experiment_tag": tag,
            }
        )
        if trial.gpu_ids is not None:
            rows[-1].update(gpu_ids=trial.gpu_ids, node_id=trial.node_id)
    if rows:
        rows[-1].update(trial.last_reported)
    if trial.failures:
        # The first attempt reached the last epoch but one, with other values; after the crash
        # Tune restored the epoch-1 checkpoint and the trial re-reported epochs 2.. .
        replaced = [{**row, "val_accuracy": row["val_accuracy"] - 0.05, "done": False} for row in rows[1:-1]]
        rows = [rows[0], *replaced, *rows[1:]]
    return rows


def _write_trial_files(trial_dir: Path, trial: FakeTrial, config: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    if trial.status != "pending":
        (trial_dir / "params.json").write_text(json.dumps(config, indent=2, sort_keys=True))
        with (trial_dir / "result.json").open("w") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")  # json writes NaN like Ray does
    failures = trial.failures + int(trial.status == "errored")
    if failures:
        (trial_dir / "error.txt").write_text(
            "".join(
                f"Failure # {number} (occurred at {TIMESTAMP})\n"
                "\x1b[36mray::ImplicitFunc.train()\x1b[39m (pid=4242, ip=192.0.2.2, repr=train)\n"
                '  File "trainables/trainable.py", line 10, in train\n'
                "    raise RuntimeError('out of memory in epoch 2')\n"
                "RuntimeError: out of memory in epoch 2\n"
                for number in range(1, failures + 1)
            )
        )
    for epoch in trial.kept_checkpoints:
        checkpoint = trial_dir / f"checkpoint_{epoch - 1:06d}"
        checkpoint.mkdir(exist_ok=True)
        if trial.members:
            _write_pack_checkpoint(checkpoint, trial, config, epoch)
        else:
            (checkpoint / "state.json").write_text(json.dumps({"epoch": epoch}))


def _write_pack_checkpoint(checkpoint: Path, trial: FakeTrial, config: dict[str, Any], epoch: int) -> None:
    """pack.json, and member_<i>/ for each member still training after `epoch` (trainables.pack.Pack.save)."""
    diverged = {}
    for index, member in enumerate(trial.members):
        reported = len(member.val_accuracy)
        if epoch > reported or (epoch == reported and member.status == "diverged"):
            diverged[str(index)] = reported
            continue
        (checkpoint / f"member_{index}").mkdir()
        own = {**config, **config["pack_members"][index]}
        del own["pack_members"]
        (checkpoint / f"member_{index}" / "state.json").write_text(json.dumps({"epoch": epoch, "config": own}))
    (checkpoint / "pack.json").write_text(json.dumps({"epoch": epoch, "members": len(trial.members),
                                                      "diverged": diverged}))


_TUNE_STATUS = {
    "terminated": "TERMINATED",
    "stopped_early": "TERMINATED",
    "time_budget": "TERMINATED",  # stopped with the experiment: Tune leaves done=False
    "diverged": "TERMINATED",
    "errored": "ERROR",
    "running": "RUNNING",
    "pending": "PENDING",
}


def write_fake_experiment(
    storage: str | Path, name: str, trials: Sequence[FakeTrial], *, with_state: bool = True, metric: str = "val_accuracy"
) -> Path:
    """Write <storage>/<name>/ with one trial directory per FakeTrial; returns the experiment dir."""
    experiment_dir = Path(storage) / name
    experiment_dir.mkdir(parents=True, exist_ok=True)
    prefix = _prefix(name)
    trial_data = []
    for index, trial in enumerate(trials):
        trial_id = f"{prefix}_{index:05d}"
        tag = f"{index}_activation={trial.activation},seed={trial.seed}"
        dir_name = f"train_{trial_id}_{tag}_{TIMESTAMP}"
        trial_dir = experiment_dir / dir_name
        trial_dir.mkdir(exist_ok=True)
        config = _config(trial)
        rows = _rows(trial, trial_id, config, tag)
        _write_trial_files(trial_dir, trial, config, rows)
        state = {
            "trial_id": trial_id,
            "config": config,
            "status": _TUNE_STATUS[trial.status],
            "relative_logdir": dir_name,
            "experiment_tag": tag,
        }
        runtime = {"last_result": rows[-1] if rows else {}, "num_failures": trial.failures + int(trial.status == "errored")}
        trial_data.append([json.dumps(state, indent=2), json.dumps(runtime, indent=2)])
    if any(trial.status in ("running", "pending") for trial in trials):  # a live driver holds the experiment
        (experiment_dir / DRIVER_LEASE_FILE).write_text("{}")
    if with_state:
        (experiment_dir / f"experiment_state-{TIMESTAMP}.json").write_text(
            json.dumps({"trial_data": trial_data, "runner_data": {"_metric": metric}, "stats": {"start_time": 0.0}})
        )
        (experiment_dir / f"basic-variant-state-{TIMESTAMP}.json").write_text("{}")
    return experiment_dir


def standard_trials(family: str = "selu_mnist", seeds: Sequence[int] = (0, 1, 2, 3)) -> list[FakeTrial]:
    """relu vs selu on shared seeds (selu ~0.02 better), plus one trial in every other status."""
    trials = []
    for seed in seeds:
        offset = 0.003 * seed
        trials.append(FakeTrial("relu", seed, [0.70 + offset, 0.78 + offset, 0.80 + offset, 0.79 + offset], family=family))
        trials.append(FakeTrial("selu", seed, [0.72 + offset, 0.80 + offset, 0.82 + offset, 0.825 + offset - 0.001 * seed], family=family))
    trials.append(FakeTrial("gelu", 0, [0.60, 0.65], status="stopped_early", epochs=4, family=family))
    trials.append(FakeTrial("gelu", 1, [0.61], status="errored", epochs=4, family=family))
    trials.append(FakeTrial("elu", 0, [0.62, 0.66, 0.64], status="diverged", epochs=4, family=family))
    trials.append(FakeTrial("swish", 0, [0.55, 0.69], status="running", epochs=4, family=family))
    return trials


def finished_antirectifier_search(root: Path, name: str = "s", relu_gain: float = 0.0) -> Path:
    """A finished search of the antirectifier family, one trial an activation, with its tables
    written: what `--confirm` with `--name` confirms without running a search (the dry-run tests)."""
    from analysis.store.export import export_experiment

    settings = {"model": "antirectifier_mlp", "dataset": "synthetic-mnist", "units": 16, "depth": 2, "dropout": 0.1,
                "batch_norm": None, "kernel_initializer": None}
    trials = [FakeTrial(activation, 0, [0.5, 0.6 + relu_gain * (activation == "relu")], family="antirectifier_mnist",
                        extra_config=settings) for activation in ("antirectifier", "relu")]
    search = write_fake_experiment(root, name, trials)
    export_experiment([search], search)
    return search
