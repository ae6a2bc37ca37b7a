"""GPU setup of a trial process (TensorFlow backend), with a stand-in for tf.config: no GPU needed."""

from __future__ import annotations

from trainables.devices import configure_gpus


class _FakeExperimental:
    def __init__(self):
        self.growth = {}

    def set_memory_growth(self, device, enabled):
        self.growth[device] = enabled


class _FakeTfConfig:
    """Stands in for tf.config: two GPUs visible (as Ray's CUDA_VISIBLE_DEVICES left them)."""

    def __init__(self, gpus):
        self.gpus = gpus
        self.experimental = _FakeExperimental()

    def list_physical_devices(self, kind):
        return list(self.gpus) if kind == "GPU" else []


def test_memory_growth_is_enabled_on_every_visible_gpu():
    fake = _FakeTfConfig(["GPU:0", "GPU:1"])
    assert configure_gpus(fake) == ["GPU:0", "GPU:1"]
    assert fake.experimental.growth == {"GPU:0": True, "GPU:1": True}
    assert configure_gpus(_FakeTfConfig([])) == []
