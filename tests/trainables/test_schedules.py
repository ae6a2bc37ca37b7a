"""The learning-rate schedule: a pure function of the epoch, scaled with the budget as the records were."""

from __future__ import annotations

import pytest

from trainables.schedules import scaled_decay_every, step_decay


def test_step_decay_matches_the_seed_scheduler():
    # Seed: x0.1 when epoch % 400 == 0 and epoch != 0 (0-based epochs).
    assert step_decay(0, 0.1, 0.1, 400) == pytest.approx(0.1)
    assert step_decay(399, 0.1, 0.1, 400) == pytest.approx(0.1)
    assert step_decay(400, 0.1, 0.1, 400) == pytest.approx(0.01)
    assert step_decay(800, 0.1, 0.1, 400) == pytest.approx(0.001)
    assert step_decay(10_000, 0.1, 0.1, 0) == pytest.approx(0.1)


def test_decay_epoch_scales_with_budget():
    assert scaled_decay_every(400, 1000, 1000) == 400
    assert scaled_decay_every(400, 1000, 20) == 8
    assert scaled_decay_every(1500, 5000, 20) == 6
    assert scaled_decay_every(1500, 5000, 1) == 1
