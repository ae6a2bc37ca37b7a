"""The numbers the five seed experiments published (shared/reference/EXPERIMENTS.md).

Each entry says which trials reproduce it (config values that must match, the published
dataset among them: a digits stand-in is never set against MNIST's number) and which exported
metric column to compare. The seeds' "test" split is this project's validation split, so a
published test accuracy is compared with `val_accuracy`; "train accuracy" is `accuracy`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class PublishedResult:
    """One published number and how to find the trials that try to reproduce it."""

    key: str
    description: str
    metric: str  # reported metric name: val_accuracy or accuracy
    value: float
    epochs: int  # epochs the published number was measured at
    match: Mapping[str, Any] = field(default_factory=dict)  # config column -> required value (dataset included)
    source: str = ""


def _frozen(mapping: dict[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(mapping)


PUBLISHED: tuple[PublishedResult, ...] = (
    PublishedResult(
        key="aprelu_record1",
        description="APReLU ResNet record 1 on CIFAR-10, test accuracy",
        metric="val_accuracy",
        value=0.8898,
        epochs=1000,
        match=_frozen({"family": "aprelu_cifar", "dataset": "cifar10", "activation": "aprelu", "record": 1}),
        source="EXPERIMENTS.md section 1",
    ),
    PublishedResult(
        key="aprelu_record16",
        description="APReLU ResNet record 16 on CIFAR-10, validation accuracy (about)",
        metric="val_accuracy",
        value=0.889,
        epochs=3345,
        match=_frozen({"family": "aprelu_cifar", "dataset": "cifar10", "activation": "aprelu", "record": 16}),
        source="EXPERIMENTS.md section 2",
    ),
    PublishedResult(
        key="deep_mlp_selu_bn_lecun_uniform",
        description="50-layer MLP on MNIST, selu + BN + lecun_uniform, train accuracy (about)",
        metric="accuracy",
        value=0.47,
        epochs=3,
        match=_frozen(
            {"family": "selu_mnist", "dataset": "mnist", "activation": "selu", "batch_norm": True,
             "kernel_initializer": "lecun_uniform"}
        ),
        source="EXPERIMENTS.md section 3",
    ),
    *(
        PublishedResult(
            key=f"mobilenet_v2_{activation}",
            description=f"MobileNetV2 on beans, {activation}, validation accuracy",
            metric="val_accuracy",
            value=value,
            epochs=100,
            match=_frozen({"family": "relu_family_beans", "dataset": "beans", "activation": activation}),
            source="EXPERIMENTS.md section 4",
        )
        for activation, value in (("relu6", 0.8516), ("leaky_relu", 0.7969), ("prelu", 0.8125), ("selu", 0.8672))
    ),
    PublishedResult(
        key="antirectifier_mlp",
        description="Antirectifier MLP on MNIST, test accuracy",
        metric="val_accuracy",
        value=0.978,
        epochs=4,
        match=_frozen({"family": "antirectifier_mnist", "dataset": "mnist", "activation": "antirectifier",
                       "units": 256}),
        source="EXPERIMENTS.md section 5",
    ),
)

