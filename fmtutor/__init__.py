"""fmtutor: the small flow-matching library behind the course's chapters."""

__all__ = ["paths", "exact", "models", "solvers", "training", "data", "metrics", "plots", "figures", "widgets", "exercises",
           "couplings", "guidance", "schedules", "sde", "likelihood", "fields",
           "io",
           "diagnostics",
           "views",
           "images",
           "device", "default_device", "__version__"]

from . import couplings, data, device, exact, exercises, figures, guidance, metrics, models, paths, plots, solvers, training, widgets
from . import fields
from . import likelihood
from . import schedules, sde
from . import io
from . import diagnostics
from . import views
from . import images
from .device import default_device

__version__ = "0.1.0"
