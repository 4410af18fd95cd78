"""Data on manifolds: exact von Mises-Fisher draws on S^2, vMF and wrapped-normal mixtures."""

from __future__ import annotations

__all__ = ["sample_vmf", "vmf_mean_resultant_length", "VMFMixture", "WrappedNormalMixture"]

import math
from typing import Any

import torch
from torch import Tensor

from ._validate import as_tensor, check_number, check_points, check_positive_int
from .data import make_generator
from .manifolds import Sphere


def vmf_mean_resultant_length(kappa: float) -> float:
    """E<X, mu> for X ~ vMF(mu, kappa) on S^2: A_3(kappa) = coth(kappa) - 1 / kappa."""
    kappa = check_number(kappa, "kappa", minimum=0.0, strict=True)
    return 1 / math.tanh(kappa) - 1 / kappa


def sample_vmf(mu: Any, kappa: float, n: int, seed: Any = None) -> Tensor:
    """n exact draws of the von Mises-Fisher law on S^2, density prop. to exp(kappa <mu, x>).

    Wood's (1994) construction in 3-D, where the cosine w = <x, mu> has an invertible CDF:
    w = 1 + log(U + (1 - U) e^{-2 kappa}) / kappa with U ~ U(0, 1); then x = w mu +
    sqrt(1 - w^2) e with e a uniform unit tangent direction at mu. Float64, shape (n, 3).
    """
    mu = Sphere(3).check(as_tensor(mu, "mu", dtype=torch.float64).reshape(1, -1), "mu")[0]
    mu = mu / mu.norm()  # exactly unit in float64 (a float32 mu is only unit to 1e-7)
    kappa = check_number(kappa, "kappa", minimum=0.0, strict=True)
    g = make_generator(seed)
    n = check_positive_int(n, "n")
    u = torch.rand(n, 1, generator=g, dtype=torch.float64)
    w = 1 + torch.log(u + (1 - u) * math.exp(-2 * kappa)) / kappa
    e = Sphere(3).proju(mu, torch.randn(n, 3, generator=g, dtype=torch.float64))
    e = e / e.norm(dim=-1, keepdim=True)
    return w * mu + torch.sqrt((1 - w**2).clamp_min(0)) * e


class _Mixture:
    """K components with locations ``means`` (K, d), spreads (K,) and weights (K,)."""

    def __init__(self, means: Tensor, spreads: Any, weights: Any, what: str) -> None:
        self.means, k = means, len(means)
        self.spreads = as_tensor(spreads, what, dtype=torch.float64).expand(k).clone()
        w = torch.ones(k) if weights is None else as_tensor(weights, "weights")
        self.weights = (w / w.sum()).double()
        if (self.spreads <= 0).any() or self.weights.shape != (k,) or (self.weights < 0).any():
            raise ValueError(f"{what} and weights: expected {k} positive values each")

    def sample(self, n: int, seed: Any = None) -> Tensor:
        """n draws, shape (n, d) float32 (each draw's component picked with ``weights``)."""
        g = make_generator(seed)
        comp = torch.multinomial(self.weights, check_positive_int(n, "n"), True, generator=g)
        return self._draw(comp, g).float()

    def _draw(self, comp: Tensor, g: torch.Generator) -> Tensor:
        raise NotImplementedError


class VMFMixture(_Mixture):
    """A mixture of von Mises-Fisher densities on S^2.

    Args:
        means: unit vectors, (K, 3). kappas: concentrations, (K,) or one number. weights: (K,).
    """

    def __init__(self, means: Any, kappas: Any, weights: Any = None) -> None:
        m = as_tensor(means, "means", dtype=torch.float64)
        super().__init__(
            Sphere(3).check(m / m.norm(dim=-1, keepdim=True), "means"), kappas, weights, "kappas"
        )
        self.kappas = self.spreads

    def _draw(self, comp: Tensor, g: torch.Generator) -> Tensor:
        out = torch.empty(len(comp), 3, dtype=torch.float64)
        for k in range(len(self.means)):
            idx = (comp == k).nonzero()[:, 0]
            if len(idx):
                out[idx] = sample_vmf(self.means[k], float(self.kappas[k]), len(idx), g)
        return out


class WrappedNormalMixture(_Mixture):
    """A mixture of wrapped normals on the flat torus T^d: N(mean_k, std_k^2 I) modulo 2 pi.

    Args:
        means: angles, (K, d). stds: (K,) or one number. weights: (K,).
    """

    def __init__(self, means: Any, stds: Any, weights: Any = None) -> None:
        means = torch.remainder(check_points(means, "means").double(), 2 * math.pi)
        super().__init__(means, stds, weights, "stds")
        self.stds = self.spreads

    def _draw(self, comp: Tensor, g: torch.Generator) -> Tensor:
        z = torch.randn(len(comp), self.means.shape[1], generator=g, dtype=torch.float64)
        return torch.remainder(self.means[comp] + self.stds[comp, None] * z, 2 * math.pi)
