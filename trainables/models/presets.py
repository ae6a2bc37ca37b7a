"""Named configurations that reproduce the seeds; each must build a model with the seed's parameter count.

PRESETS maps name -> (builder name, settings). Settings are flat, as in a trial config:
builder arguments and activation settings (APReLU's `reduction`) side by side. build_preset
copies them, so overrides never leak into the table.
"""

from __future__ import annotations

import keras

from trainables.activations import resolve_activation
from trainables.models.registry import default_activation, get_model, split_settings

PRESETS: dict[str, tuple[str, dict]] = {
    # 77,328 parameters
    "aprelu_record1": (
        "aprelu_resnet",
        dict(stem_channels=8, stages="3x8,1x16/2,2x16,1x32/2,2x32", reduction=4, bn_momentum=0.99, gamma_l2=0.0),
    ),
    # 93,791 parameters
    "aprelu_record16": (
        "aprelu_resnet",
        dict(stem_channels=16, stages="1x32,1x32/2,1x64/2", reduction=16, bn_momentum=0.9, gamma_l2=1e-4),
    ),
    # 3,812,874 parameters
    "deep_mlp_bn": ("deep_mlp", dict(depth=50, width=256, first_width=512, batch_norm=True)),
    # 3,759,626 parameters
    "deep_mlp": ("deep_mlp", dict(depth=50, width=256, first_width=512, batch_norm=False)),
    # 2,261,827 parameters
    "mobilenet_v2_relu6": ("mobilenet_v2", dict(activation="relu6")),
    # 8,367,619 parameters (Keras' PReLU: one slope per element)
    "mobilenet_v2_prelu": ("mobilenet_v2", dict(activation="prelu")),
    # 337,418 parameters
    "antirectifier_mlp": ("antirectifier_mlp", dict(activation="antirectifier", units=256, depth=2)),
    # 669,706 parameters: the seed's ReLU baseline with Dense layers twice as wide
    "relu_mlp_wide": ("antirectifier_mlp", dict(activation="relu", units=512, depth=2)),
}


def available_presets() -> tuple[str, ...]:
    return tuple(sorted(PRESETS))


def build_preset(name: str, **overrides) -> keras.Model:
    """Build preset `name`, with builder kwargs replaced by `overrides` (validated by the builder registry)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; available: {', '.join(available_presets())}")
    builder_name, kwargs = PRESETS[name]
    settings = {**kwargs, **overrides}
    activation = settings.pop("activation", default_activation(builder_name))
    builder_arguments, activation_arguments, unknown = split_settings(builder_name, activation, settings)
    if unknown:
        raise ValueError(f"preset {name!r}: unknown setting(s) {unknown}")
    return get_model(
        builder_name, activation=resolve_activation(activation, **activation_arguments), **builder_arguments
    )

