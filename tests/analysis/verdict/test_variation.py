"""What a verdict's seeds vary, read from the trials table (analysis.verdict.variation)."""

from __future__ import annotations

import pandas as pd

from analysis.verdict.variation import ALWAYS, describe, sources_of_variation


def _sources(**columns) -> dict[str, list[str]]:
    return sources_of_variation(pd.DataFrame({"seed": [0, 1], **columns}))


def test_by_default_the_seeds_vary_training_randomness_only():
    sources = _sources(validation=["holdout", "holdout"])
    assert sources["covered"] == list(ALWAYS)
    assert [item.split(" (")[0] for item in sources["not_covered"]] == ["the validation split", "the test sample"]
    assert "held out with a fixed seed" in sources["not_covered"][0]


def test_a_per_seed_split_is_covered():
    sources = _sources(validation=["holdout", "holdout"], validation_split=["per_seed", "per_seed"])
    assert any(item.startswith("the validation split (held out with each seed") for item in sources["covered"])
    assert not any(item.startswith("the validation split") for item in sources["not_covered"])
    assert "the validation split (held out with each seed" in describe(sources)


def test_the_seeds_protocol_and_limits():
    sources = _sources(validation=["test", "test"], val_limit=[50, 50], train_limit=[100, 100],
                       confirm_rank=[1, 1])
    assert "which test images (val_limit draws a subset per seed)" in sources["covered"]
    assert "which training images (train_limit draws a subset per seed)" in sources["covered"]
    assert sources["not_covered"] == ["the validation split (the test split itself, under validation=test)",
                                      "the configurations (chosen by the search before these seeds ran)"]


def test_the_test_sample_is_said_to_be_resampled_where_trials_reported_their_images():
    sources = _sources(validation=["holdout", "holdout"], test_correct=["4:8A==", None])
    assert sources["not_covered"][-1].startswith("the test sample (the same test images for every seed; the "
                                                 "interval over seeds and test images")
