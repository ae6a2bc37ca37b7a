"""Learning-rate schedules as pure functions of the epoch.

A pure `lr_at(epoch)` is what makes resuming exact: a trial restored at epoch k sets the
rate from k alone, with no callback state to replay.
"""

from __future__ import annotations


def step_decay(epoch: int, base_lr: float, factor: float = 0.1, every: int = 0) -> float:
    """The rate for 0-based `epoch`: `base_lr * factor ** (epoch // every)`.

    Matches the seeds' scheduler (x0.1 when `epoch % 400 == 0 and epoch != 0`, 0-based):
    epochs 0..399 train at 0.1, 400..799 at 0.01. `every <= 0` means a constant rate.
    """
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")
    if every <= 0:
        return float(base_lr)
    return float(base_lr * factor ** (epoch // every))


def scaled_decay_every(decay_epoch: int, planned_epochs: int, max_epochs: int) -> int:
    """Scale a published decay epoch to a shorter budget, keeping its place in the run.

    Record 1 decays at epoch 400 of 1000 and record 16 at 1500 of 5000; a 20-epoch sweep
    then decays every round(20 * 400 / 1000) = 8 (resp. 6) epochs, so a short sweep still
    sees the drop the author saw. Never less than 1.
    """
    if planned_epochs <= 0 or decay_epoch <= 0:
        raise ValueError("decay_epoch and planned_epochs must be positive")
    return max(1, round(max_epochs * decay_epoch / planned_epochs))
