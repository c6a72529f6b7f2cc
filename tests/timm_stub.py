"""Import timm without torchvision, which has no CPU build matching our torch here.

timm imports torchvision at import time (data transforms and datasets, FrozenBatchNorm2d, feature
extraction helpers), but its EfficientNet uses none of it. While timm loads, every ``torchvision.*``
import is answered by an empty module whose names are inert placeholder classes; afterwards the stubs
are removed again, so nothing else in the test session sees a fake torchvision. A real torchvision,
where one is installed, is used as is.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from typing import Any

PINNED = "timm==1.0.31 safetensors==0.8.0 huggingface_hub==0.36.2"  # as the Makefile installs them


class _Placeholder(type):
    """A class whose every attribute is another placeholder class (e.g. ``InterpolationMode.BILINEAR``)."""

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _placeholder(f"{cls.__name__}.{name}")


def _placeholder(name: str) -> type:
    return _Placeholder(name, (), {"__init__": lambda self, *args, **kwargs: None})


class _StubModule(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        value = _placeholder(f"{self.__name__}.{name}")
        setattr(self, name, value)
        return value


class _TorchvisionStub(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname == "torchvision" or fullname.startswith("torchvision."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec: Any) -> types.ModuleType:
        module = _StubModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        pass


def import_timm() -> types.ModuleType | None:
    """timm with its EfficientNet builder loaded, or ``None`` where timm is not installed."""
    if "timm" in sys.modules:
        return sys.modules["timm"]
    if importlib.util.find_spec("timm") is None:
        return None
    if importlib.util.find_spec("torchvision") is not None:
        return _load()
    finder = _TorchvisionStub()
    sys.meta_path.insert(0, finder)
    try:
        return _load()
    finally:
        sys.meta_path.remove(finder)
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]


def _load() -> types.ModuleType:
    import timm
    import timm.models._efficientnet_builder
    import timm.models.efficientnet  # loaded now, while the stub answers

    return timm
