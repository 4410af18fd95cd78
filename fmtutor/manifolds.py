"""Flow matching on manifolds: the sphere and the flat torus, geodesic paths, loss, sampler, W2."""

from __future__ import annotations

__all__ = [
    "Manifold",
    "Sphere",
    "FlatTorus",
    "TangentVelocity",
    "riemannian_cfm_loss",
    "solve_on_manifold",
    "geodesic_wasserstein2",
]

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ._validate import check_points, check_positive_int, times_like
from .data import make_generator
from .paths import PathSample
from .solvers import Solution, make_time_grid


def _dot(a: Tensor, b: Tensor) -> Tensor:
    return (a * b).sum(-1, keepdim=True)


class Manifold:
    """A Riemannian manifold in coordinates of R^d; subclasses write the maps below.

    Attributes:
        dim: the number of coordinates d of a point (a batch is (B, d)).
        embed_dim: the width of ``embed(x)``, the coordinates a network sees.
    """

    dim: int
    embed_dim: int

    def exp(self, x: Tensor, u: Tensor) -> Tensor:
        """exp_x(u): where the geodesic from x with initial velocity u is at time 1, (B, d)."""
        raise NotImplementedError

    def log(self, x: Tensor, y: Tensor) -> Tensor:
        """log_x(y): the shortest initial velocity with exp_x(log_x(y)) = y, in T_x M, (B, d)."""
        raise NotImplementedError

    def proju(self, x: Tensor, u: Tensor) -> Tensor:
        """The orthogonal projection of an ambient vector u onto the tangent space T_x M."""
        raise NotImplementedError

    def projx(self, x: Tensor) -> Tensor:
        """The nearest point of the manifold (a retraction's last step)."""
        raise NotImplementedError

    def embed(self, x: Tensor) -> Tensor:
        """The coordinates a network sees, shape (B, embed_dim)."""
        return x

    def to_tangent(self, x: Tensor, v: Tensor) -> Tensor:
        """A network's output v (B, embed_dim) made a tangent vector at x, (B, d)."""
        return self.proju(x, v)

    def dist(self, x: Tensor, y: Tensor) -> Tensor:
        """Geodesic distance d(x, y) = |log_x(y)|, shape (...,) (broadcasts like x - y)."""
        return self.log(x, y).norm(dim=-1)

    def _geodesic(self, x_0: Tensor, u: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """x_t = exp_{x_0}(t u) and its time derivative, for u = log_{x_0}(x_1)."""
        raise NotImplementedError

    def geodesic(self, x_0: Any, x_1: Any, t: Any) -> PathSample:
        """The geodesic conditional path x_t = exp_{x_0}(t log_{x_0}(x_1)) and dx_t = d x_t / dt.

        Mirrors ``fmtutor.paths.AffinePath.sample``. The speed |dx_t| is constant, d(x_0, x_1);
        dx_t = log_{x_t}(x_1) / (1 - t) for t < 1 (the guide's conditional velocity, §5).

        Args:
            x_0: source points, (B, d). x_1: data points, (B, d). t: a float, (B,) or (B, 1).

        Returns:
            PathSample with x_t and dx_t of shape (B, d).
        """
        x_0 = self.check(x_0, "x_0")
        x_1 = self.check(x_1, "x_1", like=x_0)
        if x_1.shape != x_0.shape:
            raise ValueError(f"x_1: expected shape {tuple(x_0.shape)}, got {tuple(x_1.shape)}")
        tt = times_like(t, x_0)
        x_t, dx_t = self._geodesic(x_0, self.log(x_0, x_1), tt)
        return PathSample(x_t, dx_t, tt.reshape(-1), x_0, x_1)

    def uniform(self, n: int, seed: Any = None, dtype: torch.dtype = torch.float32) -> Tensor:
        """n points drawn from the uniform (normalised volume) distribution, (n, d)."""
        raise NotImplementedError

    def check(self, x: Any, name: str = "x", like: "Tensor | None" = None) -> Tensor:
        """x as a finite (B, d) tensor; a ValueError naming ``name`` when it is not."""
        return check_points(x, name, dim=self.dim, like=like)


class Sphere(Manifold):
    """The unit sphere S^{d-1} = {x in R^d : |x| = 1} with the metric of R^d (default S^2).

    exp_x(u) = cos|u| x + sin|u| u / |u|; log_x(y) = theta v / |v| with v = y - <x, y> x and
    theta = atan2(|v|, <x, y>) = arccos<x, y> = d(x, y). At the cut locus y = -x the log is not
    unique; there it returns 0.
    """

    def __init__(self, dim: int = 3) -> None:
        self.dim = self.embed_dim = check_positive_int(dim, "dim", minimum=2)

    def exp(self, x: Tensor, u: Tensor) -> Tensor:
        n = u.norm(dim=-1, keepdim=True)
        sinc = torch.where(n > 1e-6, torch.sin(n) / n.clamp_min(1e-6), 1 - n**2 / 6)
        return torch.cos(n) * x + sinc * u

    def log(self, x: Tensor, y: Tensor) -> Tensor:
        v = y - _dot(x, y) * x
        s = v.norm(dim=-1, keepdim=True)
        theta = torch.atan2(s, _dot(x, y))
        scale = torch.where(s > 1e-12, theta / s.clamp_min(1e-12), 1 + s**2 / 6)
        return scale * v

    def proju(self, x: Tensor, u: Tensor) -> Tensor:
        return u - _dot(x, u) * x

    def projx(self, x: Tensor) -> Tensor:
        return x / x.norm(dim=-1, keepdim=True)

    def dist(self, x: Tensor, y: Tensor) -> Tensor:
        c = _dot(x, y)
        return torch.atan2((y - c * x).norm(dim=-1), c[..., 0])

    def _geodesic(self, x_0: Tensor, u: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        # x_t = cos(tn) x_0 + sin(tn) e, n = |u|, e = u / n; dx_t = n (-sin(tn) x_0 + cos(tn) e)
        n = u.norm(dim=-1, keepdim=True)
        x_t = self.exp(x_0, t * u)
        return x_t, -n * torch.sin(t * n) * x_0 + torch.cos(t * n) * u

    def uniform(self, n: int, seed: Any = None, dtype: torch.dtype = torch.float32) -> Tensor:
        g = make_generator(seed)
        z = torch.randn(check_positive_int(n, "n"), self.dim, generator=g, dtype=torch.float64)
        return self.projx(z).to(dtype)

    def check(self, x: Any, name: str = "x", like: "Tensor | None" = None) -> Tensor:
        x = super().check(x, name, like)
        off = float((x.norm(dim=-1) - 1).abs().max()) if len(x) else 0.0
        if off > 1e-3:
            raise ValueError(
                f"{name}: expected points on the unit sphere, got | |x| - 1 | = {off:.3g}"
            )
        return x

    def __repr__(self) -> str:
        return f"Sphere(dim={self.dim})"


class FlatTorus(Manifold):
    """The flat torus T^d = [0, 2 pi)^d, angles modulo 2 pi, metric of R^d (default T^2).

    exp_x(u) = (x + u) mod 2 pi; log_x(y) = ((y - x + pi) mod 2 pi) - pi, the shortest wrapped
    difference; every tangent space is R^d. A network sees the embedding (cos x, sin x) in R^{2d}
    (the torus as a product of circles) and its output v = (v_c, v_s) is projected onto each
    circle's tangent (-sin x, cos x): the angular velocity -sin(x) v_c + cos(x) v_s.
    """

    def __init__(self, dim: int = 2) -> None:
        self.dim = check_positive_int(dim, "dim")
        self.embed_dim = 2 * self.dim

    def exp(self, x: Tensor, u: Tensor) -> Tensor:
        return torch.remainder(x + u, 2 * math.pi)

    def log(self, x: Tensor, y: Tensor) -> Tensor:
        return torch.remainder(y - x + math.pi, 2 * math.pi) - math.pi

    def proju(self, x: Tensor, u: Tensor) -> Tensor:
        return u

    def projx(self, x: Tensor) -> Tensor:
        return torch.remainder(x, 2 * math.pi)

    def embed(self, x: Tensor) -> Tensor:
        return torch.cat([torch.cos(x), torch.sin(x)], -1)

    def to_tangent(self, x: Tensor, v: Tensor) -> Tensor:
        return -torch.sin(x) * v[..., : self.dim] + torch.cos(x) * v[..., self.dim :]

    def _geodesic(self, x_0: Tensor, u: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        return self.exp(x_0, t * u), u.expand_as(x_0)

    def uniform(self, n: int, seed: Any = None, dtype: torch.dtype = torch.float32) -> Tensor:
        g = make_generator(seed)
        n = check_positive_int(n, "n")
        return (2 * math.pi * torch.rand(n, self.dim, generator=g, dtype=torch.float64)).to(dtype)

    def __repr__(self) -> str:
        return f"FlatTorus(dim={self.dim})"


class TangentVelocity(nn.Module):
    """A velocity field on a manifold: ``net`` on the embedding, its output made tangent.

    u(x, t) = manifold.to_tangent(x, net(manifold.embed(x), t)): on the sphere the projection
    v - <v, x> x, on the torus the angular velocity (see FlatTorus). Shapes: x (B, d) -> (B, d).

    Args:
        manifold: a Manifold. net: a model net(z, t) on (B, manifold.embed_dim) (e.g. models.MLP).
    """

    def __init__(self, manifold: Manifold, net: nn.Module) -> None:
        super().__init__()
        if not isinstance(manifold, Manifold):
            raise TypeError(
                f"manifold: expected a Sphere or FlatTorus, got {type(manifold).__name__}"
            )
        self.manifold, self.net = manifold, net

    def forward(self, x: Tensor, t: Any) -> Tensor:
        v = self.net(self.manifold.embed(x), t)
        return self.manifold.to_tangent(x, v.to(x.dtype))


def riemannian_cfm_loss(model: Any, manifold: Manifold, x_0: Any, x_1: Any, t: Any) -> Tensor:
    """The Riemannian CFM loss E |proj_{x_t} u_theta(x_t, t) - dx_t|^2 on the geodesic path.

    Args:
        model: a velocity model(x, t) -> (B, d). manifold: the Manifold.
        x_0, x_1: source and data points, (B, d). t: times, (B,).

    Returns:
        The loss, a scalar tensor (with the model's gradient).
    """
    ps = manifold.geodesic(x_0, x_1, t)
    v = manifold.proju(ps.x_t, model(ps.x_t, ps.t))
    return ((v - ps.dx_t) ** 2).sum(-1).mean()


def solve_on_manifold(
    model: Any,
    manifold: Manifold,
    x_init: Any,
    n_steps: int = 20,
    method: str = "midpoint",
    return_trajectory: bool = False,
) -> Solution:
    """Integrate dx/dt = u(x, t) from t = 0 to 1 with steps that never leave the manifold.

    Euler: x <- exp_x(h proj_x u_t(x)). Midpoint: x_m = exp_x(h/2 proj_x u_t(x)), then
    x <- exp_x(h proj_x u_{t+h/2}(x_m)) (the midpoint velocity projected back onto T_x M).

    Args:
        model: velocity model(x, t) -> (B, d). manifold: the Manifold. x_init: start points (B, d).
        n_steps: number of steps. method: 'euler' or 'midpoint'.
        return_trajectory: keep the states at every grid time, (n_steps + 1, B, d).

    Returns:
        fmtutor.solvers.Solution (x, times, trajectory or None, nfe).
    """
    if method not in ("euler", "midpoint"):
        raise ValueError(f"method: expected 'euler' or 'midpoint', got {method!r}")
    x = manifold.check(x_init, "x_init")
    times = make_time_grid(0.0, 1.0, None, check_positive_int(n_steps, "n_steps"), None, like=x)
    traj = [x] if return_trajectory else None

    def u(y: Tensor, t: Tensor) -> Tensor:
        return manifold.proju(y, model(y, t).to(y.dtype))

    with torch.no_grad():
        for t, h in zip(times[:-1], times[1:] - times[:-1]):
            v = u(x, t)
            if method == "midpoint":
                v = manifold.proju(x, u(manifold.exp(x, 0.5 * h * v), t + 0.5 * h))
            x = manifold.exp(x, h * v)
            if traj is not None:
                traj.append(x)
    nfe = n_steps * (2 if method == "midpoint" else 1)
    return Solution(x, times, torch.stack(traj) if traj is not None else None, nfe)


def geodesic_wasserstein2(manifold: Manifold, a: Any, b: Any) -> float:
    """W2 with the geodesic cost: sqrt(min_s (1/n) sum_i d(a_i, b_s(i))^2), exact (scipy).

    Args:
        manifold: the Manifold whose distance is the cost. a, b: points, (n, d) each, n <= 4000.
    """
    from scipy.optimize import linear_sum_assignment

    a = manifold.check(a, "a").detach().double()
    b = manifold.check(b, "b").detach().double()
    if len(a) != len(b) or len(a) > 4000:
        raise ValueError(
            f"a and b: expected two sets of equal size <= 4000, got {len(a)}, {len(b)}"
        )
    cost = (manifold.dist(a[:, None], b[None]) ** 2).numpy()
    rows, cols = linear_sum_assignment(cost)
    return float(np.sqrt(cost[rows, cols].mean()))
