"""mnistlab: design, train under a budget, inspect and use tiny CNNs for MNIST-like digits."""

from .config import TrainConfig, load_config
from .models import count_params, create_model, list_models
from .rundir import load_model

__version__ = "0.1.0"
__all__ = ["TrainConfig", "count_params", "create_model", "list_models", "load_config", "load_model"]
