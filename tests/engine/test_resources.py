"""What a trial requests: the GPU-share rule shared by the runner and the dry run."""

from __future__ import annotations

import pytest

from sweeps.engine.resources import gpu_share


def test_the_users_share_wins_else_the_sweeps_default_only_where_there_are_gpus():
    assert gpu_share(0.25, 0.5, cluster_gpus=0) == 0.25  # asked for: requested even without GPUs (Ray waits)
    assert gpu_share(None, 0.5, cluster_gpus=8) == 0.5
    assert gpu_share(None, 0.5, cluster_gpus=0) == 0.0
    assert gpu_share(0.0, 0.5, cluster_gpus=8) == 0.0
