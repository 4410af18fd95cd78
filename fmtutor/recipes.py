"""The course's default recipe for 2-D targets: an MLP and training settings measured in bench/."""

from __future__ import annotations

__all__ = ["DEFAULT_2D", "OT_CHUNK", "pool_ot_pairing", "train_2d"]

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ._validate import check_callable, check_points, check_positive_int
from .couplings import ot_assignment
from .data import make_generator
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

#: coupling="ot" pairs the pool in consecutive chunks of this many points, each by an exact
#: assignment, whose cost grows like B^3 (measured on one thread of a loaded 2-core machine, the
#: 20,000-point pool: 0.28 s in chunks of 128, 0.57 s in 256, 1.6 s in 512, 4.8 s in 1,024; one
#: exact assignment on the whole pool would need a 3.2 GB cost matrix and minutes).
OT_CHUNK = 128


def pool_ot_pairing(x_0: Any, x_1: Any, chunk: int = OT_CHUNK) -> Tensor:
    """Pair two equal-size pools once: an exact OT assignment inside each consecutive chunk.

    For rows [c, c + chunk) the permutation s minimises sum_i ||x_0[i] - x_1[s(i)]||^2 over that
    chunk (fmtutor.couplings.ot_assignment); with chunk >= N it is the exact OT pairing of the
    pools. The pools are i.i.d. draws, so consecutive chunks are random subsets of each.

    Args:
        x_0: noise, shape (N, d). x_1: data, shape (N, d).
        chunk: points per exact assignment.

    Returns:
        s, shape (N,) int64, a permutation of 0..N-1: (x_0[i], x_1[s[i]]) are the pairs.
    """
    x_0, x_1 = check_points(x_0, "x_0"), check_points(x_1, "x_1")
    if x_0.shape != x_1.shape:
        raise ValueError(
            f"x_1: expected the shape of x_0 {tuple(x_0.shape)}, got {tuple(x_1.shape)}"
        )
    chunk = check_positive_int(chunk, "chunk")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small blocks: 0.17 s on one thread, 3.5 s on two (2 loaded cores)
    try:
        return torch.cat(
            [
                c + ot_assignment(x_0[c : c + chunk], x_1[c : c + chunk]).cpu()
                for c in range(0, x_0.shape[0], chunk)
            ]
        )
    finally:
        torch.set_num_threads(threads)


def train_2d(
    sampler: Callable[..., Tensor],
    seed: int = 0,
    progress: bool = True,
    coupling: "str | Callable[..., Any]" = "independent",
    **overrides: Any,
) -> tuple[nn.Module, TrainResult]:
    """Train an MLP on a 2-D target with the course's default recipe (DEFAULT_2D).

    A pool of DEFAULT_2D['pool_size'] points is drawn once from ``sampler(n, seed=...)`` (a tensor
    or NumPy array, float64 or float32, converted to the model's float32) and minibatches are drawn
    from it (regenerating data every step costs time and gains nothing).

    coupling='ot' also draws a noise pool of the same size once and pairs the two by
    ``pool_ot_pairing`` (exact assignments in chunks of OT_CHUNK = 128 points, about 0.3 s for the
    pool); training then draws fixed (noise, data) pairs instead of fresh noise (train_cfm's
    ``noise``), with the same random draws per step as the default.

    Args:
        sampler: e.g. fmtutor.data.two_moons.
        seed: seeds the pool, the weights and the training draws.
        progress: show the progress bar.
        coupling: 'independent' (default: fresh noise, as drawn), 'ot' (pairs fixed once by
            optimal transport on the pool, see above) or a per-batch coupling(x_0, x_1) for
            train_cfm (e.g. fmtutor.couplings.minibatch_ot_coupling).
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
        set(inspect.signature(train_cfm).parameters)
        - {"model", "data", "seed", "progress", "noise"}
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
    if coupling == "ot":
        noise = torch.randn(pool.shape, generator=make_generator(seed + 54321), dtype=pool.dtype)
        paired = pool[pool_ot_pairing(noise, pool)]
        result = train_cfm(model, paired, seed=seed, progress=progress, noise=noise, **tcfg)
        result.noise_pool, result.paired_pool = noise, paired
    elif coupling == "independent" or callable(coupling):
        if callable(coupling):
            tcfg["coupling"] = coupling
        result = train_cfm(model, pool, seed=seed, progress=progress, **tcfg)
    else:
        raise ValueError(
            f"coupling: expected 'independent', 'ot' or a function coupling(x_0, x_1), "
            f"got {coupling!r}"
        )
    result.pool = pool  # the training set (e.g. the target of exact.cfm_loss_floor)
    return model, result
