"""The model zoo. Importing this package registers every model."""

from . import family, frontier, refs  # noqa: F401  (register the models)
from .registry import (
    check_name,
    count_params,
    create_model,
    list_models,
    model_entry,
    names_a_model,
    register,
    resolved_kwargs,
)

__all__ = [
    "check_name",
    "count_params",
    "create_model",
    "list_models",
    "model_entry",
    "names_a_model",
    "register",
    "resolved_kwargs",
]
