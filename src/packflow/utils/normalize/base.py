"""``TypeConversionHandler``: converts values of one optional library to JSON-native values."""

from __future__ import annotations

import importlib.util
import logging
import sys
from abc import ABC, abstractmethod
from types import ModuleType
from typing import Any

__all__ = ["TypeConversionHandler"]

logger = logging.getLogger("packflow")


class TypeConversionHandler(ABC):
    """Recognises and converts values of the library named by ``package_name``.

    The library is never imported by packflow: a value can only be, say, a torch tensor if torch
    was already imported, so ``module`` looks it up in ``sys.modules`` and a handler whose library
    is not loaded recognises nothing.
    """

    def __repr__(self) -> str:
        return type(self).__name__

    @property
    def module(self) -> ModuleType | None:
        """The library's module if it is imported, else None."""
        return sys.modules.get(self.package_name)

    def _import_module(self) -> ModuleType | None:
        """packflow 0.4.1 name of :attr:`module` (the library is looked up, never imported)."""
        return self.module

    def available(self) -> bool:
        """Whether the library is installed (checked without importing it)."""
        if self.package_name in sys.modules:
            return True
        try:
            return importlib.util.find_spec(self.package_name) is not None
        except (ImportError, ValueError):
            return False

    def handles(self, obj: Any) -> bool:
        """``is_type(obj)``, or False when the library is not loaded."""
        return self.module is not None and self.is_type(obj)

    @property
    @abstractmethod
    def package_name(self) -> str:
        """The importable name of the library, e.g. ``numpy`` or ``PIL.Image``."""

    @abstractmethod
    def is_type(self, obj: Any) -> bool:
        """Whether ``obj`` is a value this handler converts (the library is loaded)."""

    @abstractmethod
    def convert(self, obj: Any) -> Any:
        """``obj`` as JSON-native Python values."""
