"""Model builders by name; importing this package registers every builder."""

from trainables.models import mlp, mobilenet, resnet  # noqa: F401  (register builders)
from trainables.models.presets import PRESETS, available_presets, build_preset
from trainables.models.registry import (
    available_models,
    builder_settings,
    check_arguments,
    default_activation,
    get_model,
    register_model,
    setting_types,
    split_settings,
    tiny_arguments,
)

__all__ = [
    "PRESETS",
    "available_models",
    "available_presets",
    "build_preset",
    "builder_settings",
    "check_arguments",
    "default_activation",
    "get_model",
    "register_model",
    "setting_types",
    "split_settings",
    "tiny_arguments",
]
