"""Diffusion as flow matching: the VP-SDE, its probability-flow ODE, an SDE sampler from a velocity.

Diffusion runs its own clock s in [0, 1] with s = 0 at the data; the course's clock is t = 1 - s.
The forward VP-SDE is

    dx = f(x, s) ds + g(s) dW,   f(x, s) = -beta(s) x / 2,   g(s)^2 = beta(s),
    beta(s) = beta_min + (beta_max - beta_min) s,

whose marginals are those of VPScheduler, and its probability-flow ODE (same marginals, no noise) is

    dx/ds = f(x, s) - g(s)^2 score_s(x) / 2.

Read in course time, dx/dt = -dx/ds, so the flow-matching velocity of the VP path is
u_t(x) = beta(1 - t) (x + score_t(x)) / 2.

For sampling with noise in course time, any g_t >= 0 gives an SDE with the marginals p_t of u_t:

    dx = [u_t(x) + g_t^2 score_t(x) / 2] dt + g_t dW,

(the extra drift cancels the spreading of the noise in the Fokker-Planck equation).
``euler_maruyama`` integrates it, taking score_t from the velocity itself via paths.convert.
"""

__all__ = ["vp_beta", "vp_sde_coefficients", "pf_ode_drift", "sde_drift", "euler_maruyama"]

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ._validate import as_tensor, check_callable, check_points, check_positive_int
from .data import make_generator
from .paths import VPScheduler, convert, get_scheduler
from .solvers import Solution


def _vp(scheduler: Any) -> VPScheduler:
    scheduler = get_scheduler(scheduler)
    if not isinstance(scheduler, VPScheduler):
        raise TypeError(f"scheduler: expected a VPScheduler, got {scheduler!r}")
    return scheduler


def _column(v: Tensor, x: Tensor, name: str) -> Tensor:
    """A number (0-d) or one value per point of x (B, d): (B,), (B, 1) or (1,), as 0-d or (B, 1).

    Raises a ValueError naming ``name`` for any other shape (a (B,) vector must not broadcast
    against the d columns of x).
    """
    if v.ndim == 2 and v.shape[1] == 1:
        v = v[:, 0]
    if v.ndim > 1 or (v.ndim == 1 and v.shape[0] not in (1, x.shape[0])):
        raise ValueError(
            f"{name}: expected a number, or one value per point of x (shape ({x.shape[0]},) or "
            f"({x.shape[0]}, 1)), got shape {tuple(v.shape)}"
        )
    return v[:, None] if v.ndim == 1 else v


def vp_beta(s: Any, scheduler: "str | VPScheduler" = "vp") -> Tensor:
    """beta(s) = beta_min + (beta_max - beta_min) s in diffusion time s (s = 1 - t), shape of s."""
    sc = _vp(scheduler)
    s = as_tensor(s, "s")
    if torch.isnan(s).any():
        raise ValueError("s: expected diffusion times in [0, 1], got NaN")
    if (s < 0).any() or (s > 1).any():
        raise ValueError(
            "s: expected diffusion times in [0, 1], "
            f"got {s.min().item():.4g} .. {s.max().item():.4g}"
        )
    return sc.beta(s)


def vp_sde_coefficients(
    x: Tensor, s: Any, scheduler: "str | VPScheduler" = "vp"
) -> tuple[Tensor, Tensor]:
    """Drift f(x, s) = -beta(s) x / 2 and diffusion g(s) = sqrt(beta(s)) of the forward VP-SDE.

    Args:
        x: points, shape (B, d).
        s: diffusion time in [0, 1] (s = 0 data, s = 1 noise): a float, (B,) or (B, 1).
        scheduler: the VPScheduler whose betas to use.

    Returns:
        (f, g): f of shape (B, d), g of the shape of s.
    """
    x = check_points(x, "x")
    beta = vp_beta(as_tensor(s, "s", like=x), scheduler)
    return -0.5 * _column(beta, x, "s") * x, torch.sqrt(beta)


def pf_ode_drift(x: Tensor, s: Any, score: Tensor, scheduler: "str | VPScheduler" = "vp") -> Tensor:
    """The probability-flow ODE drift in diffusion time, dx/ds = f(x, s) - g(s)^2 score / 2.

    Args:
        x: points, shape (B, d).
        s: diffusion time (s = 1 - t).
        score: grad_x log p(x) at those points and that time, shape (B, d).
        scheduler: the VPScheduler.

    Returns:
        The drift, shape (B, d).
    """
    x = check_points(x, "x")
    score = as_tensor(score, "score", like=x)
    if score.shape != x.shape:
        raise ValueError(f"score: expected shape {tuple(x.shape)} like x, got {tuple(score.shape)}")
    f, g = vp_sde_coefficients(x, s, scheduler)
    return f - 0.5 * _column(g, x, "s") ** 2 * score


def _diffusion_fn(diffusion: Any, scheduler: Any) -> Callable[[Tensor], Tensor]:
    """g_t as a function of t: a number gamma means g_t = gamma * sigma_t (vanishing at t = 1)."""
    if callable(diffusion):
        return diffusion
    if isinstance(diffusion, bool) or not isinstance(diffusion, (int, float)) or diffusion < 0:
        raise ValueError(f"diffusion: expected a number >= 0 or a callable g(t), got {diffusion!r}")
    sc = get_scheduler(scheduler)
    return lambda t: float(diffusion) * sc(t).sigma_t


def sde_drift(
    model: Callable[..., Tensor], x: Tensor, t: Any, g_t: Any, scheduler: "str | Any" = "condot"
) -> Tensor:
    """The drift u_t(x) + g_t^2 score_t(x) / 2, with score_t obtained from u_t by paths.convert.

    Args:
        model: velocity field ``model(x, t)``.
        x: points, shape (B, d).
        t: time in [0, 1].
        g_t: the diffusion coefficient at t: a number, or one per point, (B,) or (B, 1).
        scheduler: the scheduler the model's path uses (needed to turn velocity into score).

    Returns:
        The drift, shape (B, d).
    """
    check_callable(model, "model", "a velocity model(x, t)")
    x = as_tensor(x, "x")
    g_t = _column(as_tensor(g_t, "g_t", like=x), x, "g_t")
    u = model(x, t)
    if float(g_t.abs().max()) == 0.0:
        return u
    score = convert(u, x, t, "velocity", "score", scheduler)
    return u + 0.5 * g_t**2 * score


def euler_maruyama(
    model: Callable[..., Tensor],
    x_init: Tensor,
    diffusion: Any = 1.0,
    n_steps: int = 100,
    scheduler: "str | Any" = "condot",
    seed: int = 0,
    return_trajectory: bool = False,
) -> Solution:
    """Sample dx = [u_t(x) + g_t^2 score_t(x) / 2] dt + g_t dW from t = 0 to 1 with Euler-Maruyama.

    x_{k+1} = x_k + h [u + g^2 score / 2](x_k, t_k) + g_{t_k} sqrt(h) z_k with z_k ~ N(0, I), on a
    uniform grid. With diffusion = 0 this is exactly the Euler ODE solver. The last step starts at
    t = 1 - h, so the score is never needed at t = 1.

    Args:
        model: velocity field ``model(x, t)`` of the path given by ``scheduler``.
        x_init: x_0 ~ N(0, I), shape (B, d).
        diffusion: g_t: a number gamma (then g_t = gamma sigma_t, which vanishes at the data end)
            or a callable ``g(t)`` of a 0-d tensor.
        n_steps: number of steps.
        scheduler: the model's scheduler.
        seed: seeds the Brownian increments.
        return_trajectory: keep all states, shape (n_steps + 1, B, d).

    Returns:
        a solvers.Solution (x, times, trajectory or None, nfe).
    """
    n_steps = check_positive_int(n_steps, "n_steps")
    check_callable(model, "model", "a velocity model(x, t)")
    x = as_tensor(x_init, "x_init", finite=True)
    if x.ndim < 2:
        raise ValueError(f"x_init: expected a batch of shape (B, d), got {tuple(x.shape)}")
    g_fn = _diffusion_fn(diffusion, scheduler)
    gen = make_generator(seed)
    times = torch.linspace(0, 1, n_steps + 1, dtype=x.dtype, device=x.device)
    traj = [x] if return_trajectory else None
    with torch.no_grad():
        for t0, t1 in zip(times[:-1], times[1:]):
            h = t1 - t0
            g = _column(as_tensor(g_fn(t0), "diffusion(t)", like=x), x, "diffusion(t)")
            x = x + h * sde_drift(model, x, t0, g, scheduler)
            if float(g.abs().max()) > 0:
                z = torch.randn(x.shape, generator=gen, dtype=x.dtype, device=gen.device).to(
                    x.device
                )
                x = x + g * torch.sqrt(h) * z
            if traj is not None:
                traj.append(x)
    return Solution(x, times, torch.stack(traj) if traj is not None else None, n_steps)
