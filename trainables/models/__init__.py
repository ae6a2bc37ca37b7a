"""Model builders by name; importing this package registers every builder.

Every module of this package is imported here, so a new builder is one new file whose
function carries `@register_model(...)`: nothing else lists it.
"""

import importlib as _importlib
import pkgutil as _pkgutil

from trainables.models.presets import PRESETS, available_presets, build_preset
from trainables.models.registry import (
    available_models,
    builder,
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
    "builder",
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

for _module in _pkgutil.iter_modules(__path__):  # each builder module registers itself
    _importlib.import_module(f"{__name__}.{_module.name}")
