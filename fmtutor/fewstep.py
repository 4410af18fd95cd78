"""Few-step generation: rectified flow's reflow on a model's own couplings, k-step distillation.

Reflow (Liu et al. 2023): a trained flow's ODE pairs each noise point x_0 with its end point
z_1 = psi_1(x_0). Training CFM again on these fixed pairs (a deterministic coupling) gives a field
with the same marginals whose paths are straighter, so few Euler steps go further. Distillation
then trains a network so that k Euler steps from x_0 land on the pair's z_1:

    L_k(theta) = E || Euler_k(u_theta, x_0) - z_1 ||^2,   Euler_1: x_0 + u_theta(x_0, 0).

>>> import torch
>>> x0 = torch.zeros(3, 2)
>>> _, x1 = reflow_pairs(lambda x, t: torch.ones_like(x), x0, n_steps=4, method="euler")
>>> x1[0].tolist()
[1.0, 1.0]
"""

from __future__ import annotations

__all__ = ["reflow_pairs", "train_on_pairs", "euler_map", "distill_loss", "distill", "nfe_w2"]

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ._validate import check_callable, check_number, check_points, check_positive_int
from .metrics import wasserstein2
from .solvers import solve
from .training import TrainResult, cfm_loss

Velocity = Callable[[Tensor, Any], Tensor]


def reflow_pairs(
    model: Velocity, x_0: Tensor, n_steps: int = 100, method: str = "midpoint"
) -> tuple[Tensor, Tensor]:
    """The coupling of a flow: each x_0 paired with the end z_1 of its ODE path from t = 0 to 1.

    Args:
        model: velocity ``model(x, t)``. x_0: noise points (B, d).
        n_steps, method: the solver (see fmtutor.solvers.solve).

    Returns:
        (x_0, z_1), each (B, d); z_1 carries no gradient.
    """
    check_callable(model, "model", "a velocity model(x, t)")
    x_0 = check_points(x_0, "x_0")
    with torch.no_grad():
        z_1 = solve(model, x_0, method=method, n_steps=check_positive_int(n_steps, "n_steps")).x
    return x_0, z_1.detach()


def _check_pairs(x_0: Any, x_1: Any) -> tuple[Tensor, Tensor]:
    x_0, x_1 = check_points(x_0, "x_0"), check_points(x_1, "x_1")
    if x_0.shape != x_1.shape:
        raise ValueError(
            f"x_0 and x_1: expected paired points of one shape, got {tuple(x_0.shape)} "
            f"and {tuple(x_1.shape)}"
        )
    return x_0, x_1


def _loop(
    model: nn.Module,
    loss_fn: Callable[[Tensor, Tensor, torch.Generator], Tensor],
    x_0: Tensor,
    x_1: Tensor,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
) -> TrainResult:
    """Adam with a cosine decay to 1% of lr over minibatches of the fixed pairs."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    steps, batch_size = (
        check_positive_int(steps, "steps"),
        check_positive_int(batch_size, "batch_size"),
    )
    lr = check_number(lr, "lr", minimum=0.0, strict=True)
    g = torch.Generator().manual_seed(int(seed))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses, lrs = np.empty(steps), np.empty(steps)
    model.train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: more threads only add synchronisation
    start = time.perf_counter()
    try:
        _steps(model, loss_fn, x_0, x_1, opt, g, lr, batch_size, losses, lrs)
    finally:
        torch.set_num_threads(threads)
    model.eval()
    return TrainResult(losses, time.perf_counter() - start, steps, lrs)


def _steps(
    model: nn.Module,
    loss_fn: Callable[[Tensor, Tensor, torch.Generator], Tensor],
    x_0: Tensor,
    x_1: Tensor,
    opt: torch.optim.Optimizer,
    g: torch.Generator,
    lr: float,
    batch_size: int,
    losses: np.ndarray,
    lrs: np.ndarray,
) -> None:
    """The optimisation steps of _loop, writing each step's loss and learning rate."""
    steps = len(losses)
    for k in range(steps):
        lrs[k] = opt.param_groups[0]["lr"] = lr * (
            0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * k / steps))
        )
        idx = torch.randint(0, x_0.shape[0], (batch_size,), generator=g)
        loss = loss_fn(x_0[idx], x_1[idx], g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses[k] = float(loss.detach())


def train_on_pairs(
    model: nn.Module,
    x_0: Tensor,
    x_1: Tensor,
    steps: int = 1000,
    batch_size: int = 256,
    lr: float = 3e-3,
    seed: int = 0,
) -> TrainResult:
    """Reflow: CFM on fixed pairs, E_t,i || u(x_t^i, t) - (x_1^i - x_0^i) ||^2, x_t on the line.

    Args:
        model: the network to train in place (start it from the first flow's weights to save
            steps, or from scratch).
        x_0, x_1: the pairs (B, d), e.g. from reflow_pairs.
        steps, batch_size, lr, seed: Adam's loop (cosine decay), minibatches drawn with
            replacement from the pairs, t ~ U[0, 1].

    Returns:
        fmtutor.training.TrainResult (losses, seconds, steps, lrs).
    """
    x_0, x_1 = _check_pairs(x_0, x_1)

    def loss(a: Tensor, b: Tensor, g: torch.Generator) -> Tensor:
        return cfm_loss(model, a, b, torch.rand(a.shape[0], generator=g, dtype=a.dtype))

    return _loop(model, loss, x_0, x_1, steps, batch_size, lr, seed)


def euler_map(model: Velocity, x_0: Tensor, n_steps: int) -> Tensor:
    """Euler_k: k = n_steps Euler steps of h = 1/k from t = 0 (differentiable), shape of x_0."""
    return solve(model, x_0, method="euler", n_steps=n_steps, enable_grad=True).x


def distill_loss(model: Velocity, x_0: Tensor, x_1: Tensor, n_steps: int = 1) -> Tensor:
    """L_k = mean_i || Euler_k(model, x_0^i) - x_1^i ||^2 (summed over coordinates), a scalar.

    For k = 1 this is mean || u(x_0, 0) - (x_1 - x_0) ||^2: the CFM loss at t = 0 only.
    """
    x_0, x_1 = _check_pairs(x_0, x_1)
    n_steps = check_positive_int(n_steps, "n_steps")
    return ((euler_map(model, x_0, n_steps) - x_1) ** 2).sum(1).mean()


def distill(
    model: nn.Module,
    x_0: Tensor,
    x_1: Tensor,
    n_steps: int = 1,
    steps: int = 500,
    batch_size: int = 256,
    lr: float = 1e-3,
    seed: int = 0,
) -> TrainResult:
    """Train ``model`` in place so that n_steps Euler steps carry each x_0 to its x_1 (L_k above).

    Args:
        model: the student (start it from the reflow model's weights).
        x_0, x_1: the teacher's pairs (B, d). n_steps: k, the student's number of Euler steps.
        steps, batch_size, lr, seed: as train_on_pairs.
    """
    x_0, x_1 = _check_pairs(x_0, x_1)
    n_steps = check_positive_int(n_steps, "n_steps")

    def loss(a: Tensor, b: Tensor, g: torch.Generator) -> Tensor:
        return ((euler_map(model, a, n_steps) - b) ** 2).sum(1).mean()

    return _loop(model, loss, x_0, x_1, steps, batch_size, lr, seed)


def nfe_w2(
    models: "dict[str, Velocity]", x_0: Tensor, data: Tensor, nfes: Sequence[int] = (1, 2, 4, 8)
) -> dict[str, list[float]]:
    """W2 between Euler samples (k steps = k network evaluations) and data, for each model and k.

    Args:
        models: name -> velocity model(x, t). x_0: the noise (B, d). data: reference points (B', d).
        nfes: the numbers of Euler steps.

    Returns:
        name -> [W2 at each k] (fmtutor.metrics.wasserstein2).
    """
    if not isinstance(models, dict) or not models:
        raise TypeError(f"models: expected a dict name -> model, got {type(models).__name__}")
    x_0, data = check_points(x_0, "x_0"), check_points(data, "data")
    nfes = [check_positive_int(k, "nfes") for k in nfes]
    out = {}
    with torch.no_grad():
        for name, m in models.items():
            check_callable(m, f"models[{name!r}]", "a velocity model(x, t)")
            out[name] = [
                wasserstein2(solve(m, x_0, method="euler", n_steps=k).x, data) for k in nfes
            ]
    return out
