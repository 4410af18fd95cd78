"""fmtutor: the math of flow matching (paths, exact fields, solvers, training) the course runs on.

The course around it (live figures, exercises, one module per chapter) is ``fmtutor.course``; it is
not imported here, so ``import fmtutor`` needs only torch, numpy and scipy.
"""

from . import (
    conventions,
    convergence,
    couplings,
    data,
    device,
    diagnostics,
    digits,
    discrete,
    discrete_training,
    exact,
    fewstep,
    fields,
    guidance,
    images,
    io,
    likelihood,
    manifold_data,
    manifolds,
    metrics,
    models,
    paths,
    recipes,
    schedules,
    sde,
    solvers,
    training,
    trajectories,
)
from ._version import __version__
from .device import default_device

__all__ = [
    "paths",
    "schedules",
    "sde",
    "exact",
    "fewstep",
    "fields",
    "trajectories",
    "solvers",
    "models",
    "training",
    "recipes",
    "convergence",
    "conventions",
    "digits",
    "couplings",
    "guidance",
    "discrete",
    "discrete_training",
    "likelihood",
    "metrics",
    "data",
    "images",
    "diagnostics",
    "manifolds",
    "manifold_data",
    "io",
    "device",
    "default_device",
    "__version__",
]
