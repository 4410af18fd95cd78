"""Distances between distributions: exact and sliced 2-Wasserstein, MMD, noise floors, Gaussians.

A finite sample is never at distance 0 from its own distribution: compare a model's samples against
``noise_floor`` (the same distance between two fresh sample sets of the target, same size). The
Gaussian closed forms are W2 (``gaussian_w2``), KL (``gaussian_kl``) and the average
log-likelihood of a 1-D sample (``gaussian_log_likelihood``).

>>> import torch
>>> a = torch.zeros(3, 2); b = torch.ones(3, 2)
>>> round(wasserstein2(a, b), 6)        # every point moves by sqrt(2)
1.414214
"""

__all__ = [
    "wasserstein2",
    "sliced_wasserstein2",
    "mmd",
    "noise_floor",
    "gaussian_w2",
    "gaussian_kl",
    "gaussian_log_likelihood",
    "MAX_EXACT",
]

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ._validate import (
    as_tensor,
    check_callable,
    check_number,
    check_points,
    check_positive_int,
)
from .data import make_generator

#: The largest point sets (equal sizes) for which wasserstein2 solves the exact matching (larger
#: ones are refused, with a pointer to sliced_wasserstein2).
MAX_EXACT = 4000


def wasserstein2(
    a: Any, b: Any, method: str = "exact", n_projections: int = 512, seed: int = 0
) -> float:
    """2-Wasserstein distance between the empirical measures of two point sets of equal size.

    W2^2 = min over one-to-one matchings s of (1/n) sum_i ||a_i - b_s(i)||^2, solved exactly with
    scipy's linear_sum_assignment, for equal sizes up to MAX_EXACT = 4000 points; other sizes are
    refused (sliced W2, a different and smaller quantity, is ``sliced_wasserstein2``, or
    ``method='sliced'``: it is never substituted silently). Inputs that require grad are detached.

    Args:
        a: points, shape (n, d). b: points, shape (n, d).
        method: 'exact' (default) or 'sliced' (then this returns sliced_wasserstein2(a, b)).
        n_projections, seed: for method='sliced'.

    Returns:
        W2, a float.
    """
    if method not in ("exact", "sliced"):
        raise ValueError(
            f"method: expected 'exact' or 'sliced' (sliced W2 is a different quantity), "
            f"got {method!r}"
        )
    a, b = _point_sets(a, b)
    if method == "sliced":
        return sliced_wasserstein2(a, b, n_projections, seed)
    if a.shape[0] != b.shape[0] or a.shape[0] > MAX_EXACT:
        raise ValueError(
            f"a and b: exact W2 needs two sets of the same size, at most {MAX_EXACT} points, got "
            f"{a.shape[0]} and {b.shape[0]}; subsample them to equal sizes <= {MAX_EXACT}, or use "
            "fmtutor.metrics.sliced_wasserstein2 (a different, smaller quantity: compare it only "
            "with itself)"
        )
    # imported here, not at the top: scipy.optimize would add about a third to `import fmtutor`
    from scipy.optimize import linear_sum_assignment

    cost = (torch.cdist(a, b) ** 2).numpy()
    rows, cols = linear_sum_assignment(cost)
    return float(np.sqrt(cost[rows, cols].mean()))


def _point_sets(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """a (n, d) and b (m, d) as detached float64 CPU tensors of the same dimension d."""
    a = check_points(a, "a").detach().double().cpu()
    b = check_points(b, "b").detach().double().cpu()
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b: expected the same dimension, got {a.shape[1]} and {b.shape[1]}")
    return a, b


def sliced_wasserstein2(a: Any, b: Any, n_projections: int = 512, seed: int = 0) -> float:
    """Sliced W2: sqrt of the mean over random directions theta of W2^2 of the 1-D projections.

    In 1-D the optimal matching is by sorting (quantiles interpolated when sizes differ). Sliced W2
    is smaller than W2 (roughly by sqrt(d) for isotropic differences): compare it only with itself.

    Args:
        a: points, shape (n, d). b: points, shape (m, d).
        n_projections: the number of random directions.
        seed: seeds the directions.

    Returns:
        Sliced W2, a float.
    """
    a, b = _point_sets(a, b)
    n_projections = check_positive_int(n_projections, "n_projections")
    theta = torch.randn(
        a.shape[1], n_projections, generator=make_generator(seed), dtype=torch.float64, device="cpu"
    )
    theta /= theta.norm(dim=0, keepdim=True)
    pa, pb = torch.sort(a @ theta, 0)[0], torch.sort(b @ theta, 0)[0]
    if pa.shape[0] != pb.shape[0]:
        q = torch.linspace(0, 1, max(pa.shape[0], pb.shape[0]), dtype=torch.float64, device="cpu")
        pa, pb = torch.quantile(pa, q, dim=0), torch.quantile(pb, q, dim=0)
    return float(torch.sqrt(((pa - pb) ** 2).mean()))


def mmd(a: Any, b: Any, bandwidths: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0)) -> float:
    """Squared maximum mean discrepancy with a sum of RBF kernels exp(-||x - y||^2 / (2 h^2)).

    MMD^2 = E k(a, a') + E k(b, b') - 2 E k(a, b), with the unbiased (off-diagonal) within-set
    means; it can be slightly negative when the two sets come from the same distribution.

    Args:
        a: points, shape (n, d), n >= 2. b: points, shape (m, d), m >= 2.
        bandwidths: the kernels' h, each > 0.

    Returns:
        MMD^2, a float.
    """
    a, b = _point_sets(a, b)
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise ValueError(
            f"a and b: expected at least 2 points each, got {a.shape[0]} and {b.shape[0]}"
        )
    bandwidths = tuple(check_number(h, "bandwidths", minimum=0.0, strict=True) for h in bandwidths)

    def k(x: Tensor, y: Tensor) -> Tensor:
        d2 = torch.cdist(x, y) ** 2
        return sum(torch.exp(-d2 / (2 * h * h)) for h in bandwidths)

    def offdiag_mean(m: Tensor) -> Tensor:
        n = m.shape[0]
        return (m.sum() - m.diagonal().sum()) / (n * (n - 1))

    return float(offdiag_mean(k(a, a)) + offdiag_mean(k(b, b)) - 2 * k(a, b).mean())


def noise_floor(
    sampler: Callable[..., Tensor],
    n: int = 2000,
    metric: Callable[..., float] = wasserstein2,
    seed: int = 0,
    repeats: int = 3,
) -> float:
    """The distance between two fresh sample sets of the target: what a perfect model would score.

    Args:
        sampler: ``sampler(n, seed=...)`` returning (n, d) points (e.g. fmtutor.data.two_moons).
        n: size of each set (use the size you evaluate models with).
        metric: the distance, default exact W2.
        seed: base seed; repeat r uses seeds 2 (seed + r) + 1_000_001 and + 1_000_002.
        repeats: average over this many pairs.
    """
    n = check_positive_int(n, "n")
    repeats = check_positive_int(repeats, "repeats")
    check_callable(sampler, "sampler", "a sampler(n, seed=...), e.g. fmtutor.data.two_moons")
    check_callable(metric, "metric", "a distance metric(a, b)")
    if metric is wasserstein2 and n > MAX_EXACT:
        raise ValueError(
            f"n: exact W2 (the default metric) needs n <= {MAX_EXACT}, got {n}; pass "
            "metric=fmtutor.metrics.sliced_wasserstein2 (and score your samples with it too)"
        )
    vals = [
        metric(
            sampler(n, seed=1_000_001 + 2 * (seed + r)), sampler(n, seed=1_000_002 + 2 * (seed + r))
        )
        for r in range(repeats)
    ]
    return float(np.mean(vals))


def gaussian_w2(m1: Any, cov1: Any, m2: Any, cov2: Any) -> float:
    """Closed-form W2 between N(m1, S1) and N(m2, S2).

    W2^2 = ||m1 - m2||^2 + tr(S1 + S2 - 2 (S2^{1/2} S1 S2^{1/2})^{1/2}).

    Args:
        m1, m2: the means, shape (d,).
        cov1, cov2: the covariances, shape (d, d), symmetric positive semi-definite.

    Returns:
        W2, a float.
    """
    # imported here, not at the top: scipy.linalg would add about a fifth to `import fmtutor`
    from scipy.linalg import sqrtm

    m1, m2 = np.atleast_1d(np.asarray(m1, float)), np.atleast_1d(np.asarray(m2, float))
    s1, s2 = np.atleast_2d(np.asarray(cov1, float)), np.atleast_2d(np.asarray(cov2, float))
    d = m1.shape[0]
    if m1.ndim != 1 or m2.shape != (d,):
        raise ValueError(
            f"m2: expected a mean of shape ({d},) like m1, got m1 {m1.shape} and m2 {m2.shape}"
        )
    for name, s in (("cov1", s1), ("cov2", s2)):
        if s.shape != (d, d):
            raise ValueError(f"{name}: expected shape ({d}, {d}) to match the means, got {s.shape}")
        if (
            not np.isfinite(s).all()
            or not np.allclose(s, s.T)
            or np.linalg.eigvalsh(s).min() < -1e-9 * (1 + np.abs(s).max())
        ):
            raise ValueError(
                f"{name}: expected a symmetric positive semi-definite matrix, got {s.tolist()}"
            )
    r2 = np.real(sqrtm(s2))
    cross = np.real(sqrtm(r2 @ s1 @ r2))
    return float(np.sqrt(max(np.sum((m1 - m2) ** 2) + np.trace(s1 + s2 - 2 * cross), 0.0)))


def gaussian_kl(mu_p: Any, std_p: Any, mu_q: Any, std_q: Any) -> Tensor:
    """KL(N(mu_p, std_p^2) || N(mu_q, std_q^2)) between two 1-D Gaussians.

    KL = log(std_q / std_p) + (std_p^2 + (mu_p - mu_q)^2) / (2 std_q^2) - 1/2.

    Args:
        mu_p, std_p, mu_q, std_q: floats or tensors that broadcast; standard deviations > 0.

    Returns:
        The KL divergence (float64), of the broadcast shape.
    """
    mu_p, std_p, mu_q, std_q = (
        as_tensor(v, n, dtype=torch.float64)
        for v, n in ((mu_p, "mu_p"), (std_p, "std_p"), (mu_q, "mu_q"), (std_q, "std_q"))
    )
    for nm, s in (("std_p", std_p), ("std_q", std_q)):
        if not (s > 0).all():
            raise ValueError(f"{nm}: expected positive standard deviations, got {s}")
    return torch.log(std_q / std_p) + (std_p**2 + (mu_p - mu_q) ** 2) / (2 * std_q**2) - 0.5


def gaussian_log_likelihood(x: Any, mu: Any, std: Any) -> Tensor:
    """The average log-likelihood L = (1/m) sum_i log N(x^i; mu, std^2) of a 1-D sample.

    Args:
        x: the sample, shape (m,).
        mu, std: a float or a tensor of candidate parameters (std > 0), broadcast together.

    Returns:
        L (float64), with the shape of mu (0-d for a float).
    """
    x = as_tensor(x, "x", dtype=torch.float64)
    if x.ndim != 1 or x.numel() == 0:
        raise ValueError(
            f"x: expected a non-empty 1-D sample of shape (m,), got shape {tuple(x.shape)}"
        )
    mu, std = as_tensor(mu, "mu", dtype=torch.float64), as_tensor(std, "std", dtype=torch.float64)
    if not (std > 0).all():
        raise ValueError(f"std: expected a positive standard deviation, got {std}")
    return (
        (
            -0.5 * ((x[:, None] - mu.reshape(1, -1)) / std.reshape(1, -1)) ** 2
            - torch.log(std.reshape(1, -1))
            - 0.5 * math.log(2 * math.pi)
        )
        .mean(0)
        .reshape(mu.shape if mu.ndim else ())
    )
