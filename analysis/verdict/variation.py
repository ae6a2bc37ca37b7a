"""What the seeds of a verdict vary, and what they hold fixed: the population a verdict speaks for.

A trial's seed (trainables.determinism, trainables.data) draws the weight initialisation, the
order of the training data each epoch, the dropout masks and the augmentation draws, and, with
`train_limit` / `val_limit`, which training and test images a trial uses, and with
`validation_split` "per_seed" (`--validation-split per-seed`) which images it holds out to
validate on, and so which it trains on (the engine's default since 0.2.0 wherever a holdout is
drawn); with "fixed" the validation split is held out with one seed so every trial and arm decides
on the same images. Without `val_limit` it does not draw the test sample: every seed is scored on the same test images, so a
verdict on test accuracy says how the arms compare on those images, over training randomness,
and a test accuracy moves in steps of one image (digits: 360 images, so a margin of 0.01 is 3.6
images). A confirmation's configurations were fixed by the search before its seeds ran.
"""

from __future__ import annotations

import pandas as pd

from trainables.correctness import KEY as CORRECTNESS

ALWAYS = ("weight initialisation", "training data order", "dropout draws", "augmentation draws")


def _set(trials: pd.DataFrame, column: str) -> bool:
    return column in trials.columns and bool(trials[column].notna().any())


def sources_of_variation(trials: pd.DataFrame) -> dict[str, list[str]]:
    """{"covered": what differs from seed to seed, "not_covered": what every seed shares}."""
    covered, fixed = list(ALWAYS), []
    if _set(trials, "train_limit"):
        covered.append("which training images (train_limit draws a subset per seed)")
    protocol = trials["validation"].dropna() if "validation" in trials.columns else pd.Series(dtype=str)
    per_seed = trials["validation_split"] if "validation_split" in trials.columns else pd.Series(dtype=str)
    if (protocol == "test").any():
        fixed.append("the validation split (the test split itself, under validation=test)")
    elif (per_seed == "per_seed").any():
        covered.append("the validation split (held out with each seed: which images validate and which train)")
    else:
        fixed.append("the validation split (held out with a fixed seed: the same images for every trial)")
    if _set(trials, "val_limit"):
        covered.append("which test images (val_limit draws a subset per seed)")
    elif _set(trials, CORRECTNESS):
        fixed.append("the test sample (the same test images for every seed; the interval over seeds and test "
                     "images beside each verdict resamples them)")
    else:
        fixed.append("the test sample (the same test images for every seed)")
    if "confirm_rank" in trials.columns and trials["confirm_rank"].notna().any():
        fixed.append("the configurations (chosen by the search before these seeds ran)")
    return {"covered": covered, "not_covered": fixed}


def describe(sources: dict[str, list[str]]) -> str:
    """One sentence for a report: what the verdicts' seeds cover."""
    return (f"The seeds vary {', '.join(sources['covered'])}; they do not vary {'; '.join(sources['not_covered'])}, "
            "so the verdicts speak for training randomness on these data.")


__all__ = ["ALWAYS", "describe", "sources_of_variation"]
