"""The course's oracle: the exact marginal velocity u_t(x) and density p_t(x) of an affine Gaussian path.

The target q is a Gaussian mixture sum_k w_k N(m_k, S_k), or a finite set of points (S_k = 0,
equal weights). With source N(0, I) and x_t = sigma_t x_0 + alpha_t x_1, component k gives

    X_t | k ~ N(alpha_t m_k, C_k),   C_k = alpha_t^2 S_k + sigma_t^2 I,
    E[X_1 | x, k] = m_k + alpha_t S_k C_k^{-1} (x - alpha_t m_k),
    E[X_0 | x, k] = sigma_t C_k^{-1} (x - alpha_t m_k),

and, with posterior weights w_k N(x; alpha_t m_k, C_k) / p_t(x) (computed by log-sum-exp),

    u_t(x) = E[d_alpha_t X_1 + d_sigma_t X_0 | X_t = x],     p_t(x) = sum_k w_k N(x; alpha_t m_k, C_k).

This is the field a perfectly trained network would learn. At t = 1 for a point target, sigma_t is
floored at EPS: the velocity stays finite and the posterior snaps to the nearest data point.
"""

__all__ = [
    "posterior",
    "marginal_velocity",
    "marginal_log_prob",
    "marginal_score",
    "MarginalField",
    "cfm_loss_floor",
    "field_error",
]

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ._validate import as_tensor, check_points, check_positive_int
from .data import GaussianMixture, make_generator
from .paths import EPS, AffinePath, Scheduler, _time_like, get_scheduler

Target = "GaussianMixture | Tensor"


def _target(target: Any, like: Tensor) -> tuple[Tensor, "Tensor | None", Tensor]:
    """(means (K, d), covs (K, d, d) or None for points, log-weights (K,)) in x's dtype and device."""
    if isinstance(target, GaussianMixture):
        kw = dict(dtype=like.dtype, device=like.device)
        return target.means.to(**kw), target.covs.to(**kw), torch.log(target.weights).to(**kw)
    pts = check_points(target, "target", like=like, min_points=1)
    return (
        pts,
        None,
        torch.full((pts.shape[0],), -math.log(pts.shape[0]), dtype=like.dtype, device=like.device),
    )


def posterior(
    x: Tensor, t: Any, target: Any, scheduler: "str | Scheduler" = "condot"
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per-component posterior quantities at x_t = x.

    Args:
        x: points, shape (B, d).
        t: times in [0, 1]: a float, (B,) or (B, 1).
        target: a GaussianMixture or data points of shape (N, d).
        scheduler: Scheduler or name (default CondOT).

    Returns:
        log_joint (B, K): log w_k + log N(x; alpha_t m_k, C_k);
        mean_x1 (B, K, d): E[X_1 | x, k]; mean_x0 (B, K, d): E[X_0 | x, k];
        log_p (B,): log p_t(x).
    """
    x = check_points(x, "x")
    means, covs, logw = _target(target, x)
    if means.shape[1] != x.shape[1]:
        raise ValueError(
            f"x: expected points of dimension {means.shape[1]} (the target's), got {tuple(x.shape)}"
        )
    s = get_scheduler(scheduler)(_time_like(t, x))  # each (B, 1) or 0-d
    a, sig = s.alpha_t.reshape(-1, 1, 1), s.sigma_t.clamp_min(EPS).reshape(-1, 1, 1)
    d = x.shape[1]
    r = x[:, None, :] - a * means[None]  # (B, K, d)
    if covs is None:
        var = sig**2  # (B, 1, 1)
        maha = (r**2).sum(-1) / var[:, :, 0]
        logdet = d * torch.log(var[:, :, 0])
        cinv_r = r / var
        mean_x1 = means[None].expand_as(r)
    else:
        eye = torch.eye(d, dtype=x.dtype, device=x.device)
        cov = a[..., None] ** 2 * covs[None] + sig[..., None] ** 2 * eye  # (B, K, d, d)
        chol = torch.linalg.cholesky(cov)
        cinv_r = torch.cholesky_solve(r[..., None], chol)[..., 0]
        maha = (r * cinv_r).sum(-1)
        logdet = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
        mean_x1 = means[None] + a * (covs[None] @ cinv_r[..., None])[..., 0]
    log_joint = logw[None] - 0.5 * (maha + logdet + d * math.log(2 * math.pi))
    return log_joint, mean_x1, sig * cinv_r, torch.logsumexp(log_joint, 1)


def marginal_velocity(
    x: Tensor, t: Any, target: Any, scheduler: "str | Scheduler" = "condot"
) -> Tensor:
    """Exact marginal velocity u_t(x) = E[d_alpha_t X_1 + d_sigma_t X_0 | X_t = x], shape (B, d).

    Args:
        x: points, shape (B, d).
        t: times in [0, 1]: a float, (B,) or (B, 1).
        target: a GaussianMixture or data points (N, d).
        scheduler: Scheduler or name (default CondOT).
    """
    x = check_points(x, "x")
    if not isinstance(target, GaussianMixture):
        return _point_velocity(x, t, check_points(target, "target", min_points=1), scheduler)
    log_joint, m1, m0, log_p = posterior(x, t, target, scheduler)
    w = torch.exp(log_joint - log_p[:, None])[..., None]
    s = get_scheduler(scheduler)(_time_like(t, x))
    return s.d_alpha_t * (w * m1).sum(1) + s.d_sigma_t * (w * m0).sum(1)


def _point_velocity(x: Tensor, t: Any, points: Tensor, scheduler: "str | Scheduler") -> Tensor:
    """marginal_velocity for a point target with one (B, N) matmul instead of (B, N, d) tensors.

    The posterior weights are softmax_k (alpha_t x.m_k - alpha_t^2 |m_k|^2 / 2) / sigma_t^2 (the |x|^2 term
    is the same for every k), computed in float64; then E[X_1 | x] = sum_k w_k m_k and
    E[X_0 | x] = (x - alpha_t E[X_1 | x]) / sigma_t.
    """
    if points.shape[1] != x.shape[1]:
        raise ValueError(
            f"x: expected points of dimension {points.shape[1]} (the target's), got {tuple(x.shape)}"
        )
    s = get_scheduler(scheduler)(_time_like(t, x))
    a, sig = s.alpha_t.reshape(-1, 1).double(), s.sigma_t.clamp_min(EPS).reshape(-1, 1).double()
    m, xd = points.to(device=x.device, dtype=torch.float64), x.double()
    lhs = torch.cat(
        [xd * (a / sig**2), (-0.5 * a**2 / sig**2).expand(x.shape[0], 1)], 1
    )  # (B, d + 1)
    w = torch.softmax(
        lhs @ torch.cat([m, (m**2).sum(1, keepdim=True)], 1).T, dim=1
    )  # one matmul: (B, N)
    m1 = w @ m
    m0 = (xd - a * m1) / sig
    return (s.d_alpha_t.reshape(-1, 1) * m1 + s.d_sigma_t.reshape(-1, 1) * m0).to(x.dtype)


def marginal_log_prob(
    x: Tensor, t: Any, target: Any, scheduler: "str | Scheduler" = "condot"
) -> Tensor:
    """Exact log p_t(x) of the marginal path, shape (B,). At t = 1 and a mixture target: log q(x)."""
    return posterior(x, t, target, scheduler)[3]


def marginal_score(
    x: Tensor, t: Any, target: Any, scheduler: "str | Scheduler" = "condot"
) -> Tensor:
    """Exact score grad_x log p_t(x) = -E[X_0 | X_t = x] / sigma_t, shape (B, d) (sigma_t floored at EPS)."""
    x = check_points(x, "x")
    log_joint, _, m0, log_p = posterior(x, t, target, scheduler)
    w = torch.exp(log_joint - log_p[:, None])[..., None]
    s = get_scheduler(scheduler)(_time_like(t, x))
    return -(w * m0).sum(1) / s.sigma_t.clamp_min(EPS)


class MarginalField(torch.nn.Module):
    """The exact marginal velocity as a model: ``field(x, t)`` works wherever a trained network does.

    Args:
        target: a GaussianMixture or data points (N, d).
        scheduler: Scheduler or name (default CondOT).

    >>> from fmtutor.data import eight_gaussians_mixture
    >>> field = MarginalField(eight_gaussians_mixture())
    >>> tuple(field(torch.zeros(3, 2), 0.5).shape)
    (3, 2)
    """

    def __init__(self, target: Any, scheduler: "str | Scheduler" = "condot") -> None:
        super().__init__()
        if not isinstance(target, GaussianMixture):
            target = check_points(target, "target", min_points=1)
        self.target = target
        self.scheduler = get_scheduler(scheduler)

    def forward(self, x: Tensor, t: Any) -> Tensor:
        """u_t(x), shape (B, d)."""
        return marginal_velocity(x, t, self.target, self.scheduler)

    def log_prob(self, x: Tensor, t: Any) -> Tensor:
        """log p_t(x), shape (B,)."""
        return marginal_log_prob(x, t, self.target, self.scheduler)


def cfm_loss_floor(
    target: Any,
    sample_x1: Any,
    n: int = 20000,
    scheduler: "str | Scheduler" = "condot",
    seed: int = 0,
) -> float:
    """Monte-Carlo estimate of the smallest reachable CFM loss, E ||dx_t - u_t(X_t)||^2.

    The CFM loss of any model equals this floor plus E ||u_theta(X_t) - u_t(X_t)||^2, so even the exact
    marginal field u_t has this loss: it is the variance of the conditional target around its mean.

    Args:
        target: the GaussianMixture or points defining u_t (for points, usually the training pool).
        sample_x1: data points (N, d) to draw x_1 from, or a callable ``sample_x1(n, seed)``.
        n: Monte-Carlo sample size.
        scheduler: Scheduler or name.
        seed: seed for x_0, t and the x_1 draw.
    """
    n = check_positive_int(n, "n")
    g = make_generator(seed)
    if callable(sample_x1):
        x1 = as_tensor(sample_x1(n, seed=g), "sample_x1(n)")
    else:
        pool = check_points(sample_x1, "sample_x1")
        x1 = pool[
            torch.randint(0, pool.shape[0], (n,), generator=g, device=g.device).to(pool.device)
        ]
    x1 = x1.to(torch.float64)
    x0 = torch.randn(x1.shape, generator=g, dtype=torch.float64, device=g.device).to(x1.device)
    t = torch.rand(n, generator=g, dtype=torch.float64, device=g.device).to(x1.device)
    ps = AffinePath(scheduler).sample(x0, x1, t)
    tgt = (
        target
        if isinstance(target, GaussianMixture)
        else as_tensor(target, "target", dtype=torch.float64)
    )
    u = torch.cat(
        [
            marginal_velocity(ps.x_t[i : i + 2000], t[i : i + 2000], tgt, scheduler)
            for i in range(0, n, 2000)
        ]
    )
    return float(((ps.dx_t - u) ** 2).sum(1).mean())


def field_error(model: Callable[..., Tensor], target: Any, t: float, x: Tensor) -> float:
    """Relative squared error sum ||u_theta(x_i) - u_t(x_i)||^2 / sum ||u_t(x_i)||^2 at points x (B, d)."""
    with torch.no_grad():
        u = MarginalField(target)(x, t)
        v = model(x, t)
    return float(((v - u) ** 2).sum() / (u**2).sum().clamp_min(1e-30))
