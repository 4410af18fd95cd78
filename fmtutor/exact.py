"""The course's oracle: the exact marginal velocity u_t(x) and density p_t(x) of an affine path.

The target q is a Gaussian mixture sum_k w_k N(m_k, S_k), or a finite set of points (S_k = 0,
equal weights). With source N(0, I) and x_t = sigma_t x_0 + alpha_t x_1, component k gives

    X_t | k ~ N(alpha_t m_k, C_k),   C_k = alpha_t^2 S_k + sigma_t^2 I,
    E[X_1 | x, k] = m_k + alpha_t S_k C_k^{-1} (x - alpha_t m_k),
    E[X_0 | x, k] = sigma_t C_k^{-1} (x - alpha_t m_k),

and, with posterior weights w_k N(x; alpha_t m_k, C_k) / p_t(x) (computed by log-sum-exp),

    u_t(x) = E[d_alpha_t X_1 + d_sigma_t X_0 | X_t = x],
    p_t(x) = sum_k w_k N(x; alpha_t m_k, C_k).

This is the field a perfectly trained network would learn. Any sigma_t > 0 is used as it is. At
t = 1 (sigma_1 = 0) a point target's field is singular, like (x_1 - x) / (1 - t): there sigma_t is
replaced by EPS, so the velocity is finite and the posterior snaps to the nearest data point (and
``MarginalField.singular_times`` tells fmtutor.solvers.solve so). Large batches are evaluated in
chunks of rows (``CHUNK_ENTRIES``), bit-identical to one call.
"""

__all__ = [
    "posterior",
    "marginal_velocity",
    "marginal_log_prob",
    "marginal_score",
    "MarginalField",
    "cfm_loss_floor",
    "field_error",
    "CHUNK_ENTRIES",
]

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ._validate import as_tensor, check_points, check_positive_int, times_like
from .data import GaussianMixture, _resample, make_generator
from .paths import AffinePath, Scheduler, SchedulerOutput, _nonzero, get_scheduler
from .training import _squared_error

#: The most entries one intermediate tensor ((B, N) weights, (B, K, d) posterior means) may hold:
#: larger batches are evaluated in chunks of rows, a multiple of 64 rows each (so that the BLAS
#: kernels see the same row blocks and the result is bit-identical to one unchunked call).
CHUNK_ENTRIES = 2**24


def _chunk_rows(per_row: int) -> int:
    """Rows per chunk: CHUNK_ENTRIES / per_row, rounded down to a multiple of 64 (at least 64)."""
    return max(64, CHUNK_ENTRIES // max(per_row, 1) // 64 * 64)


def _by_rows(fn: Callable[[Tensor, Tensor], Tensor], x: Tensor, t: Any, per_row: int) -> Tensor:
    """fn(x, t) (rows independent) on chunks of rows of x (B, d) and of t (a float, (B,), (B, 1)).

    ``per_row``: the entries per row of fn's largest intermediate tensor.
    """
    rows = _chunk_rows(per_row)
    if x.shape[0] <= rows:
        return fn(x, t)
    tt = times_like(t, x)  # checked once: 0-d, (1, 1) or (B, 1)
    per_point = tt.ndim > 0 and tt.shape[0] == x.shape[0]
    return torch.cat(
        [
            fn(x[i : i + rows], tt[i : i + rows] if per_point else tt)
            for i in range(0, x.shape[0], rows)
        ]
    )


def _target(target: Any, like: Tensor) -> tuple[Tensor, "Tensor | None", Tensor]:
    """(means (K, d), covs (K, d, d) or None for points, log-weights (K,)), placed like ``like``."""
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
    s = get_scheduler(scheduler)(times_like(t, x))  # each (B, 1) or 0-d
    a, sig = s.alpha_t.reshape(-1, 1, 1), _nonzero(s.sigma_t).reshape(-1, 1, 1)
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


def _weighted_posterior(
    x: Tensor, t: Any, target: Any, scheduler: "str | Scheduler"
) -> tuple[Tensor, Tensor, Tensor, SchedulerOutput]:
    """posterior's weights w_k(x) = p(k | X_t = x), shape (B, K, 1), its means and the schedule.

    Returns:
        (w, E[X_1 | x, k] (B, K, d), E[X_0 | x, k] (B, K, d), the scheduler's values at t).
    """
    log_joint, m1, m0, log_p = posterior(x, t, target, scheduler)
    w = torch.exp(log_joint - log_p[:, None])[..., None]
    return w, m1, m0, get_scheduler(scheduler)(times_like(t, x))


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
    return _by_rows(
        lambda xc, tc: _mixture_velocity(xc, tc, target, scheduler), x, t, _per_row(target, x)
    )


def _per_row(target: Any, x: Tensor) -> int:
    """Entries per point of the largest posterior tensor: K d d for a mixture, N d for points."""
    if isinstance(target, GaussianMixture):
        return target.means.shape[0] * x.shape[1] ** 2
    return len(target) * x.shape[1]


def _mixture_velocity(x: Tensor, t: Any, target: Any, scheduler: "str | Scheduler") -> Tensor:
    """marginal_velocity of a GaussianMixture at checked points x (B, d), in one piece."""
    w, m1, m0, s = _weighted_posterior(x, t, target, scheduler)
    return s.d_alpha_t * (w * m1).sum(1) + s.d_sigma_t * (w * m0).sum(1)


def _point_velocity(x: Tensor, t: Any, points: Tensor, scheduler: "str | Scheduler") -> Tensor:
    """marginal_velocity for a point target with (B, N) matmuls instead of (B, N, d) tensors.

    With the posterior weights w of _point_weights (in float64), E[X_1 | x] = sum_k w_k m_k and
    E[X_0 | x] = (x - alpha_t E[X_1 | x]) / sigma_t. The (B, N) weights are formed for a chunk of
    rows at a time (at most about CHUNK_ENTRIES entries).
    """
    if points.shape[1] != x.shape[1]:
        raise ValueError(
            f"x: expected points of dimension {points.shape[1]} (the target's), "
            f"got {tuple(x.shape)}"
        )
    s = get_scheduler(scheduler)(times_like(t, x))
    a, sig = s.alpha_t.reshape(-1, 1).double(), _nonzero(s.sigma_t).reshape(-1, 1).double()
    m, xd = points.to(device=x.device, dtype=torch.float64), x.double()
    rows = _chunk_rows(points.shape[0])

    def part(v: Tensor, i: int) -> Tensor:  # rows i.. of a per-point column, or the shared one
        return v[i : i + rows] if v.shape[0] > 1 else v

    m1 = torch.cat(
        [
            _point_weights(xd[i : i + rows], part(a, i), part(sig, i), m) @ m
            for i in range(0, xd.shape[0], rows)
        ]
    )
    m0 = (xd - a * m1) / sig
    return (s.d_alpha_t.reshape(-1, 1) * m1 + s.d_sigma_t.reshape(-1, 1) * m0).to(x.dtype)


def _point_weights(x: Tensor, a: Tensor, sig: Tensor, points: Tensor) -> Tensor:
    """Posterior weights w_k(x) = p(X_1 = m_k | X_t = x) of equally likely points m_k (one matmul).

    w_k = softmax_k (alpha_t x.m_k - alpha_t^2 |m_k|^2 / 2) / sigma_t^2: the log-density of
    N(x; alpha_t m_k, sigma_t^2 I) without the |x|^2 term, which is the same for every k.

    Args:
        x: points, shape (B, d).
        a, sig: alpha_t and sigma_t (EPS where sigma_t = 0), shape (B, 1) or (1, 1).
        points: the data points m_k, shape (N, d), in x's dtype.

    Returns:
        The weights, shape (B, N); each row sums to 1.
    """
    lhs = torch.cat([x * (a / sig**2), (-0.5 * a**2 / sig**2).expand(x.shape[0], 1)], 1)
    rhs = torch.cat([points, (points**2).sum(1, keepdim=True)], 1).T  # (d + 1, N)
    return torch.softmax(lhs @ rhs, dim=1)


def marginal_log_prob(
    x: Tensor, t: Any, target: Any, scheduler: "str | Scheduler" = "condot"
) -> Tensor:
    """Exact log p_t(x) of the marginal path, shape (B,); at t = 1 for a mixture, log q(x)."""
    x = check_points(x, "x")
    return _by_rows(
        lambda xc, tc: posterior(xc, tc, target, scheduler)[3], x, t, _per_row(target, x)
    )


def marginal_score(
    x: Tensor, t: Any, target: Any, scheduler: "str | Scheduler" = "condot"
) -> Tensor:
    """Exact score grad_x log p_t(x) = -E[X_0 | X_t = x] / sigma_t, shape (B, d).

    At t = 1 exactly (sigma_1 = 0) it divides by EPS instead, so the score is finite there.
    """
    x = check_points(x, "x")

    def score(xc: Tensor, tc: Any) -> Tensor:
        w, _, m0, s = _weighted_posterior(xc, tc, target, scheduler)
        return -(w * m0).sum(1) / _nonzero(s.sigma_t)

    return _by_rows(score, x, t, _per_row(target, x))


class MarginalField(torch.nn.Module):
    """The exact marginal velocity as a model: ``field(x, t)`` works wherever a network does.

    A point target's field is singular at t = 1 (see the module's docstring): such a field has
    ``singular_times = (1.0,)``, which fmtutor.solvers.solve reads to warn when a method would
    evaluate it there (a mixture's field is smooth: ``singular_times = ()``).

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
        self.singular_times: tuple[float, ...] = (
            () if isinstance(target, GaussianMixture) else (1.0,)
        )

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

    The CFM loss of any model equals this floor plus E ||u_theta(X_t) - u_t(X_t)||^2, so even the
    exact marginal field u_t has this loss: it is the variance of the conditional target around its
    mean.

    Args:
        target: the GaussianMixture or points defining u_t (for points, usually the training pool).
        sample_x1: data points (N, d) to draw x_1 from, or a callable ``sample_x1(n, seed)``.
        n: Monte-Carlo sample size.
        scheduler: Scheduler or name.
        seed: seed for x_0, t and the x_1 draw.

    Returns:
        The estimate, a float.
    """
    n = check_positive_int(n, "n")
    g = make_generator(seed)
    if callable(sample_x1):
        x1 = as_tensor(sample_x1(n, seed=g), "sample_x1(n)")
    else:
        x1 = _resample(check_points(sample_x1, "sample_x1"), n, g)
    x1 = x1.to(torch.float64)
    x0 = torch.randn(x1.shape, generator=g, dtype=torch.float64, device=g.device).to(x1.device)
    t = torch.rand(n, generator=g, dtype=torch.float64, device=g.device).to(x1.device)
    ps = AffinePath(scheduler).sample(x0, x1, t)
    tgt = (
        target
        if isinstance(target, GaussianMixture)
        else as_tensor(target, "target", dtype=torch.float64)
    )
    u = marginal_velocity(ps.x_t, t, tgt, scheduler)  # in chunks of rows
    return float(_squared_error(ps.dx_t, u))


def field_error(model: Callable[..., Tensor], target: Any, t: float, x: Tensor) -> float:
    """Relative squared error of a model against the exact field at time t and points x (B, d).

    The error is sum_i ||u_theta(x_i) - u_t(x_i)||^2 / sum_i ||u_t(x_i)||^2, with u_t the
    marginal velocity of ``target`` on the CondOT path.
    """
    with torch.no_grad():
        u = MarginalField(target)(x, t)
        v = model(x, t)
    return float(((v - u) ** 2).sum() / (u**2).sum().clamp_min(1e-30))
