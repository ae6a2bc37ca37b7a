"""The dataset registry: one ``Source`` per name. Adding a dataset is one entry here."""

from __future__ import annotations

from trainables.data.sources.base import Request, Source, Split
from trainables.data.sources.beans import Beans
from trainables.data.sources.cifar10 import Cifar10
from trainables.data.sources.generated import Digits, Synthetic
from trainables.data.sources.mnist import Mnist

SOURCES: dict[str, Source] = {
    source.name: source
    for source in (
        Cifar10(),
        Mnist(),
        Beans(),
        Synthetic("synthetic-cifar10", Cifar10.shape, Cifar10.num_classes, (2048, 512), subtract_mean=True),
        Synthetic("synthetic-mnist", Mnist.shape, Mnist.num_classes, (2048, 512)),
        # Beans images are big (224x224x3 float32 = 0.6 MB each): keep the stand-in small.
        Synthetic("synthetic-beans", Beans.shape, Beans.num_classes, (256, 64)),
        Digits(),
    )
}


def get_source(name: str) -> Source:
    if name not in SOURCES:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(SOURCES)}")
    return SOURCES[name]


__all__ = ["SOURCES", "Request", "Source", "Split", "get_source"]
