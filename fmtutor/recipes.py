"""The course's default recipe for 2-D targets: an MLP and training settings measured in bench/."""

from __future__ import annotations

__all__ = ["DEFAULT_2D", "train_2d"]

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ._validate import check_callable, check_points
from .models import MLP
from .training import TrainResult, train_cfm

#: The course's default recipe for 2-D targets (model and training settings), tuned in bench/.
#: Chosen by measurement on two moons (bench/RESULTS.md): 64-wide SiLU layers beat ELU and
#: 128-wide layers per CPU second, a batch of 512 beats 256 at the same steps, the cosine decay
#: from 1e-2 removes the scatter a constant rate leaves, and stratified times lowered W2 on each
#: of 3 seeds.
DEFAULT_2D: dict[str, dict[str, Any]] = {
    "model": {"hidden": 64, "depth": 3, "activation": "silu"},
    "train": {
        "steps": 3000,
        "batch_size": 512,
        "lr": 1e-2,
        "lr_schedule": "cosine",
        "time_sampling": "stratified",
    },
    "pool_size": 20000,
}


def train_2d(
    sampler: Callable[..., Tensor], seed: int = 0, progress: bool = True, **overrides: Any
) -> tuple[nn.Module, TrainResult]:
    """Train an MLP on a 2-D target with the course's default recipe (DEFAULT_2D).

    A pool of DEFAULT_2D['pool_size'] points is drawn once from ``sampler(n, seed=...)`` (a tensor
    or NumPy array, float64 or float32, converted to the model's float32) and minibatches are drawn
    from it (regenerating data every step costs time and gains nothing).

    Args:
        sampler: e.g. fmtutor.data.two_moons.
        seed: seeds the pool, the weights and the training draws.
        progress: show the progress bar.
        **overrides: keys of DEFAULT_2D['train'] (steps, batch_size, lr, ...) or of
            DEFAULT_2D['model'].

    Returns:
        (model, TrainResult); the model is in eval mode.
    """
    check_callable(
        sampler, "sampler", "a data sampler sampler(n, seed=...), e.g. fmtutor.data.two_moons"
    )
    model_keys = set(DEFAULT_2D["model"]) | {"hidden", "depth", "activation", "n_frequencies"}
    known = model_keys | (
        set(inspect.signature(train_cfm).parameters) - {"model", "data", "seed", "progress"}
    )
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TypeError(
            f"overrides: expected settings among {sorted(known)}, got unknown {unknown}"
        )
    mcfg = {**DEFAULT_2D["model"], **{k: v for k, v in overrides.items() if k in model_keys}}
    tcfg = {**DEFAULT_2D["train"], **{k: v for k, v in overrides.items() if k not in model_keys}}
    pool = check_points(sampler(DEFAULT_2D["pool_size"], seed=seed + 12345), "sampler(n)")
    torch.manual_seed(seed)
    model = MLP(dim=pool.shape[1], **mcfg)
    pool = pool.to(next(model.parameters()).dtype)  # e.g. scikit-learn's float64 points
    result = train_cfm(model, pool, seed=seed, progress=progress, **tcfg)
    result.pool = pool  # the training set (e.g. the target of exact.cfm_loss_floor)
    return model, result
