"""The inference contract: ``InferenceBackend`` and ``BackendConfig``."""

from packflow.backend.base import InferenceBackend
from packflow.backend.configuration import BackendConfig

__all__ = ["BackendConfig", "InferenceBackend"]
