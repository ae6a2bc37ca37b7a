"""trainables.correctness: the per-image test correctness a trial reports at its budget."""

from __future__ import annotations

import numpy as np
import pytest

from trainables.correctness import decode, encode, per_image


def test_the_encoding_round_trips_and_refuses_what_it_did_not_write():
    for count in (0, 1, 7, 8, 9, 359, 10_000):
        bits = np.random.default_rng(count).random(count) < 0.7
        text = encode(bits)
        np.testing.assert_array_equal(decode(text), bits)
        assert len(text) <= len(str(count)) + 1 + 4 * ((count + 7) // 8 + 2) // 3  # a bit each, in base64
    for text in ("", "abc", "8:***", "17:AAA=", "x:AA=="):
        with pytest.raises(ValueError, match="test_correct"):
            decode(text)


def test_per_image_is_the_argmax_against_the_label_batch_by_batch():
    import keras

    logits = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.5, 0.5]], dtype="float32")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Identity()])
    correct = per_image(model, logits, np.array([1, 0, 0, 1, 0]), batch_size=2)
    np.testing.assert_array_equal(correct, [True, True, False, False, True])  # a tie goes to the first class
    assert per_image(model, logits[:0], np.array([], dtype=int), batch_size=2).size == 0
