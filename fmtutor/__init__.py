"""fmtutor: the small flow-matching library behind the course's chapters."""

__all__ = ["paths", "exact", "models", "solvers", "training", "data", "metrics", "plots", "widgets", "exercises",
           "device", "default_device", "__version__"]

from . import data, device, exact, exercises, metrics, models, paths, plots, solvers, training, widgets
from .device import default_device

__version__ = "0.1.0"
