"""Offline, seedable data: 2-D toy sets, a Gaussian mixture with exact density, and 8x8 digits.

Every sampler takes ``n`` and ``seed`` (an int, a ``torch.Generator`` or None) and returns a
float32 tensor of shape (n, 2) of i.i.d. points, as X_1 ~ q means. Nothing is downloaded: the
digits ship with scikit-learn.

>>> x = two_moons(5, seed=0)
>>> tuple(x.shape), bool(torch.equal(x, two_moons(5, seed=0)))
((5, 2), True)
"""

__all__ = [
    "two_moons",
    "moons_distance",
    "circles",
    "eight_gaussians",
    "checkerboard",
    "spirals",
    "pinwheel",
    "GaussianMixture",
    "eight_gaussians_mixture",
    "SAMPLERS",
    "sample",
    "load_digits",
    "make_generator",
]

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ._validate import as_tensor, check_number, check_points, check_positive_int


def make_generator(seed: "int | torch.Generator | None" = None) -> torch.Generator:
    """A CPU torch.Generator from an int seed (a fresh random one for None).

    A Generator passes through unchanged.
    """
    if isinstance(seed, torch.Generator):
        return seed
    g = torch.Generator()
    if seed is None:
        g.seed()
    elif isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        g.manual_seed(int(seed))
    else:
        raise TypeError(f"seed: expected an int, a torch.Generator or None, got {seed!r}")
    return g


def _resample(pool: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """n rows of ``pool`` (N, ...) drawn uniformly with replacement, shape (n, ...).

    The indices are drawn on the generator's device and moved to the pool's, so a seed picks the
    same rows on every device.
    """
    idx = torch.randint(0, pool.shape[0], (n,), generator=generator, device=generator.device)
    return pool[idx.to(pool.device)]


def two_moons(n: int, noise: float = 0.05, seed: "int | torch.Generator | None" = None) -> Tensor:
    """Two interleaving half circles (x in [-1, 2], y in [-0.5, 1]), drawn i.i.d., shape (n, 2).

    Each point picks a moon with probability 1/2 and an angle theta ~ U[0, pi]: the upper moon is
    (cos theta, sin theta), the lower one (1 - cos theta, 1/2 - sin theta); then N(0, noise^2 I) is
    added. This is the law of scikit-learn's ``make_moons``, whose points are *not* independent
    (exactly n/2 per moon, at evenly spaced angles). A model's samples are i.i.d., so i.i.d. data
    give it a reachable noise floor (``metrics.noise_floor``): two stratified sets are closer than
    any sampler can come.
    """
    n = check_positive_int(n, "n")
    noise = check_number(noise, "noise", minimum=0.0)
    g = make_generator(seed)
    theta = math.pi * torch.rand(n, generator=g, device=g.device)
    lower = torch.rand(n, generator=g, device=g.device) < 0.5
    x = torch.where(lower, 1 - torch.cos(theta), torch.cos(theta))
    y = torch.where(lower, 0.5 - torch.sin(theta), torch.sin(theta))
    return (torch.stack([x, y], 1) + noise * torch.randn(n, 2, generator=g, device=g.device)).cpu()


def moons_distance(x: Tensor) -> Tensor:
    """Distance of each point to the nearer noiseless half circle of ``two_moons``, shape (n,).

    The upper arc is {|p| = 1, p_y >= 0}, the lower one {|p - c| = 1, p_y <= 1/2} with c = (1, 1/2).
    On an arc's side of its centre the distance is | |p - centre| - 1 |; beyond it, the distance to
    the nearer end point. For ``two_moons(n, noise)`` the root mean square of this distance is the
    noise level (up to the rare points that fall nearer the other arc).

    Args:
        x: points, shape (n, 2).
    """
    x = check_points(x, "x", dim=2).double()
    out = []
    for centre, side in (((0.0, 0.0), 1.0), ((1.0, 0.5), -1.0)):
        r = x - torch.tensor(centre, dtype=x.dtype)
        ends = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=x.dtype)
        to_circle = (r.norm(dim=1) - 1).abs()
        to_ends = torch.cdist(r, ends).min(1).values
        out.append(torch.where(side * r[:, 1] >= 0, to_circle, to_ends))
    return torch.stack(out, 1).min(1).values


def circles(
    n: int, noise: float = 0.05, factor: float = 0.5, seed: "int | torch.Generator | None" = None
) -> Tensor:
    """Two concentric circles of radii 2 and 2 * factor, drawn i.i.d., shape (n, 2).

    Each point picks a circle with probability 1/2 and an angle theta ~ U[0, 2 pi), then gets
    N(0, (2 noise)^2 I) added: scikit-learn's ``make_circles`` law, scaled by 2, without its
    stratification.
    """
    n = check_positive_int(n, "n")
    noise = check_number(noise, "noise", minimum=0.0)
    factor = check_number(factor, "factor", minimum=0.0, strict=True)
    if factor >= 1:
        raise ValueError(
            "factor: expected the inner radius as a fraction of the outer one, in (0, 1), "
            f"got {factor}"
        )
    g = make_generator(seed)
    theta = 2 * math.pi * torch.rand(n, generator=g, device=g.device)
    r = torch.where(torch.rand(n, generator=g, device=g.device) < 0.5, factor, 1.0)
    pts = r[:, None] * torch.stack([torch.cos(theta), torch.sin(theta)], 1)
    return (2 * (pts + noise * torch.randn(n, 2, generator=g, device=g.device))).cpu()


def eight_gaussians(n: int, seed: "int | torch.Generator | None" = None) -> Tensor:
    """Eight Gaussian blobs (std 0.25) on a circle of radius 3, shape (n, 2)."""
    return eight_gaussians_mixture().sample(n, seed=seed)


def checkerboard(n: int, seed: "int | torch.Generator | None" = None) -> Tensor:
    """Uniform on the dark squares of a 4x4 checkerboard on [-2, 2]^2, shape (n, 2)."""
    n = check_positive_int(n, "n")
    g = make_generator(seed)
    x1 = torch.rand(n, generator=g, device=g.device) * 4 - 2
    col = torch.randint(0, 2, (n,), generator=g, device=g.device) * 2
    x2 = torch.rand(n, generator=g, device=g.device) - 2 + col + (torch.floor(x1) % 2)
    return torch.stack([x1, x2], 1)


def spirals(n: int, noise: float = 0.1, seed: "int | torch.Generator | None" = None) -> Tensor:
    """Two interleaved Archimedean spirals within radius ~3, shape (n, 2)."""
    n = check_positive_int(n, "n")
    noise = check_number(noise, "noise", minimum=0.0)
    g = make_generator(seed)
    r = torch.sqrt(torch.rand(n, generator=g, device=g.device)) * 3 * math.pi
    arm = torch.randint(0, 2, (n,), generator=g, device=g.device) * math.pi
    x = torch.stack([r * torch.cos(r + arm), r * torch.sin(r + arm)], 1) / math.pi
    return x + noise * torch.randn(n, 2, generator=g, device=g.device)


def pinwheel(n: int, arms: int = 5, seed: "int | torch.Generator | None" = None) -> Tensor:
    """A pinwheel of curved arms (radius ~2), drawn i.i.d., shape (n, 2).

    Each point picks an arm a uniformly among ``arms``, draws f = (1 + 0.3 z_1, 0.1 z_2) with
    z ~ N(0, I), and is 2 R(2 pi a / arms + exp(f_1) / 4) f, R(phi) the rotation by phi: arms
    that bend further the further out they reach (the toy target of Johnson et al., 2016).
    """
    n = check_positive_int(n, "n")
    arms = check_positive_int(arms, "arms")
    g = make_generator(seed)
    arm = torch.randint(0, arms, (n,), generator=g, device=g.device)
    f = torch.randn(n, 2, generator=g, device=g.device) * torch.tensor([0.3, 0.1], device=g.device)
    f[:, 0] += 1
    phi = arm * (2 * math.pi / arms) + 0.25 * torch.exp(f[:, 0])
    c, s = torch.cos(phi), torch.sin(phi)
    return (2 * torch.stack([c * f[:, 0] - s * f[:, 1], s * f[:, 0] + c * f[:, 1]], 1)).cpu()


class GaussianMixture:
    """A mixture sum_k w_k N(m_k, S_k) with samples, exact log-density and components.

    Args:
        means: component means, shape (K, d).
        covs: covariances (K, d, d), or standard deviations (K,) or one float for isotropic
            components.
        weights: mixture weights (K,), normalised here; uniform if None.
    """

    def __init__(self, means: Any, covs: Any = 1.0, weights: Any = None) -> None:
        self.means = check_points(means, "means").to(torch.float64)
        k, d = self.means.shape
        c = as_tensor(covs, "covs", dtype=torch.float64)
        if c.ndim <= 1:
            std = c.expand(k) if c.ndim == 1 else c.reshape(1).expand(k)
            if std.shape[0] != k:
                raise ValueError(f"covs: expected {k} standard deviations, got {c.shape[0]}")
            if not bool((std >= 0).all()) or not bool(torch.isfinite(std).all()):
                raise ValueError(
                    f"covs: expected finite standard deviations >= 0, got {std.tolist()}"
                )
            c = std[:, None, None] ** 2 * torch.eye(d, dtype=torch.float64, device=std.device)
        if c.shape != (k, d, d):
            raise ValueError(
                f"covs: expected shape ({k}, {d}, {d}), (K,) or a float, got {tuple(c.shape)}"
            )
        if (
            not bool(torch.isfinite(c).all())
            or not torch.allclose(c, c.transpose(1, 2))
            or float(torch.linalg.eigvalsh(c).min()) < -1e-9 * (1 + float(c.abs().max()))
        ):
            msg = "covs: expected symmetric positive semi-definite covariance matrices, got "
            raise ValueError(f"{msg}{c.tolist()}"[:300])
        self.covs = c
        w = (
            torch.full((k,), 1.0 / k, dtype=torch.float64, device=self.means.device)
            if weights is None
            else as_tensor(weights, "weights", dtype=torch.float64)
        )
        if w.shape != (k,) or (w < 0).any() or w.sum() <= 0:
            raise ValueError(
                f"weights: expected {k} non-negative numbers with a positive sum, got {w.tolist()}"
            )
        self.weights = w / w.sum()

    @property
    def dim(self) -> int:
        """The dimension d."""
        return self.means.shape[1]

    def sample(
        self, n: int, seed: "int | torch.Generator | None" = None, return_labels: bool = False
    ) -> "Tensor | tuple[Tensor, Tensor]":
        """Draw n points (float32, shape (n, d)); with return_labels, also their components (n,)."""
        n = check_positive_int(n, "n")
        g = make_generator(seed)
        k = torch.multinomial(self.weights, n, replacement=True, generator=g)
        z = torch.randn(n, self.dim, generator=g, dtype=torch.float64, device=g.device).to(
            self.means.device
        )
        chol = torch.linalg.cholesky(
            self.covs + 1e-12 * torch.eye(self.dim, dtype=torch.float64, device=self.covs.device)
        )
        x = (self.means[k] + (chol[k] @ z[:, :, None])[:, :, 0]).to(torch.float32)
        return (x, k) if return_labels else x

    def component_log_prob(self, x: Tensor) -> Tensor:
        """log N(x; m_k, S_k) of every component k at points x (B, d): shape (B, K), float64."""
        x = check_points(x, "x", dim=self.dim)
        dist = torch.distributions.MultivariateNormal(self.means, covariance_matrix=self.covs)
        return dist.log_prob(x.to(torch.float64)[:, None, :])

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log-density log sum_k w_k N(x; m_k, S_k), shape (B,), in x's dtype."""
        x = check_points(x, "x", dim=self.dim)
        lp = self.component_log_prob(x) + torch.log(self.weights)
        return torch.logsumexp(lp, 1).to(x.dtype)

    def __repr__(self) -> str:
        return f"GaussianMixture(K={len(self.weights)}, d={self.dim})"


def eight_gaussians_mixture(radius: float = 3.0, std: float = 0.25) -> GaussianMixture:
    """The 8-Gaussians target as a GaussianMixture (so its density and marginal field are exact)."""
    angles = torch.arange(8, dtype=torch.float64, device="cpu") * (2 * math.pi / 8)
    means = radius * torch.stack([torch.cos(angles), torch.sin(angles)], 1)
    return GaussianMixture(means, std)


SAMPLERS: dict[str, Callable[..., Tensor]] = {
    "moons": two_moons,
    "circles": circles,
    "8gaussians": eight_gaussians,
    "checkerboard": checkerboard,
    "spirals": spirals,
    "pinwheel": pinwheel,
}


def sample(name: str, n: int, seed: "int | torch.Generator | None" = None) -> Tensor:
    """Draw n points from a named 2-D data set in SAMPLERS, shape (n, 2)."""
    if name not in SAMPLERS:
        raise ValueError(f"name: expected one of {sorted(SAMPLERS)}, got {name!r}")
    return SAMPLERS[name](n, seed=seed)


def load_digits() -> tuple[Tensor, Tensor]:
    """scikit-learn's bundled 8x8 digits (1,797 images, no download), scaled to [-1, 1].

    Returns:
        images, shape (1797, 64) float32 in [-1, 1] (reshape to (8, 8) to view), and labels,
        shape (1797,) int64.
    """
    # imported here, not at the top: scikit-learn would nearly double `import fmtutor`
    from sklearn.datasets import load_digits as _load

    d = _load()
    x = torch.as_tensor(d.data, dtype=torch.float32) / 8.0 - 1.0
    return x, torch.as_tensor(d.target, dtype=torch.int64)
