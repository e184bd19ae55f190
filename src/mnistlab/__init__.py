"""mnistlab: design, train under a budget, inspect and use tiny CNNs for MNIST-like digits.

The notebook API (api.py): fit, Run, summary, check, load_data; load_model reads any run folder back.
"""

from .api import Run, check, fit, load_data, summary
from .models import count_params, create_model, list_models
from .training.config import TrainConfig, load_config
from .training.rundir import load_model

__version__ = "0.1.0"
__all__ = [
    "Run",
    "TrainConfig",
    "check",
    "count_params",
    "create_model",
    "fit",
    "list_models",
    "load_config",
    "load_data",
    "load_model",
    "summary",
]
