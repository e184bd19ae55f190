"""The model zoo. Importing this package registers every model."""

from . import refs  # noqa: F401  (registers ref0-ref4)
from .registry import count_params, create_model, list_models, model_entry, register

__all__ = ["count_params", "create_model", "list_models", "model_entry", "register"]
