"""The Tune function trainable of a pack: several trials of one configuration as one Tune trial (issue 30).

    tune.with_parameters(train_pack, data=dataset)   # config: a trial config plus "pack_members"

`config["pack_members"]` lists each member's own settings (`trainables.pack.OWN_KEYS`: its seed
and bookkeeping), e.g. `[{"seed": 3, "repeat": 0}, {"seed": 4, "repeat": 1}]`; every other key is
the configuration the members share. Each epoch reports one row:

- `member_<i>/<key>` for every member i and every `trainables.trainable.METRICS` key but the
  placement: the row member i's lone trial would report (at the budget's last epoch also its
  `test_correct`, trainables.correctness). A member that diverged earlier keeps
  its keys with NaN metrics, `diverged` true and `member_<i>/epoch` at the epoch it diverged, so
  the keys never change (a member's own epochs are those where `member_<i>/epoch` is the row's);
- the METRICS keys themselves over the members that trained this epoch without diverging: the
  means of the losses and accuracies (what ASHA and the searchers decide on), the pack's
  `epoch_seconds`, `images_per_second` summed over them (the pack's throughput), `diverged` once
  every member has, and the placement;
- `pack_size` and `members_training`.

A checkpoint is the pack's (`Pack.save`): each member's files are a lone trial's checkpoint
(`analysis.load_best_model` reads `member_<i>/`), and a restored pack continues every member
still training from them (`trainables.recovery` knows a pack's checkpoint is whole).
"""

from __future__ import annotations

import logging
import math
import statistics
import tempfile
from pathlib import Path
from typing import Any, Mapping

from ray import tune

from trainables import correctness
from trainables.determinism import make_deterministic
from trainables.devices import configure_gpus
from trainables.pack import Pack, check_members
from trainables.recovery import PACK_KEY, checkpoint_to_load
from trainables.trainable import (
    DIVERGED,
    METRICS,
    parse_config,
    placement,
    release_previous_trial,
    set_precision,
    correct_on_test,
)

log = logging.getLogger(__name__)

MEMBER_KEYS = tuple(key for key in METRICS if key not in ("gpu_ids", "node_id"))
MEANS = ("loss", "accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy", "lr")


def member_configs(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each member's flat trial config: the shared keys with its own settings over them."""
    members = config.get(PACK_KEY)
    if not isinstance(members, (list, tuple)) or not members or not all(isinstance(own, Mapping) for own in members):
        raise ValueError(f"a pack's config needs {PACK_KEY!r}: a list of each member's own settings, got {members!r}")
    shared = {key: value for key, value in config.items() if key != PACK_KEY}
    return [{**shared, **own} for own in members]


def pack_row(pack: Pack, rows: Mapping[int, Mapping[str, Any]], epoch: int) -> dict[str, Any]:
    """The epoch's result for Tune (see the module docstring)."""
    result: dict[str, Any] = {}
    for index, member in enumerate(pack.members):
        row = rows.get(index)
        if row is None:  # diverged in an earlier epoch
            row = {key: math.nan for key in MEMBER_KEYS}
            row.update(epoch=member.diverged_at, diverged=True, stop_reason=DIVERGED)
        result.update({f"member_{index}/{key}": row[key] for key in MEMBER_KEYS})
        if correctness.KEY in row:  # the last epoch of the budget only (trainables.correctness)
            result[f"member_{index}/{correctness.KEY}"] = row[correctness.KEY]
    trained = [row for row in rows.values() if not row["diverged"]]
    for key in MEANS:
        result[key] = statistics.fmean(row[key] for row in trained) if trained else math.nan
    seconds = max((row["epoch_seconds"] for row in rows.values()), default=math.nan)
    result.update(
        epoch=epoch, epoch_seconds=seconds,
        images_per_second=sum(row["images_per_second"] for row in trained) if trained else math.nan,
        diverged=not pack.training(), stop_reason="" if pack.training() else DIVERGED,
        pack_size=len(pack), members_training=len(pack.training()), **placement(),
    )
    return result


def start_pack(configs: list[dict[str, Any]], data: Any) -> Pack:
    """A new pack, or the one in Tune's checkpoint when restoring (see trainables.recovery)."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        checkpoint = checkpoint_to_load(checkpoint)
    if checkpoint is None:
        return Pack.build(configs, data)
    with checkpoint.as_directory() as directory:
        pack = Pack.restore(Path(directory), configs, data)
    log.info("pack resumed at epoch %d", pack.start_epoch)
    return pack


def report(result: dict[str, Any], pack: Pack) -> None:
    """Report the epoch, with the pack's checkpoint every `checkpoint_every` epochs and at the end."""
    epoch, settings = result["epoch"], pack.settings
    if result["diverged"] or (epoch % settings.checkpoint_every and epoch != settings.epochs):
        tune.report(result)
        return
    with tempfile.TemporaryDirectory(prefix="ckpt-") as directory:
        pack.save(Path(directory), epoch)
        tune.report(result, checkpoint=tune.Checkpoint.from_directory(directory))


def train_pack(config: Mapping[str, Any], data: Any = None) -> None:
    """Train a pack as one Tune trial, reporting every epoch; see the module docstring."""
    gpus = configure_gpus()  # before any TensorFlow op of this process
    configs = member_configs(config)
    settings = [parse_config(member) for member in configs]
    check_members(settings)
    make_deterministic(settings[0].cpus_per_trial, ops=not settings[0].jit_compile)
    release_previous_trial()
    set_precision(settings[0], gpus)
    pack = start_pack(configs, data)
    for epoch_index in range(pack.start_epoch, pack.epochs):
        rows = pack.run_epoch(epoch_index)
        if epoch_index + 1 == pack.epochs:
            for index, row in rows.items():
                if not row["diverged"]:
                    member = pack.members[index]
                    correct = correct_on_test(member.model, member.data, member.settings)
                    row[correctness.KEY] = correctness.encode(correct)
        report(pack_row(pack, rows, epoch_index + 1), pack)
        if not pack.training():
            log.warning("every member of the pack diverged by epoch %d; ending it", epoch_index + 1)
            return


__all__ = ["train_pack", "member_configs", "pack_row", "PACK_KEY"]
