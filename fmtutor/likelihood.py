"""Exact log-likelihoods of a flow: divergences (exact and Hutchinson), the backward augmented ODE.

Along a particle x_t = psi_t(x_0) of the flow of u_t, the density changes as (the instantaneous
change of variables)

    d/dt log p_t(x_t) = -div u_t(x_t),   so   log p_1(x_1) = log p_0(x_0) - int_0^1 div u_t(x_t) dt.

To score a data point x we integrate the augmented state [x_t, f_t] with
d/dt [x, f] = [u_t(x), div u_t(x)] backwards from (x, 0) at t = 1 to t = 0 with the course's solver;
then f_0 = -int_0^1 div u_t dt and

    log p_1(x) = log N(x_0; 0, I) + f_0.

The divergence div u = tr(du/dx) is exact (d backward passes) or Hutchinson's unbiased estimate
z^T (du/dx) z with E[z z^T] = I (one backward pass per probe).

>>> import torch
>>> A = torch.tensor([[1.0, 2.0], [0.5, -3.0]])
>>> divergence_exact(lambda x, t: x @ A.T, torch.randn(4, 2), 0.5).tolist()    # trace(A) = -2
[-2.0, -2.0, -2.0, -2.0]
"""

__all__ = [
    "jacobian",
    "divergence_exact",
    "divergence_hutchinson",
    "hutchinson_variance",
    "standard_normal_log_prob",
    "LogLikelihood",
    "log_likelihood",
    "log_prob_fn",
    "NOISES",
]

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ._validate import as_tensor, check_callable, check_points, check_positive_int
from .data import make_generator
from .solvers import solve

Field = Callable[[Tensor, Any], Tensor]
#: The distributions of Hutchinson's probe vectors.
NOISES = ("rademacher", "gaussian")


def _velocity_with_graph(model: Field, x: Tensor, t: Any) -> tuple[Tensor, Tensor]:
    """(x with requires_grad, u = model(x, t)) inside enable_grad; checks the output shape."""
    if not callable(model):
        raise TypeError(f"model: expected a velocity model(x, t), got {type(model).__name__}")
    xg = x.detach().requires_grad_(True)
    u = model(xg, t)
    if not isinstance(u, Tensor) or u.shape != x.shape:
        got = tuple(u.shape) if isinstance(u, Tensor) else type(u).__name__
        raise ValueError(f"model: expected model(x, t) to return shape {tuple(x.shape)}, got {got}")
    return xg, u


def _grad(out: Tensor, xg: Tensor, retain: bool) -> Tensor:
    if not out.requires_grad:  # the field does not depend on x at all
        return torch.zeros_like(xg)
    (g,) = torch.autograd.grad(out, xg, retain_graph=retain, allow_unused=True)
    return torch.zeros_like(xg) if g is None else g


def jacobian(model: Field, x: Tensor, t: Any) -> Tensor:
    """The Jacobian J[b, i, j] = d u_i / d x_j at each point, shape (B, d, d) (d backward passes).

    Assumes the model treats batch rows independently (true for MLPs and the exact fields; not
    for BatchNorm).
    """
    x = check_points(x, "x")
    with torch.enable_grad():
        xg, u = _velocity_with_graph(model, x, t)
        rows = [_grad(u[:, i].sum(), xg, retain=i < x.shape[1] - 1) for i in range(x.shape[1])]
    return torch.stack(rows, 1).detach()


def _vel_div_exact(model: Field, x: Tensor, t: Any) -> tuple[Tensor, Tensor]:
    d = x.shape[1]
    with torch.enable_grad():
        xg, u = _velocity_with_graph(model, x, t)
        div = torch.zeros(x.shape[0], dtype=u.dtype, device=u.device)
        for i in range(d):
            div = div + _grad(u[:, i].sum(), xg, retain=i < d - 1)[:, i].to(u.dtype)
    return u.detach(), div.detach()


def divergence_exact(model: Field, x: Tensor, t: Any) -> Tensor:
    """div u_t(x) = sum_i d u_i / d x_i at each point, shape (B,), by d autograd passes.

    Args:
        model: velocity field ``model(x, t)``, rows treated independently.
        x: points, shape (B, d).
        t: time: a float, (B,) or (B, 1).
    """
    return _vel_div_exact(model, check_points(x, "x"), t)[1]


def _probes(
    shape: tuple[int, ...], noise: str, seed: Any, dtype: torch.dtype, device: Any
) -> Tensor:
    if noise not in NOISES:
        raise ValueError(f"noise: expected one of {NOISES}, got {noise!r}")
    g = make_generator(seed)
    if noise == "gaussian":
        z = torch.randn(shape, generator=g, dtype=torch.float64, device=g.device)
    else:
        z = torch.randint(0, 2, shape, generator=g, device=g.device).to(torch.float64) * 2 - 1
    return z.to(dtype=dtype, device=device)


def _vel_div_hutchinson(model: Field, x: Tensor, t: Any, z: Tensor) -> tuple[Tensor, Tensor]:
    with torch.enable_grad():
        xg, u = _velocity_with_graph(model, x, t)
        est = torch.zeros(x.shape[0], dtype=u.dtype, device=u.device)
        for k in range(z.shape[0]):
            zk = z[k].to(u.dtype)
            vjp = _grad((u * zk).sum(), xg, retain=k < z.shape[0] - 1)  # z^T J, row by row
            est = est + (vjp.to(u.dtype) * zk).sum(1)
    return u.detach(), (est / z.shape[0]).detach()


def divergence_hutchinson(
    model: Field,
    x: Tensor,
    t: Any,
    n_probes: int = 1,
    noise: str = "rademacher",
    seed: Any = None,
    z: "Tensor | None" = None,
) -> Tensor:
    """Hutchinson's estimate (1/K) sum_k z_k^T (du/dx) z_k of div u_t(x), shape (B,).

    The estimate is unbiased since E[z z^T] = I.

    Args:
        model: velocity field ``model(x, t)``.
        x: points, shape (B, d).
        t: time: a float, (B,) or (B, 1).
        n_probes: number K of probe vectors per point (ignored when z is given).
        noise: 'rademacher' (entries +-1, the smaller variance) or 'gaussian' (N(0, 1) entries).
        seed: int or torch.Generator for the probes (None: fresh randomness).
        z: explicit probes, shape (K, B, d).
    """
    x = check_points(x, "x")
    if z is None:
        n_probes = check_positive_int(n_probes, "n_probes")
        z = _probes((n_probes, *x.shape), noise, seed, x.dtype, x.device)
    else:
        z = as_tensor(z, "z", like=x)
        if z.ndim != 3 or z.shape[1:] != x.shape:
            raise ValueError(
                f"z: expected probes of shape (K, {x.shape[0]}, {x.shape[1]}), got {tuple(z.shape)}"
            )
    return _vel_div_hutchinson(model, x, t, z)[1]


def hutchinson_variance(jac: Tensor, noise: str = "rademacher") -> Tensor:
    """The variance of a one-probe Hutchinson estimate z^T J z, from the Jacobian (B, d, d).

    With S = (J + J^T) / 2: Var = 2 ||S||_F^2 for Gaussian probes and 2 (||S||_F^2 - sum_i S_ii^2)
    for Rademacher probes (only off-diagonal entries add noise, so a diagonal Jacobian gives an
    exact estimate). K probes divide the variance by K. A single (d, d) Jacobian works too.

    Returns:
        The variance, shape (B,) (or 0-d for a single (d, d) Jacobian).
    """
    jac = as_tensor(jac, "jac")
    if jac.ndim < 2 or jac.shape[-1] != jac.shape[-2]:
        raise ValueError(
            f"jac: expected square matrices of shape (..., d, d), got {tuple(jac.shape)}"
        )
    if noise not in NOISES:
        raise ValueError(f"noise: expected one of {NOISES}, got {noise!r}")
    s = 0.5 * (jac + jac.transpose(-1, -2))
    fro = (s**2).sum((-1, -2))
    if noise == "gaussian":
        return 2 * fro
    return 2 * (fro - (torch.diagonal(s, dim1=-2, dim2=-1) ** 2).sum(-1))


def standard_normal_log_prob(x: Tensor) -> Tensor:
    """log N(x; 0, I) = -||x||^2 / 2 - (d / 2) log(2 pi), shape (B,) for x of shape (B, d)."""
    x = check_points(x, "x")
    return -0.5 * (x**2).sum(1) - 0.5 * x.shape[1] * math.log(2 * math.pi)


@dataclass
class LogLikelihood:
    """What log_likelihood returns with details=True.

    Attributes:
        log_p1: log p_1(x), shape (B,).
        log_p0: log p_0(x_0) of the noise point reached at t = 0, shape (B,).
        delta: -int_0^1 div u_t(x_t) dt, shape (B,) (so log_p1 = log_p0 + delta).
        x_0: the points reached at t = 0, shape (B, d).
        nfe: number of velocity evaluations.
    """

    log_p1: Tensor
    log_p0: Tensor
    delta: Tensor
    x_0: Tensor
    nfe: int


def log_likelihood(
    model: Field,
    x: Tensor,
    n_steps: int = 32,
    method: str = "midpoint",
    estimator: str = "exact",
    n_probes: int = 1,
    noise: str = "rademacher",
    seed: Any = 0,
    log_p0: "Callable[[Tensor], Tensor] | None" = None,
    details: bool = False,
) -> "Tensor | LogLikelihood":
    """log p_1(x) of the flow of ``model`` from the source p_0 (N(0, I) by default), shape (B,).

    Integrates d/dt [x, f] = [u_t(x), div u_t(x)] from [x, 0] at t = 1 back to t = 0 with
    fmtutor.solvers.solve, then returns log p_0(x_0) + f_0 where f_0 = -int_0^1 div u_t(x_t) dt.

    Args:
        model: velocity field ``model(x, t)`` (a trained network or fmtutor.exact.MarginalField).
        x: data points, shape (B, d).
        n_steps: solver steps from t = 1 to 0.
        method: 'euler', 'midpoint', 'heun' or 'rk4'.
        estimator: 'exact' (autograd trace) or 'hutchinson'.
        n_probes: Hutchinson probes per point (the same probes are used at every time step).
        noise: Hutchinson probe distribution, 'rademacher' or 'gaussian'.
        seed: seed of the probes.
        log_p0: source log-density, x (B, d) -> (B,) (default standard_normal_log_prob).
        details: return a LogLikelihood with the pieces instead of the tensor.
    """
    x = check_points(x, "x")
    n_steps = check_positive_int(n_steps, "n_steps")
    if estimator not in ("exact", "hutchinson"):
        raise ValueError(f"estimator: expected 'exact' or 'hutchinson', got {estimator!r}")
    if log_p0 is not None:
        check_callable(log_p0, "log_p0", "a source log-density log_p0(x) -> (B,)")
    d = x.shape[1]
    z = None
    if estimator == "hutchinson":
        z = _probes(
            (check_positive_int(n_probes, "n_probes"), *x.shape), noise, seed, x.dtype, x.device
        )

    def augmented(y: Tensor, t: Tensor) -> Tensor:
        xs = y[:, :d]
        u, div = _vel_div_exact(model, xs, t) if z is None else _vel_div_hutchinson(model, xs, t, z)
        return torch.cat([u.to(y.dtype), div.to(y.dtype)[:, None]], 1)

    y1 = torch.cat([x.detach(), torch.zeros(x.shape[0], 1, dtype=x.dtype, device=x.device)], 1)
    sol = solve(augmented, y1, method=method, n_steps=n_steps, t0=1.0, t1=0.0)
    x_0, delta = sol.x[:, :d], sol.x[:, d]
    lp0 = _source_log_prob(log_p0, x_0)
    out = LogLikelihood(lp0 + delta, lp0, delta, x_0, sol.nfe)
    return out if details else out.log_p1


def _source_log_prob(log_p0: "Callable[[Tensor], Tensor] | None", x_0: Tensor) -> Tensor:
    """log_p0(x_0) as shape (B,); a (B, 1) column is flattened, any other shape refused."""
    if log_p0 is None:
        return standard_normal_log_prob(x_0)
    lp0 = as_tensor(log_p0(x_0), "log_p0(x)", like=x_0)
    b = x_0.shape[0]
    if lp0.shape not in ((b,), (b, 1)):
        raise ValueError(
            f"log_p0: expected log_p0(x) of shape ({b},) (one log-density per point), "
            f"got shape {tuple(lp0.shape)}"
        )
    return lp0.reshape(b)


def log_prob_fn(model: Field, chunk: int = 4096, **kwargs: Any) -> Callable[[Tensor], Tensor]:
    """``log_likelihood`` as a function x -> log p_1(x) (e.g. for fmtutor.course.plots.density).

    Args:
        model: velocity field.
        chunk: points per call (bounds memory).
        **kwargs: passed to log_likelihood (n_steps, method, estimator, ...).
    """
    chunk = check_positive_int(chunk, "chunk")

    def fn(x: Tensor) -> Tensor:
        x = check_points(x, "x")
        return torch.cat(
            [log_likelihood(model, x[i : i + chunk], **kwargs) for i in range(0, x.shape[0], chunk)]
        )

    return fn
