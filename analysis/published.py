"""The numbers the five seed experiments published, each with its public source.

Each entry says which trials reproduce it (config values that must match, the
published dataset among them: a digits stand-in is never set against MNIST's number) and which exported
metric the seed reported: `val_accuracy` where the seed validated on its test split (the report
compares it with this project's `test_accuracy`, the same split; analysis.reproduction), and
`accuracy` for a train accuracy.
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


_APRELU_PAPER = (
    "M. Zhao, S. Zhong, X. Fu, B. Tang, S. Dong, M. Pecht, Deep Residual Networks with Adaptively Parametric "
    "Rectifier Linear Units for Fault Diagnosis, IEEE Trans. Industrial Electronics (2020), "
    "doi:10.1109/TIE.2020.2972458"
)
SOURCES = {
    "aprelu_record1": _APRELU_PAPER + "; tuning record 1, the author's post \"一种Dynamic ReLU:自适应参数化ReLU激活函数"
                      "(调参记录1)\" (2020), https://segmentfault.com/a/1190000022724192",
    "aprelu_record16": _APRELU_PAPER + "; tuning record 16, the author's post \"Adaptively Parametric ReLU: Dynamic "
                       "ReLU activation function proposed by Harbin Institute of Technology (reference record 16)\" "
                       "(May 25, 2020)",
    "selu_mnist": "the blog post \"ReLu&SeLu&其他\" (程序博客网): 50-layer MLPs on MNIST after 3 epochs; SELU: "
                  "G. Klambauer et al., Self-Normalizing Neural Networks, NeurIPS 2017, arXiv:1706.02515",
    "beans": "a blog post comparing the ReLU family in a hand-written MobileNetV2 on TensorFlow Datasets' beans "
             "(single runs, 100 epochs); MobileNetV2: M. Sandler et al., CVPR 2018, arXiv:1801.04381",
    "antirectifier": "the Keras example antirectifier.py (F. Chollet; Keras 2: "
                     "https://github.com/keras-team/keras/blob/master/examples/antirectifier.py, now "
                     "https://keras.io/examples/keras_recipes/antirectifier/), 4 epochs as run in the post "
                     "\"MINST手写数字识别(三)—— 使用antirectifier替换ReLU激活函数\"",
}

PUBLISHED: tuple[PublishedResult, ...] = (
    PublishedResult(
        key="aprelu_record1",
        description="APReLU ResNet record 1 on CIFAR-10, test accuracy",
        metric="val_accuracy",
        value=0.8898,
        epochs=1000,
        match=_frozen({"family": "aprelu_cifar", "dataset": "cifar10", "activation": "aprelu", "record": 1}),
        source=SOURCES["aprelu_record1"],
    ),
    PublishedResult(
        key="aprelu_record16",
        description="APReLU ResNet record 16 on CIFAR-10, validation accuracy (about)",
        metric="val_accuracy",
        value=0.889,
        epochs=3345,
        match=_frozen({"family": "aprelu_cifar", "dataset": "cifar10", "activation": "aprelu", "record": 16}),
        source=SOURCES["aprelu_record16"],
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
        source=SOURCES["selu_mnist"],
    ),
    *(
        PublishedResult(
            key=f"mobilenet_v2_{activation}",
            description=f"MobileNetV2 on beans, {activation}, validation accuracy",
            metric="val_accuracy",
            value=value,
            epochs=100,
            match=_frozen({"family": "relu_family_beans", "dataset": "beans", "activation": activation}),
            source=SOURCES["beans"],
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
        source=SOURCES["antirectifier"],
    ),
)

