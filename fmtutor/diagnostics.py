"""Measurements behind chapters 4-5: posterior averages, CFM-vs-FM gradients, the loss's sources.

* ``marginal_velocity_mc``: u_t(x) = E[u_t(x | X_1) | X_t = x] as an importance-weighted average
  over samples of X_1 (an independent check of fmtutor.exact).
* ``compare_cfm_fm``: the gradients of L_CFM and L_FM at the same parameters, on the same draws.
* ``loss_by_time`` / ``loss_floor``: the CFM loss split over t into its floor and the model's error.

Solver orders and quality per velocity evaluation are in ``fmtutor.convergence``.
"""

__all__ = [
    "marginal_velocity_mc",
    "GradientComparison",
    "compare_cfm_fm",
    "loss_by_time",
    "loss_floor",
]

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from ._validate import check_points, check_positive_int
from .data import _resample, make_generator
from .exact import _point_weights, marginal_velocity
from .paths import AffinePath, Scheduler, _nonzero, conditional_velocity, get_scheduler
from .training import _squared_error


def marginal_velocity_mc(
    x: Tensor, t: float, x1_samples: Tensor, scheduler: "str | Scheduler" = "condot"
) -> Tensor:
    """Monte-Carlo estimate of u_t(x) = E[u_t(x | X_1) | X_t = x] by self-normalised weights.

    With X_1^(j) ~ q (j = 1..M), the posterior p(x_1 | X_t = x) is proportional to
    p_{t|1}(x | x_1) q(x_1), so

        u_t(x) ~= sum_j w_j u_t(x | X_1^(j)),
        w_j = N(x; alpha_t X_1^(j), sigma_t^2 I) / sum_k N(x; alpha_t X_1^(k), sigma_t^2 I).

    Args:
        x: points, shape (B, d).
        t: one time in [0, 1) (at t = 1 the weights degenerate).
        x1_samples: samples of the data distribution, shape (M, d).
        scheduler: Scheduler or name (default CondOT: N(x; t x_1, (1 - t)^2 I) and
            u = (x_1 - x) / (1 - t)).

    Returns:
        The estimate, shape (B, d).
    """
    x = check_points(x, "x")
    x1 = check_points(x1_samples, "x1_samples", dim=x.shape[1], like=x)
    if not isinstance(t, (int, float)) or not 0 <= t < 1:
        raise ValueError(f"t: expected one time in [0, 1), got {t!r}")
    s = get_scheduler(scheduler)(torch.tensor(float(t), dtype=x.dtype, device=x.device))
    sq_dist = ((x[:, None, :] - s.alpha_t * x1[None]) ** 2).sum(-1)  # (B, M)
    w = torch.softmax(-sq_dist / (2 * _nonzero(s.sigma_t) ** 2), dim=1)
    out = torch.empty_like(x)
    for i in range(x.shape[0]):  # u_t(x_i | x_1^(j)) for all j, weighted
        u = conditional_velocity(x[i : i + 1].expand_as(x1), x1, float(t), scheduler)
        out[i] = w[i] @ u
    return out


@dataclass
class GradientComparison:
    """Gradients of the CFM and FM losses of one model, computed on the same draws (t, X_0, X_1).

    Attributes:
        grad_cfm, grad_fm: flattened parameter gradients, shape (P,).
        loss_cfm, loss_fm: the two losses.
        cosine: cosine similarity of the gradients.
        rel_diff: ||grad_cfm - grad_fm|| / ||grad_fm||.
        gap: loss_cfm - loss_fm (about the floor E||dX_t - u_t(X_t)||^2, whatever the model).
        floor: the Monte-Carlo floor mean ||dX_t - u_t(X_t)||^2 on these draws.
        n: the number of draws.
    """

    grad_cfm: Tensor
    grad_fm: Tensor
    loss_cfm: float
    loss_fm: float
    cosine: float
    rel_diff: float
    gap: float
    floor: float
    n: int


def compare_cfm_fm(
    model: nn.Module,
    data: Tensor,
    n: int = 20000,
    seed: int = 0,
    scheduler: "str | Scheduler" = "condot",
) -> GradientComparison:
    """Measure that L_CFM and L_FM have the same gradient (and differ by a constant) on a data set.

    The data distribution is the empirical one on ``data``, so the marginal field u_t is exact
    (fmtutor.exact.marginal_velocity). On n draws t ~ U[0, 1], X_0 ~ N(0, I), X_1 ~ data:

        L_CFM = mean ||u_theta(X_t, t) - dX_t||^2,     L_FM = mean ||u_theta(X_t, t) - u_t(X_t)||^2.

    Their gradients differ by -2 mean J_theta^T (dX_t - u_t(X_t)), whose expectation is 0 because
    u_t(x) = E[dX_t | X_t = x]: the difference shrinks like 1 / sqrt(n).

    Args:
        model: a velocity network ``model(x, t)`` with parameters.
        data: the data set, shape (N, d).
        n: the number of draws.
        seed: seeds the draws.
        scheduler: Scheduler or name (default CondOT).

    Returns:
        A GradientComparison.
    """
    data = check_points(data, "data")
    n = check_positive_int(n, "n")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model: expected a model with trainable parameters")
    g = make_generator(seed)
    x1 = _resample(data, n, g)
    x0 = torch.randn(x1.shape, generator=g, device=g.device).to(x1.device)
    t = torch.rand(n, generator=g, device=g.device).to(x1.device)
    ps = AffinePath(scheduler).sample(x0, x1, t)
    with torch.no_grad():
        u = marginal_velocity(ps.x_t, t, data, scheduler)  # in chunks of rows
    pred = model(ps.x_t, t)  # one forward pass for both losses
    loss_cfm = _squared_error(pred, ps.dx_t)
    loss_fm = _squared_error(pred, u)
    g_cfm = torch.cat(
        [v.reshape(-1) for v in torch.autograd.grad(loss_cfm, params, retain_graph=True)]
    )
    g_fm = torch.cat([v.reshape(-1) for v in torch.autograd.grad(loss_fm, params)])
    cos = float(torch.nn.functional.cosine_similarity(g_cfm, g_fm, dim=0))
    rel = float((g_cfm - g_fm).norm() / g_fm.norm().clamp_min(1e-30))
    floor = float(_squared_error(ps.dx_t, u))
    l_cfm, l_fm = float(loss_cfm.detach()), float(loss_fm.detach())
    return GradientComparison(g_cfm, g_fm, l_cfm, l_fm, cos, rel, l_cfm - l_fm, floor, n)


def loss_by_time(
    model: "Callable[..., Tensor]",
    data: Tensor,
    ts: Sequence[float] = tuple(np.linspace(0.05, 0.95, 10)),
    n: int = 500,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Where the CFM loss comes from: at each time t, the model's loss, the floor, its FM loss.

    On n draws X_0 ~ N(0, I), X_1 ~ data at fixed t (CondOT, dX_t = X_1 - X_0, u_t exact for the
    empirical law of ``data``):

        cfm(t) = mean ||u_theta(X_t) - dX_t||^2,  floor(t) = mean ||dX_t - u_t(X_t)||^2,
        fm(t) = mean ||u_theta(X_t) - u_t(X_t)||^2,
        and cfm(t) = floor(t) + fm(t) + (noise of mean 0).

    Args:
        model: velocity ``model(x, t)``. data: the training set (N, d).
        ts: the times. n: draws per time. seed: seeds the draws (the same X_0, X_1 at every t).

    Returns:
        dict with 't', 'cfm', 'floor', 'fm', each of shape (len(ts),).
    """
    data = check_points(data, "data")
    n = check_positive_int(n, "n")
    g = make_generator(seed)
    x1 = _resample(data, n, g)
    x0 = torch.randn(x1.shape, generator=g, device=g.device).to(x1.device)
    out: dict[str, list[float]] = {"t": [], "cfm": [], "floor": [], "fm": []}
    with torch.no_grad():
        for t in ts:
            t = float(t)
            xt, dx = t * x1 + (1 - t) * x0, x1 - x0
            u, v = marginal_velocity(xt, t, data), model(xt, t)
            for k, val in (
                ("t", t),
                ("cfm", _squared_error(v, dx)),
                ("floor", _squared_error(dx, u)),
                ("fm", _squared_error(v, u)),
            ):
                out[k].append(float(val))
    return {k: np.array(v) for k, v in out.items()}


def loss_floor(
    data: Tensor,
    n: int = 4000,
    seed: int = 0,
    scheduler: "str | Scheduler" = "condot",
    chunk: int = 1024,
) -> tuple[float, float]:
    """The CFM loss floor of a finite data set, with its standard error (a low-noise estimate).

    The floor is C = E ||dX_t - u_t(X_t)||^2 = E_{t, X_t} tr Cov[dX_t | X_t]. Instead of averaging
    ||dX_t - u_t(X_t)||^2 (what exact.cfm_loss_floor does), this averages the conditional variance
    itself, computed exactly from the posterior weights w_k(x) over the data points m_k:

        dX_t = c_t m_k + (terms in x only),
        c_t = d_alpha_t - d_sigma_t alpha_t / sigma_t  (CondOT: 1 / (1 - t)),
        tr Cov[dX_t | X_t = x] = c_t^2 (sum_k w_k |m_k|^2 - |sum_k w_k m_k|^2).

    Same expectation, several times less variance (the draw of X_1 given X_t is averaged out).

    Args:
        data: the training set, shape (N, d); X_1 is drawn uniformly from it.
        n: number of draws (t, X_0, X_1).
        seed: seeds the draws.
        scheduler: Scheduler or name (default CondOT).
        chunk: draws per batch (memory ~ chunk * N * 8 bytes).

    Returns:
        (floor, standard error of the estimate).
    """
    data = check_points(data, "data").double()
    n = check_positive_int(n, "n")
    chunk = check_positive_int(chunk, "chunk")
    g = make_generator(seed)
    x1 = _resample(data, n, g)
    x0 = torch.randn(x1.shape, generator=g, dtype=torch.float64)
    t = torch.rand(n, generator=g, dtype=torch.float64)
    ps = AffinePath(scheduler).sample(x0, x1, t)
    sq = (data**2).sum(1, keepdim=True)  # (N, 1)
    vals = []
    for i in range(0, n, chunk):
        x, s = ps.x_t[i : i + chunk], get_scheduler(scheduler)(t[i : i + chunk])
        a, sig = s.alpha_t[:, None], _nonzero(s.sigma_t)[:, None]
        w = _point_weights(x, a, sig, data)  # (B, N) posterior over the data points
        m1 = w @ data
        var = ((w @ sq)[:, 0] - (m1**2).sum(1)).clamp_min(0)
        c = s.d_alpha_t - s.d_sigma_t * s.alpha_t / _nonzero(s.sigma_t)
        vals.append(c**2 * var)
    v = torch.cat(vals)
    return float(v.mean()), float(v.std() / np.sqrt(n))
