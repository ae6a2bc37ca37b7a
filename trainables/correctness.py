"""Which test images a trained trial gets right: one bit per image, reported once, at the budget.

A verdict on test accuracy compares seeds scored on one fixed test sample (digits: 360 images, so
a margin of 0.01 is 3.6 images). To say how the comparison would move on another sample of test
images, analysis.verdict.two_way resamples the images together with the seeds, and for that
it needs each trial's correctness per test image: `test_correct`, reported with the last epoch of
the budget (a few hundred bytes: digits 360 bits, CIFAR-10 10,000), never for an epoch a trial
did not finish. Stored as "<count>:<base64 of numpy.packbits>" (the trials table keeps it as a
string column, analysis.store.schema).
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

KEY = "test_correct"


def encode(correct: Any) -> str:
    bits = np.asarray(correct, dtype=bool).ravel()
    return f"{bits.size}:{base64.b64encode(np.packbits(bits)).decode('ascii')}"


def decode(text: str) -> np.ndarray:
    """The bits `encode` wrote; ValueError (one line) for anything else."""
    count, separator, payload = str(text).partition(":")
    try:
        if not separator or not count.isdigit():
            raise ValueError("no '<count>:' prefix")
        bits = np.unpackbits(np.frombuffer(base64.b64decode(payload, validate=True), dtype=np.uint8))
    except (ValueError, TypeError) as error:
        raise ValueError(f"{KEY}: not an encoded bit string ({error})") from None
    if bits.size < int(count) or bits.size - int(count) >= 8:
        raise ValueError(f"{KEY}: {count} bits announced, {bits.size} stored")
    return bits[: int(count)].astype(bool)


def per_image(model: Any, images: np.ndarray, labels: np.ndarray, batch_size: int) -> np.ndarray:
    """model's argmax == label for every test image, in order: the test images `accuracy` counted.

    Plain forward calls, no compiled predict function: tracing one costs a CNN tens of seconds on
    a CPU, once per trial, for a single pass over the test split.
    """
    import keras

    correct = [
        keras.ops.convert_to_numpy(keras.ops.argmax(model(images[start:start + batch_size], training=False), axis=-1))
        == np.asarray(labels[start:start + batch_size]).reshape(-1)
        for start in range(0, len(images), batch_size)
    ]
    return np.concatenate(correct) if correct else np.zeros(0, dtype=bool)


__all__ = ["KEY", "decode", "encode", "per_image"]
