"""Conditional flow matching: the CFM loss and a seeded training loop with a progress bar.

    L_CFM(theta) = E_{t, X_0, X_1} || u_theta(X_t, t) - dX_t ||^2,
    t ~ U[0, 1],  X_0 ~ N(0, I),  X_1 ~ q,

with X_t = sigma_t X_0 + alpha_t X_1 and dX_t = d_sigma_t X_0 + d_alpha_t X_1 (CondOT: X_1 - X_0).
The squared norm is summed over coordinates and averaged over the batch.
"""

__all__ = ["cfm_loss", "TrainResult", "train_cfm", "sample_model"]

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import trange

from ._validate import (
    as_tensor,
    check_callable,
    check_labels,
    check_noise_pool,
    check_number,
    check_pool,
    check_positive_int,
)
from .couplings import independent_coupling
from .data import make_generator
from .device import check_device_dtype, default_device
from .paths import AffinePath
from .solvers import solve

Coupling = Callable[[Tensor, Tensor], "tuple[Tensor, Tensor]"]


def cfm_loss(
    model: Callable[..., Tensor],
    x_0: Tensor,
    x_1: Tensor,
    t: Tensor,
    path: "AffinePath | None" = None,
    y: "Tensor | None" = None,
) -> Tensor:
    """The CFM loss on one batch: mean_i || model(x_t_i, t_i) - dx_t_i ||^2.

    Args:
        model: velocity network ``model(x, t)`` (or ``model(x, t, y)`` when y is given).
        x_0: source samples, shape (B, d).
        x_1: data samples, shape (B, d).
        t: times, shape (B,).
        path: the probability path (default: CondOT, so dx_t = x_1 - x_0).
        y: optional labels (B,) for a conditional model.

    Returns:
        A 0-d tensor.
    """
    ps = (path or AffinePath()).sample(x_0, x_1, t)
    if ps.x_t.shape[0] == 0:
        raise ValueError(
            f"x_0: expected a non-empty batch (the loss is a mean over it), got shape "
            f"{tuple(ps.x_t.shape)}"
        )
    return _regression(model, ps.x_t, ps.t, ps.dx_t, y)


def _squared_error(pred: Tensor, target: Tensor) -> Tensor:
    """mean_i || pred_i - target_i ||^2, summed over coordinates and averaged over the batch.

    Args:
        pred, target: tensors of the same shape (B, ...).

    Returns:
        A 0-d tensor.
    """
    return ((pred - target) ** 2).flatten(1).sum(1).mean()


def _regression(
    model: Callable[..., Tensor], x_t: Tensor, t: Tensor, dx_t: Tensor, y: "Tensor | None"
) -> Tensor:
    """mean_i || model(x_t_i, t_i) - dx_t_i ||^2: the CFM loss once x_t and dx_t are drawn."""
    pred = model(x_t, t) if y is None else model(x_t, t, y)
    if not isinstance(pred, Tensor):
        raise TypeError(
            f"model: expected model(x, t) to return a tensor of shape "
            f"{tuple(dx_t.shape)}, got {type(pred).__name__}"
        )
    if pred.shape != dx_t.shape:
        raise ValueError(
            f"model: expected an output of shape {tuple(dx_t.shape)}, got {tuple(pred.shape)}"
        )
    return _squared_error(pred, dx_t)


@dataclass
class TrainResult:
    """Loss history (one value per step), wall time in seconds, steps run (and train_2d's pool)."""

    losses: np.ndarray
    seconds: float
    steps: int
    lrs: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pool: "Tensor | None" = None


def _model_dtype(model: nn.Module) -> torch.dtype:
    """The dtype of the model's first floating parameter or buffer (torch's default if none)."""
    floating = [p.dtype for p in (*model.parameters(), *model.buffers()) if p.is_floating_point()]
    return floating[0] if floating else torch.get_default_dtype()


def _draw(
    data: Any, n: int, g: torch.Generator, dtype: torch.dtype, classes: Any, labelled: bool
) -> tuple[Tensor, "Tensor | None", "Tensor | None"]:
    """A batch of x_1, its labels and its pool rows from a checked (pool, labels) pair or a sampler.

    A sampler's points are converted to ``dtype`` and checked (n of them, finite; labels as
    check_labels says, required when ``labelled``); ``classes`` is the model's num_classes. A
    sampler's rows are None.
    """
    if not callable(data):
        pool, labels = data
        idx = torch.randint(0, pool.shape[0], (n,), generator=g, device=g.device)
        return pool[idx], (labels[idx] if labels is not None else None), idx
    out = data(n, seed=g)
    x1, y = out if isinstance(out, tuple) else (out, None)
    x1 = as_tensor(x1, "data(n)", dtype=dtype, finite=True)
    if x1.ndim < 2 or x1.shape[0] != n:
        raise ValueError(f"data(n): expected {n} points, shape ({n}, d), got {tuple(x1.shape)}")
    if y is None and labelled:
        raise ValueError("data(n): expected (points, labels) to drop labels (label_dropout > 0)")
    return x1, None if y is None else check_labels(y, n, classes, "data(n) labels", False), None


def train_cfm(
    model: nn.Module,
    data: Any,
    steps: int = 3000,
    batch_size: int = 256,
    lr: float = 3e-3,
    lr_schedule: str = "cosine",
    optimizer: "torch.optim.Optimizer | None" = None,
    path: "AffinePath | None" = None,
    coupling: Coupling = independent_coupling,
    label_dropout: float = 0.0,
    seed: int = 0,
    device: "torch.device | str | None" = None,
    progress: bool = True,
    callback: "Callable[[int, float], None] | None" = None,
    num_threads: "int | None" = 1,
    time_sampling: str = "uniform",
    noise: Any = None,
) -> TrainResult:
    """Train a velocity network with the CFM loss.

    Args:
        model: network ``model(x, t)`` (with ``num_classes`` when data carries labels).
        data: the x_1 source: a pool tensor (N, d) sampled with replacement, a pair (pool, labels),
            or a callable ``data(n, seed=generator)`` returning (n, d) (or (x, labels)). NumPy,
            float64 or integer points are converted to the model's dtype (a pool once, a
            sampler's batch at each step); NaN or inf points are refused. Labels must be
            integers, one per point, and need a model with num_classes.
        steps: optimisation steps.
        batch_size: samples per step.
        lr: peak learning rate of Adam.
        lr_schedule: 'cosine' (decay to 1% of lr), 'linear' or 'constant'.
        optimizer: your own optimiser (then lr and lr_schedule only set the schedule's base).
        path: the probability path (default CondOT).
        coupling: ``coupling(x_0, x_1) -> (x_0, x_1)``; pair noise and data (e.g. minibatch OT).
        label_dropout: probability of replacing a label by "no label" (classifier-free guidance).
        seed: seeds the model's initial weights and every random draw.
        device: where to train (default: fmtutor.device.default_device()); a float64 model is
            refused on 'mps' (Apple GPUs have no float64).
        progress: show tqdm's (notebook-aware) progress bar.
        callback: called as ``callback(step, loss)`` after every step (e.g. a live loss plot).
        num_threads: torch threads while training on the CPU (restored afterwards); None keeps
            torch's setting. One thread is fastest for the course's small networks: every operation
            is tiny, so more threads only add synchronisation (see bench/RESULTS.md).
        time_sampling: 'uniform' (t ~ U[0, 1] for every sample) or 'stratified' (sample i of the
            batch draws t uniformly in [i / B, (i + 1) / B]: still uniform for each sample, but the
            batch covers [0, 1] evenly, a lower-variance estimate of the loss's average over t).
        noise: fixed noise for a pool, shape (N, d) like the pool: the pairs (noise[i], pool[i])
            are drawn instead of fresh noise (the fresh draw still happens, so the other draws
            match a run without it), e.g. a pool paired once by ``recipes.pool_ot_pairing``.

    Returns:
        TrainResult with the per-step losses, learning rates and wall time.
    """
    steps = check_positive_int(steps, "steps")
    batch_size = check_positive_int(batch_size, "batch_size")
    if lr_schedule not in ("cosine", "linear", "constant"):
        raise ValueError(
            f"lr_schedule: expected 'cosine', 'linear' or 'constant', got {lr_schedule!r}"
        )
    if not 0.0 <= label_dropout < 1.0:
        raise ValueError(f"label_dropout: expected a probability in [0, 1), got {label_dropout}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    if optimizer is None:
        check_number(lr, "lr", minimum=0.0, strict=True)
    classes, dtype = getattr(model, "num_classes", "unknown"), _model_dtype(model)
    if label_dropout > 0 and not isinstance(classes, int):
        raise ValueError(
            f"label_dropout: expected 0 for a model without num_classes (it has no 'no label' "
            f"class to drop labels to), got {label_dropout}"
        )
    if not callable(data):  # a pool: checked and converted once
        data = check_pool(data, dtype, getattr(model, "dim", None), classes, label_dropout > 0)
    noise = None if noise is None else check_noise_pool(noise, data, dtype)
    if num_threads is not None:
        num_threads = check_positive_int(num_threads, "num_threads")
    if time_sampling not in ("uniform", "stratified"):
        raise ValueError(
            f"time_sampling: expected 'uniform' or 'stratified', got {time_sampling!r}"
        )
    device = torch.device(device) if device is not None else default_device()
    check_device_dtype(device, dtype)
    path = path or AffinePath()
    g = make_generator(seed)
    torch.manual_seed(seed)
    model.to(device).train()
    if not callable(data):  # move the pool once, not one batch per step
        data = tuple(d.to(device) if d is not None else None for d in data)
        noise = None if noise is None else noise.to(device)
    opt = optimizer or _adam(model, lr)
    base_lrs = [group["lr"] for group in opt.param_groups]
    factors = _lr_factors(lr_schedule, steps)
    losses_t = torch.empty(steps, device=device)
    lrs = np.empty(steps)
    threads = torch.get_num_threads()
    if num_threads is not None and device.type == "cpu":
        torch.set_num_threads(num_threads)
    # draws are made on the generator's device (the CPU); with a pool already there, nothing moves
    moves = callable(data) or device != g.device
    offsets = torch.arange(batch_size, dtype=dtype, device=g.device)  # stratified t: (i + u_i) / B
    start = time.perf_counter()
    try:
        for step in trange(steps, disable=not progress, desc="training", leave=False):
            x1, y, rows = _draw(data, batch_size, g, dtype, classes, label_dropout > 0)
            x0 = torch.randn(x1.shape, generator=g, dtype=x1.dtype, device=g.device)
            if noise is not None:
                x0 = noise[rows]
            elif moves:
                x0 = x0.to(x1.device)
            x0, x1 = coupling(x0, x1)
            t = torch.rand(batch_size, generator=g, dtype=x1.dtype, device=g.device)
            if time_sampling == "stratified":
                t = (offsets + t) / batch_size
            if y is not None and label_dropout > 0:
                drop = (torch.rand(batch_size, generator=g, device=g.device) < label_dropout).to(
                    y.device
                )
                y = torch.where(drop, torch.full_like(y, model.num_classes), y)
            if moves:
                x0, x1, t = x0.to(device), x1.to(device), t.to(device)
                y = None if y is None else y.to(device)
            # the inputs were checked once, above: draw x_t without cfm_loss's checks,
            # then call the model as usual
            x_t, dx_t = path._sample(x0, x1, t.reshape(-1, *([1] * (x1.ndim - 1))))
            loss = _regression(model, x_t, t, dx_t, y)
            for group, base in zip(opt.param_groups, base_lrs):
                group["lr"] = base * factors[step]
            lrs[step] = opt.param_groups[0]["lr"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses_t[step] = loss.detach()
            if callback is not None:
                callback(step, loss.item())
    finally:
        torch.set_num_threads(threads)
    losses = losses_t.cpu().double().numpy()
    model.eval()
    return TrainResult(losses, time.perf_counter() - start, steps, lrs)


def _lr_factors(schedule: str, steps: int, floor: float = 0.01) -> np.ndarray:
    """The learning-rate factor of every step: cosine or linear decay to ``floor``, or constant."""
    s = np.arange(steps) / steps
    if schedule == "cosine":
        return floor + (1 - floor) * 0.5 * (1 + np.cos(np.pi * s))
    if schedule == "linear":
        return 1 - (1 - floor) * s
    return np.ones(steps)


def _adam(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    """Adam, fused into one kernel where torch can (CPU since torch 2.4, CUDA): fewer small ops."""
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr)


def _source_noise(
    model: Any, n: int, dim: int, seed: Any, device: "torch.device | str | None" = None
) -> Tensor:
    """x_0 ~ N(0, I) of shape (n, dim), drawn on the CPU from ``seed``, moved to where the model is.

    The result takes ``device`` (default: the device of the model's first floating parameter, the
    CPU for a plain function) and that parameter's dtype, so the same seed gives the same x_0 on
    every device.
    """
    params = (
        [p for p in model.parameters() if p.is_floating_point()]
        if isinstance(model, nn.Module)
        else []
    )
    if device is None:
        device = params[0].device if params else torch.device("cpu")
    dtype = params[0].dtype if params else torch.get_default_dtype()
    check_device_dtype(torch.device(device), dtype)
    g = make_generator(seed)
    return torch.randn(n, dim, generator=g, device=g.device).to(device=device, dtype=dtype)


def sample_model(
    model: Callable[..., Tensor],
    n: int,
    dim: "int | None" = None,
    method: str = "midpoint",
    n_steps: int = 20,
    seed: int = 0,
    return_trajectory: bool = False,
    device: "torch.device | str | None" = None,
) -> Any:
    """Draw n samples by integrating model from x_0 ~ N(0, I) at t = 0 to t = 1.

    ``dim`` defaults to ``model.dim`` (2 for a plain function). The noise is drawn on the CPU from
    ``seed`` and moved to the model's device and dtype, so the same seed gives the same x_0
    everywhere.

    Returns:
        The (n, dim) samples on the CPU, or the whole Solution when return_trajectory is True.
    """
    n = check_positive_int(n, "n")
    if dim is None:
        dim = model.dim if isinstance(getattr(model, "dim", None), int) else 2
    dim = check_positive_int(dim, "dim")
    check_callable(model, "model", "a velocity model(x, t)")
    if isinstance(getattr(model, "dim", None), int) and model.dim != dim:
        raise ValueError(f"dim: expected the model's dimension {model.dim}, got {dim}")
    x0 = _source_noise(model, n, dim, seed, device)
    sol = solve(model, x0, method=method, n_steps=n_steps, return_trajectory=return_trajectory)
    return sol if return_trajectory else sol.x.cpu()
