"""Classifier-free guidance: u_w(x, t | y) = u(x, t | null) + w (u(x, t | y) - u(x, t | null)).

w = 0 is the unconditional model, w = 1 the conditional one, w > 1 pushes samples further towards
their class. Because every affine-path velocity is affine in the score, u = a_t x + b_t score
(paths.convert), guiding velocities is the same as guiding scores:

    score_w = (1 - w) grad log p_t(x) + w grad log p_t(x | y)
            = grad log [p_t(x) p_t(y | x)^w] + const,

so guidance sharpens p_t(y | x), the implicit classifier. The module also has an exact conditional
field for Gaussian mixtures (the oracle), guided sampling and the fidelity/diversity metrics.
"""

__all__ = [
    "cfg_velocity",
    "CFGVelocity",
    "ExactConditionalField",
    "guided_sample",
    "guidance_metrics",
    "guidance_table",
]

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ._validate import (
    as_tensor,
    check_callable,
    check_number,
    check_points,
    check_positive_int,
)
from .data import GaussianMixture
from .exact import marginal_velocity
from .metrics import wasserstein2
from .paths import Scheduler, get_scheduler
from .solvers import solve
from .training import _source_noise


def _check_w(w: Any) -> float:
    return check_number(w, "w")


def cfg_velocity(u_cond: Tensor, u_uncond: Tensor, w: float) -> Tensor:
    """The guided velocity u_uncond + w (u_cond - u_uncond) = (1 - w) u_uncond + w u_cond.

    Args:
        u_cond: the conditional velocity u_t(x | y), shape (B, d).
        u_uncond: the unconditional velocity u_t(x), same shape.
        w: the guidance weight.

    Returns:
        The guided velocity, shape (B, d).
    """
    w = _check_w(w)
    u_cond = as_tensor(u_cond, "u_cond")
    u_uncond = as_tensor(u_uncond, "u_uncond", like=u_cond)
    if u_cond.shape != u_uncond.shape:
        raise ValueError(
            "u_cond and u_uncond: expected the same shape, "
            f"got {tuple(u_cond.shape)} and {tuple(u_uncond.shape)}"
        )
    return u_uncond + w * (u_cond - u_uncond)


class CFGVelocity(nn.Module):
    """Wrap a class-conditional model into a guided velocity ``field(x, t)`` for the solvers.

    u_w = u_uncond + w (u_cond - u_uncond): w = 0 is the unconditional model, w = 1 the conditional
    one, w > 1 pushes samples further towards their class (sharper, less diverse).

    Args:
        model: a network ``model(x, t, y)`` trained with label dropout; y=None means "no label".
        y: the labels, an int or a tensor of shape (B,).
        w: the guidance weight.
    """

    def __init__(self, model: nn.Module, y: Any, w: float = 1.0) -> None:
        super().__init__()
        check_callable(model, "model", "a class-conditional model(x, t, y)")
        self.model, self.y, self.w = model, y, _check_w(w)

    def forward(self, x: Tensor, t: Any) -> Tensor:
        """The guided velocity, shape (B, d)."""
        y = torch.as_tensor(self.y, device=x.device)
        if y.ndim == 0:
            y = y.expand(x.shape[0])
        cond = self.model(x, t, y)
        if self.w == 1.0:
            return cond
        return cfg_velocity(cond, self.model(x, t, None), self.w)


class ExactConditionalField(nn.Module):
    """The exact class-conditional velocity of a Gaussian mixture whose components are the classes.

    ``field(x, t, y)`` is the marginal velocity towards component y alone, and y=None (or the
    label K = number of components, the "no label" class as in models.MLP) the velocity of the
    whole mixture. It is what a perfectly trained conditional network with label dropout would
    learn.

    Args:
        mixture: a data.GaussianMixture with K components (class k = component k).
        scheduler: Scheduler or name (default CondOT).
    """

    def __init__(self, mixture: GaussianMixture, scheduler: "str | Scheduler" = "condot") -> None:
        super().__init__()
        if not isinstance(mixture, GaussianMixture):
            raise TypeError(
                f"mixture: expected a fmtutor.data.GaussianMixture, got {type(mixture).__name__}"
            )
        self.mixture, self.scheduler = mixture, get_scheduler(scheduler)
        self.num_classes = len(mixture.weights)
        self.components = [
            GaussianMixture(mixture.means[k : k + 1], mixture.covs[k : k + 1])
            for k in range(self.num_classes)
        ]

    def forward(self, x: Tensor, t: Any, y: Any = None) -> Tensor:
        """u_t(x | y), shape (B, d).

        Args:
            x: points, shape (B, d).
            t: times: a float, (B,) or (B, 1).
            y: None, an int or (B,) ints in 0..K (K: no label).
        """
        x = check_points(x, "x")
        if y is None:
            return marginal_velocity(x, t, self.mixture, self.scheduler)
        y = torch.as_tensor(y, device=x.device)
        if y.ndim == 0:
            y = y.expand(x.shape[0])
        if y.shape != (x.shape[0],) or y.dtype.is_floating_point:
            raise ValueError(
                f"y: expected {x.shape[0]} integer labels, got {tuple(y.shape)} of {y.dtype}"
            )
        if (y < 0).any() or (y > self.num_classes).any():
            raise ValueError(
                f"y: expected labels in 0..{self.num_classes} ({self.num_classes} = no label), "
                f"got {y.tolist()[:5]}..."
            )
        tt = torch.as_tensor(t, dtype=x.dtype, device=x.device).reshape(-1)
        tt = tt.expand(x.shape[0]) if tt.numel() == 1 else tt
        out = torch.empty_like(x)
        for k in y.unique().tolist():
            idx = y == k
            tgt = self.mixture if k == self.num_classes else self.components[k]
            out[idx] = marginal_velocity(x[idx], tt[idx], tgt, self.scheduler)
        return out


def guided_sample(
    model: Callable[..., Tensor],
    y: int,
    w: float,
    n: int = 500,
    n_steps: int = 20,
    method: str = "midpoint",
    seed: int = 0,
    dim: int = 2,
    return_trajectory: bool = False,
) -> Any:
    """Samples of class y at guidance weight w: CFGVelocity(model, y, w) integrated from N(0, I).

    Args:
        model: ``model(x, t, y)`` (a network trained with label dropout, or ExactConditionalField).
        y: the requested class. w: the guidance weight.
        n: number of samples. n_steps, method: the ODE solver.
        seed: seeds x_0 (the same x_0 for every w, so the comparison is paired).
        dim: data dimension.
        return_trajectory: return the whole solvers.Solution instead of the (n, dim) samples.

    Returns:
        The samples, shape (n, dim), on the CPU (or the Solution).
    """
    n = check_positive_int(n, "n")
    if isinstance(y, bool) or not isinstance(y, (int, np.integer)):
        raise TypeError(f"y: expected an integer class label, got {y!r}")
    x0 = _source_noise(model, n, dim, seed)  # drawn on the CPU, moved to where the model is
    sol = solve(
        CFGVelocity(model, int(y), w),
        x0,
        method=method,
        n_steps=n_steps,
        return_trajectory=return_trajectory,
    )
    return sol if return_trajectory else sol.x.cpu()


def guidance_metrics(
    samples: Tensor, y: int, mixture: GaussianMixture, seed: int = 0
) -> dict[str, float]:
    """Fidelity and diversity of samples asked to be of class y (class k = mixture component k).

    Fidelity:
        accuracy: the fraction the Bayes classifier argmax_k w_k N(x; m_k, S_k) assigns to y.
        class_loglik: mean log N(x; m_y, S_y), the log-likelihood under the requested component.
    Diversity:
        spread: sqrt(tr Cov(samples) / tr S_y): 1 for the true class, below 1 when samples shrink.
    Both:
        w2: exact W2 to as many fresh samples of component y (lowest when the class is reproduced).

    Args:
        samples: shape (n, d). y: the requested class. mixture: the data's GaussianMixture.
        seed: seed of the reference samples for w2.

    Returns:
        dict with accuracy, class_loglik, spread and w2.
    """
    if not isinstance(mixture, GaussianMixture):
        raise TypeError(
            f"mixture: expected a fmtutor.data.GaussianMixture, got {type(mixture).__name__}"
        )
    x = check_points(samples, "samples", dim=mixture.dim).double().cpu()
    k = len(mixture.weights)
    if not isinstance(y, int) or not 0 <= y < k:
        raise ValueError(f"y: expected a class in 0..{k - 1}, got {y!r}")
    logp = mixture.component_log_prob(x)  # (n, K)
    pred = (logp + torch.log(mixture.weights)).argmax(1)
    comp = GaussianMixture(mixture.means[y : y + 1], mixture.covs[y : y + 1])
    ref = comp.sample(x.shape[0], seed=seed).double()
    spread = torch.sqrt(torch.trace(torch.cov(x.T)) / torch.trace(mixture.covs[y]))
    return {
        "accuracy": float((pred == y).double().mean()),
        "class_loglik": float(logp[:, y].mean()),
        "spread": float(spread),
        "w2": wasserstein2(x, ref),
    }


def guidance_table(
    model: Callable[..., Tensor],
    mixture: GaussianMixture,
    ws: Sequence[float],
    classes: "Sequence[int] | None" = None,
    n: int = 500,
    n_steps: int = 20,
    seed: int = 0,
) -> list[dict[str, float]]:
    """guidance_metrics averaged over classes, for each w in ws.

    Returns:
        One dict per w: the averaged metrics and the key 'w'.
    """
    classes = list(range(len(mixture.weights))) if classes is None else list(classes)
    rows = []
    for w in ws:
        ms = [
            guidance_metrics(
                guided_sample(model, c, w, n, n_steps, seed=seed + c),
                c,
                mixture,
                seed=seed + 100 + c,
            )
            for c in classes
        ]
        rows.append({"w": float(w), **{key: sum(m[key] for m in ms) / len(ms) for key in ms[0]}})
    return rows
